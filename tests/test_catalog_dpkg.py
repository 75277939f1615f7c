"""The dpkg cataloger against real status files (trivy, syft test data; see fixtures/dpkg/NOTICE.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.catalog import catalog_filesystem, dpkg
from gate.catalog.licenses import normalize_license
from gate.image.build import LayerBuilder, build_image
from gate.image.image import open_image
from gate.image.layout import OciLayout
from gate.image.rootfs import DirFileSystem
from gate.model import Catalog, Package

FIXTURES = Path(__file__).parent / "fixtures" / "dpkg"
DEBIAN_12 = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


def unpack_txtar(archive: Path, root: Path) -> Path:
    """Materialise a txtar archive (``-- path --`` headers, then the file's lines) under ``root``."""
    path: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if path is not None:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("".join(lines))

    for line in archive.read_text().splitlines(keepends=True):
        stripped = line.rstrip("\n")
        if stripped.startswith("-- ") and stripped.endswith(" --") and len(stripped) > 6:
            flush()
            path, lines = stripped[3:-3].strip(), []
        elif path is not None:
            lines.append(line)
    flush()
    return root


def catalog_dir(root: Path) -> Catalog:
    return catalog_filesystem(DirFileSystem(root), catalogers=dpkg.CATALOGERS)


def by_name(catalog: Catalog) -> dict[str, Package]:
    return {package.name: package for package in catalog.packages}


# -- a full Ubuntu 18.04 status file ----------------------------------------------------------


@pytest.fixture
def ubuntu(tmp_path: Path) -> Catalog:
    return catalog_dir(unpack_txtar(FIXTURES / "valid.txtar", tmp_path))


def test_full_status_file_counts_installed_packages_only(ubuntu: Catalog) -> None:
    # 91 stanzas, one of them (git) "deinstall ok config-files"
    assert len(ubuntu.packages) == 90
    assert "git" not in by_name(ubuntu)
    assert ubuntu.unknowns == ()
    assert {p.found_by for p in ubuntu.packages} == {"dpkg-db-cataloger"}
    assert {p.type for p in ubuntu.packages} == {"deb"}


def test_full_status_file_fields(ubuntu: Catalog) -> None:
    packages = by_name(ubuntu)
    fdisk = packages["fdisk"]
    assert (fdisk.version, fdisk.arch) == ("2.31.1-0.4ubuntu3.1", "amd64")
    assert (fdisk.source_name, fdisk.source_version) == ("util-linux", "2.31.1-0.4ubuntu3.1")
    assert fdisk.dependencies == (
        "libc6",
        "libfdisk1",
        "libmount1",
        "libncursesw5",
        "libsmartcols1",
        "libtinfo5",
    )
    assert fdisk.metadata_dict == {
        "installed-size": "427",
        "maintainer": "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>",
    }
    assert fdisk.purl == "pkg:deb/debian/fdisk@2.31.1-0.4ubuntu3.1?arch=amd64&upstream=util-linux"
    assert fdisk.locations[0].path == "/var/lib/dpkg/status"
    assert fdisk.ecosystem == ""  # no os-release in this tree
    assert fdisk.files == () and fdisk.licenses == ()

    # Source with an explicit version: "gcc-8 (8-20180414-1ubuntu2)"
    libgcc = packages["libgcc1"]
    assert libgcc.version == "1:8-20180414-1ubuntu2"
    assert (libgcc.source_name, libgcc.source_version) == ("gcc-8", "8-20180414-1ubuntu2")
    assert libgcc.purl == "pkg:deb/debian/libgcc1@1:8-20180414-1ubuntu2?arch=amd64&upstream=gcc-8"

    # alternatives ("debconf (>= 0.5) | debconf-2.0") all named, versions stripped
    assert packages["libpam-runtime"].dependencies == ("cdebconf", "debconf", "debconf-2.0", "libpam-modules")

    # no Source field: source is the package itself, and no upstream qualifier
    adduser = packages["adduser"]
    assert (adduser.source_name, adduser.source_version) == ("adduser", "3.116ubuntu1")
    assert adduser.purl == "pkg:deb/debian/adduser@3.116ubuntu1?arch=all"


def test_md5sums_lists_owned_files(tmp_path: Path) -> None:
    catalog = catalog_dir(unpack_txtar(FIXTURES / "md5sums.txtar", tmp_path))
    (tar,) = catalog.packages
    assert (tar.name, tar.version) == ("tar", "1.29b-2")
    assert len(tar.files) == 13
    assert "/usr/bin/tar" in tar.files and "/usr/share/man/man8/rmt-tar.8.gz" in tar.files
    assert tar.dependencies == ("libacl1", "libc6", "libselinux1")  # Pre-Depends


def test_list_file_preferred_with_multiarch_name(tmp_path: Path) -> None:
    root = unpack_txtar(FIXTURES / "md5sums.txtar", tmp_path)
    info = root / "var/lib/dpkg/info"
    (info / "tar:amd64.list").write_text("/.\n/usr\n/usr/bin\n/usr/bin/tar\n")
    (tar,) = catalog_dir(root).packages
    assert tar.files == ("/usr", "/usr/bin", "/usr/bin/tar")


# -- syft's trees: Debian 12 with DEP-5 copyright, distroless status.d -------------------------


def test_debian_image_end_to_end_with_licenses() -> None:
    catalog = catalog_dir(FIXTURES / "syft" / "image-dpkg")
    assert catalog.distro is not None and catalog.distro.purl_distro == "debian-12"
    (pam,) = catalog.packages  # the leading empty "Package:" stanza is skipped
    assert pam.name == "libpam-runtime"
    assert pam.purl == "pkg:deb/debian/libpam-runtime@1.1.8-3.6?arch=all&distro=debian-12&upstream=pam"
    assert pam.ecosystem == "Debian:12"
    assert pam.licenses == ("GPL-2.0-only", "LGPL-2.1-only")  # "GPL-2" x5, "LGPL-2.1" x1
    # syft's fixture .md5sums (really zlib1g's) is what the package claims to own
    assert len(pam.files) == 4 and "/lib/x86_64-linux-gnu/libz.so.1.2.11" in pam.files
    assert pam.locations[0].path == "/var/lib/dpkg/status"


def test_distroless_status_d() -> None:
    catalog = catalog_dir(FIXTURES / "syft" / "image-distroless-deb")
    assert catalog.distro is None and catalog.unknowns == ()
    (sqlite,) = catalog.packages  # .md5sums / .preinst sidecars are not stanzas
    assert (sqlite.name, sqlite.version, sqlite.arch) == ("libsqlite3-0", "3.34.1-3", "arm64")
    assert (sqlite.source_name, sqlite.source_version) == ("sqlite3", "3.34.1-3")
    assert sqlite.purl == "pkg:deb/debian/libsqlite3-0@3.34.1-3?arch=arm64&upstream=sqlite3"
    assert sqlite.locations[0].path == "/var/lib/dpkg/status.d/libsqlite3-0"
    assert sqlite.licenses == ("GPL-2.0-or-later", "public-domain")  # public-domain has no SPDX id
    assert len(sqlite.files) == 6
    assert sqlite.files[0] == "/usr/lib/aarch64-linux-gnu/libsqlite3.so.0.8.6"


def test_non_dep5_copyright_gives_no_licenses(tmp_path: Path) -> None:
    root = unpack_txtar(FIXTURES / "md5sums.txtar", tmp_path)
    doc = root / "usr/share/doc/tar"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("This is GNU tar.\n\nLicense: GPL-3+ probably, see COPYING\n")
    (tar,) = catalog_dir(root).packages
    assert tar.licenses == ()


# -- robustness -------------------------------------------------------------------------------


def test_deinstalled_stanza_skipped(tmp_path: Path) -> None:
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_bytes((FIXTURES / "syft/status.d/deinstall").read_bytes())
    catalog = catalog_dir(tmp_path)
    assert [p.name for p in catalog.packages] == ["linux-image-6.14.0-1012-aws"]


def test_corrupted_status_keeps_good_stanzas(tmp_path: Path) -> None:
    catalog = catalog_dir(unpack_txtar(FIXTURES / "corrupsed.txtar", tmp_path))
    # versionless "brokenPackage..." and Status-less "invalidpkg" are dropped, no Unknown
    names = [p.name for p in catalog.packages]
    assert names == ["libgcc1", "libpam-modules-bin", "libpam-runtime", "makedev"]
    assert catalog.unknowns == ()


def test_garbage_status_records_unknown(tmp_path: Path) -> None:
    status_d = tmp_path / "var/lib/dpkg/status.d"
    status_d.mkdir(parents=True)
    (status_d / "corrupt").write_bytes((FIXTURES / "syft/status.d/corrupt").read_bytes())
    (status_d / "binary").write_bytes(bytes(range(256)) * 8)
    (status_d / "empty").write_bytes(b"")
    catalog = catalog_dir(tmp_path)
    assert catalog.packages == ()
    assert sorted(u.path for u in catalog.unknowns) == [
        "/var/lib/dpkg/status.d/binary",
        "/var/lib/dpkg/status.d/corrupt",
    ]
    assert {u.found_by for u in catalog.unknowns} == {"dpkg-db-cataloger"}


def test_crlf_continuations_and_trailing_junk(tmp_path: Path) -> None:
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_bytes(
        b"Package: foo\r\nStatus: install ok installed\r\nVersion: 1.0-1\r\nArchitecture: amd64\r\n"
        b"Depends: libc6:any (>= 2.3) [amd64], bar | baz:native\r\nDescription: x\r\n more\r\n\r\n"
        b"Package: old\nStatus: purge ok not-installed\nVersion: 2\n\n"
        b"\x00\xffjunk without a colon"
    )
    (foo,) = catalog_dir(tmp_path).packages
    assert (foo.name, foo.version, foo.arch) == ("foo", "1.0-1", "amd64")
    assert foo.dependencies == ("bar", "baz", "libc6")


# -- image attribution and distro ------------------------------------------------------------


def test_status_replaced_in_layer_1_is_attributed_to_it(tmp_path: Path) -> None:
    stanza = "Package: {0}\nStatus: install ok installed\nVersion: {1}\nArchitecture: amd64\n\n"
    base = LayerBuilder().add_file("etc/os-release", DEBIAN_12)
    base.add_file("var/lib/dpkg/status", stanza.format("base-files", "12.4").encode())
    both = stanza.format("base-files", "12.4") + stanza.format("curl", "7.88.1-10")
    top = LayerBuilder().add_file("var/lib/dpkg/status", both.encode())
    built = build_image([base.build(), top.build()])
    built.push(OciLayout.create(tmp_path / "layout"), tag="t")
    with open_image(f"oci:{tmp_path / 'layout'}:t") as image, image.filesystem() as fs:
        catalog = catalog_filesystem(fs, catalogers=dpkg.CATALOGERS, base_layer_count=1)
    assert [p.name for p in catalog.packages] == ["base-files", "curl"]
    for package in catalog.packages:
        location = package.locations[0]
        assert (location.path, location.layer_index) == ("/var/lib/dpkg/status", 1)
        assert location.in_base_image is False
        assert location.layer_digest == fs.layer_digests[1]
    assert catalog.packages[1].purl == "pkg:deb/debian/curl@7.88.1-10?arch=amd64&distro=debian-12"
    assert catalog.packages[1].ecosystem == "Debian:12"


def test_ubuntu_namespace(tmp_path: Path) -> None:
    root = unpack_txtar(FIXTURES / "md5sums.txtar", tmp_path)
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text('ID=ubuntu\nVERSION_ID="18.04"\n')
    (tar,) = catalog_dir(root).packages
    assert tar.purl == "pkg:deb/ubuntu/tar@1.29b-2?arch=amd64&distro=ubuntu-18.04"
    assert tar.ecosystem == "Ubuntu:18.04:LTS"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("GPL-2+", "GPL-2.0-or-later"),
        ("LGPL-2.1+", "LGPL-2.1-or-later"),
        ("Expat", "MIT"),
        ("BSD-3-clause", "BSD-3-Clause"),
        ("Apache-2.0", "Apache-2.0"),
        ("GPL-2+ or Artistic", "GPL-2.0-or-later OR Artistic-1.0"),
        ("public-domain", "public-domain"),
        ("  ", ""),
    ],
)
def test_normalize_license(raw: str, expected: str) -> None:
    assert normalize_license(raw) == expected
