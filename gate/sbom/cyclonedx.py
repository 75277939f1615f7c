"""CycloneDX 1.6 JSON: encoder and decoder.

JSON is written directly (cyclonedx-python-lib's model is quadratic in the number of
components). gate's facts ride in namespaced ``properties`` (``gate:found-by``,
``gate:layer-digest``...), so decoding gate's own output is lossless; standard fields
(purl, licences, hashes, the dependency graph, the OS and image components) are what
other tools read, and what is recovered from syft's or trivy's BOMs.

Properties are sorted by name (stable, so repeated names such as one
``gate:location``/``gate:layer-index`` per location keep their order); the
``gate:metadata:<key>`` entries sort as one group and keep the package's order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import gate
from gate import safejson
from gate.model import Catalog, Distro, Package, PackageLocation, Unknown
from gate.sbom._common import (
    GATE_PREFIX,
    SbomError,
    content_uuid,
    creation_time,
    dump_json,
    joined_version,
    license_kind,
    load_json,
    merged_source,
    package_identity,
    package_sort_key,
    purl_qualifier,
    purl_type,
    standard_hash,
)

SPEC_VERSION = "1.6"
P = GATE_PREFIX  # short: it begins most property names below
_BASE = {True: "true", False: "false", None: "unknown"}
_BASE_BACK = {"true": True, "false": False}

Properties = list[tuple[str, str]]


# --------------------------------------------------------------------------- encode


def encode(catalog: Catalog, *, source: dict | None = None) -> bytes:
    """``catalog`` as a CycloneDX 1.6 JSON document (UTF-8 bytes)."""
    src = merged_source(catalog, source)
    packages = sorted(catalog.packages, key=package_sort_key)
    refs = _bom_refs(packages)
    components = [_component(package, ref) for package, ref in zip(packages, refs, strict=True)]
    dependencies = _dependencies(packages, refs)

    os_component = _os_component(catalog.distro) if catalog.distro else None
    if os_component:
        components.insert(0, os_component)
        dependencies.append({"ref": os_component["bom-ref"]})
    image = _image_component(src)
    if image:
        every = sorted(component["bom-ref"] for component in components)
        dependencies.append({"ref": image["bom-ref"], "dependsOn": every})
    dependencies.sort(key=lambda entry: entry["ref"])

    metadata_properties = _sorted_properties(
        [(f"{P}source:{key}", value) for key, value in sorted(src.items())]
        + [(f"{P}unknown", f"{u.path}: {u.reason}") for u in catalog.unknowns]
        + [(f"{P}unknown-found-by", u.found_by) for u in catalog.unknowns]
    )
    body: dict[str, Any] = {"components": components, "dependencies": dependencies}
    metadata: dict[str, Any] = {
        "timestamp": creation_time(),
        "tools": {
            "components": [
                {
                    "type": "application",
                    "authors": [{"name": "gate"}],  # 1.6 deprecates the "author" string
                    "name": "gate",
                    "version": gate.__version__,
                }
            ]
        },
    }
    if image:
        metadata["component"] = image
    if metadata_properties:
        metadata["properties"] = metadata_properties
    serial = content_uuid({"body": body, "image": image, "properties": metadata_properties})
    document = {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": metadata,
        **body,
    }
    return dump_json(document)


def _bom_refs(packages: list[Package]) -> list[str]:
    """The purl, or ``<purl or name@version>#<hash>`` when it is missing or shared."""
    counts: dict[str, int] = defaultdict(int)
    for package in packages:
        counts[package.purl] += 1
    refs: list[str] = []
    seen: set[str] = set()
    for package in packages:
        ref = package.purl
        if not ref or counts[ref] > 1:
            base = package.purl or f"gate:{package.type or 'unknown'}/{package.name}@{package.version}"
            ref = f"{base}#{package_identity(package)}"
        unique, n = ref, 1
        while unique in seen:  # identical packages listed twice
            n += 1
            unique = f"{ref}-{n}"
        seen.add(unique)
        refs.append(unique)
    return refs


