"""What is attached to an image, and who claims to have signed it: the data of `gate tree`.

OCI 1.1 referrers and cosign-style tags (:mod:`gate.image.attachments` names them); signers
are read from certificates and bundles without verifying them (:mod:`gate.sign.signer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gate.errors import NotFoundError
from gate.image.attachments import CERTIFICATE_ANNOTATION, COSIGN_SUFFIXES, PREDICATE_TYPE_ANNOTATIONS
from gate.image.image import DirImage, Image
from gate.image.layout import OciLayout
from gate.image.manifest import Manifest
from gate.image.registry import RegistryRepository
from gate.image.store import referrers_tag
from gate.sign.signer import signer_of_bundle, signer_of_certificate_pem


@dataclass(frozen=True)
class Attachment:
    subject: str
    kind: str  # "referrer" or one of COSIGN_SUFFIXES' keys
    reference: str  # the digest (referrers) or tag (cosign) it is stored under
    digest: str
    artifact_type: str
    entries: int  # layers: signatures or attestations it holds
    predicate_types: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    claimed_signers: tuple[str, ...] = ()  # read, never verified here: `gate verify` checks them


def find_attachments(image: Image | DirImage) -> list[Attachment]:
    """Referrers and cosign tags of the image's digest (and of the platform manifest's)."""
    if isinstance(image, DirImage) or not isinstance(image.store, RegistryRepository | OciLayout):
        return []
    store = image.store
    subjects = [image.digest] + ([image.manifest.digest] if image.index else [])
    tags = set(store.list_tags())
    found: list[Attachment] = []
    for subject in subjects:
        for descriptor in store.referrers(subject):
            document = store.get_document(descriptor.digest)
            found.append(
                Attachment(
                    subject=subject,
                    kind="referrer",
                    reference=descriptor.digest,
                    digest=descriptor.digest,
                    artifact_type=descriptor.artifact_type or "",
                    entries=_entry_count(document),
                    predicate_types=_predicate_types(document, descriptor.annotations),
                    annotations=descriptor.annotations,
                    claimed_signers=_bundle_signers(store, document),
                )
            )
        for suffix in COSIGN_SUFFIXES:
            tag = f"{referrers_tag(subject)}.{suffix}"
            if tag not in tags:
                continue
            try:
                document = store.get_document(tag)
            except NotFoundError:
                continue
            found.append(
                Attachment(
                    subject=subject,
                    kind=suffix,
                    reference=tag,
                    digest=document.digest,
                    artifact_type=document.artifact_type
                    or (
                        document.config.media_type if isinstance(document, Manifest) else document.media_type
                    ),
                    entries=_entry_count(document),
                    predicate_types=_predicate_types(document, {}),
                    claimed_signers=_layer_signers(document) if suffix != "sbom" else (),
                )
            )
    return found


def _entry_count(document: object) -> int:
    return len(document.layers) if isinstance(document, Manifest) else 0


def _predicate_types(document: object, annotations: dict[str, str]) -> tuple[str, ...]:
    found = [annotations[key] for key in PREDICATE_TYPE_ANNOTATIONS if key in annotations]
    if isinstance(document, Manifest):
        found += [
            layer.annotations[key]
            for layer in document.layers
            for key in PREDICATE_TYPE_ANNOTATIONS
            if key in layer.annotations
        ]
        found += [
            document.annotations[key] for key in PREDICATE_TYPE_ANNOTATIONS if key in document.annotations
        ]
    return tuple(dict.fromkeys(found))


BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"
MAX_BUNDLE_SIZE = 16 * 1024 * 1024


def _bundle_signers(store: RegistryRepository | OciLayout, document: object) -> tuple[str, ...]:
    if not isinstance(document, Manifest):
        return ()
    return tuple(
        signer_of_bundle(store.read_blob(layer, MAX_BUNDLE_SIZE))
        for layer in document.layers
        if layer.media_type.startswith(BUNDLE_MEDIA_PREFIX)
    )


def _layer_signers(document: object) -> tuple[str, ...]:
    """cosign tags: a certificate annotation names a keyless signer; otherwise a key signed it."""
    if not isinstance(document, Manifest):
        return ()
    return tuple(
        signer_of_certificate_pem(layer.annotations[CERTIFICATE_ANNOTATION])
        if CERTIFICATE_ANNOTATION in layer.annotations
        else "key (cosign stores no key id)"
        for layer in document.layers
    )
