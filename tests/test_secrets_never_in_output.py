"""The whole pipeline on an image full of planted secrets, with ``--debug``: no secret value in
stdout, stderr (where logs go), any report file, or anything the run published.

The image is tests/test_secrets_image.py's (secrets in files of every layer, deleted and
overwritten files, the config's Env, Labels and Cmd, the build history). The policy only
warns about secrets, so the run passes and signs: the scan attestation it publishes is checked
too. A value counts as leaked whole or by its middle (redaction keeps at most a short prefix).
"""

from __future__ import annotations

import json
from pathlib import Path

from gate.vulndb import import_paths
from tests.test_cli import run_gate
from tests.test_run import SAMPLE_ADVISORIES
from tests.test_secrets_image import build_secret_image
from tests.test_sign import COSIGN_KEY, KEY_ENV

WARN_ON_SECRETS = """\
apiVersion: gate/v1
kind: Policy
metadata: {name: warn-on-secrets}
rules:
  - id: secrets
    action: warn
    description: Secrets are reported, not blocking, so that the run signs and attests
    secrets: {}
"""


def _fragments(secret: str) -> list[str]:
    middle = secret[len(secret) // 4 : len(secret) - len(secret) // 4]
    return [secret, middle] if len(middle) >= 12 else [secret]


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [secret[:6] + "..." for secret in secrets if any(part in text for part in _fragments(secret))]


def test_secrets_stay_out_of_every_output_of_a_debug_run(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    image = build_secret_image(layout)
    assert len(image.secrets) >= 10
    blobs_before = {path.name for path in (layout / "blobs" / "sha256").iterdir()}
    import_paths(tmp_path / "vulns.db", [SAMPLE_ADVISORIES])
    (tmp_path / "policy.yaml").write_text(WARN_ON_SECRETS)
    reports = tmp_path / "reports"

    result = run_gate(
        "--debug", "run", image.reference, "--policy", str(tmp_path / "policy.yaml"),
        "--db", str(tmp_path / "vulns.db"), "--allow-stale-db", "--offline",
        "--key", COSIGN_KEY, "--identity", "registry.example/secrets",
        "--report-dir", str(reports), "--in-toto-link", str(tmp_path / "links"),
        env=KEY_ENV,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-3000:]
    report_files = sorted(path for path in reports.rglob("*") if path.is_file())
    assert {path.name for path in report_files} >= {"decision.json", "scan.json"}
    scan = json.loads((reports / "scan.json").read_text())
    assert len(scan["secrets"]) >= len(image.expected)  # found and reported (redacted), not skipped
    published = [
        path for path in (layout / "blobs" / "sha256").iterdir() if path.name not in blobs_before
    ]
    assert published  # attestations and signatures were written
    outputs = {"stdout": result.stdout, "stderr": result.stderr}
    outputs |= {str(path.relative_to(tmp_path)): path.read_text(errors="replace") for path in report_files}
    outputs |= {f"links/{p.name}": p.read_text(errors="replace") for p in (tmp_path / "links").iterdir()}
    outputs |= {f"published blob {p.name[:12]}": p.read_bytes().decode(errors="replace") for p in published}
    leaked = {where: found for where, text in outputs.items() if (found := _leaks(text, image.secrets))}
    assert not leaked, leaked
