"""Language packages owned by OS packages: Debian's real python3-six and python3-packaging.

The two ``.deb`` files (fixtures/python/debian, see NOTICE.md) are unpacked with ``dpkg-deb``
and installed into an image the way dpkg would leave them: their files, a ``status`` stanza
made from the package's control file, and ``info/<package>.list`` with every path of the
data archive. A debootstrap root would be the real thing but costs a minute; this is the
same on-disk state for these two packages.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gate.catalog import catalog_filesystem
from gate.image.build import LayerBuilder, build_image, layer_from_directory
from gate.image.image import open_image
from gate.image.layout import OciLayout
from gate.image.rootfs import DirFileSystem
from gate.match import lookup_for
from gate.model import Catalog, Package
from tests.test_cli import run_gate

DEBS = Path(__file__).parent / "fixtures" / "python" / "debian"
SCALIBR = Path(__file__).parent / "fixtures" / "python" / "scalibr"
DEBIAN_12 = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
DIST_PACKAGES = "usr/lib/python3/dist-packages"
SIX = "pkg:deb/debian/python3-six@1.16.0-4?arch=all&distro=debian-12&upstream=six"
PACKAGING = "pkg:deb/debian/python3-packaging@23.0-1?arch=all&distro=debian-12&upstream=python-packaging"


def dpkg_deb(*args: str) -> str:
    binary = shutil.which("dpkg-deb")
    assert binary, "dpkg-deb is not installed (apt-get install dpkg)"
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout


def dpkg_install(root: Path, deb: Path) -> None:
    """Unpack ``deb`` into ``root`` and record it in the dpkg database as installed."""
    dpkg_deb("-x", str(deb), str(root))
    control = dpkg_deb("-f", str(deb)).rstrip("\n")
    package = dpkg_deb("-f", str(deb), "Package").strip()
    status = root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True, exist_ok=True)
    with status.open("a") as handle:
        handle.write(f"{control}\nStatus: install ok installed\n\n")
    paths = [member.removeprefix(".").rstrip("/") or "/." for member in _members(deb)]
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True, exist_ok=True)
    (info / f"{package}.list").write_text("\n".join(paths) + "\n")


def _members(deb: Path) -> list[str]:
    """Member names of the data archive, as ``dpkg-deb -c`` lists them (``./usr/...``)."""
    return [line.split(None, 5)[5].split(" -> ")[0] for line in dpkg_deb("-c", str(deb)).splitlines()]


def pip_metadata(root: Path, directory: str, name: str, version: str) -> None:
    """A pip-installed distribution (no OS package owns it), from a real METADATA file."""
    text = (SCALIBR / "distinfo_meta").read_text()
    text = text.replace("Name: pip", f"Name: {name}").replace("Version: 22.2.2", f"Version: {version}")
    path = root / directory / f"{name}-{version}.dist-info" / "METADATA"
    path.parent.mkdir(parents=True)
    path.write_text(text)


@pytest.fixture
def debian_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_bytes(DEBIAN_12)
    dpkg_install(root, DEBS / "python3-six_1.16.0-4_all.deb")
    dpkg_install(root, DEBS / "python3-packaging_23.0-1_all.deb")
    pip_metadata(root, "usr/local/lib/python3.11/dist-packages", "six", "1.17.0")
    return root


def by_key(catalog: Catalog) -> dict[tuple[str, str, str], Package]:
    return {(p.type, p.name, p.version): p for p in catalog.packages}


def test_debian_python_packages_are_reported_once_and_linked(debian_root: Path) -> None:
    catalog = catalog_filesystem(DirFileSystem(debian_root))
    packages = by_key(catalog)
    assert sorted(packages) == [
        ("deb", "python3-packaging", "23.0-1"),
        ("deb", "python3-six", "1.16.0-4"),
        ("pypi", "packaging", "23.0"),
        ("pypi", "six", "1.16.0"),
        ("pypi", "six", "1.17.0"),
    ]
    assert catalog.unknowns == ()
    six = packages[("pypi", "six", "1.16.0")]
    assert six.locations[0].path == f"/{DIST_PACKAGES}/six-1.16.0.egg-info/PKG-INFO"  # the egg-info dir form
    assert six.metadata_dict["owned-by"] == SIX
    assert packages[("deb", "python3-six", "1.16.0-4")].purl == SIX
    packaging = packages[("pypi", "packaging", "23.0")]
    assert packaging.locations[0].path == f"/{DIST_PACKAGES}/packaging-23.0.dist-info/METADATA"
    assert packaging.metadata_dict["owned-by"] == PACKAGING
    assert f"/{DIST_PACKAGES}/packaging/version.py" in packaging.files  # from the Debian-built RECORD
    # pip's own six in /usr/local is nobody's: it is matched against PyPI advisories
    pip_six = packages[("pypi", "six", "1.17.0")]
    assert "owned-by" not in pip_six.metadata_dict
    assert all("owned-by" not in p.metadata_dict for p in catalog.packages if p.type == "deb")


def test_the_matcher_leaves_owned_packages_to_the_os_advisories(debian_root: Path) -> None:
    packages = by_key(catalog_filesystem(DirFileSystem(debian_root)))
    assert lookup_for(packages[("pypi", "six", "1.16.0")]) is None
    assert lookup_for(packages[("pypi", "packaging", "23.0")]) is None
    pip_six = lookup_for(packages[("pypi", "six", "1.17.0")])
    assert pip_six is not None and (pip_six.ecosystem, pip_six.name) == ("PyPI", "six")
    deb_six = lookup_for(packages[("deb", "python3-six", "1.16.0-4")])
    assert deb_six is not None and deb_six.ecosystem == "Debian:12" and deb_six.name == "six"


def test_pip_upgrade_over_the_debian_package_is_not_owned(debian_root: Path) -> None:
    # `pip install --break-system-packages six==1.17.0` into dist-packages: pip's dist-info is
    # new, its RECORD names six.py, which dpkg still lists as python3-six's
    pip_metadata(debian_root, DIST_PACKAGES, "six", "1.17.0")
    record = debian_root / DIST_PACKAGES / "six-1.17.0.dist-info" / "RECORD"
    record.write_text("six.py,sha256=abc,34549\nsix-1.17.0.dist-info/METADATA,,\n")
    catalog = catalog_filesystem(DirFileSystem(debian_root))
    upgraded = next(
        p
        for p in catalog.packages
        if p.name == "six" and p.version == "1.17.0" and p.locations[0].path.startswith(f"/{DIST_PACKAGES}/")
    )
    assert f"/{DIST_PACKAGES}/six.py" in upgraded.files
    assert "owned-by" not in upgraded.metadata_dict  # matched against PyPI: failing open would hide CVEs
    assert lookup_for(upgraded) is not None


def test_file_lists_through_a_symlinked_directory(tmp_path: Path) -> None:
    # usrmerge: /lib -> usr/lib; a file list naming /lib/python3/... owns /usr/lib/python3/...
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_bytes(DEBIAN_12)
    dpkg_install(root, DEBS / "python3-six_1.16.0-4_all.deb")
    listed = root / "var/lib/dpkg/info/python3-six.list"
    listed.write_text(listed.read_text().replace("/usr/lib/", "/lib/"))
    (root / "lib").symlink_to("usr/lib")
    six = by_key(catalog_filesystem(DirFileSystem(root)))[("pypi", "six", "1.16.0")]
    assert six.locations[0].path == f"/{DIST_PACKAGES}/six-1.16.0.egg-info/PKG-INFO"
    assert six.metadata_dict["owned-by"] == SIX


def test_alpine_py3_package_is_linked(tmp_path: Path) -> None:
    # apk's installed db lists files as F:<dir> / R:<name> (apk-tools "installed database")
    root = tmp_path / "root"
    (root / "unpacked").mkdir(parents=True)
    dpkg_deb("-x", str(DEBS / "python3-six_1.16.0-4_all.deb"), str(root / "unpacked"))
    site = root / "usr/lib/python3.11/site-packages"
    shutil.copytree(root / "unpacked" / DIST_PACKAGES, site)
    shutil.rmtree(root / "unpacked")
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text('ID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n')
    (root / "lib/apk/db").mkdir(parents=True)
    (root / "lib/apk/db/installed").write_text(
        "P:py3-six\nV:1.16.0-r8\nA:noarch\no:py3-six\nL:MIT\n"
        "F:usr/lib/python3.11/site-packages\nR:six.py\n"
        "F:usr/lib/python3.11/site-packages/six-1.16.0.egg-info\n"
        "R:PKG-INFO\nR:dependency_links.txt\nR:top_level.txt\n\n"
    )
    packages = by_key(catalog_filesystem(DirFileSystem(root)))
    owner = packages[("apk", "py3-six", "1.16.0-r8")]
    assert packages[("pypi", "six", "1.16.0")].metadata_dict["owned-by"] == owner.purl
    assert owner.purl.startswith("pkg:apk/alpine/py3-six@1.16.0-r8")


def test_a_later_layer_removing_the_os_package_removes_both(tmp_path: Path, debian_root: Path) -> None:
    # layer 1 is `apt-get purge python3-six`: its files are whited out, the status rewritten
    status = (debian_root / "var/lib/dpkg/status").read_text()
    kept = "\n\n".join(s for s in status.split("\n\n") if s.strip() and "Package: python3-six\n" not in s)
    top = LayerBuilder()
    top.add_whiteout(f"{DIST_PACKAGES}/six-1.16.0.egg-info")
    top.add_whiteout(f"{DIST_PACKAGES}/six.py")
    top.add_whiteout("var/lib/dpkg/info/python3-six.list")
    top.add_file("var/lib/dpkg/status", (kept + "\n\n").encode())
    built = build_image([layer_from_directory(debian_root), top.build()])
    built.push(OciLayout.create(tmp_path / "layout"), tag="t")
    with open_image(f"oci:{tmp_path / 'layout'}:t") as image, image.filesystem() as fs:
        catalog = catalog_filesystem(fs, base_layer_count=1)
    packages = by_key(catalog)
    assert sorted(packages) == [
        ("deb", "python3-packaging", "23.0-1"),
        ("pypi", "packaging", "23.0"),
        ("pypi", "six", "1.17.0"),
    ]
    packaging = packages[("pypi", "packaging", "23.0")]
    assert packaging.metadata_dict["owned-by"] == PACKAGING
    assert (packaging.locations[0].layer_index, packaging.locations[0].in_base_image) == (0, True)
    assert packages[("deb", "python3-packaging", "23.0-1")].locations[0].layer_index == 1  # status rewritten


def test_sbom_command_writes_the_link(debian_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "sbom.json"
    result = run_gate("sbom", f"dir:{debian_root}", "-f", "cyclonedx-json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    components = {c["purl"]: c for c in json.loads(out.read_text())["components"] if "purl" in c}
    six = components["pkg:pypi/six@1.16.0"]
    properties = {p["name"]: p["value"] for p in six.get("properties", [])}
    assert properties["gate:metadata:owned-by"] == SIX
    pip_six = {p["name"] for p in components["pkg:pypi/six@1.17.0"].get("properties", [])}
    assert "gate:metadata:owned-by" not in pip_six
