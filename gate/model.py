"""The data model that flows through gate's stages: what was found in an image.

Small frozen dataclasses; every stage takes and returns these, so each is testable alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gate.image.filesystem import Location


@dataclass(frozen=True, slots=True)
class Distro:
    """The image's operating system, from ``/etc/os-release`` or its fallbacks."""

    id: str  # os-release ID: "debian", "ubuntu", "alpine", "rhel", "almalinux", ...
    version_id: str  # "12", "3.19.1", "9.3", "" when unknown (e.g. Debian sid)
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()
    version_codename: str = ""

    @property
    def purl_distro(self) -> str:
        """The purl ``distro`` qualifier: ``debian-12``, ``alpine-3.19.1``, ``rhel-9.3``."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


@dataclass(frozen=True, slots=True)
class PackageLocation:
    """Where the evidence for a package was found."""

    path: str  # the metadata file, image-absolute ("/var/lib/dpkg/status")
    layer_index: int
    layer_digest: str
    in_base_image: bool | None = None  # None: unknown

    @classmethod
    def from_location(cls, location: Location, *, in_base_image: bool | None = None) -> PackageLocation:
        return cls(location.path, location.layer_index, location.layer_digest, in_base_image)


@dataclass(frozen=True)
class Package:
    """One installed (or declared) package.

    ``type`` is the purl type (``deb``, ``apk``, ``rpm``, ``pypi``, ``npm`` ...);
    ``ecosystem`` the OSV ecosystem its advisories are filed under (``Debian:12``,
    ``Alpine:v3.19``, ``PyPI``), empty when no vulnerability data exists for it.
    """

    name: str
    version: str
    type: str
    purl: str
    found_by: str
    locations: tuple[PackageLocation, ...]
    ecosystem: str = ""
    arch: str = ""
    licenses: tuple[str, ...] = ()  # SPDX expressions where known, raw text otherwise
    source_name: str = ""  # dpkg Source / apk origin / rpm source rpm name
    source_version: str = ""
    files: tuple[str, ...] = ()  # image-absolute paths this package owns
    dependencies: tuple[str, ...] = ()  # names of packages it depends on (same ecosystem)
    metadata: tuple[tuple[str, str], ...] = ()  # extra facts (maintainer, installed size, ...)
    hashes: tuple[tuple[str, str], ...] = ()  # (algorithm, hex) of the package artifact, when known

    @property
    def metadata_dict(self) -> dict[str, str]:
        return dict(self.metadata)


@dataclass(frozen=True, slots=True)
class Unknown:
    """A file a cataloger could not read: recorded, reported, and left to policy."""

    path: str
    found_by: str
    reason: str


@dataclass(frozen=True)
class Catalog:
    """Everything catalogued from one image."""

    packages: tuple[Package, ...]
    distro: Distro | None
    unknowns: tuple[Unknown, ...] = ()
    source: dict[str, str] = field(default_factory=dict)  # image reference, digest, media type
