"""Sign an image and attach attestations to it, with a key or keylessly, idempotently.

    from gate.signing import Attestation, KeySigner, sign_and_attest
    published = sign_and_attest(target, "registry.example/app", KeySigner(key),
                                attestations=[Attestation(CYCLONEDX, bom)], replace=True)

Everything is signed before anything is published, so a signing failure publishes nothing;
then :func:`gate.publish.publish` stores attestations first and the signature last.

Running twice publishes nothing new: a signature or attestation that says what an earlier one
by the same signer says, up to its timestamps (:func:`same_statement`), is not added again
(cosign tags and bundle referrers alike), and with ``replace`` an attestation of the same
predicate type by the same signer takes the place of the earlier one, in the ``.att`` tag and
among the bundle referrers.
Keyless statements too large for public Rekor sign a digest of their predicate, which is
stored as its own referrer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate import safejson
from gate.attest.statement import DETACHED_KEY, build_statement, detached_predicate
from gate.attest.types import COSIGN_SIGN_V1
from gate.errors import GateError, NotFoundError, SigningError, VerificationError
from gate.image.attachments import (
    BUNDLE_PREDICATE_ANNOTATION,
    PREDICATE_ARTIFACT_TYPE,
    PREDICATE_TYPE_ANNOTATION,
    BundleArtifact,
    Entry,
    attestation_tag,
)
from gate.image.digest import digest_of
from gate.image.manifest import Descriptor, Manifest, canonical_json
from gate.image.store import Store, remove_fallback_referrers
from gate.publish import (
    PredicateArtifact,
    Published,
    Target,
    predicate_artifact,
    publish,
)
from gate.sign import cosign
from gate.sign.bundle import BUNDLE_MEDIA_TYPE, bundle_envelope
from gate.sign.dsse import ENVELOPE_MEDIA_TYPE, IN_TOTO_PAYLOAD_TYPE, Envelope, verify_envelope
from gate.sign.keyless import detect_identity_token, needs_detached_predicate, sign_dsse_keyless
from gate.sign.keys import SigningKey, load_private_key
from gate.sign.password import read_password
from gate.sign.signer import signer_of_bundle

logger = logging.getLogger(__name__)

MAX_ATTACHMENT_SIZE = 64 * 1024 * 1024


@dataclass(frozen=True)
class KeySigner:
    """Sign with a private key: cosign ``.sig``/``.att`` tags, and bundle referrers with ``bundles``."""

    key: SigningKey
    bundles: bool = False


@dataclass(frozen=True)
class KeylessSigner:
    """Sign with a short-lived Sigstore certificate: bundle referrers only.

    ``identity_token`` None: ``$GATE_IDENTITY_TOKEN``, else the CI's ambient credential.
    ``trust_config`` None: Sigstore's public-good instance.
    """

    identity_token: str | None = None
    trust_config: Path | None = None


Signer = KeySigner | KeylessSigner


@dataclass(frozen=True)
class Attestation:
    predicate_type: str  # a URI, e.g. gate.attest.types.CYCLONEDX
    predicate: Any  # JSON-ready


def sign_and_attest(
    target: Target,
    repository: str,
    signer: Signer,
    *,
    attestations: Sequence[Attestation] = (),
    sign: bool = True,
    replace: bool = False,
) -> list[Published]:
    """Attest to ``target`` and (with ``sign``) sign it, as ``repository``; what was published."""
    if isinstance(signer, KeySigner):
        return _with_key(target, repository, signer, attestations, sign, replace)
    return _keyless(target, repository, signer, attestations, sign, replace)


def load_signer(
    key: Path | None,
    keyless: bool,
    *,
    bundles: bool = False,
    identity_token: str | None = None,
    trust_config: Path | None = None,
) -> Signer:
    """The signer that ``--key FILE`` or ``--keyless`` names (exactly one of them)."""
    if (key is None) == (not keyless):
        raise GateError("give exactly one of --key FILE or --keyless")
    if key is None:
        return KeylessSigner(identity_token, trust_config)
    try:
        data = key.read_bytes()
    except OSError as error:
        raise GateError(f"cannot read {key}: {error.strerror}") from error
    return KeySigner(
        load_private_key(data, lambda: read_password(purpose=str(key)), source=str(key)), bundles
    )


def same_statement(published: bytes, new: bytes) -> bool:
    """Whether two statements say the same thing, up to when they were made.

    A re-run on the same digest with the same inputs builds the same statements except for
    their times (scan start and end, time verified): those count as already published.
    """
    if published == new:
        return True
    try:
        return _timeless(safejson.loads(published)) == _timeless(safejson.loads(new))
    except ValueError:
        return False


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def _timeless(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _timeless(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_timeless(item) for item in value]
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return "<time>"
    return value


# -- with a key -------------------------------------------------------------------------------


def _with_key(
    target: Target,
    repository: str,
    signer: KeySigner,
    attestations: Sequence[Attestation],
    sign: bool,
    replace: bool,
) -> list[Published]:
    key, digest, store = signer.key, target.subject.digest, target.store
    entries = [
        (item, cosign.attestation_entry(key, repository, digest, item.predicate_type, item.predicate))
        for item in attestations
    ]
    existing = _attestation_layers(store, digest)
    new_entries = [entry for item, entry in entries if not _already_attested(store, existing, entry, signer)]
    replaced_types = {_entry_type(entry) for entry in new_entries} if replace else set()
    bundles = [
        cosign.bundle_artifact(key, repository, digest, item.predicate_type, item.predicate)
        for item in attestations
    ]
    signature = cosign.signature_entry(key, repository, digest) if sign else None
    signature_bundles = [cosign.signature_bundle(key, repository, digest)] if sign and signer.bundles else []
    same_key = _key_signed_by(signer.key)
    fresh_bundles, stale = _new_bundles(target, bundles if signer.bundles else [], same_key, replace)
    fresh_signature_bundles, _ = _new_bundles(target, signature_bundles, same_key, replace=False)
    published = publish(
        target,
        attestations=new_entries,
        attestation_bundles=fresh_bundles,
        signature=signature,
        signature_bundles=fresh_signature_bundles,
        replace=_same_type_and_key(store, replaced_types, signer) if replaced_types else None,
        duplicate_signature=cosign.same_signature(store, signature.blob, key.public_key)
        if signature
        else None,
    )
    _drop(target, stale)
    return published


def _attestation_layers(store: Store, digest: str) -> list[Descriptor]:
    try:
        document = store.get_document(attestation_tag(digest))
    except NotFoundError:
        return []
    return list(document.layers) if isinstance(document, Manifest) else []


def _entry_type(entry: Entry) -> str:
    return entry.annotations[PREDICATE_TYPE_ANNOTATION]


def _already_attested(store: Store, layers: list[Descriptor], entry: Entry, signer: KeySigner) -> bool:
    """An ``.att`` layer of the same type whose envelope our key signed over the same statement."""
    statement = Envelope.from_json(entry.blob).payload
    for layer in layers:
        if layer.annotations.get(PREDICATE_TYPE_ANNOTATION) != _entry_type(entry):
            continue
        envelope = _envelope_signed_by(store, layer, signer)
        if envelope is not None and same_statement(envelope.payload, statement):
            return True
    return False


def _same_type_and_key(store: Store, types: set[str], signer: KeySigner) -> Callable[[Descriptor], bool]:
    def replaced(layer: Descriptor) -> bool:
        return (
            layer.annotations.get(PREDICATE_TYPE_ANNOTATION) in types
            and _envelope_signed_by(store, layer, signer) is not None
        )

    return replaced


def _envelope_signed_by(store: Store, layer: Descriptor, signer: KeySigner) -> Envelope | None:
    if layer.media_type != ENVELOPE_MEDIA_TYPE:
        return None
    try:
        envelope = Envelope.from_json(store.read_blob(layer, MAX_ATTACHMENT_SIZE))
        verify_envelope(envelope, signer.key.public_key)
    except (VerificationError, GateError):
        return None
    return envelope


def _key_signed_by(key: SigningKey) -> Callable[[bytes], bytes | None]:
    """The statement of a bundle that ``key`` signed, or None."""

    def statement(bundle: bytes) -> bytes | None:
        try:
            return verify_envelope(bundle_envelope(bundle), key.public_key)
        except (VerificationError, GateError):
            return None

    return statement


# -- keyless ----------------------------------------------------------------------------------


def _keyless(
    target: Target,
    repository: str,
    signer: KeylessSigner,
    attestations: Sequence[Attestation],
    sign: bool,
    replace: bool,
) -> list[Published]:
    token = signer.identity_token or detect_identity_token()
    artifacts: list[PredicateArtifact] = []
    bundles = []
    for item in attestations:
        detached, predicate = _detach_if_large(target, repository, item)
        artifacts += detached
        bundles.append(_keyless_bundle(target, repository, item.predicate_type, predicate, token, signer))
    signature_bundles = (
        [_keyless_bundle(target, repository, COSIGN_SIGN_V1, {}, token, signer)] if sign else []
    )
    ours = {signer_of_bundle(bundle.bundle) for bundle in (*bundles, *signature_bundles)}
    same_identity = _keyless_signed_by(ours)
    fresh, stale = _new_bundles(target, bundles, same_identity, replace)
    fresh_signatures, _ = _new_bundles(target, signature_bundles, same_identity, replace=False)
    kept_artifacts = [a for a in artifacts if any(_names_artifact(b.bundle, a.digest) for b in fresh)]
    published = publish(
        target,
        attestation_bundles=fresh,
        signature_bundles=fresh_signatures,
        predicate_artifacts=kept_artifacts,
    )
    _drop(target, stale)
    return published


def _keyless_bundle(
    target: Target,
    repository: str,
    predicate_type: str,
    predicate: Any,
    token: str | None,
    signer: KeylessSigner,
) -> BundleArtifact:
    statement = build_statement(repository, target.subject.digest, predicate_type, predicate)
    try:
        bundle = sign_dsse_keyless(
            statement, IN_TOTO_PAYLOAD_TYPE, identity_token=token, trust_config=signer.trust_config
        )
    except GateError:
        raise
    except Exception as error:  # any failure of the sigstore stack is reported, never a pass
        raise SigningError(f"keyless signing failed: {type(error).__name__}: {error}") from error
    return BundleArtifact(bundle, BUNDLE_MEDIA_TYPE, predicate_type)


def _detach_if_large(
    target: Target, repository: str, item: Attestation
) -> tuple[list[PredicateArtifact], Any]:
    """A predicate too large for public Rekor goes into its own referrer; the statement signs its digest."""
    statement = build_statement(repository, target.subject.digest, item.predicate_type, item.predicate)
    if not needs_detached_predicate(statement):
        return [], item.predicate
    raw = canonical_json(item.predicate)
    artifact = predicate_artifact(target.subject, raw, item.predicate_type)
    return [artifact], detached_predicate(digest_of(raw), len(raw), artifact.digest)


def _keyless_signed_by(identities: set[str]) -> Callable[[bytes], bytes | None]:
    """The statement of a bundle whose certificate names one of our identities, or None.

    Only used to recognise our own earlier bundles (to skip or replace them); `gate verify`
    is what checks that a bundle is genuine.
    """

    def statement(bundle: bytes) -> bytes | None:
        if signer_of_bundle(bundle) not in identities:
            return None
        try:
            return bundle_envelope(bundle).payload
        except GateError:
            return None

    return statement


def _names_artifact(bundle: bytes, digest: str) -> bool:
    return digest in _detached_artifacts(bundle)


def _detached_artifacts(bundle: bytes) -> set[str]:
    try:
        predicate = safejson.loads(bundle_envelope(bundle).payload).get("predicate")
    except (GateError, ValueError, AttributeError):
        return set()
    detached = predicate.get(DETACHED_KEY) if isinstance(predicate, dict) else None
    artifact = detached.get("artifact") if isinstance(detached, dict) else None
    return {artifact} if isinstance(artifact, str) else set()


# -- bundle referrers, shared -----------------------------------------------------------------


@dataclass(frozen=True)
class _Referrer:
    digest: str
    predicate_type: str
    statement: bytes
    bundle: bytes


def _new_bundles(
    target: Target,
    bundles: Sequence[BundleArtifact],
    statement_of: Callable[[bytes], bytes | None],
    replace: bool,
) -> tuple[list[BundleArtifact], list[_Referrer]]:
    """Bundles the same signer has not published yet, and (``replace``) the earlier ones they supersede."""
    if not bundles:
        return [], []
    ours = _our_referrers(target, statement_of)
    fresh, stale = [], []
    for bundle in bundles:
        statement = bundle_envelope(bundle.bundle).payload
        same_type = [r for r in ours if r.predicate_type == bundle.predicate_type]
        if any(same_statement(r.statement, statement) for r in same_type):
            logger.info("%s: an identical bundle is already published", bundle.predicate_type)
            continue
        fresh.append(bundle)
        if replace:
            stale += same_type
    return fresh, stale


def _our_referrers(target: Target, statement_of: Callable[[bytes], bytes | None]) -> list[_Referrer]:
    found = []
    for descriptor in target.store.referrers(target.subject.digest, BUNDLE_MEDIA_TYPE):
        predicate_type = descriptor.annotations.get(BUNDLE_PREDICATE_ANNOTATION)
        if not predicate_type:
            continue
        manifest = target.store.get_document(descriptor.digest)
        if not isinstance(manifest, Manifest) or len(manifest.layers) != 1:
            continue
        try:
            bundle = target.store.read_blob(manifest.layers[0], MAX_ATTACHMENT_SIZE)
        except GateError:
            continue
        statement = statement_of(bundle)
        if statement is not None:
            found.append(_Referrer(descriptor.digest, predicate_type, statement, bundle))
    return found


def _drop(target: Target, stale: list[_Referrer]) -> None:
    """Remove superseded bundle referrers, and the detached predicates only they named."""
    if not stale:
        return
    digests = {referrer.digest for referrer in stale}
    for referrer in stale:
        digests |= _detached_artifacts(referrer.bundle)
    kept = [
        d
        for d in target.store.referrers(target.subject.digest)
        if d.digest not in digests and d.artifact_type != PREDICATE_ARTIFACT_TYPE
    ]
    still_named = set().union(*(_named_by(target.store, d) for d in kept)) if kept else set()
    remove_fallback_referrers(target.store, target.subject.digest, digests - still_named)


def _named_by(store: Store, descriptor: Descriptor) -> set[str]:
    if descriptor.artifact_type != BUNDLE_MEDIA_TYPE:
        return set()
    manifest = store.get_document(descriptor.digest)
    if not isinstance(manifest, Manifest) or len(manifest.layers) != 1:
        return set()
    return _detached_artifacts(store.read_blob(manifest.layers[0], MAX_ATTACHMENT_SIZE))