def _sorted_properties(pairs: Properties) -> list[dict[str, str]]:
    def group(pair: tuple[str, str]) -> str:
        return f"{P}metadata:" if pair[0].startswith(f"{P}metadata:") else pair[0]

    return [{"name": name, "value": value} for name, value in sorted(pairs, key=group)]


def _licenses(licenses: tuple[str, ...]) -> list[dict[str, Any]]:
    kinds = [license_kind(raw) for raw in licenses]
    if len(kinds) == 1 and kinds[0][0] == "expression":
        return [{"expression": kinds[0][1]}]
    if any(kind == "expression" for kind, _ in kinds) and all(kind != "name" for kind, _ in kinds):
        joined = " AND ".join(f"({value})" if kind == "expression" else value for kind, value in kinds)
        return [{"expression": joined}]
    entries = []
    for kind, value in kinds:
        entries.append({"license": {"id": value}} if kind == "id" else {"license": {"name": value}})
    return entries


def _component(package: Package, ref: str) -> dict[str, Any]:
    component: dict[str, Any] = {"bom-ref": ref, "type": "library", "name": package.name}
    if package.version:
        component["version"] = package.version
    licenses = _licenses(package.licenses)
    if licenses:
        component["licenses"] = licenses
    if package.purl:
        component["purl"] = package.purl
    hashes = [h for h in (standard_hash(alg, value) for alg, value in package.hashes) if h]
    if hashes:
        component["hashes"] = [{"alg": alg, "content": value} for alg, value in hashes]
    component["properties"] = _sorted_properties(_package_properties(package, licenses, hashes))
    return component


def _package_properties(
    package: Package, licenses: list[dict[str, Any]], hashes: list[tuple[str, str]]
) -> Properties:
    props: Properties = [(f"{P}found-by", package.found_by)]
    for location in package.locations:
        props += [
            (f"{P}location", location.path),
            (f"{P}layer-index", str(location.layer_index)),
            (f"{P}layer-digest", location.layer_digest),
            (f"{P}in-base-image", _BASE[location.in_base_image]),
        ]
    optional = [
        ("ecosystem", package.ecosystem),
        ("arch", package.arch),
        ("source-package", package.source_name),
        ("source-version", package.source_version),
    ]
    props += [(f"{P}{name}", value) for name, value in optional if value]
    if package.type != purl_type(package.purl):
        props.append((f"{P}type", package.type))
    props.append((f"{P}files-count", str(len(package.files))))
    if package.files:
        props.append((f"{P}files", json.dumps(list(package.files), ensure_ascii=False)))
    props += [(f"{P}dependency", name) for name in package.dependencies]
    props += [(f"{P}metadata:{key}", value) for key, value in package.metadata]
    if _decode_licenses(licenses) != package.licenses:  # the standard field is not exact: say it exactly
        props += [(f"{P}license", raw) for raw in package.licenses]
    if tuple(hashes) != package.hashes:
        props += [(f"{P}hash", f"{alg}:{value}") for alg, value in package.hashes]
    return props


def _dependencies(packages: list[Package], refs: list[str]) -> list[dict[str, Any]]:
    by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
    for package, ref in zip(packages, refs, strict=True):
        by_name[(package.type, package.name)].append(ref)
    entries = []
    for package, ref in zip(packages, refs, strict=True):
        targets = {t for name in package.dependencies for t in by_name.get((package.type, name), ())}
        targets.discard(ref)
        entry: dict[str, Any] = {"ref": ref}
        if targets:
            entry["dependsOn"] = sorted(targets)
        entries.append(entry)
    return entries


def _os_component(distro: Distro) -> dict[str, Any]:
    component: dict[str, Any] = {
        "bom-ref": f"os:{distro.id}@{distro.version_id}",
        "type": "operating-system",
        "name": distro.id,
    }
    if distro.version_id:
        component["version"] = distro.version_id
    if distro.pretty_name:
        component["description"] = distro.pretty_name
    props = [(f"{P}distro:id-like", value) for value in distro.id_like]
    if distro.version_codename:
        props.append((f"{P}distro:version-codename", distro.version_codename))
    if props:
        component["properties"] = _sorted_properties(props)
    return component


