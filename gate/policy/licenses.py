"""License rules over SPDX expressions, evaluated with ``license-expression``.

An expression is put in disjunctive normal form; each AND-clause is one way to comply with
the package's licensing. A deny list objects when *every* clause uses a denied license
(``MIT OR GPL-3.0-only`` passes a GPL deny list: MIT can be chosen; ``MIT AND GPL-3.0-only``
does not). An allow list objects when no clause is made only of allowed licenses. A package
that declares several licenses must satisfy all of them (they are joined with AND). A license
that is missing, does not parse, or is not on the SPDX list (``LicenseRef-*``, free text) is
"unknown", a condition of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from license_expression import ExpressionError, LicenseWithExceptionSymbol, Licensing, get_spdx_licensing

from gate.errors import PolicyError


@cache
def _licensing() -> Licensing:
    return get_spdx_licensing()


@dataclass(frozen=True)
class Licensed:
    """A package's licensing, normalised: the ways to comply (each a set of lower-case SPDX ids)."""

    clauses: tuple[frozenset[str], ...]  # empty when unknown
    exceptions: tuple[frozenset[str], ...]  # the WITH exceptions of each clause
    unknown: str  # why it is unknown, or ""
    text: str


def canonical_id(text: str, *, where: str) -> str:
    """A policy's SPDX id, checked against the SPDX list: ``mit`` -> ``MIT``."""
    licensing = _licensing()
    try:
        parsed = licensing.parse(text, validate=False)
    except ExpressionError as error:
        raise PolicyError(f"{where}: {text!r} is not an SPDX license id: {error}") from None
    keys = licensing.license_keys(parsed)
    if len(keys) != 1 or licensing.unknown_license_keys(parsed) or " " in text.strip():
        raise PolicyError(f"{where}: {text!r} is not an SPDX license id")
    return str(keys[0])


@lru_cache(maxsize=16384)
def licensed(expressions: tuple[str, ...]) -> Licensed:
    """Normalise a package's declared licenses (SPDX expressions, or raw text)."""
    text = " AND ".join(f"({expression})" for expression in expressions)
    if not expressions:
        return Licensed((), (), "no license declared", "")
    licensing = _licensing()
    try:
        parsed = licensing.parse(text, validate=False)
    except ExpressionError:
        return Licensed((), (), f"not an SPDX expression: {' AND '.join(expressions)}", text)
    if unknown := licensing.unknown_license_keys(parsed):
        return Licensed((), (), "not on the SPDX license list: " + ", ".join(unknown), text)
    normal = licensing.dnf(parsed)
    clauses = [normal] if normal.__class__.__name__ != "OR" else list(normal.args)
    ways, exceptions = [], []
    for clause in clauses:
        ids, excepted = set(), set()
        for symbol in licensing.license_symbols(clause, decompose=False):
            if isinstance(symbol, LicenseWithExceptionSymbol):
                excepted.add(symbol.exception_symbol.key.lower())
                ids.add(symbol.license_symbol.key.lower())
            else:
                ids.add(symbol.key.lower())
        ways.append(frozenset(ids))
        exceptions.append(frozenset(excepted))
    return Licensed(tuple(ways), tuple(exceptions), "", str(normal))


def denied(licensing: Licensed, deny: frozenset[str]) -> frozenset[str]:
    """The denied ids that every way to comply needs; empty when some way avoids them all."""
    needed: set[str] = set()
    for clause, excepted in zip(licensing.clauses, licensing.exceptions, strict=True):
        hit = (clause | excepted) & deny
        if not hit:
            return frozenset()
        needed |= hit
    return frozenset(needed)


def not_allowed(licensing: Licensed, allow: frozenset[str]) -> frozenset[str]:
    """The ids outside the allow list when no way to comply uses allowed licenses only."""
    if any(clause <= allow for clause in licensing.clauses):
        return frozenset()
    return frozenset(key for clause in licensing.clauses for key in clause - allow)


def ids_of(values: Iterable[Any], *, where: str) -> frozenset[str]:
    return frozenset(
        canonical_id(str(value), where=f"{where}[{index}]").lower() for index, value in enumerate(values)
    )
