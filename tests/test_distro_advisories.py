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
    after = _scan(_ubuntu_root(tmp_path, "fixed", "22.04", at_fix), ubuntu_db)
    assert _by_package(after) == {
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


# -- AlmaLinux and Red Hat: an rpm database made by the real rpm tool ------------------------------


def _rpm_root(tmp_path: Path, name: str, os_release: str, packages: list[tuple[str, str]]) -> Path:
    """A root whose sqlite rpm database lists ``packages`` ((name, [epoch:]version-release)),
    each built by rpmbuild and recorded by `rpm -i --justdb`, as a RHEL-family image has them."""
    for tool in ("rpm", "rpmbuild"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: install Debian's rpm package (.ci/run does)")
    root = _root(tmp_path, name, os_release, {})
    top = tmp_path / f"{name}-rpmbuild"
    rpm = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "--define", "_db_backend sqlite"]
    subprocess.run([*rpm, "--initdb"], check=True)
    for package, evr in packages:
        epoch, _, version_release = evr.rpartition(":")
        version, release = version_release.split("-", 1)
        spec = top / f"{package}.spec"
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(
            f"Name: {package}\n{f'Epoch: {epoch}' if epoch else ''}\nVersion: {version}\nRelease: {release}\n"
            "Summary: a package at an advisory's version\nLicense: MIT\nBuildArch: noarch\n"
            "%description\nBuilt by gate's tests.\n%files\n"
        )
        subprocess.run(
            ["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", str(spec)],
            check=True,
            capture_output=True,
        )
        [built] = (top / "RPMS" / "noarch").glob(f"{package}-{version}-{release}.noarch.rpm")
        subprocess.run(
            [*rpm, "-i", "--justdb", "--nodeps", "--noscripts", "--notriggers", str(built)],
            check=True,
            capture_output=True,  # Debian's rpm warns that it is not the system's package manager
        )
    assert (root / "var/lib/rpm/rpmdb.sqlite").is_file()
    return root


ALMA_9 = (
    'NAME="AlmaLinux"\nVERSION="9.2 (Turquoise Kodkod)"\nID="almalinux"\nID_LIKE="rhel centos fedora"\n'
    'VERSION_ID="9.2"\n'
)
RHEL_9 = (
    'NAME="Red Hat Enterprise Linux"\nVERSION="9.2 (Plow)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.2"\n'
)


@pytest.fixture(scope="module")
def rpm_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("rpm")
    (work / "redhat").mkdir()
    (work / "redhat" / "RHSA-2023:5453.json").write_text(json.dumps(RHSA_2023_5453))
    path = work / "v.db"
    report = import_paths(path, [ALMALINUX, work / "redhat"], kev=KEV)
    assert (report.added, report.invalid) == (3, [])
    return path


def test_almalinux_before_and_at_fix_epochs_included(rpm_db: Path, tmp_path: Path) -> None:
    # ALSA-2023:5453: glibc fixed in 2.34-60.el9_2.7 (no epoch); ALSA-2022:6224: openssl fixed in
    # 1:3.0.1-41.el9_0. The "openssl" built without an epoch at a higher version-release is still
    # older than the fix: rpm compares the epoch first.
    before = [
        ("glibc", "2.34-60.el9_2.6"),
        ("openssl-libs", "1:3.0.1-40.el9_0"),
        ("openssl", "3.0.1-43.el9_0"),
    ]
    vulnerable = _scan(_rpm_root(tmp_path, "before", ALMA_9, before), rpm_db)
    assert _by_package(vulnerable) == {
        "glibc": ["ALSA-2023:5453"],
        "openssl": ["ALSA-2022:6224"],
        "openssl-libs": ["ALSA-2022:6224"],
    }
    by_package = {finding.package.name: finding for finding in vulnerable}
    assert by_package["openssl-libs"].package.version == "1:3.0.1-40.el9_0"
    assert by_package["openssl-libs"].fixed_versions == ("1:3.0.1-41.el9_0",)
    assert by_package["glibc"].evidence[0].ecosystem == "AlmaLinux:9"
    assert by_package["glibc"].rating.severity.label == "high"  # "Important:" in the summary
    # the ALSA lists the CVEs it fixes under related; CVE-2023-4911 is in CISA's catalog
    known = by_package["glibc"].known_exploited
    assert known is not None and known.cve == "CVE-2023-4911"
    at_fix = [
        ("glibc", "2.34-60.el9_2.7"),
        ("openssl-libs", "1:3.0.1-41.el9_0"),
        ("openssl", "1:3.0.1-41.el9_0"),
    ]
    assert _scan(_rpm_root(tmp_path, "fixed", ALMA_9, at_fix), rpm_db) == []


# Red Hat's OSV records are not available here. This one is written in the shape Red Hat
# publishes (RHSA id, CVEs in `upstream`, one entry per product stream and repository, ecosystem
# "Red Hat:<stream>:<release>::<repository>", epoch-qualified fixes). Its facts come from
# ALSA-2023:5453 above, AlmaLinux's rebuild of RHSA-2023:5453 (same errata number, same glibc
# fix); the extended-update-support entry's version is ours, to show that stream is not used.
RHSA_2023_5453 = {
    "id": "RHSA-2023:5453",
    "modified": "2023-10-05T00:00:00Z",
    "published": "2023-10-05T00:00:00Z",
    "upstream": ["CVE-2023-4527", "CVE-2023-4806", "CVE-2023-4813", "CVE-2023-4911"],
    "summary": "Important: glibc security update",
    "affected": [
        {
            "package": {"ecosystem": f"Red Hat:enterprise_linux:9::{repository}", "name": name},
            "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0:2.34-60.el9_2.7"}]}
            ],
        }
        for repository, name in (("baseos", "glibc"), ("appstream", "glibc-devel"), ("crb", "glibc-static"))
    ]
    + [
        {
            "package": {"ecosystem": "Red Hat:rhel_eus:9.0::baseos", "name": "glibc"},
            "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0:2.34-28.el9_0.99"}]}
            ],
        }
    ],
}


