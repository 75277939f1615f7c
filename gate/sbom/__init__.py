"""SBOM formats: encode a :class:`~gate.model.Catalog` as CycloneDX 1.6, SPDX 2.3 or gate's own JSON,
and read any of them (gate's, syft's or trivy's CycloneDX/SPDX JSON) back into a Catalog.

    from gate.sbom import SbomFormat, encode, decode
    data = encode(catalog, SbomFormat.CYCLONEDX_JSON)
    again = decode(data)          # == canonical(catalog) for gate's own output

Encoders are deterministic: packages are written in :func:`canonical` order and, with
``SOURCE_DATE_EPOCH`` set, the same catalog gives byte-identical output.
"""

from __future__ import annotations

import dataclasses
import enum
import re

from packageurl import PackageURL

from gate.catalog.distro import osv_ecosystem
from gate.model import Catalog
from gate.sbom._common import SbomError, canonical

__all__ = ["SbomError", "SbomFormat", "canonical", "decode", "encode", "identify"]


class SbomFormat(enum.StrEnum):
    CYCLONEDX_JSON = "cyclonedx-json"
    SPDX_JSON = "spdx-json"
    JSON = "json"


_SNIFF_BYTES = 64 * 1024
_SNIFFERS = (
    (re.compile(rb'"bomFormat"\s*:\s*"CycloneDX"'), SbomFormat.CYCLONEDX_JSON),
    (re.compile(rb'"spdxVersion"\s*:\s*"SPDX-'), SbomFormat.SPDX_JSON),
    (re.compile(rb'"schema"\s*:\s*"gate-catalog/'), SbomFormat.JSON),
)


def encode(catalog: Catalog, fmt: SbomFormat | str, *, source: dict | None = None) -> bytes:
    """``catalog`` as UTF-8 JSON bytes in format ``fmt``; ``source`` adds to ``catalog.source``."""
    try:
        chosen = SbomFormat(fmt)
    except ValueError as error:
        raise SbomError(f"unknown SBOM format {fmt!r} (choose from {', '.join(SbomFormat)})") from error
    if chosen is SbomFormat.CYCLONEDX_JSON:
        from gate.sbom import cyclonedx

        return cyclonedx.encode(catalog, source=source)
    if chosen is SbomFormat.SPDX_JSON:
        from gate.sbom import spdx

        return spdx.encode(catalog, source=source)
    from gate.sbom import native

    return native.encode(catalog, source=source)


def identify(data: bytes) -> SbomFormat | None:
    """The format of ``data`` by sniffing its first 64 KiB, or None when it is none of ours."""
    head = data[:_SNIFF_BYTES]
    if head.lstrip()[:1] != b"{":
        return None
    for pattern, fmt in _SNIFFERS:
        if pattern.search(head):
            return fmt
    return None


def decode(data: bytes) -> Catalog:
    """Read a CycloneDX JSON, SPDX JSON or gate JSON document into a Catalog.

    OS packages that the document gives no OSV ecosystem or source package (syft and trivy write
    neither) take the document's distro and their purl's ``upstream`` qualifier, so they match the
    same advisories as when gate reads the image.
    """
    return complete_os_packages(_decode(data))


_DEB_ECOSYSTEMS = ("Debian", "Ubuntu")
_APK_ECOSYSTEMS = ("Alpine", "Wolfi", "Chainguard")


def complete_os_packages(catalog: Catalog) -> Catalog:
    """Fill in what OS packages need for matching: the distro's OSV ecosystem and the source package."""
    distro_ecosystem = osv_ecosystem(catalog.distro)
    packages = []
    for package in catalog.packages:
        if _packaged_for(package.type, distro_ecosystem):
            if not package.ecosystem:
                package = dataclasses.replace(package, ecosystem=distro_ecosystem)
            if package.type != "rpm" and not package.source_name and (upstream := _upstream(package.purl)):
                name, _, version = upstream.partition("@")
                package = dataclasses.replace(package, source_name=name, source_version=version)
        packages.append(package)
    return dataclasses.replace(catalog, packages=tuple(packages))


def _packaged_for(package_type: str, ecosystem: str) -> bool:
    """Whether ``ecosystem`` (the distro's) publishes packages of this purl type."""
    family = ecosystem.split(":", 1)[0]
    if not family:
        return False
    if package_type == "deb":
        return family in _DEB_ECOSYSTEMS
    if package_type == "apk":
        return family in _APK_ECOSYSTEMS
    return package_type == "rpm" and family not in _DEB_ECOSYSTEMS + _APK_ECOSYSTEMS


def _upstream(purl: str) -> str:
    """The ``upstream`` qualifier (``src`` or ``src@version``) of a deb or apk purl, or empty.

    rpm purls name the source rpm file there, and rpm advisories are keyed by binary package.
    """
    try:
        qualifiers = PackageURL.from_string(purl).qualifiers
    except ValueError:
        return ""
    value = qualifiers.get("upstream", "") if isinstance(qualifiers, dict) else ""
    return value.strip()


def _decode(data: bytes) -> Catalog:
    fmt = identify(data)
    if fmt is None:
        from gate.sbom._common import load_json

        document = load_json(data, "SBOM")  # raises on garbage
        if document.get("bomFormat") == "CycloneDX":
            fmt = SbomFormat.CYCLONEDX_JSON
        elif str(document.get("spdxVersion", "")).startswith("SPDX-"):
            fmt = SbomFormat.SPDX_JSON
        elif str(document.get("schema", "")).startswith("gate-catalog/"):
            fmt = SbomFormat.JSON
        else:
            raise SbomError("not a CycloneDX, SPDX or gate JSON document")
    if fmt is SbomFormat.CYCLONEDX_JSON:
        from gate.sbom import cyclonedx

        return cyclonedx.decode(data)
    if fmt is SbomFormat.SPDX_JSON:
        from gate.sbom import spdx

        return spdx.decode(data)
    from gate.sbom import native

    return native.decode(data)
