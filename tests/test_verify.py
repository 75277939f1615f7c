"""`gate verify` with keys against the real registry: what passes, and each tamper case's own reason."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from gate.attest import types
from gate.errors import VerificationError
from gate.image.attachments import Entry
from gate.image.layout import OciLayout
from gate.image.manifest import Descriptor, Manifest
from gate.image.store import referrers_tag
from gate.publish import Target, publish, update_cosign_tag
from gate.sign import cosign
from gate.sign.dsse import ENVELOPE_MEDIA_TYPE
from gate.sign.keys import SigningKey, generate_signing_key
from gate.verify import VerifyOptions, verify_image
from gate.verify.requirements import parse_required
from gate.verify.trust import Trust
from tests.servers import RegistryServer
from tests.signed_images import (
    POLICY_DIGEST,
    SBOM,
    all_predicates,
    attestation_entries,
    push_fresh_image,
    signed_image,
    vsa,
)
from tests.test_cli import run_gate

REQUIRE_ALL = "sbom,vuln,provenance,vsa"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return generate_signing_key()


@pytest.fixture(scope="module")
def public_key(key: SigningKey, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("keys") / "release.pub"
    path.write_bytes(key.public_key.pem())
    return str(path)


def verify(*args: str) -> tuple[int, dict, str]:
    result = run_gate("verify", *args, "--format", "json")
    document = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, document, result.stderr


def failed(document: dict, check: str) -> str:
    [found] = [c for c in document["checks"] if c["name"] == check]
    assert not found["passed"], found
    return found["detail"]


def test_signed_and_attested_image_verifies(
    registry: RegistryServer, key: SigningKey, public_key: str
) -> None:
    image = signed_image(registry, key)
    code, document, stderr = verify(
        image.reference, "--key", public_key, "--require", REQUIRE_ALL, "--require-vsa-passed"
    )
    assert code == 0, (document, stderr)
    assert document["verified"] is True and document["digest"] == image.digest
    names = [c["name"] for c in document["checks"]]
    assert names == [
        "signature",
        "attestation sbom",
        "attestation vuln",
        "attestation provenance",
        "attestation vsa",
        "vsa",
    ]
    assert document["checks"][0]["data"]["signers"] == [f"key {key.public_key.key_id}"]
    assert document["checks"][-1]["data"]["policyDigest"] == POLICY_DIGEST
    table = run_gate("verify", image.reference, "--key", public_key, "--require", "sbom")
    assert table.returncode == 0 and "VERIFIED" in table.stdout and "NOT VERIFIED" not in table.stdout


def test_unsigned_image_is_not_verified(registry: RegistryServer, public_key: str) -> None:
    image = push_fresh_image(registry)
    code, document, _ = verify(image.reference, "--key", public_key)
    assert code == 2
    assert f"no signature is attached to {image.digest}" in failed(document, "signature")


def test_wrong_key_is_rejected(registry: RegistryServer, key: SigningKey, tmp_path: Path) -> None:
    image = signed_image(registry, key)
    other = tmp_path / "other.pub"
    other_key = generate_signing_key().public_key
    other.write_bytes(other_key.pem())
    code, document, _ = verify(image.reference, "--key", str(other), "--require", "sbom")
    assert code == 2
    assert f"does not verify with key {other_key.key_id}" in failed(document, "signature")
    assert f"does not verify with key {other_key.key_id}" in failed(document, "attestation sbom")
    assert document["reasons"][0].startswith("signature: no signature by key")


def test_modified_attestation_payload_is_rejected(
    registry: RegistryServer, key: SigningKey, public_key: str
) -> None:
    image = signed_image(registry, key)
    store = image.repository
    manifest = store.get_document(f"{referrers_tag(image.digest)}.att")
    assert isinstance(manifest, Manifest)
    sbom_layer = next(
        layer for layer in manifest.layers if layer.annotations["predicateType"] == types.CYCLONEDX
    )
    envelope = json.loads(store.read_blob(sbom_layer, 1 << 20))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["components"] = []  # hide a component, keep the signature
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    forged = Entry(json.dumps(envelope).encode(), ENVELOPE_MEDIA_TYPE, dict(sbom_layer.annotations))
    update_cosign_tag(
        store,
        f"{referrers_tag(image.digest)}.att",
        [forged],
        drop=lambda layer: layer.digest == sbom_layer.digest,
    )
    code, document, _ = verify(image.reference, "--key", public_key, "--require", "sbom,vuln")
    assert code == 2
    assert "its payload was modified" in failed(document, "attestation sbom")
    assert [c["passed"] for c in document["checks"]] == [True, False, True]


def test_attestation_copied_from_another_image_is_rejected(
    registry: RegistryServer, key: SigningKey, public_key: str
) -> None:
    image = signed_image(registry, key, [(types.COSIGN_VULN, {"scanner": {}})])
    other = push_fresh_image(registry)
    [copied] = attestation_entries(key, other, [(types.CYCLONEDX, SBOM)])  # genuine, but about `other`
    publish(image.target, attestations=[copied])
    code, document, _ = verify(image.reference, "--key", public_key, "--require", "sbom")
    assert code == 2
    detail = failed(document, "attestation sbom")
    assert "about another image" in detail and f"sha256:{other.digest.split(':')[1]}" in detail
    assert "copied from another image" in detail


def test_vsa_failed_is_rejected(registry: RegistryServer, key: SigningKey, public_key: str) -> None:
    image = signed_image(registry, key, all_predicates(result="FAILED"))
    code, document, _ = verify(
        image.reference, "--key", public_key, "--require", "vsa", "--require-vsa-passed"
    )
    assert code == 2
    assert failed(document, "vsa") == f"the VSA says FAILED (policy {POLICY_DIGEST})"


def test_policy_digest_mismatch_is_rejected(
    registry: RegistryServer, key: SigningKey, public_key: str
) -> None:
    image = signed_image(registry, key)
    wanted = "sha256:" + "ab" * 32
    code, document, _ = verify(image.reference, "--key", public_key, "--policy-digest", wanted)
    assert code == 2
    assert failed(document, "vsa") == f"the VSA is for policy {POLICY_DIGEST}, not {wanted}"
    ok, _, _ = verify(image.reference, "--key", public_key, "--policy-digest", POLICY_DIGEST.split(":")[1])
    assert ok == 0


def test_vsa_older_than_max_age_is_rejected(
    registry: RegistryServer, key: SigningKey, public_key: str
) -> None:
    image = signed_image(registry, key, [(types.SLSA_VSA_V1, vsa(time="2020-01-01T00:00:00Z"))])
    code, document, _ = verify(
        image.reference, "--key", public_key, "--require-vsa-passed", "--max-age", "7d"
    )
    assert code == 2
    assert "older than --max-age 7 days" in failed(document, "vsa")


def test_newest_vsa_decides(registry: RegistryServer, key: SigningKey, public_key: str) -> None:
    image = signed_image(
        registry,
        key,
        [
            (types.SLSA_VSA_V1, vsa("PASSED", time="2026-01-01T00:00:00Z")),
            (types.SLSA_VSA_V1, vsa("FAILED", time="2026-02-01T00:00:00Z")),
        ],
    )
    code, document, _ = verify(image.reference, "--key", public_key, "--require-vsa-passed")
    assert code == 2 and "FAILED" in failed(document, "vsa")


def test_missing_required_attestation_is_named(
    registry: RegistryServer, key: SigningKey, public_key: str
) -> None:
    image = signed_image(registry, key)
    uri = "https://example.test/custom/v1"
    code, document, _ = verify(image.reference, "--key", public_key, "--require", f"openvex,{uri}")
    assert code == 2
    assert failed(document, "attestation openvex") == f"no openvex attestation is attached to {image.digest}"
    assert failed(document, f"attestation {uri}") == f"no {uri} attestation is attached to {image.digest}"


def test_bundle_referrers_alone_verify(registry: RegistryServer, key: SigningKey, public_key: str) -> None:
    """cosign v3's layout: signature and attestations only as sigstore bundle referrers (fallback tag)."""
    image = push_fresh_image(registry)
    bundles = [cosign.bundle_artifact(key, image.name, image.digest, t, p) for t, p in all_predicates()]
    publish(
        image.target,
        attestation_bundles=bundles,
        signature_bundles=[cosign.signature_bundle(key, image.name, image.digest)],
    )
    tags = image.repository.list_tags()
    assert referrers_tag(image.digest) in tags and f"{referrers_tag(image.digest)}.sig" not in tags
    code, document, stderr = verify(
        image.reference, "--key", public_key, "--require", REQUIRE_ALL, "--require-vsa-passed"
    )
    assert code == 0, (document, stderr)
    assert {a["where"] for a in document["attestations"]} == {"referrer"}


