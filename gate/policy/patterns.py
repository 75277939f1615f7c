"""Patterns a policy matches things by: purl patterns with version ranges, image-reference globs.

A purl pattern is a purl whose namespace and name may hold ``*`` globs (``pkg:pypi/*``,
``pkg:npm/@acme/*``), optionally ``@version`` for one exact version, and optionally a range of
comparators in the type's own version scheme (``>=3.3.6, <3.3.7``, compared by gate.versions).
``pkg:TYPE/*`` matches every package of the type, in any namespace.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from urllib.parse import unquote

from gate.errors import GateError, PolicyError
from gate.image.reference import RegistryRef, parse_reference
from gate.policy.model import PackagePattern
from gate.versions import InvalidVersion, Scheme, scheme_for_purl_type

_TYPE = re.compile(r"^[a-z][a-z0-9.+-]*$")
_COMPARATOR = re.compile(r"^(<=|>=|==|!=|<|>|=)\s*(\S+)$")
_TESTS = {
    "<": lambda order: order < 0,
    "<=": lambda order: order <= 0,
    ">": lambda order: order > 0,
    ">=": lambda order: order >= 0,
    "=": lambda order: order == 0,
    "==": lambda order: order == 0,
    "!=": lambda order: order != 0,
}


def split_purl(purl: str) -> tuple[str, str | None, str, str]:
    """``pkg:type/ns/name@version?q#s`` -> (type, namespace or None, name, version), decoded."""
    body = purl.removeprefix("pkg:").split("#", 1)[0].split("?", 1)[0].lstrip("/")
    purl_type, _, path = body.partition("/")
    segments = [segment for segment in path.split("/") if segment]
    last = segments.pop() if segments else ""
    name, _, version = last.partition("@") if not last.startswith("@") else (last, "", "")
    namespace = "/".join(unquote(segment) for segment in segments) or None
    return purl_type.lower(), namespace, unquote(name), unquote(version)


def parse_package_pattern(text: str, versions: str | None = None, *, where: str) -> PackagePattern:
    """A :class:`PackagePattern`; :class:`PolicyError` names ``where`` and what is wrong."""
    if not text.startswith("pkg:") or "?" in text or "#" in text:
        raise PolicyError(f"{where}: {text!r} is not a purl pattern (pkg:TYPE/[NAMESPACE/]NAME[@VERSION])")
    purl_type, namespace, name, version = split_purl(text)
    if not _TYPE.match(purl_type) or not name:
        raise PolicyError(f"{where}: {text!r} is not a purl pattern (pkg:TYPE/[NAMESPACE/]NAME[@VERSION])")
    scheme = scheme_for_purl_type(purl_type)
    comparators = _parse_range(versions, scheme, purl_type, where) if versions is not None else ()
    if version and scheme is not None:
        _check_version(scheme, version, where)
    name_glob, namespace_glob = name.lower(), namespace.lower() if namespace is not None else None
    any_namespace = namespace is None and name == "*"

    def matches(
        package_type: str, package_namespace: str | None, package_name: str, package_version: str
    ) -> bool:
        if package_type != purl_type or not fnmatch.fnmatchcase(package_name.lower(), name_glob):
            return False
        if not any_namespace and not fnmatch.fnmatchcase(
            (package_namespace or "").lower(), namespace_glob or ""
        ):
            return False
        if version and not _same_version(scheme, package_version, version):
            return False
        return all(_satisfies(scheme, package_version, op, bound) for op, bound in comparators)

    return PackagePattern(text, purl_type, namespace, name, version or None, versions, matches)


def package_matches(pattern: PackagePattern, purl: str) -> bool:
    """Whether the package ``purl`` matches; InvalidVersion when its version cannot be compared."""
    return pattern.matches(*_split_cached(purl))


@lru_cache(maxsize=65536)
def _split_cached(purl: str) -> tuple[str, str | None, str, str]:
    return split_purl(purl)


def _parse_range(text: str, scheme: Scheme | None, purl_type: str, where: str) -> tuple[tuple[str, str], ...]:
    if scheme is None:
        raise PolicyError(f"{where}: gate has no version scheme for purl type {purl_type!r}")
    comparators = []
    for part in (piece.strip() for piece in text.split(",")):
        match = _COMPARATOR.match(part)
        if not match:
            raise PolicyError(
                f"{where}: {part!r} is not a comparator (use <, <=, >, >=, = or != and a version)"
            )
        _check_version(scheme, match.group(2), where)
        comparators.append((match.group(1), match.group(2)))
    return tuple(comparators)


def _check_version(scheme: Scheme, version: str, where: str) -> None:
    try:
        scheme.key(version)
    except InvalidVersion as error:
        raise PolicyError(f"{where}: {error.message}") from None


def _same_version(scheme: Scheme | None, package_version: str, wanted: str) -> bool:
    if scheme is None:
        return package_version == wanted
    return scheme.compare(package_version, wanted) == 0


def _satisfies(scheme: Scheme | None, package_version: str, op: str, bound: str) -> bool:
    assert scheme is not None  # ranges are only accepted for types with a scheme
    return bool(_TESTS[op](scheme.compare(package_version, bound)))


def normalise_reference(text: str) -> str:
    """``debian:bookworm-slim`` -> ``docker.io/library/debian:bookworm-slim`` (digest dropped)."""
    try:
        ref = parse_reference(text)
    except GateError:
        return text
    if not isinstance(ref, RegistryRef):
        return str(ref)
    return f"{ref.name}:{ref.tag}" if ref.tag else ref.name


def reference_matches(glob: str, reference: str) -> bool:
    """Whether a base image's reference matches an allowed-name glob; both sides normalised, so
    ``debian:*-slim`` and ``docker.io/library/debian:*-slim`` mean the same."""
    return fnmatch.fnmatchcase(normalise_reference(reference), _normalise_glob(glob))


def _normalise_glob(glob: str) -> str:
    """Apply Docker Hub's defaults to a glob the way they apply to a reference."""
    first = glob.split("/", 1)[0]
    has_registry = "/" in glob and ("." in first or ":" in first or first == "localhost")
    if has_registry:
        return glob
    return f"docker.io/{glob}" if "/" in glob else f"docker.io/library/{glob}"
