"""`gate sbom` end to end: an image built here, catalogued through the CLI, in every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate.image import OciLayout
from gate.image.build import LayerBuilder, build_image
from tests.test_cli import run_gate

OS_RELEASE = b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
STATUS_BASE = b"""Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
"""
STATUS_APP = (
    STATUS_BASE
    + b"""
Package: curl
Status: install ok installed
Architecture: amd64
Version: 7.88.1-10+deb12u5
Depends: libcurl4 (= 7.88.1-10+deb12u5), zlib1g (>= 1:1.1.4)
"""
)


@pytest.fixture(scope="module")
def debian_like(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = LayerBuilder().add_file("etc/os-release", OS_RELEASE).add_file("var/lib/dpkg/status", STATUS_BASE)
    app = LayerBuilder().add_file("var/lib/dpkg/status", STATUS_APP)
    layout = tmp_path_factory.mktemp("sbom") / "layout"
    build_image([base.build(), app.build()]).push(OciLayout.create(layout), tag="t")
    return f"oci:{layout}:t"


def test_sbom_cyclonedx_lists_packages_with_layer_and_source(debian_like: str) -> None:
    result = run_gate("sbom", "-f", "cyclonedx-json", debian_like, env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert result.returncode == 0, result.stderr
    bom = json.loads(result.stdout)
    assert bom["specVersion"] == "1.6"
    components = {c["name"]: c for c in bom["components"] if c.get("type") == "library"}
    assert set(components) == {"zlib1g", "bash", "curl"}
    zlib = components["zlib1g"]
    assert zlib["purl"] == "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib"
    properties = {p["name"]: p["value"] for p in zlib["properties"]}
    assert properties["gate:source-package"] == "zlib"
    assert properties["gate:layer-index"] == "1"  # the status file of layer 1 is the one in the image
    assert any(c.get("type") == "operating-system" and c["name"] == "debian" for c in bom["components"])
    # one progress line per stage on stderr (not a TTY here), nothing else
    stages = result.stderr.splitlines()
    assert len(stages) == 2, stages
    assert stages[0].startswith("gate: read 2 layer(s) of oci:") and stages[1].startswith(
        "gate: catalog packages"
    )


def test_sbom_is_deterministic_and_round_trips(debian_like: str, tmp_path: Path) -> None:
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    first = run_gate("sbom", "-f", "spdx-json", "-o", str(tmp_path / "a.json"), debian_like, env=env)
    second = run_gate("sbom", "-f", "spdx-json", "-o", str(tmp_path / "b.json"), debian_like, env=env)
    assert first.returncode == second.returncode == 0, first.stderr
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    again = run_gate("sbom", "-f", "json", "--from", str(tmp_path / "a.json"))
    assert again.returncode == 0, again.stderr
    names = sorted(p["name"] for p in json.loads(again.stdout)["packages"])
    assert names == ["bash", "curl", "zlib1g"]


def test_sbom_table_and_errors(debian_like: str, tmp_path: Path) -> None:
    table = run_gate("sbom", debian_like)
    assert table.returncode == 0 and "3 packages (OS: Debian GNU/Linux 12 (bookworm))" in table.stdout
    assert run_gate("sbom").returncode == 1  # neither IMAGE nor --from
    (tmp_path / "bad.json").write_text("not json")
    bad = run_gate("sbom", "--from", str(tmp_path / "bad.json"))
    assert bad.returncode == 1 and bad.stderr.startswith("gate: error:")
