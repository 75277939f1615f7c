"""`gate sign` against the real registry and an OCI layout: cosign's exact `.sig` layout, bundles.

Signatures are checked with ``cryptography`` directly (not gate's own verifier) where the
point is the wire format; gate's verifier is checked separately, including its refusals.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gate.errors import VerificationError
from gate.image import OciLayout, RegistryClient
from gate.image.build import LayerBuilder, build_image
from gate.image.manifest import OCI_CONFIG, OCI_EMPTY, OCI_MANIFEST, Manifest
from gate.image.reference import parse_registry_reference
from gate.image.registry import RegistryRepository
from gate.image.store import ReadableStore, referrers_tag
from gate.publish import Target, publish
from gate.sign import cosign
from gate.sign.dsse import pae
from gate.sign.keys import encrypt_private_key, generate_signing_key, load_private_key, load_public_key
from gate.sign.verify_key import verify_bundles, verify_signatures
from tests.servers import RegistryServer
from tests.test_cli import run_gate

FIXTURES = Path(__file__).parent / "fixtures" / "sign"
KEY_ENV = {"GATE_PASSWORD": "fixture-password"}
COSIGN_KEY = str(FIXTURES / "cosign.key")
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def push_image(registry: RegistryServer, marker: str | None = None) -> tuple[RegistryRepository, str, str]:
    """A fresh one-layer image in a new repository; returns (repository, reference, digest)."""
    name = f"sign/{uuid.uuid4().hex[:10]}"
    ref = parse_registry_reference(f"{registry.host}/{name}:v1")
    repository = RegistryClient().repository(ref)
    layer = LayerBuilder().add_file("etc/marker", (marker or name).encode()).build()
    digest = build_image([layer]).push(repository, tag="v1")
    return repository, f"{ref.registry}/{name}", digest


def cryptography_verify(public_pem: bytes, signature: bytes, data: bytes) -> None:
    key = serialization.load_pem_public_key(public_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(signature, data, ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature


def sig_manifest(store: ReadableStore, digest: str) -> Manifest:
    document = store.get_document(f"{referrers_tag(digest)}.sig")
    assert isinstance(document, Manifest)
    return document


def test_sign_writes_cosigns_exact_sig_manifest(registry: RegistryServer) -> None:
    repository, name, digest = push_image(registry)
    result = run_gate("sign", f"{name}:v1", "--key", COSIGN_KEY, env=KEY_ENV)
    assert result.returncode == 0, result.stderr
    assert f"{referrers_tag(digest)}.sig" in result.stdout
    manifest = sig_manifest(repository, digest)
    assert manifest.media_type == OCI_MANIFEST and manifest.config.media_type == OCI_CONFIG
    [layer] = manifest.layers
    assert layer.media_type == SIMPLESIGNING
    assert set(layer.annotations) == {"dev.cosignproject.cosign/signature"}
    payload = repository.read_blob(layer, 4096)
    expected = (
        f'{{"critical":{{"identity":{{"docker-reference":"{name}"}},"image":{{"docker-manifest-digest":"{digest}"}},'
        '"type":"cosign container image signature"},"optional":null}'
    ).encode()
    assert payload == expected  # repository only, no tag; nothing else in critical
    signature = base64.b64decode(layer.annotations["dev.cosignproject.cosign/signature"], validate=True)
    cryptography_verify((FIXTURES / "cosign.pub").read_bytes(), signature, payload)
    config = json.loads(repository.read_blob(manifest.config, 4096))
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer.digest]}
    [verified] = verify_signatures(
        repository, digest, load_public_key((FIXTURES / "cosign.pub").read_bytes())
    )
    assert verified.claims.docker_reference == name


def test_signatures_accumulate_and_are_deduplicated(registry: RegistryServer, tmp_path: Path) -> None:
    repository, name, digest = push_image(registry)
    second = generate_signing_key()
    (tmp_path / "second.key").write_bytes(encrypt_private_key(second, b"fixture-password"))
    for key_file in (COSIGN_KEY, COSIGN_KEY, str(tmp_path / "second.key"), str(tmp_path / "second.key")):
        result = run_gate("sign", f"{name}@{digest}", "--key", key_file, env=KEY_ENV)
        assert result.returncode == 0, result.stderr
    layers = sig_manifest(repository, digest).layers
    assert len(layers) == 2  # one per key: re-signing with the same key adds nothing
    assert layers[0].digest == layers[1].digest  # the payload has no timestamp: one shared blob
    for public in ((FIXTURES / "cosign.pub").read_bytes(), second.public_key.pem()):
        assert len(verify_signatures(repository, digest, load_public_key(public))) == 1


def test_verifier_refuses_other_keys_and_other_images(registry: RegistryServer) -> None:
    repository, name, digest = push_image(registry)
    other_repo, _, other_digest = push_image(registry)
    assert run_gate("sign", f"{name}:v1", "--key", COSIGN_KEY, env=KEY_ENV).returncode == 0
    public = load_public_key((FIXTURES / "cosign.pub").read_bytes())
    with pytest.raises(VerificationError, match=r"no signature .* verifies with key"):
        verify_signatures(repository, digest, generate_signing_key().public_key)
    with pytest.raises(VerificationError, match="has no signatures for this image"):
        verify_signatures(other_repo, other_digest, public)
    with pytest.raises(VerificationError, match="for repository"):
        verify_signatures(repository, digest, public, repository="elsewhere.example/app")
    # a valid signature for the first image, copied onto the second: claims do not match
    sig = sig_manifest(repository, digest)
    layer = sig.layers[0]
    other_repo.push_blob(repository.read_blob(layer, 4096))
    other_repo.push_blob(repository.read_blob(sig.config, 4096))
    other_repo.push_manifest(sig.raw, media_type=OCI_MANIFEST, tag=f"{referrers_tag(other_digest)}.sig")
    with pytest.raises(VerificationError, match=f"is for {digest}, not {other_digest}"):
        verify_signatures(other_repo, other_digest, public)


def test_sign_with_bundle_pushes_a_cosign_v3_referrer(registry: RegistryServer) -> None:
    repository, name, digest = push_image(registry)
    result = run_gate("sign", f"{name}:v1", "--key", COSIGN_KEY, "--bundle", "-f", "json", env=KEY_ENV)
    assert result.returncode == 0, result.stderr
    published = json.loads(result.stdout)["published"]
    assert [p["kind"] for p in published] == ["referrer", "sig"]  # the .sig tag last
    [entry] = repository.referrers(digest)
    assert entry.artifact_type == BUNDLE and entry.digest == published[0]["digest"]
    manifest = repository.get_document(entry.digest)
    assert isinstance(manifest, Manifest)
    raw = json.loads(manifest.raw)
    image = repository.resolve(digest)
    assert raw["subject"] == {"mediaType": OCI_MANIFEST, "digest": digest, "size": image.size}
    assert raw["config"] == {
        "mediaType": OCI_EMPTY,
        "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "size": 2,
    }
    assert raw["artifactType"] == BUNDLE and [layer["mediaType"] for layer in raw["layers"]] == [BUNDLE]
    assert raw["annotations"]["dev.sigstore.bundle.content"] == "dsse-envelope"
    assert raw["annotations"]["dev.sigstore.bundle.predicateType"] == "https://sigstore.dev/cosign/sign/v1"
    assert raw["annotations"]["org.opencontainers.image.created"].endswith("Z")
    bundle = json.loads(repository.read_blob(manifest.layers[0], 1 << 20))
    assert bundle["mediaType"] == BUNDLE
    public = load_public_key((FIXTURES / "cosign.pub").read_bytes())
    hint = base64.b64encode(__import__("hashlib").sha256(public.der()).digest()).decode()
    assert bundle["verificationMaterial"]["publicKey"] == {"hint": hint}
    envelope = bundle["dsseEnvelope"]
    statement_bytes = base64.b64decode(envelope["payload"])
    signature = base64.b64decode(envelope["signatures"][0]["sig"])
    cryptography_verify(public.pem(), signature, pae(envelope["payloadType"], statement_bytes))
    statement = json.loads(statement_bytes)
    assert (
        statement["predicateType"] == "https://sigstore.dev/cosign/sign/v1" and statement["predicate"] == {}
    )
    assert statement["subject"] == [{"name": name, "digest": {"sha256": digest.split(":")[1]}}]
    [verified] = verify_bundles(repository, digest, public)
    assert verified.statement.predicate_type == "https://sigstore.dev/cosign/sign/v1"


def test_sign_into_an_oci_layout(tmp_path: Path) -> None:
    layout_dir = tmp_path / "layout"
    digest = build_image([LayerBuilder().add_file("a", b"a").build()]).push(
        OciLayout.create(layout_dir), tag="t"
    )
    missing = run_gate("sign", f"oci:{layout_dir}:t", "--key", COSIGN_KEY, env=KEY_ENV)
    assert missing.returncode == 1 and "give --identity REPOSITORY" in missing.stderr
    result = run_gate(
        "sign",
        f"oci:{layout_dir}:t",
        "--key",
        COSIGN_KEY,
        "--identity",
        "registry.example/app",
        "--bundle",
        env=KEY_ENV,
    )
    assert result.returncode == 0, result.stderr
    layout = OciLayout.open(layout_dir)
    assert f"{referrers_tag(digest)}.sig" in layout.list_tags()
    public = load_public_key((FIXTURES / "cosign.pub").read_bytes())
    [verified] = verify_signatures(layout, digest, public, repository="registry.example/app")
    assert verified.claims.manifest_digest == digest
    assert len(verify_bundles(layout, digest, public)) == 1
    tree = json.loads(run_gate("tree", "-f", "json", f"oci:{layout_dir}:t").stdout)
    assert {a["kind"] for a in tree["attachments"]} == {"referrer", "sig"}


def test_bad_keys_and_passwords_publish_nothing(registry: RegistryServer, tmp_path: Path) -> None:
    repository, name, digest = push_image(registry)
    wrong = run_gate("sign", f"{name}:v1", "--key", COSIGN_KEY, env={"GATE_PASSWORD": "nope"})
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == f"gate: error: {COSIGN_KEY}: wrong password (or a corrupt key file)"
    public = run_gate("sign", f"{name}:v1", "--key", str(FIXTURES / "cosign.pub"), env=KEY_ENV)
    assert public.returncode == 1 and "holds a public key, but signing needs the private key" in public.stderr
    neither = run_gate("sign", f"{name}:v1", env=KEY_ENV)
    assert neither.returncode == 1 and "exactly one of --key FILE or --keyless" in neither.stderr
    assert f"{referrers_tag(digest)}.sig" not in repository.list_tags()


def test_keyless_failure_is_a_clear_error_and_publishes_nothing(registry: RegistryServer) -> None:
    repository, name, digest = push_image(registry)
    no_ambient = {
        "GITHUB_ACTIONS": "",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "",
        "SIGSTORE_ID_TOKEN": "",
        "GITLAB_CI": "",
        "GATE_IDENTITY_TOKEN": "",
    }
    result = run_gate("sign", f"{name}:v1", "--keyless", env=no_ambient)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gate: error: ") and "Traceback" not in result.stderr
    assert repository.list_tags() == ["v1"] and repository.referrers(digest) == []


def test_library_sign_with_skopeo_key_and_ed25519(registry: RegistryServer) -> None:
    repository, name, digest = push_image(registry)
    key = load_private_key((FIXTURES / "skopeo.private").read_bytes(), lambda: b"fixture-password")
    target = Target(repository, repository.resolve(digest))
    publish(target, signature=cosign.signature_entry(key, name, digest))
    assert verify_signatures(repository, digest, load_public_key((FIXTURES / "skopeo.pub").read_bytes()))
