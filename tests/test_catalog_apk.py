"""The apk cataloger against real installed dbs (trivy, syft test data; see fixtures/apk/NOTICE.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.catalog import apk, catalog_filesystem
from gate.image.rootfs import DirFileSystem
from gate.model import Catalog, Package

FIXTURES = Path(__file__).parent / "fixtures" / "apk"


def make_root(tmp_path: Path, db: bytes, os_release: str | None = None) -> Path:
    installed = tmp_path / "lib/apk/db/installed"
    installed.parent.mkdir(parents=True)
    installed.write_bytes(db)
    if os_release is not None:
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc/os-release").write_text(os_release)
    return tmp_path


def catalog_dir(root: Path) -> Catalog:
    return catalog_filesystem(DirFileSystem(root), catalogers=apk.CATALOGERS)


@pytest.fixture
def alpine(tmp_path: Path) -> Catalog:
    db = (FIXTURES / "trivy-installed").read_bytes()
    os_release = 'ID=alpine\nVERSION_ID=3.4.0\nPRETTY_NAME="Alpine Linux v3.4"\n'
    return catalog_dir(make_root(tmp_path, db, os_release))


def by_name(catalog: Catalog) -> dict[str, Package]:
    return {package.name: package for package in catalog.packages}


def test_installed_db_counts(alpine: Catalog) -> None:
    # 16 records; "invalidPackageWithoutAVersion" has no V: and is dropped
    assert len(alpine.packages) == 15
    assert "invalidPackageWithoutAVersion" not in by_name(alpine)
    assert alpine.unknowns == ()
    kinds = {(p.type, p.found_by, p.ecosystem) for p in alpine.packages}
    assert kinds == {("apk", "apk-db-cataloger", "Alpine:v3.4")}


def test_musl(alpine: Catalog) -> None:
    musl = by_name(alpine)["musl"]
    assert (musl.version, musl.arch, musl.source_name, musl.source_version) == (
        "1.1.14-r10",
        "x86_64",
        "musl",
        "1.1.14-r10",
    )
    assert musl.licenses == ("MIT",)
    assert musl.files == ("/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1")
    assert musl.purl == "pkg:apk/alpine/musl@1.1.14-r10?arch=x86_64&distro=alpine-3.4.0"
    assert musl.metadata_dict == {"installed-size": "569344", "maintainer": "Timo Teräs <timo.teras@iki.fi>"}
    assert musl.locations[0].path == "/lib/apk/db/installed"


def test_busybox_files_and_provides_only_deps(alpine: Catalog) -> None:
    busybox = by_name(alpine)["busybox"]
    assert busybox.version == "1.24.2-r9"
    assert busybox.licenses == ("GPL-2.0-only",)  # "GPL2"
    assert busybox.dependencies == ()  # only so:libc.musl-x86_64.so.1
    assert len(busybox.files) == 5
    assert busybox.files[:2] == ("/bin/busybox", "/bin/sh")
    assert "/etc/logrotate.d/acpid" in busybox.files


def test_origin_upstream_and_dependencies(alpine: Catalog) -> None:
    packages = by_name(alpine)
    musl_utils = packages["musl-utils"]
    # "!uclibc-utils scanelf musl=1.1.14-r10 so:libc.musl-x86_64.so.1"
    assert musl_utils.dependencies == ("musl", "scanelf")
    assert musl_utils.licenses == ("BSD", "GPL-2.0-or-later", "MIT")  # "MIT BSD GPL2+": a list
    assert musl_utils.purl == (
        "pkg:apk/alpine/musl-utils@1.1.14-r10?arch=x86_64&distro=alpine-3.4.0&upstream=musl"
    )

    scanelf = packages["scanelf"]
    assert (scanelf.source_name, scanelf.source_version) == ("pax-utils", "1.1.6-r0")
    assert scanelf.purl.endswith("&upstream=pax-utils")

    assert packages["test"].dependencies == ("pkgconfig", "sqlite-libs")
    assert packages["ada-libs"].licenses == ("(Apache-2.0 OR MIT) AND MPL-2.0",)
    assert packages["sqlite-libs"].licenses == ("Public-Domain",)  # no SPDX id: kept raw
    assert packages["libcrypto1.0"].licenses == ("OpenSSL",)


def test_no_distro_defaults_namespace(tmp_path: Path) -> None:
    db = b"P:zlib\nV:1.2.8-r2\nA:x86_64\nL:zlib\n\n"
    (zlib,) = catalog_dir(make_root(tmp_path, db)).packages
    assert zlib.purl == "pkg:apk/alpine/zlib@1.2.8-r2?arch=x86_64"
    assert zlib.source_name == "zlib" and zlib.ecosystem == ""


def test_crlf_and_root_files(tmp_path: Path) -> None:
    db = b"P:a\r\nV:1-r0\r\nA:aarch64\r\nR:top\r\nF:usr/bin\r\nR:a\r\n\r\nnonsense line\n"
    (package,) = catalog_dir(make_root(tmp_path, db)).packages
    assert (package.name, package.version, package.arch) == ("a", "1-r0", "aarch64")
    assert package.files == ("/top", "/usr/bin/a")


def test_corrupt_line_skipped_good_record_kept(tmp_path: Path) -> None:
    # "this is a corrupt db" then one well-formed record
    catalog = catalog_dir(make_root(tmp_path, (FIXTURES / "syft/corrupt-installed").read_bytes()))
    assert catalog.unknowns == ()
    (data,) = catalog.packages
    assert (data.name, data.version, data.source_name) == (
        "alpine-baselayout-data",
        "3.2.0-r22",
        "alpine-baselayout",
    )
    assert "/etc/fstab" in data.files


def test_db_without_records_records_unknown(tmp_path: Path) -> None:
    catalog = catalog_dir(make_root(tmp_path, b"this is a corrupt db\n"))
    assert catalog.packages == ()
    assert [(u.path, u.found_by) for u in catalog.unknowns] == [("/lib/apk/db/installed", "apk-db-cataloger")]


def test_binary_garbage_records_unknown(tmp_path: Path) -> None:
    catalog = catalog_dir(make_root(tmp_path, bytes(range(256)) * 4))
    assert catalog.packages == () and len(catalog.unknowns) == 1
