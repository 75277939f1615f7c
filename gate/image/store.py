"""What every place that holds images offers: a registry repository, an OCI layout, an archive.

Later stages read and publish through this interface and never touch HTTP or tar.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from gate.errors import ImageFormatError, NotFoundError, RacedWriteError, RegistryError
from gate.image.digest import VerifyingReader, validate_digest
from gate.image.manifest import OCI_INDEX, Descriptor, Index, Manifest, canonical_json, parse_document


class ReadableStore(Protocol):
    def describe(self) -> str:
        """Where this store is, for messages."""

    def get_document(self, reference: str) -> Manifest | Index:
        """A manifest or index by tag or digest, verified against its digest."""

    def open_blob(self, descriptor: Descriptor) -> contextlib.AbstractContextManager[VerifyingReader]:
        """A stream of the blob; reading it to the end verifies size and digest."""

    def read_blob(self, descriptor: Descriptor, max_size: int) -> bytes:
        """A small blob (config, signature payload) read whole and verified."""


class Store(ReadableStore, Protocol):
    def has_blob(self, digest: str) -> bool: ...

    def push_blob(self, content: bytes | Path, *, digest: str | None = None) -> Descriptor: ...

    def push_manifest(
        self, document: Manifest | Index | bytes, *, media_type: str | None = None, tag: str | None = None
    ) -> Descriptor: ...

    def list_tags(self) -> list[str]: ...

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[Descriptor]: ...

    def exclusive(self) -> contextlib.AbstractContextManager[bool]:
        """Held around a read-modify-write of a tag: a lock where the store has one (an OCI
        layout: yields True), nothing where it cannot (a registry has no compare-and-swap: False)."""


MERGE_ATTEMPTS = 20
SETTLE_SECONDS = 0.25  # at least; under load, a multiple of how long our own read-to-write took


def merge_pause(attempt: int) -> None:
    """A random pause before merging again, so that writers racing for one tag spread out."""
    time.sleep(random.uniform(0, min(0.02 * 2**attempt, 1.5)))  # noqa: S311 - jitter, not a secret


def confirmed(check: Callable[[], bool], *, locked: bool, took: float) -> bool:
    """Whether an update we wrote is there; without a lock, right away and once more after a
    settle time: a writer that read before our write PUTs within about as long as our own
    read-to-write took (``took``), so by then it has overwritten us or will see our write."""
    if not check():
        return False
    if locked:
        return True
    time.sleep(max(SETTLE_SECONDS, 3 * took))
    return check()


def as_document(document: Manifest | Index | bytes, media_type: str | None) -> Manifest | Index:
    """What push_manifest was given, parsed (and so validated) if it came as bytes."""
    return (
        document
        if isinstance(document, Manifest | Index)
        else parse_document(document, media_type=media_type)
    )


def referrers_tag(digest: str) -> str:
    """The OCI referrers tag schema: ``sha256:abc`` -> ``sha256-abc``."""
    algorithm, encoded = validate_digest(digest).split(":", 1)
    return f"{algorithm[:32]}-{encoded[:64]}"


def read_fallback_referrers(store: ReadableStore, digest: str) -> list[Descriptor]:
    """Entries of the ``sha256-<hex>`` referrers index, or none when the tag is absent."""
    index = _referrers_index(store, referrers_tag(digest))
    return list(index.manifests) if index else []


def _referrers_index(store: ReadableStore, tag: str) -> Index | None:
    try:
        index = store.get_document(tag)
    except NotFoundError:
        return None
    if not isinstance(index, Index):
        raise ImageFormatError(f"{store.describe()}:{tag} should be a referrers index but is a manifest")
    return index


def add_fallback_referrer(store: Store, document: Manifest | Index) -> None:
    """Append ``document`` to its subject's referrers index (read, modify, write back).

    Other writers may update the index at the same time: the index is re-read just before the
    write (merge again if it moved) and after it (merge again if another writer replaced ours).
    """
    assert document.subject is not None
    subject, tag = document.subject.digest, referrers_tag(document.subject.digest)

    def listed() -> bool:
        return any(entry.digest == document.digest for entry in read_fallback_referrers(store, subject))

    for attempt in range(MERGE_ATTEMPTS):
        locked, started = False, time.monotonic()
        try:
            with store.exclusive() as locked:
                read = _referrers_index(store, tag)
                entries = list(read.manifests) if read else []
                if any(entry.digest == document.digest for entry in entries):
                    return
                entries.append(_referrer_entry(document))
                raw = canonical_json(
                    {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [e.to_json() for e in entries]}
                )
                now = _referrers_index(store, tag)
                if (now.digest if now else None) == (read.digest if read else None):  # unchanged since read
                    store.push_manifest(raw, media_type=OCI_INDEX, tag=tag)
            if confirmed(listed, locked=locked, took=time.monotonic() - started):
                return
        except RacedWriteError:  # another writer's PUT to this tag won: merge again
            pass
        merge_pause(attempt)
    raise RegistryError(
        f"{store.describe()}:{tag} kept changing under concurrent writers; gave up after "
        f"{MERGE_ATTEMPTS} attempts without confirming that it lists {document.digest}"
    )


def _referrer_entry(document: Manifest | Index) -> Descriptor:
    artifact_type = document.artifact_type
    if artifact_type is None and isinstance(document, Manifest):
        artifact_type = document.config.media_type
    return Descriptor(
        document.media_type,
        document.digest,
        len(document.raw),
        annotations=document.annotations,
        artifact_type=artifact_type,
    )


def remove_fallback_referrers(store: Store, subject_digest: str, digests: set[str]) -> None:
    """Drop ``digests`` from the subject's referrers index (the manifests themselves stay stored).

    A registry with the referrers API lists every manifest whose subject is the image, so
    there this only tidies the fallback tag; distribution 2.8 and OCI layouts list the tag.
    """
    with store.exclusive():
        entries = read_fallback_referrers(store, subject_digest)
        kept = [entry for entry in entries if entry.digest not in digests]
        if len(kept) == len(entries):
            return
        raw = canonical_json(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry.to_json() for entry in kept]}
        )
        store.push_manifest(raw, media_type=OCI_INDEX, tag=referrers_tag(subject_digest))


def read_small_blob(store: ReadableStore, descriptor: Descriptor, max_size: int) -> bytes:
    """Read a whole blob that must stay under ``max_size``, verifying its size and digest."""
    if descriptor.size > max_size:
        raise ImageFormatError(f"blob {descriptor.digest} is {descriptor.size} bytes, over {max_size}")
    with store.open_blob(descriptor) as reader:
        data = reader.read()
        reader.drain()
    return data