def _image_component(source: dict[str, str]) -> dict[str, Any] | None:
    reference, digest = source.get("reference", ""), source.get("digest", "")
    if not reference and not digest:
        return None
    component: dict[str, Any] = {
        "bom-ref": f"image:{reference or digest}",
        "type": "container",
        "name": reference or digest,
    }
    if digest:
        component["version"] = digest
    return component


# --------------------------------------------------------------------------- decode


def decode(data: bytes) -> Catalog:
    """Read a CycloneDX JSON BOM (gate's, syft's, trivy's...) into a Catalog."""
    document = load_json(data, "CycloneDX BOM")
    if document.get("bomFormat") != "CycloneDX":
        raise SbomError("not a CycloneDX BOM: bomFormat is missing or wrong")
    try:
        return _decode(document)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise SbomError(f"malformed CycloneDX BOM: {type(error).__name__}: {error}") from error


def _decode(document: dict[str, Any]) -> Catalog:
    metadata = document.get("metadata") or {}
    meta_props = _props(metadata)
    components = _flatten(document.get("components") or [])
    distro = None
    packages: list[Package] = []
    package_refs: dict[str, Package] = {}
    for component in components:
        kind = component.get("type", "library")
        if kind == "operating-system":
            distro = distro or _distro(component)
        elif kind in ("container", "file") and not component.get("purl"):
            continue
        else:
            package = _package(component)
            packages.append(package)
            if component.get("bom-ref"):
                package_refs[str(component["bom-ref"])] = package
    if not _made_by_gate(metadata):  # foreign BOM: dependencies come from the graph
        packages = _with_graph_dependencies(packages, package_refs, document.get("dependencies") or [])
    source = {
        key[len(f"{P}source:") :]: values[0]
        for key, values in meta_props.items()
        if key.startswith(f"{P}source:")
    }
    image = metadata.get("component") or {}
    if not source and image.get("type") == "container":
        pairs = (("reference", image.get("name", "")), ("digest", image.get("version", "")))
        source = {key: str(value) for key, value in pairs if value}
    return Catalog(packages=tuple(packages), distro=distro, unknowns=_unknowns(meta_props), source=source)


def _made_by_gate(metadata: dict[str, Any]) -> bool:
    tools = metadata.get("tools") or {}
    listed = tools.get("components") or [] if isinstance(tools, dict) else tools
    return any(isinstance(tool, dict) and tool.get("name") == "gate" for tool in listed)


