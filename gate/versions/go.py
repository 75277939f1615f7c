"""Go module versions, ordered as ``golang.org/x/mod/semver`` orders them.

Strict SemVer 2.0.0 with an optional ``v`` (OSV writes ``1.2.3``, go.mod and purls
``v1.2.3``) and Go's shorthands ``v1`` and ``v1.2`` (``v1.0.0``, ``v1.2.0``). Build
metadata is ignored, so ``v2.0.0+incompatible`` equals ``v2.0.0``. Pseudo-versions
(``v0.0.0-20191109021931-daa7c04131f5``, ``v1.2.4-0.2019...``, ``v1.2.3-pre.0.2019...``)
are ordinary prereleases and, by Go's design, sort by their timestamp after the tagged
version they build on and before the next one.
"""

from __future__ import annotations

import re

from gate.versions import InvalidVersion
from gate.versions._scheme import KeyScheme
from gate.versions.semver import precedence_key, prerelease_ids

NAME = "go"

_NUMBER = r"0|[1-9][0-9]*"
_PRERELEASE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_GO_SEMVER = re.compile(
    rf"v?({_NUMBER})(?:\.({_NUMBER})(?:\.({_NUMBER})"
    rf"(?:-({_PRERELEASE_ID}(?:\.{_PRERELEASE_ID})*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?"
)


def _parse(version: str) -> tuple:
    match = _GO_SEMVER.fullmatch(version)
    if not match:
        raise InvalidVersion(NAME, version, "not a Go module version (vMAJOR.MINOR.PATCH[-PRE][+BUILD])")
    major, minor, patch, prerelease = match.groups()
    return precedence_key(
        int(major),
        int(minor or 0),
        int(patch or 0),
        prerelease_ids(prerelease) if prerelease else (),
    )


SCHEME = KeyScheme(NAME, _parse)