def test_red_hat_images_match_the_red_hat_streams(rpm_db: Path, tmp_path: Path) -> None:
    before = [
        ("glibc", "2.34-60.el9_2.6"),
        ("glibc-devel", "2.34-60.el9_2.6"),
        ("glibc-static", "2.34-60.el9_2.6"),
    ]
    vulnerable = _scan(_rpm_root(tmp_path, "before", RHEL_9, before), rpm_db)
    assert _by_package(vulnerable) == {name: ["RHSA-2023:5453"] for name, _ in before}  # not the ALSA
    glibc = next(finding for finding in vulnerable if finding.package.name == "glibc")
    assert glibc.package.ecosystem == "Red Hat:enterprise_linux:9"
    assert [item.ecosystem for item in glibc.evidence] == ["Red Hat:enterprise_linux:9::baseos"]
    assert glibc.fixed_versions == ("0:2.34-60.el9_2.7",) and glibc.rating.severity.label == "high"
    assert "CVE-2023-4911" in glibc.related and glibc.known_exploited is not None
    at_fix = [(name, "2.34-60.el9_2.7") for name, _ in before]
    assert _scan(_rpm_root(tmp_path, "fixed", RHEL_9, at_fix), rpm_db) == []


# -- Debian: one test per record shape OSV publishes ----------------------------------------------

DEBIAN_12 = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
)
DEBIAN_10 = (
    'PRETTY_NAME="Debian GNU/Linux 10 (buster)"\nID=debian\nVERSION_ID="10"\nVERSION_CODENAME=buster\n'
)


def _record_json(record_id: str, affected: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"id": record_id, "modified": "2024-01-01T00:00:00Z", "published": "2023-10-03T00:00:00Z",
            **fields, "affected": affected}  # fmt: skip


def _debian_entry(release: str, source: str, fixed: str | None, **specific: str) -> dict[str, Any]:
    events: list[dict[str, str]] = [{"introduced": "0"}, *([{"fixed": fixed}] if fixed else [])]
    entry: dict[str, Any] = {
        "package": {"ecosystem": f"Debian:{release}", "name": source},
        "ranges": [{"type": "ECOSYSTEM", "events": events}],
    }
    if specific:
        entry["ecosystem_specific"] = specific
    return entry


