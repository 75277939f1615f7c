"""Signed and attested images for the verify and promote tests, made with gate's signing library.

``signed_image(registry, key)`` pushes a fresh one-layer image and publishes, exactly as
``gate sign``/``gate attest`` would, a ``.sig`` signature and ``.att`` attestations (SBOM, vuln
scan, SLSA provenance, VSA) signed by ``key``; ``keyless_signed`` does the same with sigstore
bundles from the local Sigstore stand-in.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.attest import types
from gate.attest.statement import build_statement
from gate.image import RegistryClient
from gate.image.attachments import BundleArtifact, Entry
from gate.image.build import LayerBuilder, build_image
from gate.image.manifest import Descriptor
from gate.image.reference import parse_registry_reference
from gate.image.registry import RegistryRepository
from gate.publish import Target, publish
from gate.sign import cosign
from gate.sign.bundle import BUNDLE_MEDIA_TYPE
from gate.sign.dsse import IN_TOTO_PAYLOAD_TYPE
from gate.sign.keyless import sign_dsse_keyless
from gate.sign.keys import SigningKey

POLICY_DIGEST = "sha256:" + hashlib.sha256(b"the demo policy").hexdigest()
SBOM = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": [{"name": "zlib"}]}
VULN = {"scanner": {"uri": "https://gate.invalid", "version": "0", "result": []}}
PROVENANCE = {"buildDefinition": {"buildType": "local"}, "runDetails": {"builder": {"id": "local"}}}


def vsa(
    result: str = "PASSED", *, policy_digest: str = POLICY_DIGEST, time: str | None = None
) -> dict[str, Any]:
    return {
        "verifier": {"id": "https://gate.invalid/verifier", "version": {"gate": "0"}},
        "timeVerified": time or "2099-01-01T00:00:00Z",
        "resourceUri": "test",
        "policy": {"uri": "policy.yaml", "digest": {"sha256": policy_digest.split(":", 1)[1]}},
        "inputAttestations": [],
        "verificationResult": result,
        "verifiedLevels": [],
        "slsaVersion": "1.0",
    }


def all_predicates(**vsa_args: Any) -> list[tuple[str, Any]]:
    return [
        (types.CYCLONEDX, SBOM),
        (types.COSIGN_VULN, VULN),
        (types.SLSA_PROVENANCE_V1, PROVENANCE),
        (types.SLSA_VSA_V1, vsa(**vsa_args)),
    ]


@dataclass(frozen=True)
class Pushed:
    repository: RegistryRepository
    name: str  # registry/repo, what the signature names
    digest: str

    @property
    def reference(self) -> str:
        return f"{self.name}:v1"

    @property
    def target(self) -> Target:
        resolved = self.repository.resolve(self.digest)
        return Target(self.repository, Descriptor(resolved.media_type, resolved.digest, resolved.size))


def push_fresh_image(registry: Any, prefix: str = "verify") -> Pushed:
    name = f"{prefix}/{uuid.uuid4().hex[:10]}"
    ref = parse_registry_reference(f"{registry.host}/{name}:v1")
    repository = RegistryClient().repository(ref)
    layer = LayerBuilder().add_file("etc/marker", name.encode()).build()
    digest = build_image([layer]).push(repository, tag="v1")
    return Pushed(repository, f"{ref.registry}/{name}", digest)


def attestation_entries(key: SigningKey, image: Pushed, predicates: list[tuple[str, Any]]) -> list[Entry]:
    return [cosign.attestation_entry(key, image.name, image.digest, t, p) for t, p in predicates]


def signed_image(
    registry: Any, key: SigningKey, predicates: list[tuple[str, Any]] | None = None, *, sign: bool = True
) -> Pushed:
    """A fresh image with a ``.sig`` signature and ``.att`` attestations by ``key``."""
    image = push_fresh_image(registry)
    publish(
        image.target,
        attestations=attestation_entries(key, image, all_predicates() if predicates is None else predicates),
        signature=cosign.signature_entry(key, image.name, image.digest) if sign else None,
    )
    return image


def keyless_bundle(
    image: Pushed, predicate_type: str, predicate: Any, *, token: str, trust_config: Path
) -> BundleArtifact:
    statement = build_statement(image.name, image.digest, predicate_type, predicate)
    bundle = sign_dsse_keyless(
        statement, IN_TOTO_PAYLOAD_TYPE, identity_token=token, trust_config=trust_config
    )
    return BundleArtifact(bundle, BUNDLE_MEDIA_TYPE, predicate_type)


def keyless_signed(
    registry: Any, *, token: str, trust_config: Path, predicates: list[tuple[str, Any]] | None = None
) -> Pushed:
    """A fresh image signed and attested keylessly: sigstore bundles as OCI referrers."""
    image = push_fresh_image(registry, "keyless")
    chosen = all_predicates() if predicates is None else predicates
    publish(
        image.target,
        attestation_bundles=[
            keyless_bundle(image, t, p, token=token, trust_config=trust_config) for t, p in chosen
        ],
        signature_bundles=[
            keyless_bundle(image, types.COSIGN_SIGN_V1, {}, token=token, trust_config=trust_config)
        ],
    )
    return image
