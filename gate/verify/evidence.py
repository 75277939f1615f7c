"""Find what is attached to an image and check each item against the trust, keeping the reasons.

Both layouts are read: cosign's ``sha256-<hex>.sig`` / ``.att`` tags and sigstore bundles stored
as OCI 1.1 referrers (the referrers API, else the ``sha256-<hex>`` fallback index). Every item
ends up either accepted (signed by the trust, about this image) or rejected with the reason, so
``gate verify`` can say exactly why an attestation did not count.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from gate import safejson
from gate.attest.statement import DETACHED_KEY, Statement, parse_statement
from gate.attest.types import COSIGN_SIGN_V1
from gate.errors import GateError, NotFoundError, VerificationError
from gate.image.attachments import (
    CERTIFICATE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    attestation_tag,
    signature_tag,
)
from gate.image.digest import verify_bytes
from gate.image.manifest import Descriptor, Manifest
from gate.image.store import ReadableStore, Store
from gate.sign import simplesigning
from gate.sign.bundle import BUNDLE_MEDIA_TYPES, bundle_envelope
from gate.sign.dsse import ENVELOPE_MEDIA_TYPE, Envelope
from gate.verify.trust import MODIFIED_OR_OTHER_KEY, Trust, accepts_bundle, accepts_envelope

MAX_ENVELOPE_SIZE = 64 * 1024 * 1024
MAX_PREDICATE_SIZE = 256 * 1024 * 1024
LEGACY_KEYLESS = (
    "cosign's legacy keyless layout (a certificate annotation on a .sig layer) is not verified: "
    "gate verifies keyless signatures stored as sigstore bundles (cosign --new-bundle-format)"
)
MAX_ATTACHMENTS = 1024  # signatures, attestations or referrers of one image: more is an attack or a leak


@dataclass(frozen=True)
class Found:
    """One signature or attestation: where it is, and whether the trust accepts it (else why not)."""

    where: str  # "sig", "att" or "referrer"
    reference: str  # the layer digest (cosign tags) or the referrer manifest digest
    signer: str | None  # who signed it, when accepted
    statement: Statement | None  # attestations (and bundle signatures): the signed statement
    rejected: str | None  # why it does not count

    @property
    def accepted(self) -> bool:
        return self.rejected is None

    @property
    def predicate_type(self) -> str | None:
        return self.statement.predicate_type if self.statement else None


@dataclass(frozen=True)
class Evidence:
    """Everything attached to one image digest, checked."""

    digest: str
    signatures: tuple[Found, ...]
    attestations: tuple[Found, ...]

    def accepted_signatures(self) -> list[Found]:
        return [item for item in self.signatures if item.accepted]

    def attestations_of(self, predicate_type: str) -> list[Found]:
        return [item for item in self.attestations if item.predicate_type == predicate_type]


def gather(store: Store, digest: str, trust: Trust) -> Evidence:
    """Check every signature and attestation attached to ``digest`` against ``trust``.

    A signature's ``docker-reference`` is not compared with the repository the image is read
    from (cosign does not either): a promoted image keeps the signatures made for its source.
    """
    signatures = [*_cosign_signatures(store, digest, trust)]
    attestations = [*_cosign_attestations(store, digest, trust)]
    for found in _bundle_referrers(store, digest, trust):
        if found.predicate_type == COSIGN_SIGN_V1:
            signatures.append(found)
        else:
            attestations.append(found)
    return Evidence(digest, tuple(signatures), tuple(attestations))


def predicate_of(store: ReadableStore, found: Found) -> Any:
    """The statement's predicate, fetched and checked when a keyless attestation detached it."""
    assert found.statement is not None
    predicate = found.statement.predicate
    if not (isinstance(predicate, dict) and DETACHED_KEY in predicate):
        return predicate
    return _detached_predicate(store, predicate[DETACHED_KEY])


def _cosign_signatures(store: ReadableStore, digest: str, trust: Trust) -> list[Found]:
    manifest = _cosign_manifest(store, signature_tag(digest))
    found = []
    for layer in _bounded(list(manifest.layers), signature_tag(digest)) if manifest else ():
        if layer.media_type != simplesigning.MEDIA_TYPE or SIGNATURE_ANNOTATION not in layer.annotations:
            continue
        found.append(_check_simple_signature(store, layer, digest, trust))
    return found


def _check_simple_signature(store: ReadableStore, layer: Descriptor, digest: str, trust: Trust) -> Found:
    if CERTIFICATE_ANNOTATION in layer.annotations:
        return Found("sig", layer.digest, None, None, LEGACY_KEYLESS)
    if trust.keyless:
        return Found("sig", layer.digest, None, None, f"it is signed with a key, not by {trust.describe()}")
    payload = store.read_blob(layer, simplesigning.MAX_PAYLOAD_SIZE)
    signature = _b64(layer.annotations[SIGNATURE_ANNOTATION])
    key = next((key for key in trust.keys if key.verifies(signature, payload)), None)
    if key is None:
        return Found(
            "sig",
            layer.digest,
            None,
            None,
            f"it does not verify with {trust.describe()} ({MODIFIED_OR_OTHER_KEY})",
        )
    try:
        claims = simplesigning.parse_payload(payload)
    except VerificationError as error:
        return Found("sig", layer.digest, None, None, error.message)
    if claims.manifest_digest != digest:
        return Found("sig", layer.digest, None, None, f"it signs another image ({claims.manifest_digest})")
    return Found("sig", layer.digest, f"key {key.key_id}", None, None)


