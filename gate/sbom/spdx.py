"""SPDX 2.3 JSON: encoder and decoder.

Standard fields carry what other tools read (purl external refs, declared licence
expressions, checksums, CONTAINS/DEPENDS_ON relationships, the image as a CONTAINER
package and the OS as an OPERATING_SYSTEM one). gate's own facts (locations, files,
metadata, exact licence strings...) ride as a JSON blob in each package's ``comment``,
prefixed ``gate:``, and the catalog's source and unknowns in the document ``comment``,
so decoding gate's output is lossless. syft's and trivy's SPDX documents decode to
name, version, purl, type, licences and dependencies.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from typing import Any

import gate
from gate import safejson
from gate.model import Catalog, Distro, Package, Unknown
from gate.sbom._common import (
    GATE_PREFIX,
    SbomError,
    content_uuid,
    creation_time,
    distro_from_purls,
    dump_json,
    license_kind,
    load_json,
    merged_source,
    package_from_dict,
    package_identity,
    package_sort_key,
    package_to_dict,
    purl_qualifier,
    purl_type,
    sanitise,
    short_hash,
    standard_hash,
)

NOASSERTION = "NOASSERTION"
IMAGE_ID = "SPDXRef-Image"
OS_ID = "SPDXRef-OperatingSystem"
_CHECKSUM_NAMES = {  # CycloneDX algorithm name -> SPDX's
    "MD5": "MD5",
    "SHA-1": "SHA1",
    "SHA-256": "SHA256",
    "SHA-384": "SHA384",
    "SHA-512": "SHA512",
    "SHA3-256": "SHA3-256",
    "SHA3-384": "SHA3-384",
    "SHA3-512": "SHA3-512",
    "BLAKE2b-256": "BLAKE2b-256",
    "BLAKE2b-384": "BLAKE2b-384",
    "BLAKE2b-512": "BLAKE2b-512",
    "BLAKE3": "BLAKE3",
}
_OS_PURPOSES = ("OPERATING_SYSTEM", "OPERATING-SYSTEM")
BUILT_FROM = "built package from:"


def _blob(data: dict[str, Any]) -> str:
    return GATE_PREFIX + json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- encode


def encode(catalog: Catalog, *, source: dict | None = None) -> bytes:
    """``catalog`` as an SPDX 2.3 JSON document (UTF-8 bytes)."""
    src = merged_source(catalog, source)
    name = src.get("reference") or src.get("digest") or "gate-catalog"
    packages = sorted(catalog.packages, key=package_sort_key)
    ids = _spdx_ids(packages)
    license_refs = _license_refs(packages)

    spdx_packages: list[dict[str, Any]] = []
    image = _image_package(src)
    if image:
        spdx_packages.append(image)
    if catalog.distro:
        spdx_packages.append(_os_package(catalog.distro))
    spdx_packages += [
        _package(package, spdx_id, license_refs) for package, spdx_id in zip(packages, ids, strict=True)
    ]
    relationships = _relationships(packages, ids, image is not None, catalog.distro is not None)
    comment = _blob(
        {
            "source": dict(sorted(src.items())),
            "unknowns": [
                {"path": u.path, "found_by": u.found_by, "reason": u.reason} for u in catalog.unknowns
            ],
        }
    )
    extracted = [
        {"licenseId": ref, "name": raw, "extractedText": raw}
        for raw, ref in sorted(license_refs.items(), key=lambda item: item[1])
    ]
    body = {
        "packages": spdx_packages,
        "relationships": relationships,
        "comment": comment,
        "extracted": extracted,
    }
    document: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": f"https://gate.invalid/spdx/{sanitise(name)}-{content_uuid(body)}",
        "creationInfo": {"created": creation_time(), "creators": [f"Tool: gate-{gate.__version__}"]},
        "comment": comment,
    }
    if extracted:
        document["hasExtractedLicensingInfos"] = extracted
    document["packages"] = spdx_packages
    document["relationships"] = relationships
    return dump_json(document)


def _spdx_ids(packages: list[Package]) -> list[str]:
    ids, seen = [], set()
    for package in packages:
        base = (
            f"SPDXRef-Package-{sanitise(package.type or 'unknown')}-{sanitise(package.name)}"
            f"-{package_identity(package)[:10]}"
        )
        spdx_id, n = base, 1
        while spdx_id in seen:
            n += 1
            spdx_id = f"{base}-{n}"
        seen.add(spdx_id)
        ids.append(spdx_id)
    return ids


def _license_refs(packages: list[Package]) -> dict[str, str]:
    """Each licence text that is no SPDX expression, mapped to its ``LicenseRef-`` id."""
    raws = sorted({raw for package in packages for raw in package.licenses if license_kind(raw)[0] == "name"})
    refs: dict[str, str] = {}
    used: set[str] = set()
    for raw in raws:
        ref = f"LicenseRef-{sanitise(raw)[:60]}"
        if ref in used:
            ref = f"{ref}-{short_hash(raw, length=8)}"
        used.add(ref)
        refs[raw] = ref
    return refs


def declared_license(licenses: tuple[str, ...], refs: dict[str, str]) -> str:
    parts = []
    for raw in licenses:
        kind, value = license_kind(raw)
        if kind == "name":
            parts.append(refs[raw])
        elif kind == "expression" and len(licenses) > 1:
            parts.append(f"({value})")
        else:
            parts.append(value)
    return " AND ".join(parts) if parts else NOASSERTION


def _package(package: Package, spdx_id: str, license_refs: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"SPDXID": spdx_id, "name": package.name}
    if package.version:
        entry["versionInfo"] = package.version
    entry.update(
        {
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": False,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": declared_license(package.licenses, license_refs),
            "copyrightText": NOASSERTION,
        }
    )
    checksums = [
        {"algorithm": _CHECKSUM_NAMES[alg], "checksumValue": value}
        for alg, value in (h for h in (standard_hash(a, v) for a, v in package.hashes) if h)
    ]
    if checksums:
        entry["checksums"] = checksums
    if package.purl:
        entry["externalRefs"] = [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": package.purl,
            }
        ]
    if package.locations:
        entry["sourceInfo"] = "; ".join(
            f"acquired package info from {package.found_by or 'gate'}: {loc.path} "
            f"(layer {loc.layer_index} {loc.layer_digest})"
            for loc in package.locations
        )
    entry["primaryPackagePurpose"] = "LIBRARY"
    facts = package_to_dict(package)
    for field in ("name", "version", "purl"):  # carried by standard fields
        del facts[field]
    entry["comment"] = _blob(facts)
    return entry


def _image_package(source: dict[str, str]) -> dict[str, Any] | None:
    reference, digest = source.get("reference", ""), source.get("digest", "")
    if not reference and not digest:
        return None
    entry: dict[str, Any] = {"SPDXID": IMAGE_ID, "name": reference or digest}
    if digest:
        entry["versionInfo"] = digest
    entry.update(
        {
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": False,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": NOASSERTION,
            "copyrightText": NOASSERTION,
            "primaryPackagePurpose": "CONTAINER",
        }
    )
    return entry


def _os_package(distro: Distro) -> dict[str, Any]:
    entry: dict[str, Any] = {"SPDXID": OS_ID, "name": distro.id}
    if distro.version_id:
        entry["versionInfo"] = distro.version_id
    if distro.pretty_name:
        entry["description"] = distro.pretty_name
    entry.update(
        {
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": False,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": NOASSERTION,
            "copyrightText": NOASSERTION,
            "primaryPackagePurpose": "OPERATING_SYSTEM",
            "comment": _blob({"id_like": list(distro.id_like), "version_codename": distro.version_codename}),
        }
    )
    return entry


def _relationships(
    packages: list[Package], ids: list[str], has_image: bool, has_os: bool
) -> list[dict[str, str]]:
    def rel(element: str, kind: str, related: str) -> dict[str, str]:
        return {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}

    contained = ([OS_ID] if has_os else []) + ids
    relations = []
    if has_image:
        relations.append(rel("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID))
        relations += [rel(IMAGE_ID, "CONTAINS", spdx_id) for spdx_id in contained]
    else:
        relations += [rel("SPDXRef-DOCUMENT", "DESCRIBES", spdx_id) for spdx_id in contained]
    by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
    for package, spdx_id in zip(packages, ids, strict=True):
        by_name[(package.type, package.name)].append(spdx_id)
    for package, spdx_id in zip(packages, ids, strict=True):
        targets = {t for name in package.dependencies for t in by_name.get((package.type, name), ())}
        targets.discard(spdx_id)
        relations += [rel(spdx_id, "DEPENDS_ON", target) for target in sorted(targets)]
    relations.sort(key=lambda r: (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]))
    return relations


# --------------------------------------------------------------------------- decode


def decode(data: bytes) -> Catalog:
    """Read an SPDX 2.x JSON document (gate's, syft's, trivy's...) into a Catalog."""
    document = load_json(data, "SPDX document")
    if not str(document.get("spdxVersion", "")).startswith("SPDX-2"):
        raise SbomError("not an SPDX 2.x JSON document: spdxVersion is missing or wrong")
    try:
        return _decode(document)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise SbomError(f"malformed SPDX document: {type(error).__name__}: {error}") from error


def _read_blob(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str) or not text.startswith(GATE_PREFIX):
        return None
    value = safejson.loads(text[len(GATE_PREFIX) :])
    return value if isinstance(value, dict) else None


def _decode(document: dict[str, Any]) -> Catalog:
    doc_blob = _read_blob(document.get("comment")) or {}
    extracted = {
        str(e.get("licenseId")): str(e.get("name") or e.get("extractedText") or "")
        for e in document.get("hasExtractedLicensingInfos") or []
    }
    distro, image = None, None
    packages: list[Package] = []
    by_id: dict[str, Package] = {}
    foreign_ids: set[str] = set()
    for entry in document.get("packages") or []:
        purpose = entry.get("primaryPackagePurpose", "")
        if purpose == "CONTAINER":
            image = image or entry
            continue
        if purpose in _OS_PURPOSES:
            distro = distro or _distro(entry)
            continue
        package = _gate_package(entry) or _foreign_package(entry, extracted)
        if package is None:
            continue
        if _read_blob(entry.get("comment")) is None:
            foreign_ids.add(str(entry.get("SPDXID")))
        packages.append(package)
        by_id[str(entry.get("SPDXID"))] = package
    if distro is None:
        distro = distro_from_purls([package.purl for package in packages])
    if foreign_ids:
        relationships = document.get("relationships") or []
        packages = _with_relationship_dependencies(packages, by_id, foreign_ids, relationships)
    source = {str(k): str(v) for k, v in (doc_blob.get("source") or {}).items()}
    if not source and image:
        pairs = (("reference", image.get("name")), ("digest", image.get("versionInfo")))
        source = {key: str(value) for key, value in pairs if value}
    unknowns = tuple(
        Unknown(str(u["path"]), str(u["found_by"]), str(u["reason"])) for u in doc_blob.get("unknowns") or ()
    )
    return Catalog(packages=tuple(packages), distro=distro, unknowns=unknowns, source=source)


def _purl(entry: dict[str, Any]) -> str:
    for ref in entry.get("externalRefs") or []:
        if ref.get("referenceType") == "purl":
            return str(ref.get("referenceLocator", ""))
    return ""


def _gate_package(entry: dict[str, Any]) -> Package | None:
    blob = _read_blob(entry.get("comment"))
    if blob is None:
        return None
    return package_from_dict(
        {**blob, "name": entry["name"], "version": entry.get("versionInfo", ""), "purl": _purl(entry)}
    )


def _foreign_licenses(entry: dict[str, Any], extracted: dict[str, str]) -> tuple[str, ...]:
    for field in ("licenseDeclared", "licenseConcluded"):
        value = str(entry.get(field) or "").strip()
        if value and value not in (NOASSERTION, "NONE"):
            return (extracted.get(value) or value,)
    return ()


def _foreign_package(entry: dict[str, Any], extracted: dict[str, str]) -> Package | None:
    purl = _purl(entry)
    if not purl:  # files, "application" groupings, the image itself: not packages for gate
        return None
    source_name, source_version = _built_from(str(entry.get("sourceInfo") or ""))
    return Package(
        name=str(entry["name"]),
        version=str(entry.get("versionInfo", "")),
        type=purl_type(purl),
        purl=purl,
        found_by="",
        locations=(),
        arch=purl_qualifier(purl, "arch"),
        licenses=_foreign_licenses(entry, extracted),
        source_name=source_name,
        source_version=source_version,
        hashes=tuple((str(c["algorithm"]), str(c["checksumValue"])) for c in entry.get("checksums") or ()),
    )


def _built_from(source_info: str) -> tuple[str, str]:
    """(source package, its version) from trivy's ``sourceInfo: built package from: glibc 2.36-9``.

    syft's ``sourceInfo`` says where it read the package instead; its source package is in the
    purl's ``upstream`` qualifier, read by :func:`gate.sbom.complete_os_packages`.
    """
    if not source_info.startswith(BUILT_FROM):
        return "", ""
    name, _, version = source_info[len(BUILT_FROM) :].strip().partition(" ")
    return name, version.strip()


def _with_relationship_dependencies(
    packages: list[Package], by_id: dict[str, Package], foreign: set[str], relationships: list[dict[str, Any]]
) -> list[Package]:
    names: dict[int, list[str]] = defaultdict(list)
    for relation in relationships:
        kind = relation.get("relationshipType")
        element, related = str(relation.get("spdxElementId")), str(relation.get("relatedSpdxElement"))
        if kind == "DEPENDENCY_OF":
            element, related = related, element
        elif kind != "DEPENDS_ON":
            continue
        source, target = by_id.get(element), by_id.get(related)
        if (
            element in foreign
            and source
            and target
            and target.type == source.type
            and target.name not in names[id(source)]
        ):
            names[id(source)].append(target.name)
    return [replace(p, dependencies=tuple(names[id(p)])) if names.get(id(p)) else p for p in packages]


def _distro(entry: dict[str, Any]) -> Distro:
    blob = _read_blob(entry.get("comment")) or {}
    return Distro(
        id=str(entry.get("name", "")),
        version_id=str(entry.get("versionInfo", "")),
        pretty_name=str(entry.get("description", "")),
        id_like=tuple(str(x) for x in blob.get("id_like") or ()),
        version_codename=str(blob.get("version_codename", "")),
    )
