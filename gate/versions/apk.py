"""Alpine (apk) versions, ordered as apk-tools 3 orders them (``src/version.c``).

Grammar: ``digits{.digits}...{letter}{_suffix{digits}}...{~hexhash}{-rN}``. Tokens are
compared in lockstep; a number with a leading zero compares as a string (the Gentoo
rule, so ``8.2.0015 < 8.2.002``). When one version runs out of tokens or the token kinds
differ, a pre-release suffix (``_alpha``, ``_beta``, ``_pre``, ``_rc``) sorts lowest, then
the end of the version, then the kinds in reverse grammar order, so that ``1.0_rc1 < 1.0
< 1.0-r1 < 1.0_p1 < 1.0a < 1.0.1``.

apk compares some strings its own validator rejects (``1.0bc``); gate refuses them with
InvalidVersion instead, so an unparsable version is reported rather than guessed at.
"""

from __future__ import annotations

import re

from gate.versions import InvalidVersion
from gate.versions._scheme import KeyScheme

NAME = "apk"

_PRE_SUFFIXES = {"alpha": 1, "beta": 2, "pre": 3, "rc": 4}
_POST_SUFFIXES = {"cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10}

# Rank of each token kind when two versions differ in kind at the same position (or one
# has ended): lower sorts first. Within one kind, the token values decide.
_PRE_SUFFIX = 0
_END = 1
_REVISION = 2
_COMMIT_HASH = 3
_SUFFIX_NUMBER = 4
_POST_SUFFIX = 5
_LETTER = 6
_DIGIT = 7
_INITIAL = 8

# Each alternative is one token; the named group says which.
_TOKEN = re.compile(
    r"(?P<digit>\.[0-9]+)|(?P<letter>[a-z])|_(?P<suffix>[a-z]*)(?P<suffix_number>[0-9]*)"
    r"|~(?P<hash>[0-9a-fA-F]+)|-r(?P<revision>[0-9]+)"
)
_INITIAL_DIGITS = re.compile(r"[0-9]+")
# The order in which tokens may follow each other (apk's token_next checks the same).
_ORDER = {"digit": 1, "letter": 2, "suffix": 3, "hash": 5, "revision": 6}


def _digit_value(digits: str) -> tuple[int, str] | tuple[int, int]:
    # Leading zero: apk falls back to a string comparison; such runs sort below any
    # run without one, which the leading 0/1 encodes.
    return (0, digits) if digits.startswith("0") else (1, int(digits))


def _tokens(version: str) -> list[tuple]:
    initial = _INITIAL_DIGITS.match(version)
    if not initial:
        raise InvalidVersion(NAME, version, "must start with a digit")
    tokens: list[tuple] = [(_INITIAL, int(initial.group()))]
    position, last = initial.end(), 0
    while position < len(version):
        match = _TOKEN.match(version, position)
        if not match:
            raise InvalidVersion(NAME, version, f"unexpected {version[position]!r} at offset {position}")
        assert match.lastgroup is not None  # every alternative of _TOKEN is a named group
        kind = match.lastgroup if match.lastgroup != "suffix_number" else "suffix"
        order = _ORDER[kind]
        # Digits may repeat only before a letter; a letter only once; suffixes may repeat.
        if order < last or (order == last and kind in ("letter", "hash", "revision")):
            raise InvalidVersion(NAME, version, f"{kind} not allowed at offset {position}")
        if kind == "digit" and last > 1:
            raise InvalidVersion(NAME, version, f"number not allowed at offset {position}")
        tokens.extend(_token_values(version, kind, match))
        position, last = match.end(), order
    tokens.append((_END, 0))
    return tokens


def _token_values(version: str, kind: str, match: re.Match[str]) -> list[tuple]:
    if kind == "digit":
        return [(_DIGIT, _digit_value(match.group("digit")[1:]))]
    if kind == "letter":
        return [(_LETTER, match.group("letter"))]
    if kind == "hash":
        return [(_COMMIT_HASH, match.group("hash"))]
    if kind == "revision":
        return [(_REVISION, int(match.group("revision")))]
    name, number = match.group("suffix"), match.group("suffix_number")
    if name in _PRE_SUFFIXES:
        suffix = (_PRE_SUFFIX, _PRE_SUFFIXES[name])
    elif name in _POST_SUFFIXES:
        suffix = (_POST_SUFFIX, _POST_SUFFIXES[name])
    else:
        raise InvalidVersion(NAME, version, f"unknown suffix _{name}")
    return [suffix, (_SUFFIX_NUMBER, int(number))] if number else [suffix]


def _parse(version: str) -> tuple:
    return tuple(_tokens(version))


SCHEME = KeyScheme(NAME, _parse)
