"""Rust crates: cargo-auditable data in ELF executables, and ``Cargo.lock`` files.

cargo-auditable links a ``.dep-v0`` section into the binary: zlib-compressed JSON
``{"packages": [{"name", "version", "source", "kind", "dependencies": [index...], "root"}]}``
(the ``auditable-serde`` format). ``kind`` is ``runtime`` (the default) or ``build``; build
dependencies and proc-macros run at compile time and are not in the binary, so, as syft
does, only runtime crates are reported. Executables are read by
:mod:`gate.catalog.executables`, which hands each ELF file here.

``Cargo.lock`` is TOML with one ``[[package]]`` table per crate (``name``, ``version``,
``source``, ``dependencies``). Every crate is reported; only those whose source is the
crates.io registry (``registry+https://github.com/rust-lang/crates.io-index`` or the sparse
``sparse+https://index.crates.io/``) get the ``crates.io`` ecosystem that advisories use: a
path or git crate, or one from another registry, shares names with crates.io by accident.
"""

from __future__ import annotations

import tomllib
import zlib
from typing import Any

from packageurl import PackageURL

from gate import safejson
from gate.catalog import CatalogContext, Cataloger
from gate.catalog.elf import ElfBinary
from gate.image.filesystem import FileEntry, FileSystem
from gate.model import Package, PackageLocation

AUDITABLE_NAME = "cargo-auditable-binary-cataloger"
LOCK_NAME = "rust-cargo-lock-cataloger"
ECOSYSTEM = "crates.io"
AUDIT_SECTION = ".dep-v0"
MAX_AUDIT_JSON = 16 * 1024 * 1024  # inflated; real ones are tens of KiB
MAX_LOCK_FILE = 16 * 1024 * 1024
CRATES_IO_SOURCES = (
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
)


# -- cargo-auditable binaries --------------------------------------------------------------


def binary_packages(binary: ElfBinary, location: PackageLocation) -> list[Package]:
    """The runtime crates recorded in an ELF executable's ``.dep-v0`` section; [] without one."""
    if binary.section_error:
        raise ValueError(binary.section_error)  # a .dep-v0 section could be there, unreadable
    declared = binary.sections.get(AUDIT_SECTION)
    if declared is not None and declared.size > MAX_AUDIT_JSON:  # zlib data is never larger than that
        raise ValueError(
            f"{AUDIT_SECTION} section is {declared.size} bytes, over the {MAX_AUDIT_JSON}-byte limit"
        )
    section = binary.section_bytes(AUDIT_SECTION)
    if section is None:
        if AUDIT_SECTION in binary.sections:
            raise ValueError(f"{AUDIT_SECTION} section lies past the end of the file: {binary.truncated}")
        return []
    return auditable_packages(decode_audit_data(section), location)


def decode_audit_data(section: bytes) -> list[dict[str, Any]]:
    """The package list of a ``.dep-v0`` section; ValueError when it is not valid audit data."""
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(section, MAX_AUDIT_JSON)
    except zlib.error as error:
        raise ValueError(f"{AUDIT_SECTION} section is not zlib data: {error}") from error
    if inflater.unconsumed_tail:
        raise ValueError(f"{AUDIT_SECTION} section inflates past {MAX_AUDIT_JSON} bytes")
    try:
        packages = safejson.loads(text)["packages"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{AUDIT_SECTION} section is not cargo-auditable JSON: {error}") from error
    if not isinstance(packages, list) or not all(_valid_audit_entry(p) for p in packages):
        raise ValueError(f"{AUDIT_SECTION} section: packages need a string name, version and source")
    return packages


def _valid_audit_entry(package: object) -> bool:
    return isinstance(package, dict) and all(
        isinstance(package.get(key), str) for key in ("name", "version", "source")
    )


def auditable_packages(entries: list[dict[str, Any]], location: PackageLocation) -> list[Package]:
    names = [entry["name"] for entry in entries]
    packages = []
    for entry in entries:
        if entry.get("kind", "runtime") != "runtime":
            continue
        indexes = entry.get("dependencies")
        indexes = indexes if isinstance(indexes, list) else []
        dependencies = {names[i] for i in indexes if isinstance(i, int) and 0 <= i < len(names)}
        facts = [("source", entry["source"])]
        if entry.get("root") is True:
            facts.append(("root", "true"))
        crates_io = entry["source"] == "crates.io"
        packages.append(
            _package(
                entry["name"], entry["version"], crates_io, AUDITABLE_NAME, location, dependencies, facts
            )
        )
    return packages


# -- Cargo.lock -----------------------------------------------------------------------------


def parse_cargo_lock(fs: FileSystem, context: CatalogContext, entry: FileEntry) -> list[Package]:
    """Every ``[[package]]`` of a Cargo.lock."""
    if entry.size > MAX_LOCK_FILE:
        raise ValueError(f"Cargo.lock is {entry.size} bytes, over the {MAX_LOCK_FILE}-byte limit")
    try:
        document = tomllib.loads(fs.read_bytes(entry, limit=MAX_LOCK_FILE).decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"not a TOML Cargo.lock: {error}") from error
    tables = document.get("package", [])
    if not isinstance(tables, list):
        raise ValueError("Cargo.lock: 'package' is not an array of tables")
    location = context.location_of(entry)
    packages = []
    for table in tables:
        if not isinstance(table, dict) or not table.get("name") or not table.get("version"):
            continue
        source = str(table.get("source", ""))
        dependencies = {str(d).split(" ", 1)[0] for d in table.get("dependencies", []) if d}
        facts = [("source", source or "local")]
        if table.get("checksum"):
            facts.append(("checksum", str(table["checksum"])))
        crates_io = source in CRATES_IO_SOURCES
        packages.append(
            _package(
                str(table["name"]), str(table["version"]), crates_io, LOCK_NAME, location, dependencies, facts
            )
        )
    return packages


# -- packages -------------------------------------------------------------------------------


def _package(
    name: str,
    version: str,
    crates_io: bool,
    found_by: str,
    location: PackageLocation,
    dependencies: set[str],
    facts: list[tuple[str, str]],
) -> Package:
    return Package(
        name=name,
        version=version,
        type="cargo",
        purl=PackageURL(type="cargo", name=name, version=version).to_string(),
        found_by=found_by,
        locations=(location,),
        ecosystem=ECOSYSTEM if crates_io else "",
        dependencies=tuple(sorted(dependencies)),
        metadata=tuple(sorted(facts)),
    )


CATALOGERS: list[Cataloger] = [
    Cataloger(LOCK_NAME, ("**/Cargo.lock",), parse_cargo_lock),
]
