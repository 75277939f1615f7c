"""Verify key-based signatures and attestations of an image, as ``cosign verify --key`` does.

    signatures = verify_signatures(store, digest, public_key)            # the .sig layers
    attestations = verify_attestations(store, digest, public_key, type_)  # the .att layers
    bundles = verify_bundles(store, digest, public_key)                  # bundle referrers

A layer signed by another key is skipped, not an error; finding no layer that verifies is.
Claims are checked after the signature: ``docker-manifest-digest`` (signatures) or a subject
``sha256`` (attestations) must be the image digest, else the entry does not count. With
``repository`` given, a signature's ``docker-reference`` must also name that repository
(what containers/image's ``matchRepository`` checks; cosign does not).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TypeVar

from gate.attest.statement import Statement, parse_statement
from gate.errors import NotFoundError, VerificationError
from gate.image.attachments import SIGNATURE_ANNOTATION, attestation_tag, signature_tag
from gate.image.manifest import Manifest
from gate.image.store import ReadableStore, Store
from gate.sign import simplesigning
from gate.sign.bundle import BUNDLE_MEDIA_TYPE, bundle_envelope
from gate.sign.dsse import ENVELOPE_MEDIA_TYPE, Envelope, verify_envelope
from gate.sign.keys import PublicKey

MAX_ENVELOPE_SIZE = 64 * 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class VerifiedSignature:
    layer_digest: str
    claims: simplesigning.SimpleSigningClaims


@dataclass(frozen=True)
class VerifiedAttestation:
    layer_digest: str
    statement: Statement


def verify_signatures(
    store: ReadableStore, digest: str, key: PublicKey, *, repository: str | None = None
) -> list[VerifiedSignature]:
    """Every ``.sig`` layer signed by ``key`` whose claims match ``digest`` (and ``repository``)."""
    manifest = _cosign_manifest(store, signature_tag(digest), "signature")
    verified, problems = [], []
    for layer in manifest.layers:
        if layer.media_type != simplesigning.MEDIA_TYPE or SIGNATURE_ANNOTATION not in layer.annotations:
            continue
        payload = store.read_blob(layer, simplesigning.MAX_PAYLOAD_SIZE)
        if not key.verifies(_b64(layer.annotations[SIGNATURE_ANNOTATION]), payload):
            continue
        try:
            claims = _checked_claims(simplesigning.parse_payload(payload), digest, repository)
        except VerificationError as error:
            problems.append(error.message)
            continue
        verified.append(VerifiedSignature(layer.digest, claims))
    return _some(
        verified, problems, f"no signature on {store.describe()}@{digest} verifies with key {key.key_id}"
    )


def verify_attestations(
    store: ReadableStore, digest: str, key: PublicKey, *, predicate_type: str | None = None
) -> list[VerifiedAttestation]:
    """Every ``.att`` envelope signed by ``key`` whose statement names ``digest`` (of ``predicate_type``)."""
    manifest = _cosign_manifest(store, attestation_tag(digest), "attestation")
    envelopes = [
        (layer.digest, Envelope.from_json(store.read_blob(layer, MAX_ENVELOPE_SIZE)))
        for layer in manifest.layers
        if layer.media_type == ENVELOPE_MEDIA_TYPE
        and (predicate_type is None or layer.annotations.get("predicateType") in (None, predicate_type))
    ]
    return _verified_statements(envelopes, digest, key, predicate_type, f"{store.describe()}@{digest}")


def verify_bundles(
    store: Store, digest: str, key: PublicKey, *, predicate_type: str | None = None
) -> list[VerifiedAttestation]:
    """Key-signed sigstore bundles among the OCI 1.1 referrers of ``digest``."""
    envelopes = []
    for descriptor in store.referrers(digest, BUNDLE_MEDIA_TYPE):
        document = store.get_document(descriptor.digest)
        if isinstance(document, Manifest):
            for layer in document.layers:
                if layer.media_type == BUNDLE_MEDIA_TYPE:
                    envelopes.append(
                        (layer.digest, bundle_envelope(store.read_blob(layer, MAX_ENVELOPE_SIZE)))
                    )
    return _verified_statements(envelopes, digest, key, predicate_type, f"referrers of {digest}")


def _verified_statements(
    envelopes: list[tuple[str, Envelope]], digest: str, key: PublicKey, predicate_type: str | None, where: str
) -> list[VerifiedAttestation]:
    verified, problems = [], []
    for layer_digest, envelope in envelopes:
        try:
            statement = parse_statement(verify_envelope(envelope, key))
        except VerificationError:
            continue
        if not statement.names_digest(digest):
            problems.append(f"attestation {layer_digest} is about another image")
        elif predicate_type is None or statement.predicate_type == predicate_type:
            verified.append(VerifiedAttestation(layer_digest, statement))
    kind = f"{predicate_type} attestation" if predicate_type else "attestation"
    return _some(verified, problems, f"no {kind} in {where} verifies with key {key.key_id}")


def _checked_claims(
    claims: simplesigning.SimpleSigningClaims, digest: str, repository: str | None
) -> simplesigning.SimpleSigningClaims:
    if claims.manifest_digest != digest:
        raise VerificationError(f"a valid signature is for {claims.manifest_digest}, not {digest}")
    if repository is not None and claims.repository != repository:
        raise VerificationError(f"a valid signature is for repository {claims.repository}, not {repository}")
    return claims


def _cosign_manifest(store: ReadableStore, tag: str, what: str) -> Manifest:
    try:
        document = store.get_document(tag)
    except NotFoundError as error:
        raise VerificationError(f"{store.describe()} has no {what}s for this image (no {tag})") from error
    if not isinstance(document, Manifest):
        raise VerificationError(f"{store.describe()}:{tag} is not a cosign {what} manifest")
    return document


def _some(verified: list[T], problems: list[str], message: str) -> list[T]:
    if verified:
        return verified
    raise VerificationError(f"{message}: {problems[0]}" if problems else message)


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return b""
