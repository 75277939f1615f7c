"""Package databases and manifests: dpkg status, apk db, rpm (BerkeleyDB, NDB, SQLite and the
header blob), Python METADATA, package.json and lockfiles, Go build info, jar/zip.

Each input becomes one file of an in-memory filesystem and goes through the cataloger exactly
as ``catalog_filesystem`` calls it.
"""

from __future__ import annotations

import functools
import io
import sqlite3
import struct
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from gate.catalog import CatalogContext, apk, dpkg, golang, java, npm, python, rpm
from gate.catalog.rpmdb import bdb, header, ndb
from gate.catalog.rpmdb import sqlite as rpm_sqlite
from gate.image.filesystem import FileEntry, FileSystem, Kind
from tests.fuzz.runner import FIXTURES, fixture_files
from tests.fuzz.runner import target as register

# The cataloger contract (gate/catalog/__init__.py): a parser raises ValueError, with a message, for a
# file it cannot read, and catalog_filesystem records it as an unknown. A ValueError itself is
# therefore documented; its subclasses from the standard library (UnicodeDecodeError,
# JSONDecodeError) are not: they mean a parser let a decoder's error through unexplained.
DAMAGED = (ValueError,)


def target(
    name: str, seeds: Callable[[], list[bytes]]
) -> Callable[[Callable[[bytes], object]], Callable[[bytes], object]]:
    return register(name, seeds, documented=DAMAGED)


LAYER = "sha256:" + "0" * 64
CONTEXT = CatalogContext(distro=None)


class MemoryFileSystem(FileSystem):
    """One layer of files held in memory."""

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__()
        entries = []
        for source, (path, data) in enumerate(files.items()):
            entries.append(FileEntry(path, Kind.FILE, 0o644, 0, 0, len(data), 0, LAYER, content=(source, 0)))
            self._readers[source] = functools.partial(_slice, data)
        self._apply_layer(0, LAYER, entries, set(), set())


def _slice(data: bytes, offset: int, size: int) -> bytes:
    return data[offset : offset + size]


def parse_as(
    path: str, parse: Callable[[FileSystem, CatalogContext, FileEntry], object]
) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        fs = MemoryFileSystem({path: data})
        entry = fs.entry(path)
        assert entry is not None
        return parse(fs, CONTEXT, entry)

    return run


target("dpkg-status", fixture_files("dpkg/syft/**/status", "dpkg/syft/**/status.d/*"))(
    parse_as("var/lib/dpkg/status", dpkg.parse_dpkg_db)
)
target("apk-installed", fixture_files("apk/trivy-installed", "apk/syft/*"))(
    parse_as("lib/apk/db/installed", apk.parse_apk_db)
)
target("python-metadata", fixture_files("python/**/METADATA", "python/**/PKG-INFO", "python/scalibr/*"))(
    parse_as("usr/lib/python3/site-packages/x-1.0.dist-info/METADATA", python.parse_python_metadata)
)
target("npm-package-json", fixture_files("npm/syft/**/package.json"))(
    parse_as("app/node_modules/x/package.json", npm.parse_package_json)
)
target("npm-package-lock", fixture_files("npm/scalibr/*.json", "npm/syft/pkg-lock/*.json"))(
    parse_as("app/package-lock.json", npm.parse_lockfile)
)
target("yarn-lock", fixture_files("npm/syft/yarn*/yarn.lock"))(parse_as("app/yarn.lock", npm.parse_lockfile))
target("pnpm-lock", fixture_files("npm/syft/pnpm*/pnpm-lock.yaml"))(
    parse_as("app/pnpm-lock.yaml", npm.parse_lockfile)
)


def _rpm_blobs() -> list[bytes]:
    return bdb.read_blobs((FIXTURES / "rpm/bdb-syft/Packages").read_bytes())


@target("rpm-header", _rpm_blobs)
def rpm_header(data: bytes) -> object:
    return rpm.package_from_header(header.parse_header(data), None, CONTEXT.location_of(_ENTRY))


_ENTRY = FileEntry("var/lib/rpm/Packages", Kind.FILE, 0o644, 0, 0, 0, 0, LAYER)

target("rpm-bdb", fixture_files("rpm/bdb-*/Packages"))(parse_as("var/lib/rpm/Packages", rpm.parse_rpm_db))


def _ndb_seed() -> list[bytes]:
    return [(FIXTURES / "rpm/ndb-sle15-bci/Packages.db").read_bytes()[:32768]]


