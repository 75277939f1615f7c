"""Python package versions (PEP 440), ordered by ``packaging.version.Version``.

``packaging`` is the reference implementation pip uses; its Version objects are
hashable and totally ordered, so they are the key as they are.
"""

from __future__ import annotations

from packaging.version import InvalidVersion as PackagingInvalidVersion
from packaging.version import Version

from gate.versions import InvalidVersion
from gate.versions._scheme import KeyScheme

NAME = "pep440"


def _parse(version: str) -> Version:
    try:
        return Version(version)
    except PackagingInvalidVersion:
        raise InvalidVersion(NAME, version, "not a PEP 440 version") from None


SCHEME = KeyScheme(NAME, _parse)
