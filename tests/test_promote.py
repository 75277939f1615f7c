"""`gate promote` between two real registries (and within one): verify, copy, attest, idempotently."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from gate.attest import types
from gate.image import RegistryClient
from gate.image.build import LayerBuilder, build_image, build_index
from gate.image.manifest import OCI_INDEX, Descriptor, Index, Manifest, Platform
from gate.image.reference import parse_registry_reference
from gate.image.store import referrers_tag
from gate.publish import Target, publish
from gate.sign import cosign
from gate.sign.keys import SigningKey, encrypt_private_key, generate_signing_key
from gate.verify import VerifyOptions, verify_image
from gate.verify.evidence import predicate_of
from gate.verify.requirements import parse_required
from gate.verify.trust import Trust
from tests.servers import RegistryServer
from tests.signed_images import (
    SBOM,
    Pushed,
    all_predicates,
    attestation_entries,
    push_fresh_image,
    signed_image,
)
from tests.sigstore_stack import OIDC_ISSUER, SigstoreStack
from tests.test_cli import run_gate

PASSWORD = "promote-password"
ENV = {"GATE_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return generate_signing_key()


@pytest.fixture(scope="module")
def keys(key: SigningKey, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, SigningKey]:
    """(trusted public key file, promoter's private key file, promoter's key)."""
    directory = tmp_path_factory.mktemp("promote-keys")
    (directory / "release.pub").write_bytes(key.public_key.pem())
    promoter = generate_signing_key()
    (directory / "promoter.key").write_bytes(encrypt_private_key(promoter, PASSWORD.encode()))
    (directory / "promoter.pub").write_bytes(promoter.public_key.pem())
    return str(directory / "release.pub"), str(directory / "promoter.key"), promoter


def fully_signed(registry: RegistryServer, key: SigningKey) -> Pushed:
    """.sig/.att tags and a bundle referrer (so the fallback referrers tag is copied too)."""
    image = signed_image(registry, key)
    bundle = cosign.bundle_artifact(key, image.name, image.digest, types.OPENVEX, {"statements": []})
    publish(image.target, attestation_bundles=[bundle])
    return image


def promote(*args: str) -> tuple[int, dict, str]:
    result = run_gate("promote", *args, "--format", "json", env=ENV)
    document = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, document, result.stderr


def destination_of(registry: RegistryServer, prefix: str = "prod") -> str:
    return f"{registry.host}/{prefix}/{uuid.uuid4().hex[:8]}"


def test_promotion_between_registries_copies_everything_and_verifies_at_destination(
    make_registry: Callable[..., RegistryServer], key: SigningKey, keys: tuple[str, str, SigningKey]
) -> None:
    public, promoter_key, promoter = keys
    staging, production = make_registry(), make_registry()
    image = fully_signed(staging, key)
    destination = destination_of(production)
    code, document, stderr = promote(
        image.reference,
        destination,
        "--key",
        public,
        "--require",
        "sbom,vsa",
        "--require-vsa-passed",
        "--signing-key",
        promoter_key,
    )
    assert code == 0, (document, stderr)
    assert document["digest"] == image.digest and not document["refused"]
    hows = {item["how"] for item in document["copied"]}
    assert "stream" in hows and "mount" not in hows  # two registries: nothing to mount from
    kinds = {item["kind"] for item in document["copied"]}
    assert {"blob", "manifest", "referrer", "tag"} <= kinds
    [published] = document["promotionAttestation"]
    assert published["kind"] == "att"

    dst = RegistryClient().repository(parse_registry_reference(f"{destination}:v1"))
    assert dst.resolve("v1").digest == image.digest  # the source tag is kept, the digest preserved
    source_manifest = image.repository.get_document(image.digest)
    assert dst.get_document(image.digest).raw == source_manifest.raw
    assert isinstance(source_manifest, Manifest)
    assert all(dst.has_blob(layer.digest) for layer in source_manifest.layers)
    assert [r.digest for r in dst.referrers(image.digest)] == [
        r.digest for r in image.repository.referrers(image.digest)
    ]

    verified = run_gate(
        "verify",
        f"{destination}:v1",
        "--key",
        public,
        "--require",
        "sbom,vuln,provenance,vsa,openvex",
        "--format",
        "json",
    )
    assert verified.returncode == 0, verified.stdout
    by_promoter = run_gate(
        "verify",
        f"{destination}:v1",
        "--key",
        public,
        "--require",
        types.GATE_PROMOTION_V1,
        "--format",
        "json",
    )
    assert by_promoter.returncode == 2  # the promotion is signed by the promoter, not the release key
    att = dst.get_document(f"{referrers_tag(image.digest)}.att")
    assert isinstance(att, Manifest)
    promotion_layers = [
        layer for layer in att.layers if layer.annotations.get("predicateType") == types.GATE_PROMOTION_V1
    ]
    assert len(promotion_layers) == 1

    # the promotion attestation verifies with the promoter's key (no .sig of its own is required)
    result = verify_image(
        f"{destination}:v1",
        Trust(keys=(promoter.public_key,)),
        VerifyOptions(require=parse_required([types.GATE_PROMOTION_V1])),
    )
    [promotion] = result.evidence.attestations_of(types.GATE_PROMOTION_V1)
    assert promotion.accepted
    predicate = predicate_of(dst, promotion)
    assert predicate["source"] == {"name": image.name, "digest": {"sha256": image.digest.split(":")[1]}}
    assert predicate["destination"] == {"name": destination, "tag": "v1"}
    assert predicate["verifier"]["acceptedSigners"] == [f"key {key.public_key.key_id}"]
    assert predicate["policy"]["digest"]["sha256"]
    tree = run_gate("tree", f"{destination}:v1")
    assert types.GATE_PROMOTION_V1 in tree.stdout


def test_second_promotion_adds_nothing(
    make_registry: Callable[..., RegistryServer], key: SigningKey, keys: tuple[str, str, SigningKey]
) -> None:
    public, promoter_key, _ = keys
    staging, production = make_registry(), make_registry()
    image = fully_signed(staging, key)
    destination = destination_of(production)
    args = (image.reference, destination, "--key", public, "--require", "sbom", "--signing-key", promoter_key)
    first = promote(*args)
    assert first[0] == 0, first
    dst = RegistryClient().repository(parse_registry_reference(f"{destination}:v1"))
    before = {tag: dst.get_document(tag).digest for tag in dst.list_tags()}
    code, document, stderr = promote(*args)
    assert code == 0, (document, stderr)
    assert {item["how"] for item in document["copied"]} <= {"present"}, document["copied"]
    assert document["promotionAttestation"] == []
    after = {tag: dst.get_document(tag).digest for tag in dst.list_tags()}
    assert after == before


def test_unverified_source_is_refused_and_nothing_is_copied(
    make_registry: Callable[..., RegistryServer], key: SigningKey, keys: tuple[str, str, SigningKey]
) -> None:
    public, promoter_key, _ = keys
    staging, production = make_registry(), make_registry()
    unsigned = push_fresh_image(staging)
    destination = destination_of(production)
    code, document, _ = promote(
        unsigned.reference, destination, "--key", public, "--signing-key", promoter_key
    )
    assert code == 2 and document["refused"] and document["copied"] == []
    assert "no signature is attached" in document["verification"]["reasons"][0]
    dst = RegistryClient().repository(parse_registry_reference(f"{destination}:v1"))
    assert dst.list_tags() == []
    failing_vsa = signed_image(staging, key, all_predicates(result="FAILED"))
    code, document, _ = promote(
        failing_vsa.reference,
        destination,
        "--key",
        public,
        "--require-vsa-passed",
        "--signing-key",
        promoter_key,
    )
    assert code == 2 and "the VSA says FAILED" in " ".join(document["verification"]["reasons"])
    assert dst.list_tags() == []


def test_dry_run_lists_and_changes_nothing(
    make_registry: Callable[..., RegistryServer], key: SigningKey, keys: tuple[str, str, SigningKey]
) -> None:
    public, _, _ = keys
    staging, production = make_registry(), make_registry()
    image = fully_signed(staging, key)
    destination = destination_of(production)
    code, document, stderr = promote(image.reference, destination, "--key", public, "--dry-run")
    assert code == 0, stderr
    assert document["dryRun"] and document["promotionAttestation"] == []
    listed = {item["reference"] for item in document["copied"]}
    assert image.digest in listed and f"{referrers_tag(image.digest)}.sig" in listed
    assert RegistryClient().repository(parse_registry_reference(f"{destination}:v1")).list_tags() == []
    table = run_gate("promote", image.reference, destination, "--key", public, "--dry-run")
    assert table.returncode == 0 and "would copy" in table.stdout


def test_promotion_within_one_registry_mounts_blobs(
    registry: RegistryServer, key: SigningKey, keys: tuple[str, str, SigningKey]
) -> None:
    public, promoter_key, _ = keys
    image = fully_signed(registry, key)
    destination = destination_of(registry)
    code, document, stderr = promote(
        image.reference, destination, "--key", public, "--signing-key", promoter_key
    )
    assert code == 0, (document, stderr)
    layers = [item for item in document["copied"] if item["kind"] == "blob"]
    assert layers and {item["how"] for item in layers} == {"mount"}
    assert run_gate("verify", f"{destination}:v1", "--key", public, "--require", "sbom").returncode == 0


def test_multi_platform_index_is_copied_whole(
    make_registry: Callable[..., RegistryServer], key: SigningKey, keys: tuple[str, str, SigningKey]
) -> None:
    public, promoter_key, _ = keys
    staging, production = make_registry(), make_registry()
    name = f"multi/{uuid.uuid4().hex[:8]}"
    repository = RegistryClient().repository(parse_registry_reference(f"{staging.host}/{name}:v1"))
    images = {
        Platform("linux", arch): build_image(
            [LayerBuilder().add_file("etc/arch", arch.encode()).build()], platform=Platform("linux", arch)
        )
        for arch in ("amd64", "arm64")
    }
    for built in images.values():
        built.push(repository)
    raw = build_index(images)
    index = repository.push_manifest(raw, media_type=OCI_INDEX, tag="v1")
    image = Pushed(repository, f"{staging.host}/{name}", index.digest)
    publish(
        Target(repository, Descriptor(OCI_INDEX, index.digest, len(raw))),
        attestations=attestation_entries(key, image, [(types.CYCLONEDX, SBOM)]),
        signature=cosign.signature_entry(key, image.name, index.digest),
    )
    destination = destination_of(production)
    code, document, stderr = promote(
        image.reference, destination, "--key", public, "--signing-key", promoter_key
    )
    assert code == 0, (document, stderr)
    dst = RegistryClient().repository(parse_registry_reference(f"{destination}:v1"))
    copied = dst.get_document("v1")
    assert isinstance(copied, Index) and copied.digest == index.digest
    for built in images.values():
        assert dst.get_document(built.digest).raw == built.manifest
    assert run_gate("verify", f"{destination}:v1", "--key", public, "--require", "sbom").returncode == 0


def test_promotion_needs_a_signer_and_a_matching_digest(
    registry: RegistryServer, key: SigningKey, keys: tuple[str, str, SigningKey]
) -> None:
    public, _, _ = keys
    image = signed_image(registry, key)
    no_signer = run_gate("promote", image.reference, destination_of(registry), "--key", public)
    assert no_signer.returncode == 1 and "give --signing-key KEY or --keyless" in no_signer.stderr
    other = "sha256:" + "0" * 64
    wrong = run_gate(
        "promote", image.reference, f"{destination_of(registry)}@{other}", "--key", public, "--dry-run"
    )
    assert wrong.returncode == 1 and f"names digest {other}, but the source is {image.digest}" in wrong.stderr


def test_keyless_promotion_attestation(
    make_registry: Callable[..., RegistryServer],
    key: SigningKey,
    keys: tuple[str, str, SigningKey],
    tmp_path: Path,
) -> None:
    """The promotion signed keylessly through the local Sigstore STAND-IN (tests/sigstore_stack.py)."""
    public, _, _ = keys
    staging, production = make_registry(), make_registry()
    image = fully_signed(staging, key)
    destination = destination_of(production)
    with SigstoreStack() as stack:
        (tmp_path / "trust.json").write_text(json.dumps(stack.client_trust_config()))
        (tmp_path / "token").write_text(stack.token())
        keyless = (
            "--keyless",
            "--identity-token-file",
            str(tmp_path / "token"),
            "--trust-config",
            str(tmp_path / "trust.json"),
        )
        code, document, stderr = promote(image.reference, destination, "--key", public, *keyless)
        assert code == 0, (document, stderr)
        [published] = document["promotionAttestation"]
        assert published["kind"] == "referrer"
        again = promote(image.reference, destination, "--key", public, *keyless)
        assert again[0] == 0 and again[1]["promotionAttestation"] == []
    trust = Trust(identity="ci@gate.test", issuer=OIDC_ISSUER, trusted_root=tmp_path / "trust.json")
    result = verify_image(f"{destination}:v1", trust)
    [promotion] = result.evidence.attestations_of(types.GATE_PROMOTION_V1)
    assert promotion.accepted and promotion.signer == f"ci@gate.test (issuer {OIDC_ISSUER})"


def test_promotion_into_an_oci_layout(
    registry: RegistryServer, key: SigningKey, keys: tuple[str, str, SigningKey], tmp_path: Path
) -> None:
    """The embedded default: promote out of a registry into a layout, and verify it there."""
    public, promoter_key, _ = keys
    image = fully_signed(registry, key)
    layout = f"oci:{tmp_path / 'layout'}:release"
    code, document, stderr = promote(image.reference, layout, "--key", public, "--signing-key", promoter_key)
    assert code == 0, (document, stderr)
    verified = run_gate("verify", layout, "--key", public, "--require", "sbom,vuln,provenance,vsa,openvex")
    assert verified.returncode == 0, verified.stdout


def test_promotion_into_a_token_authenticated_registry(
    registry: RegistryServer,
    token_registry: RegistryServer,
    key: SigningKey,
    keys: tuple[str, str, SigningKey],
    tmp_path: Path,
) -> None:
    public, promoter_key, _ = keys
    image = fully_signed(registry, key)
    auth = base64.b64encode(f"{token_registry.username}:{token_registry.password}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {token_registry.host: {"auth": auth}}}))
    env = {"DOCKER_CONFIG": str(tmp_path), "GATE_PASSWORD": PASSWORD}
    destination = destination_of(token_registry)
    args = ("promote", image.reference, destination, "--key", public, "--signing-key", promoter_key)
    promoted = run_gate(*args, env=env)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    verified = run_gate("verify", f"{destination}:v1", "--key", public, "--require", "sbom,openvex", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    anonymous = run_gate(
        "verify", f"{destination}:v1", "--key", public, env={"DOCKER_CONFIG": str(tmp_path / "none")}
    )
    assert anonymous.returncode == 1 and "gate: error:" in anonymous.stderr