@target("rpm-ndb", _ndb_seed)
def rpm_ndb(data: bytes) -> object:
    return ndb.read_blobs(data)


def sqlite_rpmdb(blobs: list[bytes]) -> bytes:
    """A small rpmdb.sqlite holding ``blobs``, as rpm writes it (one Packages table)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "rpmdb.sqlite"
        connection = sqlite3.connect(path)
        connection.execute(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"
        )
        connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(blob,) for blob in blobs])
        connection.commit()
        connection.close()
        return path.read_bytes()


@target("rpm-sqlite", lambda: [sqlite_rpmdb(_rpm_blobs()[:2])])
def rpm_sqlite_db(data: bytes) -> object:
    return [header.parse_header(blob) for blob in rpm_sqlite.read_blobs(data)]


GO_MAGIC = b"\xff Go buildinf:"


def go_build_info_blob(go_version: str, module_info: str) -> bytes:
    """Go 1.18+ inline build info: magic, pointer size, flags (2 = varint strings), two strings."""

    def varint_string(text: str) -> bytes:
        raw = text.encode()
        length, out = len(raw), bytearray()
        while True:
            byte = length & 0x7F
            length >>= 7
            out.append(byte | (0x80 if length else 0))
            if not length:
                return bytes(out) + raw

    header_bytes = GO_MAGIC + bytes([8, 2]) + b"\x00" * 16
    return header_bytes + varint_string(go_version) + varint_string(module_info)


def _go_seeds() -> list[bytes]:
    sentinel = "0\x77\xaf\x0c\x92\x74\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6"
    modules = (
        "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n"
        "dep\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\n"
        "build\t-compiler=gc\nbuild\tGOOS=linux\n"
    )
    return [b"\x00" * 32 + go_build_info_blob("go1.22.1", sentinel + modules + sentinel[::-1])]


@target("go-buildinfo", _go_seeds)
def go_buildinfo(data: bytes) -> object:
    """The scan Go's own reader does on PE and Mach-O images (the whole file, 16-byte aligned)."""
    info = golang.read_build_info(data, "pe")
    return golang.build_info_packages(info, CONTEXT.location_of(_ENTRY)) if info else None


@target("go-buildinfo-elf", lambda: [_elf_with_section(".go.buildinfo", _go_seeds()[0])])
def go_buildinfo_elf(data: bytes) -> object:
    return golang.read_build_info(data, "elf")


def _elf_with_section(name: str, content: bytes) -> bytes:
    """A minimal little-endian ELF64 file with one named section (and its string table)."""
    names = b"\x00" + name.encode() + b"\x00.shstrtab\x00"
    content_offset = 64
    names_offset = content_offset + len(content)
    sections_offset = names_offset + len(names)
    sections_offset += (-sections_offset) % 8
    ident = b"\x7fELF" + bytes([2, 1, 1]) + b"\x00" * 9
    elf_header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, sections_offset, 0, 64, 0, 0, 64, 3, 2)

    def section(name_index: int, kind: int, flags: int, offset: int, size: int) -> bytes:
        return struct.pack("<IIQQQQIIQQ", name_index, kind, flags, 0, offset, size, 0, 0, 1, 0)

    body = elf_header + content + names
    body += b"\x00" * (sections_offset - len(body))
    return (
        body
        + section(0, 0, 0, 0, 0)
        + section(1, 1, 2, content_offset, len(content))
        + section(len(name) + 2, 3, 0, names_offset, len(names))
    )


def _jar_seeds() -> list[bytes]:
    seeds = []
    for properties in sorted((FIXTURES / "java/syft-pom").glob("*.properties"))[:2]:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(
                "META-INF/MANIFEST.MF", (FIXTURES / "java/syft-manifest/standard-info").read_bytes()
            )
            archive.writestr("META-INF/maven/org.example/app/pom.properties", properties.read_bytes())
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w") as nested:
                nested.writestr(
                    "META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nImplementation-Title: inner\n"
                )
            archive.writestr("BOOT-INF/lib/inner-1.0.jar", inner.getvalue())
        seeds.append(buffer.getvalue())
    return seeds


target("jar", _jar_seeds)(parse_as("opt/app/app-1.0.jar", java.parse_java_archive))
target("jar-manifest", fixture_files("java/syft-manifest/*", "java/scalibr-manifest/*/MANIFEST.MF"))(
    lambda data: java.parse_manifest(data.decode("utf-8", "replace"))
)