def test_key_bundle_with_modified_payload_names_the_tampering(
    registry: RegistryServer, key: SigningKey, public_key: str
) -> None:
    image = push_fresh_image(registry)
    artifact = cosign.bundle_artifact(key, image.name, image.digest, types.CYCLONEDX, SBOM)
    bundle = json.loads(artifact.bundle)
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["components"].append({"name": "backdoor"})
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    forged = type(artifact)(json.dumps(bundle).encode(), artifact.media_type, artifact.predicate_type)
    publish(
        image.target,
        attestation_bundles=[forged],
        signature=cosign.signature_entry(key, image.name, image.digest),
    )
    code, document, _ = verify(image.reference, "--key", public_key, "--require", "sbom")
    assert code == 2
    assert "the key it names: its payload was modified" in failed(document, "attestation sbom")


def test_oci_layout_verifies_without_a_registry(key: SigningKey, public_key: str, tmp_path: Path) -> None:
    from gate.image.build import LayerBuilder, build_image

    layout = OciLayout.create(tmp_path / "layout")
    digest = build_image([LayerBuilder().add_file("etc/x", b"x").build()]).push(layout, tag="1")
    subject = layout.resolve("1")
    target = Target(layout, Descriptor(subject.media_type, subject.digest, subject.size))
    publish(
        target,
        attestations=[
            cosign.attestation_entry(key, "example.test/app", digest, t, p) for t, p in all_predicates()
        ],
        signature=cosign.signature_entry(key, "example.test/app", digest),
    )
    code, document, stderr = verify(
        f"oci:{tmp_path / 'layout'}:1", "--key", public_key, "--require", REQUIRE_ALL
    )
    assert code == 0, (document, stderr)


