"""The `gate` console script, run as users run it: a subprocess, its output and exit code."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from gate.image import OciLayout, RegistryClient, Transport
from gate.image.build import LayerBuilder, build_image
from gate.image.digest import digest_of
from gate.image.manifest import OCI_EMPTY, OCI_MANIFEST, canonical_json
from gate.image.reference import parse_registry_reference
from gate.image.store import referrers_tag
from gate.sample import build_sample, write_sample_layout
from tests.servers import RegistryServer

GATE = [sys.executable, "-m", "gate"]


def run_gate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [*GATE, *args], capture_output=True, text=True, env=full_env, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def sample_layout(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_sample_layout(tmp_path_factory.mktemp("sample") / "layout")


def test_help_is_fast_because_imports_are_lazy() -> None:
    heavy = ("requests", "gate.image", "rich.table")
    code = f"import sys, gate.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    help_result = run_gate("--help")
    assert help_result.returncode == 0
    assert "inspect" in help_result.stdout and "Exit codes" in help_result.stdout


def test_usage_error_exits_1_not_2() -> None:
    result = run_gate("inspect", "--no-such-option", "x")
    assert result.returncode == 1
    assert "No such option" in result.stderr
    assert run_gate("no-such-command").returncode == 1
    assert run_gate("inspect").returncode == 1  # missing argument


def test_expected_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    result = run_gate("inspect", f"oci:{tmp_path}/missing")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"gate: error: {tmp_path}/missing is not an OCI image layout (no oci-layout file)"
    ]
    debug = run_gate("--debug", "inspect", f"oci:{tmp_path}/missing")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_inspect_oci_layout_json(sample_layout: str) -> None:
    result = run_gate("inspect", "--format", "json", sample_layout)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    sample = build_sample()
    assert data["digest"] == sample.digest
    assert data["reference"] == f"{sample_layout}@{sample.digest}"
    assert [layer["digest"] for layer in data["layers"]] == [digest_of(blob) for blob in sample.layers]
    assert data["config"]["user"] == "1000"
    assert data["config"]["envNames"] == ["PATH", "APP_MODE"]
    assert data["config"]["exposedPorts"] == ["8080/tcp"]
    assert "demo" not in json.dumps(data["config"]["envNames"])  # names only, never values


def test_inspect_table_has_no_color_codes_and_full_digests(sample_layout: str) -> None:
    result = run_gate("inspect", sample_layout)
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout
    assert build_sample().digest in result.stdout
    for blob in build_sample().layers:
        assert digest_of(blob) in result.stdout


def test_inspect_never_prints_env_values(tmp_path: Path) -> None:
    layer = LayerBuilder().add_file("x", b"x").build()
    built = build_image([layer], config={"Env": ["API_TOKEN=ghp_notARealTokenButSecretLooking1234"]})
    built.push(OciLayout.create(tmp_path / "l"), tag="t")
    for output_format in ("json", "table"):
        result = run_gate("inspect", "-f", output_format, f"oci:{tmp_path / 'l'}:t")
        assert result.returncode == 0
        assert "API_TOKEN" in result.stdout
        assert "ghp_notARealToken" not in result.stdout + result.stderr


def _docker_archive(path: Path) -> str:
    layer = LayerBuilder().add_file("etc/os-release", b"ID=archive\n").build()
    config = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"User": "0"},
            "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]},
        }
    )
    config_name = digest_of(config).split(":")[1] + ".json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": ["demo:1"], "Layers": ["abc/layer.tar"]}]
    ).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in (("manifest.json", manifest), (config_name, config), ("abc/layer.tar", layer)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return f"docker-archive:{path}"


def test_inspect_and_tree_docker_archive(tmp_path: Path) -> None:
    ref = _docker_archive(tmp_path / "image.tar")
    result = run_gate("inspect", "-f", "json", ref)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert data["config"]["user"] == "0"
    assert data["reference"] == f"{ref}@{data['digest']}"
    tree = run_gate("tree", "-f", "json", ref)
    assert tree.returncode == 0 and json.loads(tree.stdout)["attachments"] == []


def test_inspect_and_tree_dir(tmp_path: Path) -> None:
    (tmp_path / "root" / "etc").mkdir(parents=True)
    (tmp_path / "root" / "etc" / "os-release").write_text("ID=dir\n")
    result = run_gate("inspect", "-f", "json", f"dir:{tmp_path / 'root'}")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["mediaType"] == "directory" and data["files"] == 1 and data["digest"].startswith("sha256:")
    assert run_gate("tree", f"dir:{tmp_path / 'root'}").returncode == 0


def test_inspect_and_tree_registry(registry: RegistryServer) -> None:
    host = registry.host
    client = RegistryClient(transport=Transport(), credentials={host: None})
    ref = f"{host}/cli/sample"
    repository = client.repository(parse_registry_reference(ref))
    digest = build_sample().push(repository, tag="demo")

    # a cosign-style signature tag and an OCI 1.1 referrer (through the fallback tag)
    payload = repository.push_blob(b'{"critical":{}}')
    empty = repository.push_blob(b"{}")
    sig_layer = {
        "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "digest": payload.digest,
        "size": payload.size,
        "annotations": {"dev.cosignproject.cosign/signature": "MEUC"},
    }
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": empty.digest, "size": 2}
    sig = canonical_json(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [sig_layer]}
    )
    repository.push_manifest(sig, media_type=OCI_MANIFEST, tag=f"{referrers_tag(digest)}.sig")
    referrer = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "config": {"mediaType": OCI_EMPTY, "digest": empty.digest, "size": 2},
            "layers": [
                {
                    "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                    "digest": payload.digest,
                    "size": payload.size,
                }
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(build_sample().manifest)},
            "annotations": {"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"},
        }
    )
    referrer_digest = repository.push_manifest(referrer, media_type=OCI_MANIFEST).digest

    inspect = run_gate("inspect", "-f", "json", f"{ref}:demo")
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["digest"] == digest

    tree = run_gate("tree", "-f", "json", f"{ref}:demo")
    assert tree.returncode == 0, tree.stderr
    attachments = json.loads(tree.stdout)["attachments"]
    by_kind = {a["kind"]: a for a in attachments}
    assert set(by_kind) == {"referrer", "sig"}
    assert by_kind["referrer"]["digest"] == referrer_digest
    assert by_kind["referrer"]["predicate_types"] == ["https://sigstore.dev/cosign/sign/v1"]
    assert by_kind["sig"]["reference"] == f"{referrers_tag(digest)}.sig"
    assert by_kind["sig"]["entries"] == 1

    table = run_gate("tree", f"{ref}:demo")
    assert "cosign signatures" in table.stdout and referrer_digest in table.stdout


def test_platform_option_is_validated(sample_layout: str) -> None:
    result = run_gate("inspect", "--platform", "linux", sample_layout)
    assert result.returncode == 1
    assert "invalid platform 'linux'" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        "inspect",
        "tree",
        "sbom",
        "scan",
        "secrets",
        "config-check",
        "keygen",
        "sign",
        "attest",
        "db",
        "db import",
        "db update",
        "db status",
        "db push",
    ],
)
def test_every_command_explains_itself(command: str) -> None:
    result = run_gate(*command.split(), "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: gate {command}")
    assert "Traceback" not in result.stderr


TRUST_COMMANDS = (("verify", "IMAGE"), ("promote", "SRC", "DST"), ("fleet", "rescan", "--policy", "p.yaml"))


@pytest.mark.parametrize("command", TRUST_COMMANDS, ids=lambda command: command[0])
def test_trust_flags_are_one_set_checked_the_same_way(command: tuple[str, ...]) -> None:
    """gate/cli/trust.py declares the flags once; every verifying command takes and checks them alike."""
    help_text = run_gate(*command[:2] if command[0] == "fleet" else command[:1], "--help").stdout
    for flag in (
        "--key",
        "--certificate-identity-regexp",
        "--github-repo",
        "--gitlab-project",
        "--trusted-root",
    ):
        assert flag in help_text
    both = run_gate(*command, "--github-repo", "acme/app", "--gitlab-project", "acme/app")
    assert both.returncode == 1
    assert both.stderr.strip() == "gate: error: give --github-repo or --gitlab-project, not both"
    neither = run_gate(*command, "--certificate-oidc-issuer", "https://gitlab.com")
    assert neither.returncode == 1 and "give either --key FILE or a keyless identity" in neither.stderr


def test_policy_export_takes_the_trust_flags_except_a_trusted_root() -> None:
    assert "--trusted-root" not in run_gate("policy", "export", "--help").stdout
    result = run_gate("policy", "export", "-f", "kyverno", "--images", "r/x", "--key", "/nonexistent.pub")
    assert result.returncode == 1 and "cannot read /nonexistent.pub" in result.stderr
