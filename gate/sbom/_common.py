"""Helpers shared by the SBOM encoders and decoders: time, ordering, licences, hashes, JSON."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import re
import uuid
from dataclasses import replace
from typing import Any

from gate import safejson
from gate.catalog.licenses import spdx_licensing
from gate.errors import GateError
from gate.model import Catalog, Distro, Package, PackageLocation

GATE_PREFIX = "gate:"  # namespace of gate's own facts: CycloneDX property names, SPDX annotations
_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.\-]+")
_HEX = re.compile(r"[0-9a-fA-F]+")


class SbomError(GateError):
    """An SBOM that cannot be read or written."""


def creation_time() -> str:
    """``SOURCE_DATE_EPOCH`` as an RFC 3339 UTC time, or now, to the second."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if raw:
        try:
            moment = dt.datetime.fromtimestamp(int(raw), tz=dt.UTC)
        except (ValueError, OverflowError, OSError) as error:
            raise SbomError(f"SOURCE_DATE_EPOCH is not a usable Unix time: {raw!r}") from error
    else:
        moment = dt.datetime.now(tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def content_uuid(payload: Any) -> str:
    """A UUID (v5) derived from the canonical JSON of ``payload``."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "gate:" + hashlib.sha256(text.encode()).hexdigest()))


def short_hash(*parts: str, length: int = 12) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:length]


def package_identity(package: Package) -> str:
    """A stable digest of everything in ``package``: the tie-breaker for ordering and ids."""
    return short_hash(repr(package), length=16)


def package_sort_key(package: Package) -> tuple[str, ...]:
    return (package.purl, package.name, package.version, package.type, package_identity(package))


def canonical(catalog: Catalog) -> Catalog:
    """``catalog`` with its packages in the order every SBOM encoder writes (and decodes) them."""
    return replace(catalog, packages=tuple(sorted(catalog.packages, key=package_sort_key)))


def merged_source(catalog: Catalog, source: dict | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in {**catalog.source, **(source or {})}.items()}


def purl_type(purl: str) -> str:
    """The purl type (``deb``, ``pypi``...) without a full parse; empty when not a purl."""
    if not purl.startswith("pkg:"):
        return ""
    return purl[4:].lstrip("/").split("/", 1)[0].lower()


def purl_qualifier(purl: str, key: str) -> str:
    """One qualifier of a purl (``arch``, ``distro``), empty when absent."""
    query = purl.split("#", 1)[0].partition("?")[2]
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name == key:
            from urllib.parse import unquote

            return unquote(value)
    return ""


def joined_version(epoch: str, version: str, release: str) -> str:
    """``[epoch:]version[-release]``: a distro version that tools write as three parts (trivy's Src*)."""
    if not version:
        return ""
    joined = f"{epoch}:{version}" if epoch and epoch != "0" else version
    return f"{joined}-{release}" if release else joined


def distro_from_purls(purls: list[str]) -> Distro | None:
    """The distro named by OS package purls' ``distro`` qualifier (``debian-12``, ``ubuntu-22.04``).

    syft writes no operating-system package into SPDX; its deb, apk and rpm purls still say
    which distro they were installed on. The most common value wins; None when none says.
    """
    named: dict[str, int] = {}
    for purl in purls:
        if purl_type(purl) in ("deb", "apk", "rpm") and (value := purl_qualifier(purl, "distro")):
            named[value] = named.get(value, 0) + 1
    if not named:
        return None
    distro_id, _, version = max(named, key=lambda value: named[value]).rpartition("-")
    if not distro_id or not version[:1].isdigit():
        return None  # "3.15.11" (trivy's apk purls) names no distro
    return Distro(id=distro_id.lower(), version_id=version)


def sanitise(text: str) -> str:
    """Only letters, digits, ``.`` and ``-`` (SPDX identifier characters)."""
    cleaned = re.sub(r"[^A-Za-z0-9.\-]+", "-", text).strip("-")
    return cleaned or "x"


@functools.lru_cache(maxsize=4096)
def license_kind(raw: str) -> tuple[str, str]:
    """Classify one licence string: ``("id", key)``, ``("expression", raw)`` or ``("name", raw)``.

    ``id`` is a single known SPDX licence id (``key`` its canonical spelling);
    ``expression`` a valid SPDX expression that is compound, has an exception or a
    ``LicenseRef-``; ``name`` anything else (free text, unknown keys, bad syntax).
    """
    text = raw.strip()
    if not text:
        return ("name", raw)
    try:
        info = spdx_licensing().validate(text)
    except Exception:  # the library raises assorted errors on odd text
        return ("name", raw)
    invalid = [symbol for symbol in info.invalid_symbols if not _LICENSE_REF.fullmatch(str(symbol))]
    unknown_only = all("Unknown license key" in error for error in info.errors)
    if invalid or not unknown_only:
        return ("name", raw)
    if info.errors:  # only LicenseRef- symbols were "unknown"
        return ("expression", raw)
    normalized = str(info.normalized_expression)
    if re.fullmatch(r"[A-Za-z0-9.\-+]+", text) and "+" not in normalized and "+" not in text:
        return ("id", normalized)
    return ("expression", raw)


def is_spdx_expression(raw: str) -> bool:
    return license_kind(raw)[0] in ("id", "expression")


_HASH_NAMES = {
    "md5": "MD5",
    "sha1": "SHA-1",
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
    "sha3256": "SHA3-256",
    "sha3384": "SHA3-384",
    "sha3512": "SHA3-512",
    "blake2b256": "BLAKE2b-256",
    "blake2b384": "BLAKE2b-384",
    "blake2b512": "BLAKE2b-512",
    "blake3": "BLAKE3",
}
_HASH_LENGTHS = {
    "MD5": 32,
    "SHA-1": 40,
    "SHA-256": 64,
    "SHA-384": 96,
    "SHA-512": 128,
    "SHA3-256": 64,
    "SHA3-384": 96,
    "SHA3-512": 128,
    "BLAKE2b-256": 64,
    "BLAKE2b-384": 96,
    "BLAKE2b-512": 128,
}


def standard_hash(algorithm: str, value: str) -> tuple[str, str] | None:
    """``(CycloneDX algorithm name, hex)`` for a hash a standard field can carry, else None."""
    name = _HASH_NAMES.get(re.sub(r"[^a-z0-9]", "", algorithm.lower()))
    if name is None or not _HEX.fullmatch(value):
        return None
    expected = _HASH_LENGTHS.get(name)
    if expected is not None and len(value) != expected:
        return None
    return (name, value.lower())


def location_to_dict(location: PackageLocation) -> dict[str, Any]:
    return {
        "path": location.path,
        "layer_index": location.layer_index,
        "layer_digest": location.layer_digest,
        "in_base_image": location.in_base_image,
    }


def location_from_dict(data: dict[str, Any]) -> PackageLocation:
    in_base = data.get("in_base_image")
    return PackageLocation(
        str(data["path"]),
        int(data["layer_index"]),
        str(data["layer_digest"]),
        None if in_base is None else bool(in_base),
    )


def package_to_dict(package: Package) -> dict[str, Any]:
    """Every field of ``package`` as plain JSON values (gate's native shape)."""
    return {
        "name": package.name,
        "version": package.version,
        "type": package.type,
        "purl": package.purl,
        "found_by": package.found_by,
        "locations": [location_to_dict(loc) for loc in package.locations],
        "ecosystem": package.ecosystem,
        "arch": package.arch,
        "licenses": list(package.licenses),
        "source_name": package.source_name,
        "source_version": package.source_version,
        "files": list(package.files),
        "dependencies": list(package.dependencies),
        "metadata": [list(pair) for pair in package.metadata],
        "hashes": [list(pair) for pair in package.hashes],
    }


def _pairs(items: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(key), str(value)) for key, value in items or ())


def _strings(items: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in items or ())


def package_from_dict(data: dict[str, Any]) -> Package:
    """The inverse of :func:`package_to_dict`; raises KeyError/TypeError/ValueError on bad data."""
    return Package(
        name=str(data["name"]),
        version=str(data.get("version", "")),
        type=str(data.get("type", "")),
        purl=str(data.get("purl", "")),
        found_by=str(data.get("found_by", "")),
        locations=tuple(location_from_dict(loc) for loc in data.get("locations") or ()),
        ecosystem=str(data.get("ecosystem", "")),
        arch=str(data.get("arch", "")),
        licenses=_strings(data.get("licenses")),
        source_name=str(data.get("source_name", "")),
        source_version=str(data.get("source_version", "")),
        files=_strings(data.get("files")),
        dependencies=_strings(data.get("dependencies")),
        metadata=_pairs(data.get("metadata")),
        hashes=_pairs(data.get("hashes")),
    )


def distro_to_dict(distro: Distro) -> dict[str, Any]:
    return {
        "id": distro.id,
        "version_id": distro.version_id,
        "pretty_name": distro.pretty_name,
        "id_like": list(distro.id_like),
        "version_codename": distro.version_codename,
    }


def distro_from_dict(data: dict[str, Any]) -> Distro:
    return Distro(
        str(data["id"]),
        str(data.get("version_id", "")),
        str(data.get("pretty_name", "")),
        _strings(data.get("id_like")),
        str(data.get("version_codename", "")),
    )


def load_json(data: bytes, what: str) -> dict[str, Any]:
    """Parse ``data`` as a JSON object, or raise a one-line :class:`SbomError`."""
    try:
        document = safejson.loads(data)
    except (UnicodeDecodeError, ValueError) as error:
        raise SbomError(f"{what} is not valid JSON: {str(error).splitlines()[0]}") from error
    if not isinstance(document, dict):
        raise SbomError(f"{what} is not a JSON object")
    return document


def dump_json(document: dict[str, Any]) -> bytes:
    """``document`` as UTF-8 JSON: one top-level key per line, one list element per line.

    Full indentation would force Python's pure-Python JSON encoder (seconds for 5,000
    packages); this layout keeps the C encoder and still diffs and greps line by line.
    """

    def one(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    entries = []
    for key, value in document.items():
        if isinstance(value, list) and value:
            inner = ",\n".join(f"    {one(item)}" for item in value)
            entries.append(f"  {one(key)}: [\n{inner}\n  ]")
        else:
            entries.append(f"  {one(key)}: {one(value)}")
    return ("{\n" + ",\n".join(entries) + "\n}\n").encode()
