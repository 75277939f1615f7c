"""A gate run over an image whose every name is hostile, for the report tests.

Two layers: the sample's Debian base (zlib hit by a critical advisory: a base-image finding) and
an application layer with an npm package named like markup and a workflow command, a secret in
a file whose path is markup, and an advisory whose summary tries to close tags and forge
annotations. The base image is declared (annotation), so layer attribution is known.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gate.image import RegistryClient
from gate.image.base import BASE_NAME
from gate.image.build import LayerBuilder, build_image, layer_from_directory
from gate.image.layout import OciLayout
from gate.pipeline import ScanOptions
from gate.run import RunOptions, RunResult, decide_with_policy, run_image
from gate.sample import ROOTFS
from gate.vulndb import import_paths
from tests.fixtures.analyze.material import Material

HOSTILE_NAME = "<script>window.pwned=1</script>"
HOSTILE_NPM = "<img src=x onerror=window.pwned=2>"
HOSTILE_SUMMARY = "</td></table><script>window.pwned=3</script> 100% sure\r\n::error title=forged::pwned"
HOSTILE_DIR = "app/<svg onload=window.pwned=4>"
NPM_ADVISORY = "GHSA-2222-3333-4444"
BASE_ADVISORY = "DEBIAN-CVE-2099-0001"
POLICY = """\
apiVersion: gate/v1
kind: Policy
metadata: {name: "report-test"}
rules:
  - id: no-high-vulnerabilities
    action: block
    description: High and critical vulnerabilities, and unrated ones
    vulnerabilities: {severity: high}
  - id: no-secrets
    action: block
    description: Any secret
    secrets: {}
  - id: configuration
    action: warn
    description: Configuration findings
    config: {severity: low}
"""


@dataclass(frozen=True)
class HostileRun:
    result: RunResult
    reports: Path
    reference: str
    secret: str


def _advisories(directory: Path) -> Path:
    directory.mkdir(parents=True)
    npm = {
        "id": NPM_ADVISORY,
        "modified": "2026-01-01T00:00:00Z",
        "published": "2026-01-01T00:00:00Z",
        "summary": HOSTILE_SUMMARY,
        "details": HOSTILE_SUMMARY,
        "aliases": ["CVE-2099-1111"],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"}],
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": HOSTILE_NPM},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.1"}]}],
            }
        ],
    }
    base = {
        "id": BASE_ADVISORY,
        "modified": "2026-01-01T00:00:00Z",
        "published": "2020-01-01T00:00:00Z",
        "summary": "zlib: heap overflow in inflate",
        "aliases": ["CVE-2099-0001"],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "zlib"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.3.dfsg-1"}]}],
            }
        ],
    }
    for record in (npm, base):
        (directory / f"{record['id']}.json").write_text(json.dumps(record))
    return directory


def hostile_run(base: Path, *, dry_run: bool = False) -> HostileRun:
    """Build the image into an OCI layout under ``base``, decide on it, write every report."""
    secret = Material().github_token()
    layout_dir = base / "layout"
    layout = OciLayout.create(layout_dir)
    base_layer = layer_from_directory(ROOTFS / "base")
    build_image([base_layer]).push(layout, tag="base")
    app = LayerBuilder()
    package = {"name": HOSTILE_NPM, "version": "1.0.0", "description": HOSTILE_NAME, "license": "MIT"}
    app.add_file("app/node_modules/evil/package.json", json.dumps(package).encode())
    app.add_file(f"{HOSTILE_DIR}/settings.py", f'GITHUB_TOKEN = "{secret}"\n'.encode())
    image = build_image(
        [base_layer, app.build()],
        config={"User": "root", "Env": ["PATH=/usr/bin"]},
        annotations={BASE_NAME: f"oci:{layout_dir}:base"},
    )
    image.push(layout, tag="app")
    reference = f"oci:{layout_dir}:app"
    import_paths(base / "vulns.db", [_advisories(base / "osv")])
    (base / "policy.yaml").write_text(POLICY)
    client = RegistryClient()
    decide, policy = decide_with_policy(base / "policy.yaml", client=client)
    reports = base / "reports"
    options = RunOptions(
        scan=ScanOptions(db_path=base / "vulns.db", allow_stale_db=True),
        sign=dry_run,
        dry_run=dry_run,
        report_dir=reports,
    )
    result = run_image(reference, decide, policy, None, options, client=client)
    return HostileRun(result, reports, reference, secret)
