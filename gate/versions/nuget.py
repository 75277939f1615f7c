"""NuGet versions, ordered as NuGet's ``VersionComparer.Default`` orders them.

``Major[.Minor[.Patch[.Revision]]][-prerelease][+metadata]``: missing numbers are 0, a
leading ``v`` is tolerated, leading zeros are allowed. A prerelease sorts before its
release; its dot-separated labels compare numerically when both are numbers, a number
before a word, words case-insensitively; fewer labels sort first. Metadata is ignored.
"""

from __future__ import annotations

import re

from gate.versions import InvalidVersion
from gate.versions._scheme import KeyScheme

NAME = "nuget"

_LABEL = r"[0-9A-Za-z-]+"
_VERSION = re.compile(
    r"[vV]?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:\.([0-9]+))?"
    rf"(?:-({_LABEL}(?:\.{_LABEL})*))?(?:\+{_LABEL}(?:\.{_LABEL})*)?"
)


def _label_key(label: str) -> tuple[int, int | str]:
    return (0, int(label)) if label.isdigit() else (1, label.upper())


def _parse(version: str) -> tuple:
    match = _VERSION.fullmatch(version.strip())
    if not match:
        raise InvalidVersion(
            NAME, version, "not a NuGet version (MAJOR[.MINOR[.PATCH[.REVISION]]][-PRE][+META])"
        )
    *numbers, prerelease = match.groups()
    release = tuple(int(number or 0) for number in numbers)
    if prerelease is None:
        return (*release, (1,))
    return (*release, (0, *(_label_key(label) for label in prerelease.split("."))))


SCHEME = KeyScheme(NAME, _parse)
