"""`gate scan` of a real Debian 12 root filesystem (debootstrap), with dpkg as the version oracle.

Records (see tests/fixtures/osv/NOTICE.md for DSA-5514-1 and DSA-5523-1; the third is written
here from the Debian security tracker: CVE-2010-4756, glibc, "unimportant", never fixed in any
Debian release, which is why scanners report it for every Debian image):

- DEBIAN-CVE-2010-4756: glibc, introduced 0, no fix: every binary built from glibc matches.
- DSA-5514-1 / DSA-5523-1: fixed versions older than what bookworm ships today; whether they
  match must agree with ``dpkg --compare-versions`` on the installed source versions.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.debian import Debootstrapped, dpkg_query_rows
from tests.test_cli import run_gate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

FIXTURES = Path(__file__).parent / "fixtures" / "osv"
UNFIXED = {
    "id": "DEBIAN-CVE-2010-4756",
    "modified": "2024-01-01T00:00:00Z",
    "upstream": ["CVE-2010-4756"],
    "aliases": [],
    "related": ["CVE-2010-4756"],
    "affected": [
        {
            "package": {"ecosystem": "Debian:12", "name": "glibc"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
        }
    ],
}
FIXES = {"DSA-5514-1": ("glibc", "2.36-9+deb12u3"), "DSA-5523-1": ("curl", "7.88.1-10+deb12u4")}


def _dpkg_older(version: str, than: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", version, "lt", than], check=False).returncode == 0


def test_scan_of_a_debootstrapped_image(debian_bookworm: Debootstrapped, tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "unfixed.json").write_text(json.dumps(UNFIXED))
    db = tmp_path / "v.db"
    imported = run_gate("db", "import", "--db", str(db), str(FIXTURES / "debian"), str(tmp_path / "records"))
    assert imported.returncode == 0, imported.stderr
    result = run_gate("scan", f"oci:{debian_bookworm.layout}:bookworm", "--db", str(db), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    found = {(f["id"], f["package"]["name"]) for f in report["findings"]}

    rows = dpkg_query_rows(debian_bookworm.root)
    expected = {("DEBIAN-CVE-2010-4756", name) for name, _v, _a, source, _sv in rows if source == "glibc"}
    for record_id, (source_package, fixed) in FIXES.items():
        expected |= {
            (record_id, name)
            for name, _v, _a, source, source_version in rows
            if source == source_package and _dpkg_older(source_version, fixed)
        }
    assert len([row for row in rows if row[3] == "glibc"]) >= 2  # libc6, libc-bin
    assert found == expected
    assert report["unverified"] == []
    assert report["summary"]["packages"] == len(rows)
