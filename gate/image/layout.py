"""OCI image layout directories, read and written (``oci:DIR[:TAG]``).

    DIR/oci-layout          {"imageLayoutVersion": "1.0.0"}
    DIR/index.json          an image index; tags are ``org.opencontainers.image.ref.name`` annotations
    DIR/blobs/sha256/<hex>  content-addressed blobs

Writes are atomic (temporary file, then rename), so a crash never leaves a torn
``index.json`` or a blob whose name lies about its content.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gate import safejson
from gate.errors import ImageFormatError, IntegrityError, NotFoundError
from gate.image.digest import VerifyingReader, digest_of, validate_digest, verify_bytes
from gate.image.manifest import (
    MAX_MANIFEST_SIZE,
    OCI_INDEX,
    Descriptor,
    Index,
    Manifest,
    canonical_json,
    parse_document,
)
from gate.image.store import add_fallback_referrer, as_document, read_fallback_referrers, read_small_blob

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
# tags that hold what is attached to an image, not images: the referrers index and cosign's tags
_ATTACHMENT_TAG = re.compile(r"(?:sha256|sha512)-[0-9a-f]{64,128}(?:\.(?:sig|att|sbom))?")
class _LayoutLock:
    """An exclusive lock on one layout, across processes and threads; the holder may take it
    again (a tag update writes index.json through push_manifest). The flock is on ``oci-layout``,
    the one file every layout has and nothing ever replaces (index.json is renamed over)."""

    def __init__(self) -> None:
        self.threads = threading.RLock()
        self.depth = 0
        self.fd = -1

    @contextlib.contextmanager
    def held(self, path: Path) -> Iterator[bool]:
        with self.threads:
            if self.depth == 0:
                self.fd = os.open(path / LAYOUT_FILE, os.O_RDONLY)
                fcntl.flock(self.fd, fcntl.LOCK_EX)
            self.depth += 1
            try:
                yield True
            finally:
                self.depth -= 1
                if self.depth == 0:
                    os.close(self.fd)  # releases the flock


_LOCKS: dict[Path, _LayoutLock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_of(path: Path) -> _LayoutLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path.resolve(), _LayoutLock())


@dataclass
class OciLayout:
    """One OCI image layout directory."""

    path: Path

    @classmethod
    def open(cls, path: Path) -> OciLayout:
        layout = cls(path)
        marker = path / LAYOUT_FILE
        if not marker.is_file():
            raise NotFoundError(f"{path} is not an OCI image layout (no {LAYOUT_FILE} file)")
        try:
            version = safejson.loads(marker.read_bytes()).get("imageLayoutVersion")
        except (ValueError, AttributeError) as error:
            raise ImageFormatError(f"{marker} is not valid JSON") from error
        if not isinstance(version, str) or not version.startswith("1."):
            raise ImageFormatError(f"{path}: unsupported imageLayoutVersion {version!r}")
        return layout

    @classmethod
    def create(cls, path: Path) -> OciLayout:
        """Open the layout at ``path``, creating an empty one if the directory has none."""
        if (path / LAYOUT_FILE).exists():
            return cls.open(path)
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        _atomic_write(path / LAYOUT_FILE, canonical_json(LAYOUT_VERSION))
        _atomic_write(
            path / "index.json", canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        )
        return cls(path)

    def describe(self) -> str:
        return f"oci:{self.path}"

    # -- reading --------------------------------------------------------------------------

    def index(self) -> Index:
        index_path = self.path / "index.json"
        if not index_path.is_file():
            raise ImageFormatError(f"{self.path} has no index.json")
        raw = _read_limited(index_path, MAX_MANIFEST_SIZE)
        document = parse_document(raw, media_type=OCI_INDEX)
        if not isinstance(document, Index):
            raise ImageFormatError(f"{index_path} is not an image index")
        return document

    def list_tags(self) -> list[str]:
        return sorted({d.annotations[REF_NAME] for d in self.index().manifests if REF_NAME in d.annotations})

    def resolve(self, reference: str | None) -> Descriptor:
        """A tag, a digest, or (when the layout holds one image) nothing."""
        entries = self.index().manifests
        if reference is None:
            # referrers indexes (``sha256-<hex>``, written for signatures) are not images
            images = [e for e in entries if not _ATTACHMENT_TAG.fullmatch(e.annotations.get(REF_NAME, ""))]
            if len(images) == 1:
                return images[0]
            tags = ", ".join(self.list_tags()) or "none"
            raise ImageFormatError(f"{self.describe()} holds {len(images)} images; name one (tags: {tags})")
        if ":" in reference:
            for entry in entries:
                if entry.digest == reference:
                    return entry
            return self._descriptor_from_blob(reference)
        for entry in entries:
            if entry.annotations.get(REF_NAME) == reference:
                return entry
        raise NotFoundError(f"{self.describe()}: tag {reference!r} not found")

    def get_document(self, reference: str) -> Manifest | Index:
        descriptor = self.resolve(reference)
        raw = self.read_blob(descriptor, MAX_MANIFEST_SIZE)
        return parse_document(raw, media_type=descriptor.media_type, digest=descriptor.digest)

    def _descriptor_from_blob(self, digest: str) -> Descriptor:
        raw = self.read_blob(
            Descriptor("application/octet-stream", digest, self._blob_size(digest)), MAX_MANIFEST_SIZE
        )
        document = parse_document(raw, digest=digest)
        return Descriptor(document.media_type, digest, len(raw))

    def blob_path(self, digest: str) -> Path:
        algorithm, encoded = validate_digest(digest).split(":", 1)
        return self.path / "blobs" / algorithm / encoded

    def _blob_size(self, digest: str) -> int:
        path = self.blob_path(digest)
        if not path.is_file():
            raise NotFoundError(f"{self.describe()}: blob {digest} not found")
        return path.stat().st_size

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    @contextlib.contextmanager
    def open_blob(self, descriptor: Descriptor) -> Iterator[VerifyingReader]:
        path = self.blob_path(descriptor.digest)
        if not path.is_file():
            raise NotFoundError(f"{self.describe()}: blob {descriptor.digest} not found")
        with path.open("rb") as handle:
            yield VerifyingReader(
                handle, descriptor.digest, descriptor.size, what=f"blob {descriptor.digest}"
            )

    def read_blob(self, descriptor: Descriptor, max_size: int) -> bytes:
        return read_small_blob(self, descriptor, max_size)

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[Descriptor]:
        found = read_fallback_referrers(self, digest)
        return [d for d in found if artifact_type is None or d.artifact_type == artifact_type]

    # -- writing --------------------------------------------------------------------------

    def push_blob(self, content: bytes | Path, *, digest: str | None = None) -> Descriptor:
        """Store a blob (verified against ``digest`` when given)."""
        if isinstance(content, bytes):
            if digest:
                verify_bytes(content, digest, what="blob")
            else:
                digest = digest_of(content)
            target = self.blob_path(digest)
            if not target.exists():
                _atomic_write(target, content)
            return Descriptor("application/octet-stream", digest, len(content))
        return self._push_file(content, digest)

    def _push_file(self, source: Path, digest: str | None) -> Descriptor:
        import hashlib

        self.blob_path(digest or "sha256:" + "0" * 64).parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        fd, temp = tempfile.mkstemp(dir=self.path / "blobs", prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
            actual = f"sha256:{hasher.hexdigest()}"
            if digest and actual != digest:
                raise IntegrityError(f"{source} does not match its digest: expected {digest}, got {actual}")
            os.replace(temp, self.blob_path(actual))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        return Descriptor("application/octet-stream", actual, source.stat().st_size)

    def exclusive(self) -> contextlib.AbstractContextManager[bool]:
        """The layout's lock: concurrent gate processes and threads update index.json in turn."""
        return _lock_of(self.path).held(self.path)

    def push_manifest(
        self, document: Manifest | Index | bytes, *, media_type: str | None = None, tag: str | None = None
    ) -> Descriptor:
        """Store a manifest or index; list it in index.json (under ``tag`` if given)."""
        parsed = as_document(document, media_type)
        self.push_blob(parsed.raw, digest=parsed.digest)
        descriptor = parsed.descriptor
        if tag is not None or parsed.subject is None:
            with self.exclusive():
                self._add_to_index(descriptor, tag)
        if parsed.subject is not None:
            add_fallback_referrer(self, parsed)
        return descriptor

    def _add_to_index(self, descriptor: Descriptor, tag: str | None) -> None:
        index = self.index()
        annotations = {REF_NAME: tag} if tag else {}
        entry = Descriptor(
            descriptor.media_type,
            descriptor.digest,
            descriptor.size,
            annotations=annotations,
            artifact_type=descriptor.artifact_type,
        )
        kept = [
            e
            for e in index.manifests
            if not (tag and e.annotations.get(REF_NAME) == tag)
            and not (not tag and REF_NAME not in e.annotations and e.digest == descriptor.digest)
        ]
        kept.append(entry)
        raw = canonical_json(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [e.to_json() for e in kept]}
        )
        _atomic_write(self.path / "index.json", raw)


def _read_limited(path: Path, limit: int) -> bytes:
    if path.stat().st_size > limit:
        raise ImageFormatError(f"{path} is over the {limit} byte limit")
    return path.read_bytes()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
