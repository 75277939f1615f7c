"""`gate verify` with keyless trust, against the local Sigstore STAND-IN (tests/sigstore_stack.py).

No public Sigstore is reachable from the test machines, so the bundles come from sigstore-python's
real signing path against the stand-in, and gate verifies them offline with the stand-in's
trusted root (``--trusted-root``), as it would with the pinned public-good root.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from gate.attest import types
from gate.attest.statement import DETACHED_KEY
from gate.errors import VerificationError
from gate.image.attachments import CERTIFICATE_ANNOTATION, BundleArtifact, Entry
from gate.publish import publish
from gate.sign import cosign
from gate.sign.keys import generate_signing_key
from gate.signing import Attestation, KeylessSigner, sign_and_attest
from gate.verify import VerifyOptions, accepted_attestations, verify_image
from gate.verify.evidence import predicate_of
from gate.verify.requirements import parse_required
from gate.verify.trust import GITHUB_ISSUER, Trust
from tests.servers import RegistryServer
from tests.signed_images import SBOM, keyless_bundle, keyless_signed, push_fresh_image
from tests.sigstore_stack import OIDC_ISSUER, SigstoreStack
from tests.test_cli import run_gate

WORKFLOW = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"


@pytest.fixture(scope="module")
def stack() -> Iterator[SigstoreStack]:
    with SigstoreStack() as running:
        yield running


def trust_files(stack: SigstoreStack, directory: Path) -> tuple[Path, Path]:
    """The client trust config (for signing) and the bare trusted root (for verifying)."""
    config = directory / "trust_config.json"
    config.write_text(json.dumps(stack.client_trust_config()))
    root = directory / "trusted_root.json"
    root.write_text(json.dumps(stack.trusted_root()))
    return config, root


@pytest.fixture(scope="module")
def trust(stack: SigstoreStack, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return trust_files(stack, tmp_path_factory.mktemp("trust"))


def verify(reference: str, root: Path, *args: str) -> tuple[int, dict]:
    result = run_gate(
        "verify", reference, "--trusted-root", str(root), "--offline", "--format", "json", *args
    )
    assert result.returncode in (0, 2), result.stderr
    return result.returncode, json.loads(result.stdout)


def detail(document: dict, check: str) -> str:
    [found] = [c for c in document["checks"] if c["name"] == check]
    assert not found["passed"], found
    return found["detail"]


IDENTITY = ("--certificate-identity", "ci@gate.test", "--certificate-oidc-issuer", OIDC_ISSUER)


def test_keyless_image_verifies_by_identity_and_regexp(
    registry: RegistryServer, stack: SigstoreStack, trust: tuple[Path, Path]
) -> None:
    config, root = trust
    image = keyless_signed(registry, token=stack.token(), trust_config=config)
    code, document = verify(image.reference, root, *IDENTITY, "--require", "sbom,vuln,provenance,vsa")
    assert code == 0, document
    assert document["checks"][0]["data"]["signers"] == [f"ci@gate.test (issuer {OIDC_ISSUER})"]
    code, _ = verify(
        image.reference,
        root,
        "--certificate-identity-regexp",
        r"@gate\.test$",
        "--certificate-oidc-issuer",
        OIDC_ISSUER,
        "--require-vsa-passed",
    )
    assert code == 0


def test_wrong_identity_or_issuer_is_rejected(
    registry: RegistryServer, stack: SigstoreStack, trust: tuple[Path, Path]
) -> None:
    config, root = trust
    image = keyless_signed(registry, token=stack.token(), trust_config=config)
    code, document = verify(
        image.reference,
        root,
        "--certificate-identity",
        "evil@gate.test",
        "--certificate-oidc-issuer",
        OIDC_ISSUER,
    )
    assert code == 2
    assert "its certificate is not for evil@gate.test" in detail(document, "signature")
    code, document = verify(
        image.reference,
        root,
        "--certificate-identity",
        "ci@gate.test",
        "--certificate-oidc-issuer",
        "https://accounts.example.test",
    )
    assert code == 2
    assert "its certificate is not for ci@gate.test (issuer https://accounts.example.test)" in detail(
        document, "signature"
    )
    code, document = verify(
        image.reference,
        root,
        "--certificate-identity-regexp",
        "^release@",
        "--certificate-oidc-issuer",
        OIDC_ISSUER,
    )
    assert code == 2
    assert "it is signed by ci@gate.test, which does not match ^release@" in detail(document, "signature")


def test_a_key_does_not_verify_a_keyless_image(
    registry: RegistryServer, stack: SigstoreStack, trust: tuple[Path, Path], tmp_path: Path
) -> None:
    config, _ = trust
    image = keyless_signed(registry, token=stack.token(), trust_config=config, predicates=[])
    (tmp_path / "k.pub").write_bytes(generate_signing_key().public_key.pem())
    result = run_gate("verify", image.reference, "--key", str(tmp_path / "k.pub"), "--format", "json")
    assert result.returncode == 2, result.stderr
    assert "its signature does not verify with key" in detail(json.loads(result.stdout), "signature")


def test_modified_keyless_payload_is_rejected(
    registry: RegistryServer, stack: SigstoreStack, trust: tuple[Path, Path]
) -> None:
    config, root = trust
    image = push_fresh_image(registry, "keyless")
    genuine = keyless_bundle(image, types.CYCLONEDX, SBOM, token=stack.token(), trust_config=config)
    bundle = json.loads(genuine.bundle)
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["components"] = []
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    forged = BundleArtifact(json.dumps(bundle).encode(), genuine.media_type, genuine.predicate_type)
    signature = keyless_bundle(image, types.COSIGN_SIGN_V1, {}, token=stack.token(), trust_config=config)
    publish(image.target, attestation_bundles=[forged], signature_bundles=[signature])
    code, document = verify(image.reference, root, *IDENTITY, "--require", "sbom")
    assert code == 2
    reason = detail(document, "attestation sbom")
    assert "its signature does not verify (the payload was modified)" in reason, reason


def test_keyless_attestation_from_another_image_is_rejected(
    registry: RegistryServer, stack: SigstoreStack, trust: tuple[Path, Path]
) -> None:
    config, root = trust
    image = keyless_signed(registry, token=stack.token(), trust_config=config, predicates=[])
    other = push_fresh_image(registry, "keyless")
    copied = keyless_bundle(other, types.CYCLONEDX, SBOM, token=stack.token(), trust_config=config)
    publish(image.target, attestation_bundles=[copied])
    code, document = verify(image.reference, root, *IDENTITY, "--require", "sbom")
    assert code == 2
    assert "it is about another image" in detail(document, "attestation sbom")


def test_certificate_expired_when_logged_without_timestamp_is_rejected(
    registry: RegistryServer, tmp_path: Path
) -> None:
    with SigstoreStack(log_delay=3600) as late:
        config, root = trust_files(late, tmp_path)
        image = keyless_signed(registry, token=late.token(), trust_config=config, predicates=[])
    code, document = verify(image.reference, root, *IDENTITY)
    assert code == 2
    reason = detail(document, "signature")
    assert "its certificate was not valid at the time the signature was recorded, and no timestamp" in reason


def test_github_repo_shortcut(registry: RegistryServer, tmp_path: Path) -> None:
    with SigstoreStack(oidc_issuer=GITHUB_ISSUER) as github:
        config, root = trust_files(github, tmp_path)
        token = github.token(sub=WORKFLOW, email=None)
        image = keyless_signed(registry, token=token, trust_config=config, predicates=[])
    code, document = verify(image.reference, root, "--github-repo", "acme/app")
    assert code == 0, document
    assert WORKFLOW in document["checks"][0]["detail"]
    code, document = verify(image.reference, root, "--github-repo", "acme/other")
    assert code == 2 and "does not match ^https://github\\.com/acme/other/" in detail(document, "signature")


def test_production_root_rejects_the_stand_in(
    registry: RegistryServer, stack: SigstoreStack, trust: tuple[Path, Path]
) -> None:
    config, _ = trust
    image = keyless_signed(registry, token=stack.token(), trust_config=config, predicates=[])
    result = run_gate("verify", image.reference, *IDENTITY, "--offline", "--format", "json")
    assert result.returncode == 2, result.stderr
    assert "does not chain to the trusted root" in detail(json.loads(result.stdout), "signature")


def test_a_detached_sbom_is_fetched_checked_and_required_whole(
    registry: RegistryServer, stack: SigstoreStack, trust: tuple[Path, Path]
) -> None:
    """A keyless SBOM too large for Rekor is its own referrer; verify reads it by its signed digest."""
    config, root = trust
    image = push_fresh_image(registry, "keyless")
    bom = {
        "bomFormat": "CycloneDX",
        "components": [{"name": f"pkg-{i}", "version": "1.0"} for i in range(4000)],
    }
    sign_and_attest(
        image.target,
        image.name,
        KeylessSigner(stack.token(), config),
        attestations=[Attestation(types.CYCLONEDX, bom)],
    )
    keyless = Trust(identity="ci@gate.test", issuer=OIDC_ISSUER, trusted_root=root)
    result = verify_image(image.reference, keyless, VerifyOptions(require=parse_required(["sbom"])))
    assert result.verified, result.reasons
    [sbom] = accepted_attestations(result.evidence, (types.CYCLONEDX,))
    assert DETACHED_KEY in sbom.statement.predicate  # the signed statement carries only the digest
    assert predicate_of(image.repository, sbom) == bom
    artifact = sbom.statement.predicate[DETACHED_KEY]["artifact"]
    assert image.repository.probe("DELETE", f"manifests/{artifact}", push=True).status_code == 202
    with pytest.raises(VerificationError, match=f"the detached predicate artifact {artifact} is missing"):
        predicate_of(image.repository, sbom)


def test_legacy_keyless_sig_layers_are_named_not_trusted(
    registry: RegistryServer, stack: SigstoreStack, trust: tuple[Path, Path]
) -> None:
    """cosign 2's keyless `.sig` layout (certificate annotation) is refused with its name, never accepted."""
    _, root = trust
    image = push_fresh_image(registry, "keyless")
    entry = cosign.signature_entry(generate_signing_key(), image.name, image.digest)
    annotations = {
        **entry.annotations,
        CERTIFICATE_ANNOTATION: stack.ca_cert.public_bytes(Encoding.PEM).decode(),
    }
    publish(image.target, signature=Entry(entry.blob, entry.media_type, annotations))
    code, document = verify(image.reference, root, *IDENTITY)
    assert code == 2
    assert "cosign's legacy keyless layout" in detail(document, "signature")