def _flatten(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for component in components:
        out.append(component)
        out.extend(_flatten(component.get("components") or []))
    return out


def _props(element: dict[str, Any]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = defaultdict(list)
    for prop in element.get("properties") or []:
        result[str(prop.get("name", ""))].append(str(prop.get("value", "")))
    return result


def _ordered_props(element: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
    return [
        (str(p["name"])[len(prefix) :], str(p.get("value", "")))
        for p in element.get("properties") or []
        if str(p.get("name", "")).startswith(prefix)
    ]


def _first(props: dict[str, list[str]], *names: str) -> str:
    for name in names:
        if props.get(name):
            return props[name][0]
    return ""


def _decode_licenses(entries: list[dict[str, Any]]) -> tuple[str, ...]:
    out = []
    for entry in entries:
        if "expression" in entry:
            out.append(str(entry["expression"]))
        elif isinstance(entry.get("license"), dict):
            license_ = entry["license"]
            value = license_.get("id") or license_.get("name")
            if value:
                out.append(str(value))
    return tuple(out)


def _locations(props: dict[str, list[str]]) -> tuple[PackageLocation, ...]:
    paths, indexes = props.get(f"{P}location", []), props.get(f"{P}layer-index", [])
    digests, bases = props.get(f"{P}layer-digest", []), props.get(f"{P}in-base-image", [])
    if not (len(paths) == len(indexes) == len(digests) == len(bases)):
        raise ValueError("gate location properties do not line up")
    return tuple(
        PackageLocation(path, int(index), digest, _BASE_BACK.get(base))
        for path, index, digest, base in zip(paths, indexes, digests, bases, strict=True)
    )


def _package(component: dict[str, Any]) -> Package:
    props = _props(component)
    purl = str(component.get("purl", ""))
    licenses = (
        tuple(props[f"{P}license"])
        if f"{P}license" in props
        else _decode_licenses(component.get("licenses") or [])
    )
    if f"{P}hash" in props:
        hashes = tuple(_split_hash(value) for value in props[f"{P}hash"])
    else:
        hashes = tuple((str(h["alg"]), str(h["content"])) for h in component.get("hashes") or [])
    files = tuple(safejson.loads(props[f"{P}files"][0])) if f"{P}files" in props else ()
    return Package(
        name=str(component["name"]),
        version=str(component.get("version", "")),
        type=_first(props, f"{P}type") or purl_type(purl),
        purl=purl,
        found_by=_first(props, f"{P}found-by", "syft:package:foundBy"),
        locations=_locations(props),
        ecosystem=_first(props, f"{P}ecosystem"),
        arch=_first(props, f"{P}arch") or purl_qualifier(purl, "arch"),
        licenses=licenses,
        source_name=_first(props, f"{P}source-package", "syft:metadata:source", "aquasecurity:trivy:SrcName"),
        source_version=_first(props, f"{P}source-version", "syft:metadata:sourceVersion")
        or _trivy_source_version(props),
        files=files,
        dependencies=tuple(props.get(f"{P}dependency", [])),
        metadata=tuple(_ordered_props(component, f"{P}metadata:")),
        hashes=hashes,
    )


def _trivy_source_version(props: dict[str, list[str]]) -> str:
    """trivy splits the source version into SrcEpoch, SrcVersion and SrcRelease; joined again here."""
    return joined_version(
        _first(props, "aquasecurity:trivy:SrcEpoch"),
        _first(props, "aquasecurity:trivy:SrcVersion"),
        _first(props, "aquasecurity:trivy:SrcRelease"),
    )


def _split_hash(value: str) -> tuple[str, str]:
    algorithm, _, digest = value.partition(":")
    return (algorithm, digest)


def _with_graph_dependencies(
    packages: list[Package], by_ref: dict[str, Package], graph: list[dict[str, Any]]
) -> list[Package]:
    from dataclasses import replace

    names: dict[int, list[str]] = defaultdict(list)
    for entry in graph:
        package = by_ref.get(str(entry.get("ref", "")))
        if package is None:
            continue
        for target_ref in entry.get("dependsOn") or []:
            target = by_ref.get(str(target_ref))
            if target is not None and target.type == package.type and target.name not in names[id(package)]:
                names[id(package)].append(target.name)
    return [replace(p, dependencies=tuple(names[id(p)])) if names.get(id(p)) else p for p in packages]


def _distro(component: dict[str, Any]) -> Distro:
    props = _props(component)
    return Distro(
        id=_first(props, "syft:distro:id") or str(component.get("name", "")),
        version_id=str(component.get("version", "")),
        pretty_name=str(component.get("description", "")),
        id_like=tuple(props.get(f"{P}distro:id-like", [])),
        version_codename=_first(props, f"{P}distro:version-codename", "syft:distro:versionCodename"),
    )


def _unknowns(props: dict[str, list[str]]) -> tuple[Unknown, ...]:
    texts, finders = props.get(f"{P}unknown", []), props.get(f"{P}unknown-found-by", [])
    out = []
    for index, text in enumerate(texts):
        path, _, reason = text.partition(": ")
        out.append(Unknown(path, finders[index] if index < len(finders) else "", reason))
    return tuple(out)
