"""``gate promote``: verify an image, copy it with everything attached, and record the promotion.

    from gate.promote import promote
    promotion = promote("registry-a/app:1.4", "registry-b/app:1.4", trust, VerifyOptions(...),
                        signer=KeySigner(key))
    promotion.verification.verified, promotion.copied, promotion.published

1. The source is verified exactly as ``gate verify`` would; what does not verify is not copied.
2. Copied, digests preserved: every blob (a cross-repository mount when source and destination
   are on one registry, else streamed through a bounded temporary file and checked against its
   digest), the platform manifests, the manifest or index itself (tagged last), every OCI
   referrer of the image (and theirs), and cosign's ``.sig`` / ``.att`` / ``.sbom`` tags (merged
   into the destination's, so nothing already there is lost).
3. A promotion attestation (:mod:`gate.attest.promotion`) is signed and attached at the destination.

Idempotent: what the destination already holds is not copied again, and a promotion already
recorded by the same signer for the same source, destination and policy is not repeated.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sigstore.oidc import IdentityError, IdentityToken

from gate.attest.promotion import PromotionRecord, promotion_predicate, same_promotion
from gate.attest.types import GATE_PROMOTION_V1
from gate.errors import GateError, NotFoundError
from gate.image.attachments import COSIGN_SUFFIXES, Entry
from gate.image.layout import OciLayout
from gate.image.manifest import Descriptor, Index, Manifest
from gate.image.reference import LayoutRef, RegistryRef, parse_reference
from gate.image.registry import RegistryClient, RegistryRepository
from gate.image.store import Store, referrers_tag
from gate.publish import Published, Target, update_cosign_tag
from gate.sign.keyless import detect_identity_token
from gate.signing import Attestation, KeySigner, Signer, sign_and_attest
from gate.verify import ImageAtRest, Verification, VerifyOptions, open_at_rest, verify_at_rest
from gate.verify.evidence import gather, predicate_of
from gate.verify.trust import Trust

MAX_REFERRER_DEPTH = 3
MAX_SIGNATURE_LAYER = 64 * 1024 * 1024


@dataclass(frozen=True)
class Copied:
    kind: str  # blob, manifest, index, referrer, tag
    reference: str  # digest, or the tag for cosign tags
    size: int
    how: str  # present, mount, stream, push, merge


@dataclass
class Promotion:
    source: str
    destination: str
    digest: str
    verification: Verification
    dry_run: bool
    copied: list[Copied] = field(default_factory=list)
    published: list[Published] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return not self.verification.verified

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "destination": self.destination,
            "digest": self.digest,
            "dryRun": self.dry_run,
            "refused": self.refused,
            "verification": self.verification.to_json(),
            "copied": [vars(item) for item in self.copied],
            "promotionAttestation": [vars(item) for item in self.published],
        }


@dataclass(frozen=True)
class Destination:
    store: Store
    name: str
    tag: str | None


def promote(
    source: str,
    destination: str,
    trust: Trust,
    options: VerifyOptions | None = None,
    *,
    signer: Signer | None,
    dry_run: bool = False,
    client: RegistryClient | None = None,
) -> Promotion:
    """Verify ``source``; if it verifies, copy it to ``destination`` and attest the promotion."""
    client = client or RegistryClient()
    image = open_at_rest(source, client=client)
    verification = verify_at_rest(image, trust, options, reference=source)
    target = open_destination(destination, image, client=client, default_tag=_tag_of(source))
    promotion = Promotion(source, destination, image.digest, verification, dry_run)
    if promotion.refused:
        return promotion
    if signer is None and not dry_run:
        raise GateError("give --signing-key KEY or --keyless to sign the promotion attestation")
    copier = _Copier(image, target, dry_run)
    copier.copy_image()
    copier.copy_attachments()
    promotion.copied = copier.copied
    if not dry_run and signer is not None:
        record = _record(image, target, verification, options)
        promotion.published = _attest_promotion(image, target, signer, record)
    return promotion


def open_destination(
    reference: str, image: ImageAtRest, *, client: RegistryClient, default_tag: str | None = None
) -> Destination:
    """Where to copy to; without a tag or digest of its own, the source's tag is used."""
    ref = parse_reference(reference)
    if isinstance(ref, RegistryRef | LayoutRef) and ref.digest and ref.digest != image.digest:
        raise GateError(f"{reference} names digest {ref.digest}, but the source is {image.digest}")
    if isinstance(ref, RegistryRef):
        named = reference.split("@", 1)[0].rsplit("/", 1)[-1]
        tag = ref.tag if ":" in named else default_tag  # parsing fills in "latest" when none is named
        return Destination(client.repository(ref), ref.name, tag)
    if isinstance(ref, LayoutRef):
        path = ref.path
        layout = OciLayout.open(path) if (path / "index.json").exists() else OciLayout.create(path)
        return Destination(layout, str(path), ref.tag if ref.tag or ref.digest else default_tag)
    raise GateError(f"cannot promote to {reference}: use a registry repository or an oci: layout")


