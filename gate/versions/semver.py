"""Semantic versions as npm's node-semver parses and orders them (also crates.io, Bitnami).

Parsing follows node-semver's *loose* grammar, a superset of SemVer 2.0.0: a leading
``v``/``=`` and whitespace, leading zeros in numbers (``2023.03.13``, which Bitnami
records use) and a prerelease without its hyphen (``1.2.3beta``) are accepted; anything
else, including two-part versions such as ``1.2``, is refused. Ordering is SemVer 2.0.0
precedence: major, minor, patch numerically; a prerelease sorts before its release;
prerelease identifiers compare numerically when both are digits, digits sort before
letters, others compare as ASCII strings, and a shorter identifier list sorts first.
Build metadata (``+...``) is ignored, so ``1.0.0+a`` equals ``1.0.0+b``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gate.versions import InvalidVersion
from gate.versions._scheme import KeyScheme

NAME = "semver"

_NONNUMERIC = r"[0-9]*[a-zA-Z-][a-zA-Z0-9-]*"
_PRERELEASE_ID = rf"(?:{_NONNUMERIC}|[0-9]+)"
_BUILD_ID = r"[0-9A-Za-z-]+"
_LOOSE = re.compile(
    r"[v=\s]*([0-9]+)\.([0-9]+)\.([0-9]+)"
    rf"(?:-?({_PRERELEASE_ID}(?:\.{_PRERELEASE_ID})*))?"
    rf"(?:\+({_BUILD_ID}(?:\.{_BUILD_ID})*))?"
)

PrereleaseId = int | str


@dataclass(frozen=True)
class SemVer:
    """A parsed semantic version."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[PrereleaseId, ...]
    build: tuple[str, ...]


def prerelease_ids(text: str) -> tuple[PrereleaseId, ...]:
    """Dot-separated prerelease identifiers; all-digit ones become integers."""
    return tuple(int(part) if part.isdigit() else part for part in text.split("."))


def precedence_key(major: int, minor: int, patch: int, prerelease: tuple[PrereleaseId, ...]) -> tuple:
    """The SemVer 2.0.0 precedence of a version (build metadata plays no part)."""
    if not prerelease:
        return (major, minor, patch, (1,))
    ids = tuple((0, part) if isinstance(part, int) else (1, part) for part in prerelease)
    return (major, minor, patch, (0, *ids))


def parse(version: str) -> SemVer:
    """Parse ``version`` with node-semver's loose grammar; raises InvalidVersion."""
    match = _LOOSE.fullmatch(version.strip())
    if not match:
        raise InvalidVersion(NAME, version, "not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])")
    major, minor, patch, prerelease, build = match.groups()
    return SemVer(
        int(major),
        int(minor),
        int(patch),
        prerelease_ids(prerelease) if prerelease else (),
        tuple(build.split(".")) if build else (),
    )


def _parse(version: str) -> tuple:
    parsed = parse(version)
    return precedence_key(parsed.major, parsed.minor, parsed.patch, parsed.prerelease)


SCHEME = KeyScheme(NAME, _parse)