# Shapes, from osv.dev's Debian converters (google/osv.dev):
# - DSA and DLA (vulnfeeds/tools/debian/debian_converter/convert_debian.py, from the security
#   tracker's data/DSA/list and data/DLA/list): summary "<source> - security update", empty
#   aliases and related, the advisory's CVEs in `upstream`, one entry per release with the
#   source package and an ECOSYSTEM range "introduced 0" plus the release's fixed version.
# - DEBIAN-CVE (vulnfeeds/cmd/converters/debian/main.go, from the tracker's JSON): id
#   "DEBIAN-" + the CVE, `upstream` [the CVE], one entry per release with
#   `ecosystem_specific.urgency`, "introduced 0" and the fixed version when the release is
#   resolved, no fix when it is open.
# Facts (ids, packages, releases, fixed versions, CVEs) are those of the published advisories:
# DSA-5514-1 (glibc, bookworm, CVE-2023-4911), DLA-3613-1 (curl, buster), CVE-2023-4911 in the
# tracker, and CVE-2010-4756 (glibc, "unimportant", never fixed). Timestamps and urgencies' words
# for CVE-2023-4911 are ours.
DEBIAN_RECORDS = [
    _record_json("DSA-5514-1", [_debian_entry("12", "glibc", "2.36-9+deb12u3")],
                 summary="glibc - security update", aliases=[], related=[], upstream=["CVE-2023-4911"]),
    _record_json("DLA-3613-1", [_debian_entry("10", "curl", "7.64.0-4+deb10u7")],
                 summary="curl - security update", aliases=[], related=[],
                 upstream=["CVE-2023-28321", "CVE-2023-28322", "CVE-2023-38546"]),
    _record_json("DEBIAN-CVE-2023-4911", [_debian_entry("12", "glibc", "2.36-9+deb12u3", urgency="high")],
                 upstream=["CVE-2023-4911"]),
    _record_json("DEBIAN-CVE-2010-4756", [_debian_entry("12", "glibc", None, urgency="unimportant")],
                 upstream=["CVE-2010-4756"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def debian_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("debian")
    for record in DEBIAN_RECORDS:
        (work / f"{record['id']}.json").write_text(json.dumps(record))
    path = work / "v.db"
    assert import_paths(path, [work], kev=KEV).added == len(DEBIAN_RECORDS)
    return path


def _debian_root(tmp_path: Path, name: str, os_release: str, packages: list[tuple[str, str, str]]) -> Path:
    return _root(tmp_path, name, os_release, {"var/lib/dpkg/status": _dpkg_status(packages)})


def test_debian_cve_with_a_fix_and_the_dsa_that_restates_it(debian_db: Path, tmp_path: Path) -> None:
    before = _scan(
        _debian_root(tmp_path, "before", DEBIAN_12, [("libc6", "glibc", "2.36-9+deb12u2")]), debian_db
    )
    fixed_cve = next(finding for finding in before if finding.id == "DEBIAN-CVE-2023-4911")
    assert fixed_cve.aliases == ("CVE-2023-4911",) and fixed_cve.advisories == ("DSA-5514-1",)
    assert fixed_cve.fixed_versions == ("2.36-9+deb12u3",) and fixed_cve.known_exploited is not None
    assert (fixed_cve.rating.severity.label, fixed_cve.rating.source) == ("high", "Debian")  # urgency
    assert "DSA-5514-1" not in {finding.id for finding in before}
    at_fix = _scan(
        _debian_root(tmp_path, "fixed", DEBIAN_12, [("libc6", "glibc", "2.36-9+deb12u3")]), debian_db
    )
    assert [finding.id for finding in at_fix] == ["DEBIAN-CVE-2010-4756"]


def test_debian_cve_without_a_fix(debian_db: Path, tmp_path: Path) -> None:
    found = _scan(
        _debian_root(tmp_path, "root", DEBIAN_12, [("libc-bin", "glibc", "2.36-9+deb12u4")]), debian_db
    )
    [unfixed] = found
    assert (unfixed.id, unfixed.aliases, unfixed.fixed_versions) == (
        "DEBIAN-CVE-2010-4756",
        ("CVE-2010-4756",),
        (),
    )
    assert not unfixed.fix_available
    assert (unfixed.rating.severity.label, unfixed.rating.source) == ("low", "Debian")  # "unimportant"


def test_a_dla_without_per_cve_records_is_its_own_finding(debian_db: Path, tmp_path: Path) -> None:
    before = _scan(
        _debian_root(tmp_path, "before", DEBIAN_10, [("libcurl4", "curl", "7.64.0-4+deb10u6")]), debian_db
    )
    [dla] = before
    assert (dla.id, dla.advisories, dla.fixed_versions) == ("DLA-3613-1", (), ("7.64.0-4+deb10u7",))
    assert dla.related == ("CVE-2023-28321", "CVE-2023-28322", "CVE-2023-38546")
    assert (
        _scan(
            _debian_root(tmp_path, "fixed", DEBIAN_10, [("libcurl4", "curl", "7.64.0-4+deb10u7")]), debian_db
        )
        == []
    )
