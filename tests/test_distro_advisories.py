"""Distro matching on real upstream advisories, through a real root filesystem.

Each test builds a root the way the distro's package manager leaves it (a dpkg status file, or
an rpm database made by the real `rpm` tool from packages built with `rpmbuild`) with its
os-release, at versions taken from the records themselves: one version before each fix and
the fix itself; then scans it with `gate.pipeline.scan_image("dir:ROOT")`.

- Ubuntu: all 11 records of tests/fixtures/osv-ubuntu (Canonical's OSV export, both schema
  versions, USNs and UBUNTU-CVE records; see its README for what each field carries).
- AlmaLinux: real ALSA records from ../shared/data/osv-almalinux, copied to
  tests/fixtures/osv-almalinux with the upstream LICENSE.
- Red Hat and Debian: no real export is available here; their records are written below in the
  shapes osv.dev publishes, each test saying where its shape comes from.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gate.match import Finding
from gate.pipeline import ScanOptions, scan_image
from gate.vulndb import import_paths

FIXTURES = Path(__file__).parent / "fixtures"
UBUNTU = FIXTURES / "osv-ubuntu" / "osv"
ALMALINUX = FIXTURES / "osv-almalinux" / "advisories" / "almalinux9"
KEV = FIXTURES / "kev-cisa" / "known_exploited_vulnerabilities.json"


def _scan(root: Path, db: Path) -> list[Finding]:
    options = ScanOptions(scanners=frozenset({"vuln"}), db_path=db, allow_stale_db=True)
    return list(scan_image(f"dir:{root}", options).matches.findings)


def _by_package(findings: list[Finding]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in findings:
        found.setdefault(finding.package.name, []).append(finding.id)
    return found


def _root(tmp_path: Path, name: str, os_release: str, files: dict[str, bytes]) -> Path:
    root = tmp_path / name
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text(os_release)
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    return root


# -- Ubuntu ------------------------------------------------------------------------------------


def _record(path: str) -> dict[str, Any]:
    return json.loads((UBUNTU / path).read_text())


def _entry(record: dict[str, Any], ecosystem: str, source: str) -> dict[str, Any]:
    [entry] = [
        item
        for item in record["affected"]
        if item["package"]["ecosystem"] == ecosystem and item["package"]["name"] == source
    ]
    return entry


def _fix(entry: dict[str, Any]) -> str | None:
    return next((event["fixed"] for event in entry["ranges"][0]["events"] if "fixed" in event), None)


# (record, ecosystem, source package, the binary installed from it)
UBUNTU_2204 = [
    ("cve/2023/UBUNTU-CVE-2023-4911.json", "Ubuntu:22.04:LTS", "glibc", "libc-bin"),
    ("cve/2024/UBUNTU-CVE-2024-0727.json", "Ubuntu:22.04:LTS", "openssl", "libssl3"),
    ("cve/2023/UBUNTU-CVE-2023-38545.json", "Ubuntu:22.04:LTS", "curl", "libcurl3-gnutls"),
    ("cve/2024/UBUNTU-CVE-2024-6387.json", "Ubuntu:22.04:LTS", "openssh", "openssh-client"),
    ("cve/2024/UBUNTU-CVE-2024-3094.json", "Ubuntu:22.04:LTS", "xz-utils", "liblzma5"),
    # schema 1.6 entries without a fix and without binaries: matched through dpkg's Source:
    ("cve/2016/UBUNTU-CVE-2016-2781.json", "Ubuntu:22.04:LTS", "coreutils", "coreutils"),
    ("cve/2022/UBUNTU-CVE-2022-3219.json", "Ubuntu:22.04:LTS", "gnupg2", "gpgv"),
    # filed only under Ubuntu Pro (universe), unfixed
    ("cve/2024/UBUNTU-CVE-2024-0727.json", "Ubuntu:Pro:22.04:LTS", "nodejs", "libnode72"),
]


def _dpkg_status(packages: list[tuple[str, str, str]]) -> bytes:
    """(binary, source, version) -> a dpkg status file as dpkg writes it."""
    stanzas = []
    for binary, source, version in packages:
        source_line = "" if source == binary else f"Source: {source}\n"
        stanzas.append(
            f"Package: {binary}\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\n"
            f"{source_line}Version: {version}\nDescription: {binary}\n"
        )
    return "\n".join(stanzas).encode() + b"\n"


def _ubuntu_root(tmp_path: Path, name: str, version_id: str, packages: list[tuple[str, str, str]]) -> Path:
    codename = {"22.04": "jammy", "20.04": "focal", "16.04": "xenial"}[version_id]
    os_release = (
        f'PRETTY_NAME="Ubuntu {version_id} LTS"\nNAME="Ubuntu"\nVERSION_ID="{version_id}"\n'
        f"ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME={codename}\n"
    )
    return _root(tmp_path, name, os_release, {"var/lib/dpkg/status": _dpkg_status(packages)})


@pytest.fixture(scope="module")
def ubuntu_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ubuntu") / "v.db"
    report = import_paths(path, [UBUNTU], kev=KEV)
    assert (report.added, report.invalid) == (11, [])
    return path


def test_ubuntu_before_and_at_each_fix(ubuntu_db: Path, tmp_path: Path) -> None:
    before, at_fix = [], []
    for path, ecosystem, source, binary in UBUNTU_2204:
        entry = _entry(_record(path), ecosystem, source)
        listed = [item["binary_name"] for item in entry.get("ecosystem_specific", {}).get("binaries", [])]
        assert not listed or binary in listed  # the binary the record names for this source
        fixed = _fix(entry)
        before.append((binary, source, entry["versions"][-1]))  # the newest version it lists as affected
        at_fix.append((binary, source, fixed or entry["versions"][-1]))
    vulnerable = _scan(_ubuntu_root(tmp_path, "before", "22.04", before), ubuntu_db)
    assert _by_package(vulnerable) == {
        "libc-bin": ["UBUNTU-CVE-2023-4911"],
        "libssl3": ["UBUNTU-CVE-2024-0727"],
        "libcurl3-gnutls": ["UBUNTU-CVE-2023-38545"],
        "openssh-client": ["UBUNTU-CVE-2024-6387"],
        "liblzma5": ["UBUNTU-CVE-2024-3094"],
        "coreutils": ["UBUNTU-CVE-2016-2781"],
        "gpgv": ["UBUNTU-CVE-2022-3219"],
        "libnode72": ["UBUNTU-CVE-2024-0727"],
    }  # one finding per CVE: no USN findings beside them
    by_package = {finding.package.name: finding for finding in vulnerable}
    # Named by the CVE: from `upstream` (schema 1.7) and from the id (schema 1.6).
    assert by_package["libssl3"].aliases == ("CVE-2024-0727",)
    assert by_package["libc-bin"].aliases == ("CVE-2023-4911",)
    # The USNs that restate them are advisory references.
    assert by_package["libc-bin"].advisories == ("USN-6409-1",)
    assert by_package["libcurl3-gnutls"].advisories == ("USN-6429-1",)
    assert by_package["openssh-client"].advisories == ("USN-6859-1",)
    assert by_package["libssl3"].advisories == ()  # USN-6632-1 covers Pro 16.04/18.04 only
    # Source names and versions as the records file them; the epoch is compared.
    assert by_package["openssh-client"].evidence[0].name == "openssh"
    assert by_package["openssh-client"].fixed_versions == ("1:8.9p1-3ubuntu0.10",)
    assert by_package["libnode72"].evidence[0].ecosystem == "Ubuntu:Pro:22.04:LTS"
    assert by_package["libnode72"].package.ecosystem == "Ubuntu:22.04:LTS"
    # KEV and VEX written against the CVE apply: CVE-2023-4911 is in CISA's catalog.
    known = by_package["libc-bin"].known_exploited
    assert known is not None and (known.cve, known.date_added) == ("CVE-2023-4911", "2023-11-21")
    fixed = _scan(_ubuntu_root(tmp_path, "fixed", "22.04", at_fix), ubuntu_db)
    assert _by_package(fixed) == {
        "coreutils": ["UBUNTU-CVE-2016-2781"],
        "gpgv": ["UBUNTU-CVE-2022-3219"],
        "libnode72": ["UBUNTU-CVE-2024-0727"],
    }  # only what has no fix yet


def test_a_usn_whose_cves_did_not_match_is_a_finding_of_its_own(ubuntu_db: Path, tmp_path: Path) -> None:
    """On 20.04, UBUNTU-CVE-2023-38545 is fixed in curl 7.68.0-1ubuntu2.19 but USN-6429-1 (which
    also covers CVE-2023-38546, whose record is not in this database) only in ...2.20."""
    cve = _entry(_record("cve/2023/UBUNTU-CVE-2023-38545.json"), "Ubuntu:20.04:LTS", "curl")
    usn = _entry(_record("usn/USN-6429-1.json"), "Ubuntu:20.04:LTS", "curl")
    assert (_fix(cve), _fix(usn)) == ("7.68.0-1ubuntu2.19", "7.68.0-1ubuntu2.20")
    older = _scan(
        _ubuntu_root(tmp_path, "older", "20.04", [("libcurl4", "curl", cve["versions"][-1])]), ubuntu_db
    )
    assert [(f.id, f.advisories) for f in older] == [("UBUNTU-CVE-2023-38545", ("USN-6429-1",))]
    between = _scan(
        _ubuntu_root(tmp_path, "between", "20.04", [("libcurl4", "curl", "7.68.0-1ubuntu2.19")]), ubuntu_db
    )
    [alone] = between
    assert (alone.id, alone.advisories, alone.fixed_versions) == ("USN-6429-1", (), ("7.68.0-1ubuntu2.20",))
    assert {"UBUNTU-CVE-2023-38545", "UBUNTU-CVE-2023-38546"} <= set(alone.related)
    at_fix = _scan(
        _ubuntu_root(tmp_path, "fixed", "20.04", [("libcurl4", "curl", "7.68.0-1ubuntu2.20")]), ubuntu_db
    )
    assert at_fix == []


def test_ubuntu_pro_esm_release(ubuntu_db: Path, tmp_path: Path) -> None:
    """16.04 is past standard support: its entries are filed under Ubuntu:Pro:16.04:LTS only."""
    entry = _entry(_record("cve/2024/UBUNTU-CVE-2024-0727.json"), "Ubuntu:Pro:16.04:LTS", "openssl")
    before = [
        ("libssl1.0.0", "openssl", entry["versions"][-1]),
        ("coreutils", "coreutils", "8.25-2ubuntu3~16.04"),
    ]
    vulnerable = _scan(_ubuntu_root(tmp_path, "before", "16.04", before), ubuntu_db)
    assert _by_package(vulnerable) == {
        "coreutils": ["UBUNTU-CVE-2016-2781"],
        "libssl1.0.0": ["UBUNTU-CVE-2024-0727"],
    }
    [ssl] = [finding for finding in vulnerable if finding.package.name == "libssl1.0.0"]
    assert ssl.advisories == ("USN-6632-1",) and ssl.fixed_versions == ("1.0.2g-1ubuntu4.20+esm11",)
    fixed = [("libssl1.0.0", "openssl", _fix(entry) or ""), ("coreutils", "coreutils", "8.25-2ubuntu3~16.04")]
    assert _by_package(_scan(_ubuntu_root(tmp_path, "fixed", "16.04", fixed), ubuntu_db)) == {
        "coreutils": ["UBUNTU-CVE-2016-2781"]
    }
