"""Gate's dpkg catalog of a real Debian 12 root filesystem matches dpkg's own view of it, exactly.

A module fixture runs ``debootstrap --variant=minbase bookworm`` (root and network needed;
about a minute), packs the tree into a one-layer OCI layout and compares gate's packages
with ``dpkg-query --admindir`` on the same tree: 100 % recall and precision.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gate.catalog import catalog_filesystem
from gate.image import OciLayout, open_image
from gate.image.build import build_image, layer_from_directory
from tests.test_cli import run_gate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MIRROR = os.environ.get("GATE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
QUERY_FORMAT = "${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n"

Row = tuple[str, str, str, str, str]  # name, version, arch, source name, source version


@dataclass(frozen=True)
class Debootstrapped:
    root: Path
    layout: Path


def dpkg_query_rows(root: Path) -> set[Row]:
    """Ground truth: every installed package as dpkg itself reports it."""
    result = subprocess.run(
        ["dpkg-query", "--admindir", str(root / "var/lib/dpkg"), "-W", "-f", QUERY_FORMAT],
        capture_output=True,
        text=True,
        check=True,
    )
    rows: set[Row] = set()
    for line in result.stdout.splitlines():
        name, version, arch, source_name, source_version = line.split("\t")
        rows.add((name, version, arch, source_name, source_version))
    return rows


@pytest.fixture(scope="module")
def debootstrapped(tmp_path_factory: pytest.TempPathFactory) -> Debootstrapped:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        pytest.fail("debootstrap is not installed: run `apt-get install debootstrap` (this test never skips)")
    if os.geteuid() != 0:
        pytest.fail("debootstrap needs root: run this test as root (e.g. in the CI container)")
    base = tmp_path_factory.mktemp("debootstrap")
    root = base / "rootfs"
    result = subprocess.run(
        [debootstrap, "--variant=minbase", "bookworm", str(root), MIRROR],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"debootstrap failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    layout = base / "layout"
    build_image([layer_from_directory(root)], history=["debootstrap --variant=minbase bookworm"]).push(
        OciLayout.create(layout), tag="bookworm"
    )
    return Debootstrapped(root, layout)


def test_gate_catalog_matches_dpkg_query_exactly(debootstrapped: Debootstrapped) -> None:
    expected = dpkg_query_rows(debootstrapped.root)
    assert len(expected) > 50, "a minbase bookworm has ~90 packages"
    with open_image(f"oci:{debootstrapped.layout}:bookworm") as image, image.filesystem() as fs:
        catalog = catalog_filesystem(fs)
    debs = [p for p in catalog.packages if p.type == "deb"]
    found = {(p.name, p.version, p.arch, p.source_name, p.source_version) for p in debs}

    missing, extra = sorted(expected - found), sorted(found - expected)
    assert (missing, extra) == ([], []), f"recall misses {missing}; precision misses {extra}"
    assert len(debs) == len(found), "a package was reported twice"
    assert catalog.unknowns == ()
    assert catalog.distro is not None
    assert (catalog.distro.id, catalog.distro.version_id) == ("debian", "12")
    assert {p.ecosystem for p in debs} == {"Debian:12"}
    assert [p.name for p in debs if not p.files] == []
    assert all("distro=debian-12" in p.purl for p in debs)


def test_cli_cyclonedx_sbom_has_every_package(debootstrapped: Debootstrapped, tmp_path: Path) -> None:
    expected = dpkg_query_rows(debootstrapped.root)
    out = tmp_path / "sbom.json"
    result = run_gate("sbom", f"oci:{debootstrapped.layout}:bookworm", "-f", "cyclonedx-json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    components = json.loads(out.read_bytes()).get("components", [])
    debs = [c for c in components if c.get("purl", "").startswith("pkg:deb/")]
    assert len(debs) == len(expected)
    assert {(c["name"], c["version"]) for c in debs} == {(row[0], row[1]) for row in expected}