def _tag_of(reference: str) -> str | None:
    ref = parse_reference(reference)
    return ref.tag if isinstance(ref, RegistryRef | LayoutRef) else None


class _Copier:
    """Copies documents and blobs from the source store to the destination, recording each."""

    def __init__(self, image: ImageAtRest, target: Destination, dry_run: bool) -> None:
        self.source = image.store
        self.image = image
        self.target = target
        self.dry_run = dry_run
        self.copied: list[Copied] = []

    def copy_image(self) -> None:
        top = self.source.get_document(self.image.digest)
        for child in self._children(top):
            self._copy_document(child, "manifest")
        self._copy_document(top, "index" if isinstance(top, Index) else "manifest", tag=self.target.tag)

    def copy_attachments(self) -> None:
        top = self.source.get_document(self.image.digest)
        subjects = [top.digest, *(child.digest for child in self._children(top))]
        for subject in subjects:
            self._copy_referrers(subject, depth=1)
            for suffix in COSIGN_SUFFIXES:
                self._copy_cosign_tag(f"{referrers_tag(subject)}.{suffix}")

    def _children(self, document: Manifest | Index) -> list[Manifest | Index]:
        if not isinstance(document, Index):
            return []
        return [self.source.get_document(entry.digest) for entry in document.manifests]

    def _copy_referrers(self, subject: str, depth: int) -> None:
        if depth > MAX_REFERRER_DEPTH:
            return
        for descriptor in self.source.referrers(subject):
            referrer = self.source.get_document(descriptor.digest)
            self._copy_document(referrer, "referrer")
            self._copy_referrers(referrer.digest, depth + 1)

    def _copy_document(self, document: Manifest | Index, kind: str, *, tag: str | None = None) -> None:
        if isinstance(document, Manifest):
            for blob in (document.config, *document.layers):
                self._copy_blob(blob)
        present = self._has_document(document.digest)
        if present and tag is None:
            self.copied.append(Copied(kind, document.digest, len(document.raw), "present"))
            return
        self.copied.append(Copied(kind, document.digest, len(document.raw), "present" if present else "push"))
        if not self.dry_run:
            self.target.store.push_manifest(document.raw, media_type=document.media_type, tag=tag)

    def _copy_blob(self, blob: Descriptor) -> None:
        if blob.urls:  # a foreign layer stays where its URLs point
            return
        destination = self.target.store
        if destination.has_blob(blob.digest):
            self.copied.append(Copied("blob", blob.digest, blob.size, "present"))
            return
        how = "mount" if self._same_registry() else "stream"
        if not self.dry_run:
            if how == "mount" and not self._mount(blob):
                how = "stream"
            if how == "stream":
                self._stream(blob)
        self.copied.append(Copied("blob", blob.digest, blob.size, how))

    def _same_registry(self) -> bool:
        source, destination = self.source, self.target.store
        return (
            isinstance(source, RegistryRepository)
            and isinstance(destination, RegistryRepository)
            and source.host == destination.host
            and source.name != destination.name
        )

    def _mount(self, blob: Descriptor) -> bool:
        assert isinstance(self.target.store, RegistryRepository)
        assert isinstance(self.source, RegistryRepository)
        return self.target.store.mount_blob(blob.digest, self.source.name)

    def _stream(self, blob: Descriptor) -> None:
        """Through a temporary file: bounded memory, and the digest is checked before pushing."""
        with tempfile.TemporaryDirectory(prefix="gate-promote-") as directory:
            path = Path(directory) / "blob"
            with self.source.open_blob(blob) as reader, path.open("wb") as spool:
                shutil.copyfileobj(reader, spool, 1024 * 1024)
                reader.drain()
            self.target.store.push_blob(path, digest=blob.digest)

    def _copy_cosign_tag(self, tag: str) -> None:
        try:
            document = self.source.get_document(tag)
        except NotFoundError:
            return
        if not isinstance(document, Manifest):
            return
        try:
            existing = self.target.store.get_document(tag)
        except NotFoundError:
            existing = None
        if existing is None:
            self._copy_document(document, "tag", tag=tag)
            self.copied[-1] = Copied("tag", tag, len(document.raw), "push")
            return
        missing = [layer for layer in document.layers if layer not in getattr(existing, "layers", ())]
        self.copied.append(Copied("tag", tag, len(document.raw), "merge" if missing else "present"))
        if missing and not self.dry_run:
            entries = [_entry(self.source, layer) for layer in missing]
            update_cosign_tag(self.target.store, tag, entries)

    def _has_document(self, digest: str) -> bool:
        try:
            self.target.store.get_document(digest)
        except NotFoundError:
            return False
        return True


