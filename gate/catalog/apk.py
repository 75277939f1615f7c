"""Alpine packages from apk's installed database, ``lib/apk/db/installed``.

The format (apk-tools ``src/database.c``, documented in the Alpine wiki "Apk spec",
"Installed Database" section) is a sequence of records separated by blank lines; each line
is ``X:value`` with a one-letter key: ``P`` name, ``V`` version, ``A`` arch, ``L`` license,
``o`` origin (source package), ``m`` maintainer, ``I`` installed size, ``D`` space-separated
dependencies, ``F`` a directory and the ``R`` lines after it the files in that directory.
"""

from __future__ import annotations

import re

from packageurl import PackageURL

from gate.catalog import CatalogContext, Cataloger, read_whole
from gate.catalog.distro import osv_ecosystem
from gate.catalog.licenses import normalize_license
from gate.image.filesystem import FileEntry, FileSystem
from gate.model import Package

NAME = "apk-db-cataloger"
MAX_DB_FILE = 512 * 1024 * 1024
_DEP_NAME = re.compile(r"^[^\s<>=~!:]+")
_LICENSE_OPERATORS = re.compile(r"\b(?:AND|OR|WITH)\b|[()]", re.IGNORECASE)


class ApkRecord:
    """One package record: single-valued fields plus the owned files, in order."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.files: list[str] = []
        self._folder = ""

    def add(self, key: str, value: str) -> None:
        if key == "F":
            self._folder = value.strip("/")
        elif key == "R":
            self.files.append(f"/{self._folder}/{value}" if self._folder else f"/{value}")
        elif key not in self.fields:
            self.fields[key] = value


def parse_records(text: str) -> list[ApkRecord]:
    """Split the installed db into records; lines without ``X:`` shape are skipped."""
    records: list[ApkRecord] = []
    current = ApkRecord()
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current.fields or current.files:
                records.append(current)
            current = ApkRecord()
        elif len(line) >= 2 and line[1] == ":":
            current.add(line[0], line[2:].strip())
    if current.fields or current.files:
        records.append(current)
    return records


def parse_dependencies(value: str) -> tuple[str, ...]:
    """Plain package names from ``D:``: drop ``so:``/``cmd:``/``pc:`` provides, ``!`` conflicts, versions."""
    names: set[str] = set()
    for token in value.split():
        if token.startswith("!") or ":" in token.split("=", 1)[0]:
            continue
        match = _DEP_NAME.match(token)
        if match:
            names.add(match.group(0))
    return tuple(sorted(names))


def parse_licenses(value: str) -> tuple[str, ...]:
    """``L:`` as SPDX: an expression stays one; a bare space-separated list is several licenses."""
    value = value.strip()
    if not value:
        return ()
    if _LICENSE_OPERATORS.search(value):
        return (normalize_license(value),)
    return tuple(sorted({normalize_license(part) for part in value.split()}))


def parse_apk_db(fs: FileSystem, context: CatalogContext, entry: FileEntry) -> list[Package]:
    """The packages of one apk installed db; records without name or version are skipped."""
    data = read_whole(fs, entry, MAX_DB_FILE)
    records = parse_records(data.decode("utf-8", "replace"))
    if data.strip() and not any(record.fields.get("P") for record in records):
        raise ValueError("no P: field in any record: not an apk installed database")
    return [
        _package(context, entry, record)
        for record in records
        if record.fields.get("P") and record.fields.get("V")
    ]


def _package(context: CatalogContext, entry: FileEntry, record: ApkRecord) -> Package:
    fields = record.fields
    name, version, arch = fields["P"], fields["V"], fields.get("A", "")
    origin = fields.get("o", "") or name
    metadata = tuple(
        sorted(
            (key, fields[letter])
            for key, letter in (("maintainer", "m"), ("installed-size", "I"))
            if fields.get(letter)
        )
    )
    return Package(
        name=name,
        version=version,
        type="apk",
        purl=_purl(context, name, version, arch, origin),
        found_by=NAME,
        locations=(context.location_of(entry),),
        ecosystem=osv_ecosystem(context.distro),
        arch=arch,
        licenses=parse_licenses(fields.get("L", "")),
        source_name=origin,
        source_version=version,
        files=tuple(sorted(set(record.files))),
        dependencies=parse_dependencies(fields.get("D", "")),
        metadata=metadata,
    )


def _purl(context: CatalogContext, name: str, version: str, arch: str, origin: str) -> str:
    """``pkg:apk/alpine/name@version?arch=..&distro=alpine-3.19.1[&upstream=origin]`` (purl-spec apk)."""
    distro = context.distro
    namespace = distro.id if distro is not None and distro.id else "alpine"
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if distro is not None:
        qualifiers["distro"] = distro.purl_distro
    if origin and origin != name:
        qualifiers["upstream"] = origin
    return PackageURL(
        type="apk", namespace=namespace, name=name, version=version, qualifiers=qualifiers
    ).to_string()


CATALOGERS: list[Cataloger] = [Cataloger(NAME, ("lib/apk/db/installed",), parse_apk_db)]
