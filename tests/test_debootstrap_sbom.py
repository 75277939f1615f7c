"""Gate's dpkg catalog of a real Debian 12 root filesystem matches dpkg's own view of it, exactly.

The session's Debian root (tests/debian.py: ``debootstrap --variant=minbase bookworm``, packed
into a one-layer OCI layout) is catalogued and compared gate's packages
with ``dpkg-query --admindir`` on the same tree: 100 % recall and precision.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate.catalog import catalog_filesystem
from gate.image import open_image
from tests.debian import Debootstrapped, dpkg_query_rows
from tests.test_cli import run_gate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_gate_catalog_matches_dpkg_query_exactly(debian_bookworm: Debootstrapped) -> None:
    expected = dpkg_query_rows(debian_bookworm.root)
    assert len(expected) > 50, "a minbase bookworm has ~90 packages"
    with open_image(f"oci:{debian_bookworm.layout}:bookworm") as image, image.filesystem() as fs:
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


def test_cli_cyclonedx_sbom_has_every_package(debian_bookworm: Debootstrapped, tmp_path: Path) -> None:
    expected = dpkg_query_rows(debian_bookworm.root)
    out = tmp_path / "sbom.json"
    result = run_gate(
        "sbom", f"oci:{debian_bookworm.layout}:bookworm", "-f", "cyclonedx-json", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    components = json.loads(out.read_bytes()).get("components", [])
    debs = [c for c in components if c.get("purl", "").startswith("pkg:deb/")]
    assert len(debs) == len(expected)
    assert {(c["name"], c["version"]) for c in debs} == {(row[0], row[1]) for row in expected}
