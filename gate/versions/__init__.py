"""Version schemes: parse a package version into a sort key, per ecosystem.

Every scheme answers one question the matcher asks: how does version A order against
version B in this ecosystem? ``key()`` turns a version string into a hashable, totally
ordered key (equal keys for versions the ecosystem considers equal, e.g. Debian ``1.0``
and ``0:1.0``); ``compare()`` is the -1/0/1 wrapper around it. A string the scheme cannot
parse raises :class:`InvalidVersion` (a one-line :class:`~gate.errors.GateError`): the
matcher must report it, never treat it as "not affected".

One module per scheme; ``scheme_for_ecosystem`` maps OSV ecosystem names (with or without
a release suffix such as ``Debian:12``) and ``scheme_for_purl_type`` maps purl types.
"""

from __future__ import annotations

from typing import Any, Protocol

from gate.errors import GateError


class InvalidVersion(GateError, ValueError):
    """A version string a scheme cannot parse; the message names the scheme and the value."""

    def __init__(self, scheme: str, version: str, reason: str) -> None:
        super().__init__(f"invalid {scheme} version {version!r}: {reason}")
        self.scheme = scheme
        self.version = version
        self.reason = reason


class Scheme(Protocol):
    """How one ecosystem orders its versions."""

    name: str

    def key(self, version: str) -> Any:
        """A hashable, totally ordered sort key; raises InvalidVersion."""
        ...

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b``."""
        ...


def _schemes() -> dict[str, Scheme]:
    from gate.versions import apk, composer, deb, go, maven, nuget, pep440, rpm, rubygems, semver

    schemes: list[Scheme] = [
        deb.SCHEME,
        apk.SCHEME,
        rpm.SCHEME,
        pep440.SCHEME,
        semver.SCHEME,
        go.SCHEME,
        maven.SCHEME,
        rubygems.SCHEME,
        composer.SCHEME,
        nuget.SCHEME,
    ]
    return {scheme.name: scheme for scheme in schemes}


# OSV ecosystem name (the part before the first ":", lower-cased) -> scheme name.
# Bitnami records use semver-like versions, some with leading zeros ("2023.03.13"):
# they go through node-semver's loose parser, the same one npm versions use.
_ECOSYSTEM_SCHEMES = {
    "debian": "deb",
    "ubuntu": "deb",
    "alpine": "apk",
    "wolfi": "apk",
    "chainguard": "apk",
    "almalinux": "rpm",
    "rocky linux": "rpm",
    "red hat": "rpm",
    "suse": "rpm",
    "opensuse": "rpm",
    "mageia": "rpm",
    "openeuler": "rpm",
    "pypi": "pep440",
    "npm": "semver",
    "crates.io": "semver",
    "bitnami": "semver",
    "go": "go",
    "maven": "maven",
    "rubygems": "rubygems",
    "packagist": "composer",
    "nuget": "nuget",
}

_PURL_TYPE_SCHEMES = {
    "deb": "deb",
    "apk": "apk",
    "rpm": "rpm",
    "pypi": "pep440",
    "npm": "semver",
    "cargo": "semver",
    "bitnami": "semver",
    "golang": "go",
    "maven": "maven",
    "gem": "rubygems",
    "composer": "composer",
    "nuget": "nuget",
}

_REGISTRY: dict[str, Scheme] = {}


def scheme_named(name: str) -> Scheme | None:
    """The scheme called ``name`` ("deb", "pep440", ...), or None."""
    if not _REGISTRY:
        _REGISTRY.update(_schemes())
    return _REGISTRY.get(name)


def scheme_for_ecosystem(ecosystem: str) -> Scheme | None:
    """The scheme for an OSV ecosystem name such as ``Debian:12`` or ``PyPI``; None if unknown."""
    base = ecosystem.split(":", 1)[0].strip().lower()
    name = _ECOSYSTEM_SCHEMES.get(base)
    return scheme_named(name) if name else None


def scheme_for_purl_type(purl_type: str) -> Scheme | None:
    """The scheme for a purl type such as ``deb`` or ``pypi``; None if unknown."""
    name = _PURL_TYPE_SCHEMES.get(purl_type.strip().lower())
    return scheme_named(name) if name else None


__all__ = [
    "InvalidVersion",
    "Scheme",
    "scheme_for_ecosystem",
    "scheme_for_purl_type",
    "scheme_named",
]