def _entry(store: Store, layer: Descriptor) -> Entry:
    return Entry(store.read_blob(layer, MAX_SIGNATURE_LAYER), layer.media_type, dict(layer.annotations))


def _record(
    image: ImageAtRest, target: Destination, verification: Verification, options: VerifyOptions | None
) -> PromotionRecord:
    signature = next(check for check in verification.checks if check.name == "signature")
    vsa = next((check for check in verification.checks if check.name == "vsa"), None)
    policy = vsa.data.get("policyDigest") if vsa else None
    return PromotionRecord(
        source_name=image.name,
        source_digest=image.digest,
        destination_name=target.name,
        destination_tag=target.tag,
        trust=verification.trust,
        accepted_signers=tuple(signature.data.get("signers", ())),
        requirements=tuple(required.name for required in (options.require if options else ())),
        policy_digest=policy if isinstance(policy, str) else None,
    )


def _attest_promotion(
    image: ImageAtRest, target: Destination, signer: Signer, record: PromotionRecord
) -> list[Published]:
    subject = Target(target.store, image.subject)
    if _already_promoted(target.store, image.digest, signer, record):
        return []
    attestation = Attestation(GATE_PROMOTION_V1, promotion_predicate(record))
    return sign_and_attest(subject, target.name, signer, attestations=[attestation], sign=False)


def _already_promoted(store: Store, digest: str, signer: Signer, record: PromotionRecord) -> bool:
    """A promotion the same signer already recorded for this source, destination and policy."""
    trust = _signer_trust(signer)
    if trust is None:
        return False
    evidence = gather(store, digest, trust)
    return any(
        item.accepted and same_promotion(predicate_of(store, item), record)
        for item in evidence.attestations_of(GATE_PROMOTION_V1)
    )


def _signer_trust(signer: Signer) -> Trust | None:
    """Whom to verify earlier promotions with: the signing key, or the token's OIDC issuer.

    Keyless, the certificate's identity is Fulcio's to choose (on GitHub the workflow URI, not
    the token's ``sub``), so any signer of the token's issuer whose bundle verifies against the
    same trusted root counts; a consumer still checks the identity it requires.
    """
    if isinstance(signer, KeySigner):
        return Trust(keys=(signer.key.public_key,))
    token = signer.identity_token or detect_identity_token()
    if not token:
        return None
    try:
        issuer = IdentityToken(token).issuer
    except IdentityError:
        return None
    return Trust(identity_regexp="", issuer=issuer, trusted_root=signer.trust_config)
