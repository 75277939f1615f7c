"""The database as an OCI artifact: `gate db push REF` and `gate db update --from oci://REF`.

One manifest (``artifactType`` :data:`ARTIFACT_TYPE`, empty config) with one layer: the SQLite
file compressed with zstd. Annotations carry the content digest, build time and schema
version. Pushing goes through gate's Store API, so a registry and an ``oci:DIR`` layout work
alike. Pulling verifies the blob digest (the store's VerifyingReader), the schema version and
the content digest recomputed from the records before the file replaces the local DB.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from gate.vulndb.errors import VulnDBError
from gate.vulndb.store import SCHEMA_VERSION, VulnDB

ARTIFACT_TYPE = "application/vnd.gate.vulndb.v1"
LAYER_MEDIA_TYPE = "application/vnd.gate.vulndb.layer.v1.sqlite+zstd"
DIGEST_ANNOTATION = "dev.gate.vulndb.digest"
BUILT_AT_ANNOTATION = "dev.gate.vulndb.built-at"
SCHEMA_ANNOTATION = "dev.gate.vulndb.schema-version"
OCI_PREFIX = "oci://"


def push_db(db_path: Path, reference: str, *, client: Any = None) -> str:
    """Push ``db_path`` to ``reference`` (a registry reference or ``oci:DIR:TAG``); return REF@DIGEST."""
    from gate.image.manifest import EMPTY_JSON, OCI_EMPTY, OCI_MANIFEST, canonical_json

    with VulnDB.open(db_path) as db:
        digest, built_at = db.digest, db.built_at
    store, _ref, tag = _store(reference, client, for_push=True)
    if not tag:
        raise VulnDBError(f"push needs a tag: {reference}")
    with tempfile.TemporaryDirectory(prefix="gate-vulndb-") as work:
        packed = Path(work) / "vulndb.sqlite.zst"
        _compress(db_path, packed)
        layer = store.push_blob(packed)
        config = store.push_blob(EMPTY_JSON)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": OCI_EMPTY, "digest": config.digest, "size": config.size},
        "layers": [
            {
                "mediaType": LAYER_MEDIA_TYPE,
                "digest": layer.digest,
                "size": layer.size,
                "annotations": {"org.opencontainers.image.title": "vulndb.sqlite.zst"},
            }
        ],
        "annotations": {
            DIGEST_ANNOTATION: digest,
            BUILT_AT_ANNOTATION: built_at,
            SCHEMA_ANNOTATION: str(SCHEMA_VERSION),
            "org.opencontainers.image.created": built_at,
        },
    }
    pushed = store.push_manifest(canonical_json(manifest), media_type=OCI_MANIFEST, tag=tag)
    return f"{reference}@{pushed.digest}"


def pull_db(reference: str, db_path: Path, *, client: Any = None) -> str:
    """Replace ``db_path`` with the database at ``oci://REF``; return its content digest."""
    from gate.image.manifest import Manifest

    if not reference.startswith(OCI_PREFIX):
        raise VulnDBError(f"--from needs an oci:// reference, got {reference!r}")
    target = reference[len(OCI_PREFIX) :]
    store, ref, _tag = _store(target, client, for_push=False)
    document = store.get_document(ref)
    if not isinstance(document, Manifest) or document.artifact_type != ARTIFACT_TYPE:
        kind = getattr(document, "artifact_type", None) or getattr(document, "media_type", "?")
        raise VulnDBError(f"{target} is not a gate vulnerability database (it is {kind})")
    layers = [layer for layer in document.layers if layer.media_type == LAYER_MEDIA_TYPE]
    if len(layers) != 1:
        raise VulnDBError(f"{target}: expected one {LAYER_MEDIA_TYPE} layer, found {len(layers)}")
    if document.annotations.get(SCHEMA_ANNOTATION) != str(SCHEMA_VERSION):
        raise VulnDBError(
            f"{target} holds database schema {document.annotations.get(SCHEMA_ANNOTATION)}, "
            f"this gate reads {SCHEMA_VERSION}"
        )
    expected = document.annotations.get(DIGEST_ANNOTATION, "")
    return _install(store, layers[0], expected, db_path, target)


def _install(store: Any, layer: Any, expected: str, db_path: Path, target: str) -> str:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=db_path.parent, prefix=f".{db_path.name}.", suffix=".pull")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle, store.open_blob(layer) as reader:
            _decompress(reader, handle, target)
            handle.flush()
            os.fsync(handle.fileno())
        with VulnDB.open(temporary) as pulled:
            actual = pulled.compute_digest()
            if actual != pulled.digest or actual != expected:
                raise VulnDBError(
                    f"{target}: database content digest {actual} does not match its annotation {expected}"
                )
        os.replace(temporary, db_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return actual


def _store(reference: str, client: Any, *, for_push: bool) -> tuple[Any, str, str | None]:
    from gate.image import OciLayout, RegistryClient
    from gate.image.reference import LayoutRef, RegistryRef, parse_reference

    ref = parse_reference(reference)
    if isinstance(ref, RegistryRef):
        return (client or RegistryClient()).repository(ref), ref.reference, ref.tag
    if isinstance(ref, LayoutRef):
        exists = (ref.path / "index.json").exists()
        layout = OciLayout.create(ref.path) if for_push and not exists else OciLayout.open(ref.path)
        return layout, ref.digest or ref.tag or "latest", ref.tag
    raise VulnDBError(f"{reference}: the database goes to a registry or an oci: layout")


def _compress(source: Path, target: Path) -> None:
    import zstandard

    with source.open("rb") as reader, target.open("wb") as writer:
        zstandard.ZstdCompressor(level=10, threads=-1).copy_stream(reader, writer)


def _decompress(reader: Any, writer: Any, target: str) -> None:
    import zstandard

    try:
        zstandard.ZstdDecompressor().copy_stream(reader, writer)
        reader.drain()
    except zstandard.ZstdError as error:
        raise VulnDBError(f"{target}: the database layer is not valid zstd: {error}") from error
