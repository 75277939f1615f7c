"""Publish signatures and attestations next to an image, in any :class:`~gate.image.store.Store`.

    publish(Target(store, descriptor), attestations=[...], signature=entry)

Order: every attestation first (``.att`` tag and bundle referrers), the image signature last
(bundle referrer, then ``.sig`` tag), so a visible signature means its attestations are there.

The cosign tags (``sha256-<hex>.sig`` / ``.att``) are read-modify-write: one layer per
signature, identical layers de-duplicated. Registries have no compare-and-swap, so each
update re-reads the tag just before writing (restart if it moved) and after writing, at once
and after a short settle time (merge again if another writer replaced it), with random pauses
between attempts so that racing writers spread out. An OCI layout is locked instead
(``Store.exclusive``). docs/security.md ("Concurrent signers") states what this guarantees.
Bundles go out as OCI 1.1 referrers through ``Store.push_manifest`` with a ``subject``; the
store keeps the fallback ``sha256-<hex>`` index itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from gate.attest._time import now_rfc3339
from gate.errors import GateError, NotFoundError, RacedWriteError, SigningError
from gate.image.attachments import (
    BUNDLE_CONTENT_ANNOTATION,
    BUNDLE_PREDICATE_ANNOTATION,
    CREATED_ANNOTATION,
    PREDICATE_ARTIFACT_ANNOTATION,
    PREDICATE_ARTIFACT_TYPE,
    SIGNATURE_ANNOTATION,
    BundleArtifact,
    Entry,
    LayerFilter,
    attestation_tag,
    signature_tag,
)
from gate.image.digest import digest_of
from gate.image.layout import OciLayout
from gate.image.manifest import (
    EMPTY_JSON,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    canonical_json,
)
from gate.image.reference import LayoutRef, RegistryRef, parse_reference
from gate.image.registry import RegistryClient
from gate.image.store import MERGE_ATTEMPTS, Store, add_fallback_referrer, confirmed, merge_pause

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredicateArtifact:
    """A predicate blob and the referrer manifest that holds it."""

    predicate: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)


@dataclass(frozen=True)
class Target:
    """The image being signed: where it is stored and its top-level manifest or index descriptor."""

    store: Store
    subject: Descriptor


@dataclass(frozen=True)
class Published:
    kind: str  # "sig", "att" or "referrer"
    reference: str  # the tag, or the referrer's digest
    digest: str


def publish(
    target: Target,
    *,
    attestations: Sequence[Entry] = (),
    attestation_bundles: Sequence[BundleArtifact] = (),
    signature: Entry | None = None,
    signature_bundles: Sequence[BundleArtifact] = (),
    replace: LayerFilter | None = None,
    duplicate_signature: LayerFilter | None = None,
    predicate_artifacts: Sequence[PredicateArtifact] = (),
) -> list[Published]:
    """Store everything in order (attestations, then the signature); stop at the first failure.

    ``replace`` picks earlier ``.att`` layers to drop (``--replace``: same predicate type, same
    signer); ``duplicate_signature`` recognises an earlier ``.sig`` layer that already says what
    ``signature`` says (cosign's dupe detector: same payload, verifies with the same key);
    ``predicate_artifacts`` (predicates a detached keyless attestation names) go first of all.
    """
    published: list[Published] = []
    digest = target.subject.digest
    for artifact in predicate_artifacts:
        published.append(push_predicate_artifact(target.store, artifact))
    for bundle in attestation_bundles:
        published.append(push_bundle_referrer(target, bundle))
    if attestations:
        published.append(update_cosign_tag(target.store, attestation_tag(digest), attestations, drop=replace))
    for bundle in signature_bundles:
        published.append(push_bundle_referrer(target, bundle))
    if signature is not None:
        tag = signature_tag(digest)
        published.append(update_cosign_tag(target.store, tag, [signature], duplicate=duplicate_signature))
    relist_lost_referrers(target, [item.digest for item in published if item.kind == "referrer"])
    return published


def relist_lost_referrers(target: Target, digests: list[str]) -> None:
    """Add again any referrer of ours that a racing writer dropped from the fallback index.

    Seconds after our own confirmed update, a writer that read the index before it has long
    written; one more look closes most of what the settle time leaves open (docs/security.md).
    """
    if not digests:
        return
    listed = {entry.digest for entry in target.store.referrers(target.subject.digest)}
    for digest in digests:
        if digest not in listed:
            logger.info("referrer %s was dropped from the referrers index; adding it again", digest)
            add_fallback_referrer(target.store, target.store.get_document(digest))


def update_cosign_tag(
    store: Store,
    tag: str,
    entries: Sequence[Entry],
    *,
    drop: LayerFilter | None = None,
    duplicate: LayerFilter | None = None,
) -> Published:
    """Add ``entries`` as layers of the manifest at ``tag``.

    Layers ``drop`` selects are removed; an entry is not added when an identical layer, or one
    ``duplicate`` accepts, is already there.
    """
    for blob in {entry.descriptor.digest: entry.blob for entry in entries}.values():
        store.push_blob(blob)
    wanted = [entry.descriptor for entry in entries]
    for attempt in range(1, MERGE_ATTEMPTS + 1):
        locked, started = False, time.monotonic()
        try:
            with store.exclusive() as locked:
                current = _read_cosign_manifest(store, tag)
                kept = [layer for layer in (current.layers if current else ()) if not (drop and drop(layer))]
                already = any(duplicate(layer) for layer in kept) if duplicate else False
                new = [d for d in wanted if not already and not any(_same_layer(d, k) for k in kept)]
                layers = kept + new
                if current is not None and list(current.layers) == layers:
                    return Published(tag.rsplit(".", 1)[1], tag, current.digest)
                raw = _cosign_manifest(store, layers)
                unchanged = _digest_at(store, tag) == (current.digest if current else None)
                if unchanged:
                    store.push_manifest(raw, media_type=OCI_MANIFEST, tag=tag)
        except RacedWriteError:  # another writer's PUT to this tag won: merge again
            unchanged = False
        written = digest_of(raw) if unchanged else ""
        took = time.monotonic() - started
        still_ours = lambda written=written: _digest_at(store, tag) == written  # noqa: E731 - bound per attempt
        if unchanged and confirmed(still_ours, locked=locked, took=took):
            return Published(tag.rsplit(".", 1)[1], tag, written)
        logger.info("%s changed under another writer (attempt %d); merging again", tag, attempt)
        merge_pause(attempt)
    raise SigningError(
        f"{store.describe()}:{tag} kept changing under concurrent writers; "
        f"gave up after {MERGE_ATTEMPTS} attempts without confirming the update"
    )


def push_bundle_referrer(target: Target, bundle: BundleArtifact) -> Published:
    """Push ``bundle`` as a referrer manifest of the image (cosign v3's exact shape), by digest."""
    store = target.store
    store.push_blob(EMPTY_JSON)
    layer = store.push_blob(bundle.bundle)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": bundle.media_type,
        "config": {"mediaType": OCI_EMPTY, "digest": digest_of(EMPTY_JSON), "size": len(EMPTY_JSON)},
        "layers": [{"mediaType": bundle.media_type, "digest": layer.digest, "size": layer.size}],
        "subject": target.subject.to_json(),
        "annotations": {
            BUNDLE_CONTENT_ANNOTATION: bundle.content,
            BUNDLE_PREDICATE_ANNOTATION: bundle.predicate_type,
            CREATED_ANNOTATION: now_rfc3339(),
        },
    }
    descriptor = store.push_manifest(canonical_json(manifest), media_type=OCI_MANIFEST)
    return Published("referrer", descriptor.digest, descriptor.digest)


def predicate_artifact(subject: Descriptor, predicate: bytes, predicate_type: str) -> PredicateArtifact:
    """A predicate stored on its own as a referrer of ``subject`` (detached keyless attestations).

    The manifest has no timestamp, so its digest is known before anything is pushed and the
    signed statement can name it.
    """
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": PREDICATE_ARTIFACT_TYPE,
        "config": {"mediaType": OCI_EMPTY, "digest": digest_of(EMPTY_JSON), "size": len(EMPTY_JSON)},
        "layers": [{"mediaType": "application/json", "digest": digest_of(predicate), "size": len(predicate)}],
        "subject": subject.to_json(),
        "annotations": {PREDICATE_ARTIFACT_ANNOTATION: predicate_type},
    }
    return PredicateArtifact(predicate, canonical_json(manifest))


