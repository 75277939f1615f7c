"""`gate sign --keyless` / `gate attest --keyless` end to end: real registry, local Sigstore stand-in.

The Fulcio/Rekor stand-in is ``tests/sigstore_stack.py`` (no public Sigstore is reachable here);
the bundles gate publishes are checked with sigstore-python's unmodified Verifier through
``gate.sign.bundle.verify_bundle``. The OIDC token reaches gate through a file, never argv.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate.image.attachments import PREDICATE_ARTIFACT_TYPE
from gate.image.manifest import Manifest
from gate.image.store import Store, referrers_tag
from gate.sign.bundle import BUNDLE_MEDIA_TYPE, verify_bundle
from tests.servers import RegistryServer
from tests.sigstore_stack import OIDC_ISSUER, SigstoreStack
from tests.test_cli import run_gate
from tests.test_sign import push_image

NO_AMBIENT = {
    "GITHUB_ACTIONS": "",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "",
    "SIGSTORE_ID_TOKEN": "",
    "GATE_IDENTITY_TOKEN": "",
    "GITLAB_CI": "",
}


@pytest.fixture(scope="module")
def stack() -> Iterator[SigstoreStack]:
    with SigstoreStack() as running:
        yield running


@pytest.fixture
def keyless_args(stack: SigstoreStack, tmp_path: Path) -> list[str]:
    (tmp_path / "trust.json").write_text(json.dumps(stack.client_trust_config()))
    (tmp_path / "token").write_text(stack.token())
    return [
        "--keyless",
        "--identity-token-file",
        str(tmp_path / "token"),
        "--trust-config",
        str(tmp_path / "trust.json"),
    ]


def bundles_of(repository: Store, digest: str) -> list[tuple[Manifest, bytes]]:
    found = []
    for descriptor in repository.referrers(digest, BUNDLE_MEDIA_TYPE):
        manifest = repository.get_document(descriptor.digest)
        assert isinstance(manifest, Manifest)
        found.append((manifest, repository.read_blob(manifest.layers[0], 1 << 22)))
    return found


def test_keyless_sign_publishes_a_verifiable_bundle_referrer(
    registry: RegistryServer, keyless_args: list[str], tmp_path: Path
) -> None:
    repository, name, digest = push_image(registry)
    result = run_gate("sign", f"{name}:v1", *keyless_args, env=NO_AMBIENT)
    assert result.returncode == 0, result.stderr
    [(manifest, bundle)] = bundles_of(repository, digest)
    assert manifest.annotations["dev.sigstore.bundle.predicateType"] == "https://sigstore.dev/cosign/sign/v1"
    assert f"{referrers_tag(digest)}.sig" not in repository.list_tags()  # keyless: the cosign v3 layout only
    verified = verify_bundle(
        bundle,
        artifact_digest=digest,
        trusted_root=Path(keyless_args[4]),
        identity="ci@gate.test",
        issuer=OIDC_ISSUER,
    )
    assert verified.statement["subject"][0]["name"] == name
    assert (tmp_path / "token").read_text() not in result.stdout + result.stderr


def test_keyless_attest_detaches_a_large_predicate(
    registry: RegistryServer, keyless_args: list[str], tmp_path: Path
) -> None:
    repository, name, digest = push_image(registry)
    bom = {
        "bomFormat": "CycloneDX",
        "components": [{"name": f"pkg-{i}", "version": "1.0"} for i in range(4000)],
    }
    (tmp_path / "bom.json").write_text(json.dumps(bom))
    assert (tmp_path / "bom.json").stat().st_size > 100_000
    result = run_gate(
        "attest",
        f"{name}:v1",
        "--predicate",
        str(tmp_path / "bom.json"),
        "--type",
        "cyclonedx",
        *keyless_args,
        "-f",
        "json",
        env=NO_AMBIENT,
    )
    assert result.returncode == 0, result.stderr
    kinds = [p["kind"] for p in json.loads(result.stdout)["published"]]
    assert kinds == ["referrer", "referrer"]  # the predicate artifact, then the signed bundle
    [(_, bundle)] = bundles_of(repository, digest)
    verified = verify_bundle(
        bundle,
        artifact_digest=digest,
        trusted_root=Path(keyless_args[4]),
        identity="ci@gate.test",
        issuer=OIDC_ISSUER,
    )
    statement = verified.statement
    assert statement["predicateType"] == "https://cyclonedx.org/bom"
    detached = statement["predicate"]["gate.detachedPredicate"]
    assert len(base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"])) < 64 * 1024
    [artifact] = repository.referrers(digest, PREDICATE_ARTIFACT_TYPE)
    assert artifact.digest == detached["artifact"]
    assert artifact.annotations["in-toto.io/predicate-type"] == "https://cyclonedx.org/bom"
    stored = repository.get_document(artifact.digest)
    assert isinstance(stored, Manifest)
    raw = repository.read_blob(stored.layers[0], 1 << 22)
    assert detached["digest"] == {"sha256": hashlib.sha256(raw).hexdigest()} and detached["size"] == len(raw)
    assert json.loads(raw) == bom


def test_keyless_attest_keeps_a_small_predicate_inline(
    registry: RegistryServer, keyless_args: list[str], tmp_path: Path
) -> None:
    repository, name, digest = push_image(registry)
    (tmp_path / "vex.json").write_text(json.dumps({"statements": [], "version": 1}))
    result = run_gate(
        "attest",
        f"{name}:v1",
        "--predicate",
        str(tmp_path / "vex.json"),
        "--type",
        "openvex",
        *keyless_args,
        env=NO_AMBIENT,
    )
    assert result.returncode == 0, result.stderr
    [(_, bundle)] = bundles_of(repository, digest)
    verified = verify_bundle(
        bundle,
        artifact_digest=digest,
        trusted_root=Path(keyless_args[4]),
        identity="ci@gate.test",
        issuer=OIDC_ISSUER,
    )
    assert verified.statement["predicate"] == {"statements": [], "version": 1}
    assert repository.referrers(digest, PREDICATE_ARTIFACT_TYPE) == []


def test_keyless_without_a_token_explains_how_to_get_one(
    registry: RegistryServer, stack: SigstoreStack, tmp_path: Path
) -> None:
    repository, name, digest = push_image(registry)
    (tmp_path / "trust.json").write_text(json.dumps(stack.client_trust_config()))
    result = run_gate(
        "sign", f"{name}:v1", "--keyless", "--trust-config", str(tmp_path / "trust.json"), env=NO_AMBIENT
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "id-token: write" in line and "aud: sigstore" in line
    big = {"components": [{"name": f"pkg-{i}"} for i in range(8000)]}
    (tmp_path / "bom.json").write_text(json.dumps(big))
    attest = run_gate(
        "attest",
        f"{name}:v1",
        "--predicate",
        str(tmp_path / "bom.json"),
        "--type",
        "cyclonedx",
        "--keyless",
        "--trust-config",
        str(tmp_path / "trust.json"),
        env=NO_AMBIENT,
    )
    assert attest.returncode == 1 and "id-token: write" in attest.stderr
    assert repository.referrers(digest) == []  # not even the detached predicate