def test_library_call_without_the_cli(registry: RegistryServer, key: SigningKey) -> None:
    image = signed_image(registry, key)
    result = verify_image(
        image.reference,
        Trust(keys=(key.public_key,)),
        VerifyOptions(require=parse_required(["sbom", "vsa"]), require_vsa_passed=True),
    )
    assert result.verified and result.digest == image.digest and not result.reasons
    other = verify_image(image.reference, Trust(keys=(generate_signing_key().public_key,)))
    assert not other.verified and other.reasons[0].startswith("signature: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give either --key FILE or a keyless identity"),
        (["--certificate-identity", "ci@gate.test"], "needs its OIDC issuer"),
        (["--key", "KEY", "--require", "sbomm"], "--require 'sbomm': use sbom, vuln"),
        (["--key", "KEY", "--max-age", "7 days"], "--max-age '7 days'"),
        (["--key", "KEY", "--policy-digest", "md5:00"], "is not a sha256 digest"),
        (["--key", "/nonexistent.pub"], "cannot read /nonexistent.pub"),
        (["--github-repo", "not-a-repo"], "--github-repo 'not-a-repo' is not OWNER/REPO"),
        (["--key", "KEY", "--trusted-root", "root.json"], "are for keyless trust, not --key"),
    ],
)
def test_bad_input_is_a_one_line_error(
    registry: RegistryServer, key: SigningKey, public_key: str, args: list[str], message: str
) -> None:
    image = signed_image(registry, key, [])
    result = run_gate("verify", image.reference, *[public_key if a == "KEY" else a for a in args])
    assert result.returncode == 1, result
    assert result.stderr.startswith("gate: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_too_many_attachments_are_refused_not_read(
    registry: RegistryServer, key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gate.verify import evidence

    image = signed_image(registry, key)  # four attestations
    monkeypatch.setattr(evidence, "MAX_ATTACHMENTS", 3)
    with pytest.raises(VerificationError, match=r"\.att: 4 entries, over 3; refusing to read them all"):
        verify_image(image.reference, Trust(keys=(key.public_key,)))


def test_signature_copied_from_another_image_is_rejected(
    registry: RegistryServer, key: SigningKey, public_key: str
) -> None:
    image = push_fresh_image(registry)
    other = signed_image(registry, key, [])
    copied = other.repository.get_document(f"{referrers_tag(other.digest)}.sig")
    for layer in copied.layers:  # the same repository layout, pushed into this image's repository
        image.repository.push_blob(other.repository.read_blob(layer, 1 << 20))
    image.repository.push_blob(other.repository.read_blob(copied.config, 1 << 20))
    image.repository.push_manifest(copied.raw, tag=f"{referrers_tag(image.digest)}.sig")
    code, document, _ = verify(image.reference, "--key", public_key)
    assert code == 2
    assert f"it signs another image ({other.digest})" in failed(document, "signature")