def push_predicate_artifact(store: Store, artifact: PredicateArtifact) -> Published:
    store.push_blob(EMPTY_JSON)
    store.push_blob(artifact.predicate)
    descriptor = store.push_manifest(artifact.manifest, media_type=OCI_MANIFEST)
    return Published("referrer", descriptor.digest, descriptor.digest)


def _cosign_manifest(store: Store, layers: list[Descriptor]) -> bytes:
    config = canonical_json(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        }
    )
    store.push_blob(config)
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [_layer_json(layer) for layer in layers],
        }
    )


def _layer_json(layer: Descriptor) -> dict[str, object]:
    data: dict[str, object] = {"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}
    if layer.annotations:
        data["annotations"] = dict(layer.annotations)
    return data


def _read_cosign_manifest(store: Store, tag: str) -> Manifest | None:
    try:
        document = store.get_document(tag)
    except NotFoundError:
        return None
    if not isinstance(document, Manifest):
        raise SigningError(f"{store.describe()}:{tag} is an index, not a cosign signature manifest")
    return document


def _digest_at(store: Store, tag: str) -> str | None:
    document = _read_cosign_manifest(store, tag)
    return document.digest if document else None


def _same_layer(a: Descriptor, b: Descriptor) -> bool:
    """cosign's de-duplication: the same payload with the same signature annotation."""
    return (a.digest, a.annotations.get(SIGNATURE_ANNOTATION)) == (
        b.digest,
        b.annotations.get(SIGNATURE_ANNOTATION),
    )


def open_target(
    reference: str, *, client: object | None = None, identity: str | None = None
) -> tuple[Target, str]:
    """The store and top-level descriptor ``reference`` names, and the repository name to sign as.

    A registry image signs as its repository (``registry/ns/app``, what cosign writes); an OCI
    layout has no repository of its own, so ``identity`` must name the one it will be published as.
    """
    ref = parse_reference(reference)
    if isinstance(ref, RegistryRef):
        registry_client = client if isinstance(client, RegistryClient) else RegistryClient()
        repository = registry_client.repository(ref)
        return Target(repository, _bare(repository.resolve(ref.reference))), identity or ref.name
    if isinstance(ref, LayoutRef):
        if not identity:
            raise GateError(f"{reference} is an OCI layout: give --identity REPOSITORY to sign it as")
        layout = OciLayout.open(ref.path)
        return Target(layout, _bare(layout.resolve(ref.digest or ref.tag))), identity
    raise GateError(f"cannot sign {reference}: only registry images and oci: layouts can carry signatures")


def _bare(descriptor: Descriptor) -> Descriptor:
    """A subject descriptor is media type, digest and size only (not the layout's tag annotation)."""
    return Descriptor(descriptor.media_type, descriptor.digest, descriptor.size)
