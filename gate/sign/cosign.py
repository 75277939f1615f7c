"""What ``cosign sign --key`` and ``cosign attest --key`` put in the ``.sig`` and ``.att`` manifests.

Each function returns a :class:`~gate.image.attachments.Entry` (blob, layer media type, layer annotations)
for :mod:`gate.publish` to store; nothing here talks to a registry.
"""

from __future__ import annotations

import base64
from typing import Any

from gate.attest.statement import build_statement
from gate.attest.types import COSIGN_SIGN_V1
from gate.errors import VerificationError
from gate.image.attachments import (
    PREDICATE_TYPE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    BundleArtifact,
    Entry,
    LayerFilter,
)
from gate.image.digest import digest_of
from gate.image.manifest import Descriptor
from gate.image.store import ReadableStore
from gate.sign import simplesigning
from gate.sign.bundle import BUNDLE_MEDIA_TYPE, dsse_bundle
from gate.sign.dsse import ENVELOPE_MEDIA_TYPE, Envelope, sign_envelope, verify_envelope
from gate.sign.keys import PublicKey, SigningKey

MAX_ENVELOPE_SIZE = 64 * 1024 * 1024


def signature_entry(key: SigningKey, repository: str, digest: str) -> Entry:
    """A ``.sig`` layer: the simple-signing payload and its base64 signature annotation."""
    payload = simplesigning.build_payload(repository, digest)
    signature = base64.b64encode(key.sign(payload)).decode()
    return Entry(payload, simplesigning.MEDIA_TYPE, {SIGNATURE_ANNOTATION: signature})


def attestation_entry(
    key: SigningKey, repository: str, digest: str, predicate_type: str, predicate: Any
) -> Entry:
    """An ``.att`` layer: a DSSE envelope around an in-toto Statement about ``repository@digest``."""
    statement = build_statement(repository, digest, predicate_type, predicate)
    envelope = sign_envelope(key, statement)
    annotations = {SIGNATURE_ANNOTATION: "", PREDICATE_TYPE_ANNOTATION: predicate_type}
    return Entry(envelope.to_json(), ENVELOPE_MEDIA_TYPE, annotations)


def bundle_artifact(
    key: SigningKey, repository: str, digest: str, predicate_type: str, predicate: Any
) -> BundleArtifact:
    """A sigstore bundle v0.3 over a DSSE Statement, for an OCI 1.1 referrer (cosign v3 layout)."""
    statement = build_statement(repository, digest, predicate_type, predicate)
    bundle = dsse_bundle(sign_envelope(key, statement), key.public_key)
    return BundleArtifact(bundle, BUNDLE_MEDIA_TYPE, predicate_type)


def signature_bundle(key: SigningKey, repository: str, digest: str) -> BundleArtifact:
    """cosign v3's image signature: an empty ``https://sigstore.dev/cosign/sign/v1`` predicate."""
    return bundle_artifact(key, repository, digest, COSIGN_SIGN_V1, {})


def replacing(store: ReadableStore, predicate_type: str, key: PublicKey) -> LayerFilter:
    """``--replace``: select earlier ``.att`` layers of ``predicate_type`` whose envelope ``key`` signed."""

    def same_type_and_signer(layer: Descriptor) -> bool:
        if layer.annotations.get(PREDICATE_TYPE_ANNOTATION) != predicate_type:
            return False
        if layer.media_type != ENVELOPE_MEDIA_TYPE:
            return False
        try:
            envelope = Envelope.from_json(store.read_blob(layer, MAX_ENVELOPE_SIZE))
            verify_envelope(envelope, key)
        except VerificationError:
            return False
        return True

    return same_type_and_signer


def same_signature(store: ReadableStore, payload: bytes, key: PublicKey) -> LayerFilter:
    """cosign's dupe detector: a ``.sig`` layer with this payload whose signature ``key`` made."""
    payload_digest = digest_of(payload)

    def says_the_same(layer: Descriptor) -> bool:
        if layer.digest != payload_digest:
            return False
        try:
            signature = base64.b64decode(layer.annotations.get(SIGNATURE_ANNOTATION, ""), validate=True)
        except ValueError:
            return False
        return key.verifies(signature, payload)

    return says_the_same