def _cosign_attestations(store: ReadableStore, digest: str, trust: Trust) -> list[Found]:
    manifest = _cosign_manifest(store, attestation_tag(digest))
    found = []
    for layer in _bounded(list(manifest.layers), attestation_tag(digest)) if manifest else ():
        if layer.media_type != ENVELOPE_MEDIA_TYPE:
            continue
        try:
            envelope = Envelope.from_json(store.read_blob(layer, MAX_ENVELOPE_SIZE))
            accepted = accepts_envelope(trust, envelope)
        except VerificationError as error:
            claimed = _claimed_statement(layer, store)
            found.append(Found("att", layer.digest, None, claimed, error.message))
            continue
        found.append(_about(digest, "att", layer.digest, accepted.signer, accepted.payload))
    return found


def _bundle_referrers(store: Store, digest: str, trust: Trust) -> list[Found]:
    found = []
    for descriptor in _referrers(store, digest):
        document = store.get_document(descriptor.digest)
        if not isinstance(document, Manifest):
            continue
        for layer in document.layers:
            if layer.media_type not in BUNDLE_MEDIA_TYPES:
                continue
            bundle = store.read_blob(layer, MAX_ENVELOPE_SIZE)
            try:
                accepted = accepts_bundle(trust, bundle, digest)
            except VerificationError as error:
                found.append(
                    Found("referrer", descriptor.digest, None, _claimed_bundle(bundle), error.message)
                )
                continue
            found.append(_about(digest, "referrer", descriptor.digest, accepted.signer, accepted.payload))
    return found


def _referrers(store: Store, digest: str) -> list[Descriptor]:
    listed = _bounded(store.referrers(digest), f"referrers of {digest}")
    return [item for item in listed if (item.artifact_type or "") in BUNDLE_MEDIA_TYPES]


def _bounded(items: list[Descriptor], what: str) -> list[Descriptor]:
    if len(items) > MAX_ATTACHMENTS:
        raise VerificationError(
            f"{what}: {len(items)} entries, over {MAX_ATTACHMENTS}; refusing to read them all"
        )
    return items


def _about(digest: str, where: str, reference: str, signer: str, payload: bytes) -> Found:
    """A signed statement counts only when one of its subjects is this image's digest."""
    try:
        statement = parse_statement(payload)
    except VerificationError as error:
        return Found(where, reference, None, None, error.message)
    if not statement.names_digest(digest):
        others = ", ".join(f"sha256:{d.get('sha256')}" for _, d in statement.subjects)
        return Found(
            where,
            reference,
            signer,
            statement,
            f"it is about another image (subject {others}, not {digest}): copied from another image",
        )
    return Found(where, reference, signer, statement, None)


def _claimed_statement(layer: Descriptor, store: ReadableStore) -> Statement | None:
    """The statement an unverified envelope claims to carry, only to name it in messages."""
    try:
        return parse_statement(Envelope.from_json(store.read_blob(layer, MAX_ENVELOPE_SIZE)).payload)
    except GateError:
        return None


def _claimed_bundle(bundle: bytes) -> Statement | None:
    try:
        return parse_statement(bundle_envelope(bundle).payload)
    except GateError:
        return None


def _detached_predicate(store: ReadableStore, reference: Any) -> Any:
    """The predicate blob a detached statement names, read through the referrer artifact it names."""
    try:
        artifact_digest = reference["artifact"]
        blob_digest = "sha256:" + reference["digest"]["sha256"]
        size = int(reference["size"])
    except (KeyError, TypeError, ValueError) as error:
        raise VerificationError("a detached predicate reference is malformed") from error
    if size > MAX_PREDICATE_SIZE:
        raise VerificationError(f"the detached predicate is {size} bytes, over {MAX_PREDICATE_SIZE}")
    try:
        artifact = store.get_document(artifact_digest)
    except NotFoundError as error:
        raise VerificationError(f"the detached predicate artifact {artifact_digest} is missing") from error
    layer = next(
        (
            item
            for item in getattr(artifact, "layers", ())
            if item.digest == blob_digest and item.size == size
        ),
        None,
    )
    if layer is None:
        raise VerificationError(
            f"artifact {artifact_digest} does not hold the signed predicate {blob_digest}"
        )
    data = verify_bytes(store.read_blob(layer, MAX_PREDICATE_SIZE), blob_digest, what="detached predicate")
    try:
        return safejson.loads(data)
    except ValueError as error:
        raise VerificationError(f"the detached predicate {blob_digest} is not JSON") from error


def _cosign_manifest(store: ReadableStore, tag: str) -> Manifest | None:
    try:
        document = store.get_document(tag)
    except NotFoundError:
        return None
    return document if isinstance(document, Manifest) else None


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return b""
