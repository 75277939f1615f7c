"""The rpm database cataloger: sqlite, BerkeleyDB hash and NDB databases, and hostile ones.

Fixtures (tests/fixtures/rpm, see NOTICE.md) are real databases from go-rpmdb, syft and
osv-scalibr; expected values come from those projects' own tests. Hand-built header blobs
exercise the header parser's bounds checks.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import sqlite3
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from packageurl import PackageURL

from gate.catalog import CatalogContext, catalog_filesystem, rpm
from gate.catalog.licenses import normalize_license
from gate.catalog.rpmdb import RpmDbError, read_blobs
from gate.catalog.rpmdb.header import (
    BIN,
    INT32,
    STRING,
    STRING_ARRAY,
    TAG_ARCH,
    TAG_BASENAMES,
    TAG_DIRINDEXES,
    TAG_DIRNAMES,
    TAG_EPOCH,
    TAG_LICENSE,
    TAG_NAME,
    TAG_OLDFILENAMES,
    TAG_RELEASE,
    TAG_SIZE,
    TAG_SOURCERPM,
    TAG_VENDOR,
    TAG_VERSION,
    parse_header,
)
from gate.errors import GateError
from gate.image.rootfs import DirFileSystem
from gate.model import Catalog, Distro, Package, PackageLocation

FIXTURES = Path(__file__).parent / "fixtures" / "rpm"
SQLITE_DB = FIXTURES / "sqlite-cbl-mariner-2.0" / "rpmdb.sqlite"
NDB_DB = FIXTURES / "ndb-sle15-bci" / "Packages.db"
NDB_EXPECTED = FIXTURES / "ndb-sle15-bci" / "expected-packages.json"
BDB_LIBUUID = FIXTURES / "bdb-libuuid" / "Packages"
BDB_SYFT = FIXTURES / "bdb-syft" / "Packages"
BDB_EPOCH = FIXTURES / "bdb-epoch" / "Packages"


# --- helpers ---------------------------------------------------------------------------------


def make_root(tmp_path: Path, db: Path | bytes, image_path: str,
              os_release: str | None = None) -> DirFileSystem:
    """An image root holding ``db`` at ``image_path`` (and an os-release when given)."""
    root = tmp_path / "root"
    target = root / image_path
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(db, bytes):
        target.write_bytes(db)
    else:
        shutil.copyfile(db, target)
    if os_release is not None:
        (root / "etc").mkdir(parents=True, exist_ok=True)
        (root / "etc" / "os-release").write_text(os_release)
    return DirFileSystem(root)


def catalog(tmp_path: Path, db: Path | bytes, image_path: str, os_release: str | None = None) -> Catalog:
    return catalog_filesystem(make_root(tmp_path, db, image_path, os_release), catalogers=rpm.CATALOGERS)


def by_name(packages: tuple[Package, ...] | list[Package]) -> dict[str, Package]:
    return {p.name: p for p in packages}


def build_header(entries: list[tuple[int, int, Any]], *, region: bool = True) -> bytes:
    """A stored header blob: (tag, type, value) entries, optionally inside an immutable region."""
    store = bytearray()
    index: list[tuple[int, int, int, int]] = []
    for tag, kind, value in entries:
        if kind == STRING:
            offset, count = len(store), 1
            store += str(value).encode() + b"\x00"
        elif kind == STRING_ARRAY:
            offset, count = len(store), len(value)
            for item in value:
                store += item.encode() + b"\x00"
        elif kind == INT32:
            store += b"\x00" * (-len(store) % 4)
            offset, count = len(store), len(value)
            store += struct.pack(f">{count}I", *value)
        else:
            raise AssertionError(kind)
        index.append((tag, kind, offset, count))
    if region:
        trailer_offset = len(store)
        store += struct.pack(">iIiI", 63, BIN, -(len(index) + 1) * 16, 16)
        index.insert(0, (63, BIN, trailer_offset, 16))
    head = struct.pack(">ii", len(index), len(store))
    return head + b"".join(struct.pack(">iIiI", *entry) for entry in index) + bytes(store)


def sample_header(name: str = "foo", **extra: object) -> bytes:
    entries: list[tuple[int, int, object]] = [
        (TAG_NAME, STRING, name),
        (TAG_VERSION, STRING, "1.2"),
        (TAG_RELEASE, STRING, "3.el9"),
        (TAG_ARCH, STRING, "aarch64"),
        (TAG_SOURCERPM, STRING, "foo-src-1.2-3.el9.src.rpm"),
        (TAG_LICENSE, STRING, "GPLv2+"),
        (TAG_VENDOR, STRING, "Example"),
        (TAG_SIZE, INT32, [42]),
    ]
    if "epoch" in extra:
        entries.append((TAG_EPOCH, INT32, [extra["epoch"]]))
    if "oldfiles" in extra:
        entries.append((TAG_OLDFILENAMES, STRING_ARRAY, extra["oldfiles"]))
    else:
        entries += [
            (TAG_DIRNAMES, STRING_ARRAY, ["/usr/bin/", "/etc/"]),
            (TAG_BASENAMES, STRING_ARRAY, ["foo", "foo.conf", "bar"]),
            (TAG_DIRINDEXES, INT32, [0, 1, 0]),
        ]
    return build_header(entries)


def sqlite_db(tmp_path: Path, blobs: list[bytes]) -> bytes:
    """An rpmdb.sqlite holding ``blobs``, as rpm creates it."""
    path = tmp_path / "built.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"
        )
        connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    connection.close()
    return path.read_bytes()


# --- sqlite ----------------------------------------------------------------------------------

MARINER_OS_RELEASE = 'NAME="Common Base Linux Mariner"\nID=mariner\nVERSION_ID="2.0"\n'


def test_sqlite_cbl_mariner(tmp_path: Path) -> None:
    result = catalog(tmp_path, SQLITE_DB, "var/lib/rpm/rpmdb.sqlite", MARINER_OS_RELEASE)
    assert result.unknowns == ()
    assert len(result.packages) == 129
    packages = by_name(result.packages)
    assert len(packages) == 129

    curl = packages["curl"]  # go-rpmdb rpmdb_test.go, TestPackageList cbl-mariner-2.0
    assert (curl.version, curl.arch) == ("7.76.0-6.cm2", "x86_64")
    assert (curl.source_name, curl.source_version) == ("curl", "7.76.0-6.cm2")
    assert curl.licenses == ("MIT",)
    assert curl.metadata == (("size", "326023"), ("vendor", "Microsoft Corporation"))
    assert curl.purl == "pkg:rpm/mariner/curl@7.76.0-6.cm2?arch=x86_64&distro=mariner-2.0"
    assert curl.files == (
        "/usr/bin/curl",
        "/usr/bin/curl-config",
        "/usr/share/licenses/curl",
        "/usr/share/licenses/curl/COPYING",
        "/usr/share/man/man1/curl-config.1.gz",
        "/usr/share/man/man1/curl.1.gz",
    )
    assert curl.type == "rpm"
    assert curl.found_by == "rpm-db-cataloger"
    assert curl.locations[0].path == "/var/lib/rpm/rpmdb.sqlite"

    glibc = packages["glibc"]
    assert glibc.version == "2.34-2.cm2"
    # not every part is an SPDX id: kept as written
    assert glibc.licenses == ("BSD AND GPLv2+ AND Inner-Net AND ISC AND LGPLv2+ AND MIT",)
    assert "/etc/ld.so.conf" in glibc.files
    assert len(glibc.files) == 84

    bash = packages["bash"]
    assert (bash.version, bash.source_name, bash.licenses) == ("5.1.8-1.cm2", "bash", ("GPL-3.0-only",))
    assert bash.files[:3] == ("/bin/bash", "/bin/bashbug", "/bin/sh")


def test_sqlite_built_db_epoch_old_filenames_and_gpg_pubkey(tmp_path: Path) -> None:
    blobs = [
        sample_header(),
        sample_header("withepoch", epoch=2, oldfiles=["/opt/a", "/opt/b"]),
        sample_header("gpg-pubkey"),
    ]
    os_release = 'ID="rhel"\nVERSION_ID="9.3"\n'
    result = catalog(tmp_path, sqlite_db(tmp_path, blobs), "usr/lib/sysimage/rpm/rpmdb.sqlite", os_release)
    assert result.unknowns == ()
    assert [p.name for p in result.packages] == ["foo", "withepoch"]
    foo, withepoch = result.packages
    assert foo.version == "1.2-3.el9"
    assert foo.purl == "pkg:rpm/rhel/foo@1.2-3.el9?arch=aarch64&distro=rhel-9.3"
    assert (foo.source_name, foo.source_version) == ("foo-src", "1.2-3.el9")
    assert foo.files == ("/usr/bin/foo", "/etc/foo.conf", "/usr/bin/bar")
    assert foo.licenses == ("GPL-2.0-or-later",)
    assert foo.ecosystem == "Red Hat:enterprise_linux:9"
    assert foo.metadata == (("size", "42"), ("vendor", "Example"))
    assert foo.locations[0].path == "/usr/lib/sysimage/rpm/rpmdb.sqlite"
    assert withepoch.version == "2:1.2-3.el9"
    assert withepoch.purl == "pkg:rpm/rhel/withepoch@1.2-3.el9?arch=aarch64&distro=rhel-9.3&epoch=2"
    assert withepoch.files == ("/opt/a", "/opt/b")


def test_sqlite_without_distro_uses_redhat_namespace(tmp_path: Path) -> None:
    result = catalog(tmp_path, sqlite_db(tmp_path, [sample_header()]), "var/lib/rpm/rpmdb.sqlite")
    assert result.distro is None
    assert result.packages[0].purl == "pkg:rpm/redhat/foo@1.2-3.el9?arch=aarch64"
    assert result.packages[0].ecosystem == ""


def test_sqlite_without_packages_table_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE Other (x)")
    connection.close()
    result = catalog(tmp_path, path.read_bytes(), "var/lib/rpm/rpmdb.sqlite")
    assert result.packages == ()
    assert "no Packages table" in result.unknowns[0].reason


# --- BerkeleyDB hash -------------------------------------------------------------------------


def test_bdb_libuuid(tmp_path: Path) -> None:
    result = catalog(tmp_path, BDB_LIBUUID, "var/lib/rpm/Packages", 'ID="rhel"\nVERSION_ID="8.8"\n')
    assert result.unknowns == ()
    assert len(result.packages) == 1
    libuuid = result.packages[0]  # go-rpmdb rpmdb_test.go, libuuid
    assert (libuuid.name, libuuid.version, libuuid.arch) == ("libuuid", "2.32.1-42.el8_8", "x86_64")
    assert (libuuid.source_name, libuuid.source_version) == ("util-linux", "2.32.1-42.el8_8")
    assert libuuid.licenses == ("BSD",)
    assert libuuid.metadata == (("size", "35104"), ("vendor", "Red Hat, Inc."))
    assert libuuid.purl == "pkg:rpm/rhel/libuuid@2.32.1-42.el8_8?arch=x86_64&distro=rhel-8.8"
    assert libuuid.files == (
        "/usr/lib/.build-id",
        "/usr/lib/.build-id/df/ef6a880adac817216ab9866779a0725e017647",
        "/usr/lib64/libuuid.so.1",
        "/usr/lib64/libuuid.so.1.3.0",
        "/usr/share/licenses/libuuid",
        "/usr/share/licenses/libuuid/COPYING",
        "/usr/share/licenses/libuuid/COPYING.BSD-3",
    )


def test_bdb_syft_dive(tmp_path: Path) -> None:
    result = catalog(tmp_path, BDB_SYFT, "usr/lib/sysimage/rpm/Packages")
    assert result.unknowns == ()
    [dive] = result.packages  # syft redhat/parse_rpm_db_test.go
    assert (dive.name, dive.version, dive.arch) == ("dive", "0.9.2-1", "x86_64")
    assert (dive.source_name, dive.source_version) == ("dive", "0.9.2-1")
    assert dive.licenses == ("MIT",)
    assert dive.metadata == (("size", "12406784"),)
    assert dive.files == ("/usr/local/bin/dive",)


def test_bdb_epoch(tmp_path: Path) -> None:
    result = catalog(tmp_path, BDB_EPOCH, "var/lib/rpm/Packages", 'ID=almalinux\nVERSION_ID="9.3"\n')
    assert result.unknowns == ()
    [hello] = result.packages  # osv-scalibr rpm_test.go, Packages_epoch
    assert (hello.name, hello.version, hello.arch) == ("hello", "1:0.0.1-rls", "x86_64")
    assert hello.purl == "pkg:rpm/almalinux/hello@0.0.1-rls?arch=x86_64&distro=almalinux-9.3&epoch=1"
    assert hello.ecosystem == "AlmaLinux:9"
    assert hello.files == ("/usr/bin/hello.sh",)
    # "GPL" is an alias the SPDX licensing knows, so it parses cleanly and is normalised
    assert hello.licenses == ("GPL-1.0-or-later",)


# --- NDB -------------------------------------------------------------------------------------


def test_ndb_sle15_matches_go_rpmdb_oracle(tmp_path: Path) -> None:
    result = catalog(tmp_path, NDB_DB, "usr/lib/sysimage/rpm/Packages.db", 'ID="sles"\nVERSION_ID="15.3"\n')
    assert result.unknowns == ()
    expected = json.loads(NDB_EXPECTED.read_text())
    assert len(expected) == 35
    assert len(result.packages) == 35
    packages = by_name(result.packages)
    assert set(packages) == {e["name"] for e in expected}
    for want in expected:
        got = packages[want["name"]]
        full = f"{want['version']}-{want['release']}"
        assert got.version == (f"{want['epoch']}:{full}" if want["epoch"] is not None else full), want["name"]
        assert got.arch == want["arch"]
        assert f"{got.source_name}-{got.source_version}.src.rpm" == want["source_rpm"]
        assert got.licenses == (normalize_license(want["license"]),)
        assert got.metadata_dict == {"size": str(want["size"]), "vendor": want["vendor"]}
        assert got.ecosystem == "SUSE"
        purl = PackageURL.from_string(got.purl)
        assert (purl.type, purl.namespace, purl.name, purl.version) == ("rpm", "sles", want["name"], full)
        qualifiers = {"arch": want["arch"], "distro": "sles-15.3"}
        if want["epoch"] is not None:
            qualifiers["epoch"] = str(want["epoch"])
        assert purl.qualifiers == qualifiers
    assert packages["libgcc_s1"].purl == (
        "pkg:rpm/sles/libgcc_s1@11.2.1%2Bgit610-1.3.9?arch=x86_64&distro=sles-15.3"
    )
    glibc = packages["glibc"]
    assert glibc.licenses == (
        "LGPL-2.1-or-later AND LGPL-2.1-or-later WITH GCC-exception-2.0 AND GPL-2.0-or-later",
    )
    assert len(glibc.files) == 67
    assert packages["system-user-root"].files == ("/usr/lib/sysusers.d/system-user-root.conf",)
    assert (packages["libpcre1"].source_name, packages["libpcre1"].source_version) == ("pcre", "8.45-20.10.1")


# --- units -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_rpm", "expected"),
    [
        ("foo-1.2-3.el9.src.rpm", ("foo", "1.2-3.el9")),
        ("util-linux-2.32.1-42.el8_8.src.rpm", ("util-linux", "2.32.1-42.el8_8")),
        ("foo-1.2-3.nosrc.rpm", ("foo", "1.2-3")),
        ("", ("", "")),
        ("garbage", ("", "")),
        ("x-1.src.rpm", ("", "")),
    ],
)
def test_split_source_rpm(source_rpm: str, expected: tuple[str, str]) -> None:
    assert rpm.split_source_rpm(source_rpm) == expected


def test_rpm_license_tags_share_the_one_normaliser() -> None:
    # rpm License tags use lower-case operators and Fedora's legacy short names (GPLv2+)
    assert normalize_license("mit and bsd-3-clause") == "MIT AND BSD-3-Clause"
    assert normalize_license("GPLv2+") == "GPL-2.0-or-later"
    assert normalize_license("GPLv2+ and Inner-Net") == "GPLv2+ and Inner-Net"  # one unknown part: as written
    assert normalize_license("((MIT") == "((MIT"
    assert normalize_license("Public Domain") == "Public Domain"
    assert normalize_license("() LRiOR.") == "() LRiOR."  # license-expression raises IndexError


def test_globs() -> None:
    [cataloger] = rpm.CATALOGERS
    assert cataloger.name == "rpm-db-cataloger"
    for path in (
        "var/lib/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
        "var/lib/rpm/Packages.db",
        "usr/lib/sysimage/rpm/Packages.db",
        "var/lib/rpm/Packages",
        "usr/lib/sysimage/rpm/Packages",
    ):
        assert cataloger.wants(path), path
    assert not cataloger.wants("var/lib/rpm/Basenames")


def test_header_dribble_overrides_region() -> None:
    blob = build_header([(TAG_NAME, STRING, "old"), (TAG_VERSION, STRING, "1")])
    # append a dribble entry for NAME after the region
    il, dl = struct.unpack_from(">ii", blob)
    index = blob[8 : 8 + il * 16]
    store = blob[8 + il * 16 :] + b"new\x00"
    dribble = struct.pack(">iIiI", TAG_NAME, STRING, dl, 1)
    header = parse_header(struct.pack(">ii", il + 1, dl + 4) + index + dribble + store)
    assert header.string(TAG_NAME) == "new"


# --- hostile and broken databases ------------------------------------------------------------


def _reason(tmp_path: Path, data: bytes, image_path: str) -> str:
    result = catalog(tmp_path, data, image_path)
    assert result.packages == ()
    [unknown] = result.unknowns
    assert unknown.found_by == "rpm-db-cataloger"
    return unknown.reason


@pytest.mark.parametrize(
    ("fixture", "image_path", "keep", "message"),
    [
        (BDB_LIBUUID, "var/lib/rpm/Packages", 40_000, "truncated"),
        (BDB_LIBUUID, "var/lib/rpm/Packages", 100, "truncated"),
        (NDB_DB, "var/lib/rpm/Packages.db", 600_000, "outside the file"),
        (NDB_DB, "var/lib/rpm/Packages.db", 20, "truncated"),
        (SQLITE_DB, "var/lib/rpm/rpmdb.sqlite", 1_000_000, "sqlite"),
    ],
)
def test_truncated_database_is_unknown(tmp_path: Path, fixture: Path, image_path: str, keep: int,
                                       message: str) -> None:
    assert message in _reason(tmp_path, fixture.read_bytes()[:keep], image_path)


@pytest.mark.parametrize("data", [b"", b"not an rpm database at all", b"\x00" * 8192])
def test_not_a_database_is_unknown(tmp_path: Path, data: bytes) -> None:
    assert "rpm database" in _reason(tmp_path, data, "var/lib/rpm/Packages")


def test_bdb_header_with_huge_entry_count(tmp_path: Path) -> None:
    data = bytearray(BDB_LIBUUID.read_bytes())
    # the blob starts on overflow page 3, right after the 26-byte page header
    data[3 * 4096 + 26 : 3 * 4096 + 30] = struct.pack(">i", 0x7FFFFFFF)
    assert "index entries" in _reason(tmp_path, bytes(data), "var/lib/rpm/Packages")


def test_bdb_overflow_loop_is_refused(tmp_path: Path) -> None:
    data = bytearray(BDB_LIBUUID.read_bytes())
    struct.pack_into("<I", data, 4 * 4096 + 16, 3)  # page 4's next page -> page 3
    assert "reached twice" in _reason(tmp_path, bytes(data), "var/lib/rpm/Packages")


def test_ndb_slots_sharing_a_blob_are_refused(tmp_path: Path) -> None:
    data = bytearray(NDB_DB.read_bytes())
    first = struct.unpack_from("<4sIII", data, 32)
    struct.pack_into("<4sIII", data, 48, b"Slot", 99, first[2], first[3])  # slot 2 -> slot 1's blob
    assert "overlaps" in _reason(tmp_path, bytes(data), "var/lib/rpm/Packages.db")


def test_ndb_flipped_byte_fails_checksum(tmp_path: Path) -> None:
    data = bytearray(NDB_DB.read_bytes())
    data[4096 + 100] ^= 0xFF
    assert "checksum" in _reason(tmp_path, bytes(data), "var/lib/rpm/Packages.db")


def test_ndb_hostile_header_behind_a_valid_checksum(tmp_path: Path) -> None:
    data = bytearray(NDB_DB.read_bytes())
    _, _, block_offset, block_count = struct.unpack_from("<4sIII", data, 32)  # the first slot
    start, end = block_offset * 16, (block_offset + block_count) * 16
    struct.pack_into(">i", data, start + 16, 0x7FFFFFFF)  # the blob's index entry count
    struct.pack_into("<I", data, end - 12, zlib.adler32(data[start : end - 12]))
    reason = _reason(tmp_path, bytes(data), "var/lib/rpm/Packages.db")
    assert "header blob 1" in reason
    assert "index entries" in reason


def test_sqlite_corrupt_header_blob(tmp_path: Path) -> None:
    good = sample_header()
    bad = bytearray(good)
    struct.pack_into(">i", bad, 4, len(good) * 2)  # data store larger than the blob
    reason = _reason(tmp_path, sqlite_db(tmp_path, [good, bytes(bad)]), "var/lib/rpm/rpmdb.sqlite")
    assert "header blob 2" in reason
    assert "truncated" in reason


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "too short"),
        (struct.pack(">ii", 0x7FFFFFFF, 0x7FFFFFFF), "index entries"),
        (struct.pack(">ii", 1, 0x7FFFFFFF), "data store"),
        (struct.pack(">ii", -1, 0), "index entries"),
        (struct.pack(">ii", 1, 4) + struct.pack(">iIiI", TAG_NAME, STRING_ARRAY, 0, 0xFFFFFFFF) + b"a\0b\0",
         "cannot fit"),
        (struct.pack(">ii", 1, 4) + struct.pack(">iIiI", TAG_SIZE, INT32, 0, 0x40000000) + b"\0\0\0\0",
         "do not fit"),
        (struct.pack(">ii", 1, 4) + struct.pack(">iIiI", TAG_NAME, STRING, 9, 1) + b"abc\0", "offset"),
        (struct.pack(">ii", 1, 4) + struct.pack(">iIiI", TAG_NAME, 99, 0, 1) + b"abc\0", "unknown type"),
        (struct.pack(">ii", 1, 8) + struct.pack(">iIiI", TAG_SIZE, INT32, 2, 1) + b"\0" * 8, "aligned"),
        (struct.pack(">ii", 1, 16) + struct.pack(">iIiI", 63, BIN, 0, 16)
         + struct.pack(">iIiI", 63, BIN, -32, 16), "region"),
    ],
)
def test_hostile_header_is_refused_quickly(blob: bytes, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(RpmDbError, match=message):
        parse_header(blob)
    assert time.monotonic() - started < 0.5


def test_unterminated_string_is_refused() -> None:
    blob = struct.pack(">ii", 1, 3) + struct.pack(">iIiI", TAG_NAME, STRING, 0, 1) + b"abc"
    with pytest.raises(RpmDbError, match="past the data store"):
        parse_header(blob).string(TAG_NAME)


def test_bad_dirindex_is_refused(tmp_path: Path) -> None:
    blob = build_header([
        (TAG_NAME, STRING, "x"),
        (TAG_DIRNAMES, STRING_ARRAY, ["/a/"]),
        (TAG_BASENAMES, STRING_ARRAY, ["b"]),
        (TAG_DIRINDEXES, INT32, [5]),
    ])
    assert "directory index 5" in _reason(tmp_path, sqlite_db(tmp_path, [blob]), "var/lib/rpm/rpmdb.sqlite")


def _mutations(data: bytes, seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)  # noqa: S311 -- reproducible fuzzing, not crypto
    out: list[bytes] = []
    for _ in range(count):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(len(mutated))
            mutated[position] = rng.randrange(256)
        if rng.random() < 0.2:
            del mutated[rng.randrange(len(mutated)) :]
        out.append(bytes(mutated))
    return out


@pytest.mark.parametrize("fixture", [BDB_LIBUUID, BDB_SYFT, BDB_EPOCH])
def test_fuzzed_bdb_only_raises_rpmdb_errors(fixture: Path) -> None:
    context = CatalogContext(distro=Distro("rhel", "8"))
    location = PackageLocation("/var/lib/rpm/Packages", 0, "d")
    for data in _mutations(fixture.read_bytes(), seed=len(fixture.name), count=300):
        with contextlib.suppress(RpmDbError):
            for blob in read_blobs(data):
                rpm.package_from_header(parse_header(blob), context.distro, location)


def test_fuzzed_header_blobs_only_raise_rpmdb_errors() -> None:
    blob = sample_header()
    location = PackageLocation("/var/lib/rpm/rpmdb.sqlite", 0, "d")
    for data in _mutations(blob, seed=7, count=2000):
        with contextlib.suppress(RpmDbError):
            rpm.package_from_header(parse_header(data), Distro("rhel", "9"), location)


def test_fuzzed_ndb_only_raises_rpmdb_errors() -> None:
    data = NDB_DB.read_bytes()
    rng = random.Random(3)  # noqa: S311 -- reproducible fuzzing, not crypto
    for _ in range(100):
        mutated = bytearray(data)
        position = rng.randrange(4096)  # the slot page: magic, counts, block offsets
        mutated[position] = rng.randrange(256)
        with contextlib.suppress(RpmDbError):
            read_blobs(bytes(mutated))


def test_rpmdb_error_is_a_gate_error_and_value_error() -> None:
    assert issubclass(RpmDbError, GateError)
    assert issubclass(RpmDbError, ValueError)
