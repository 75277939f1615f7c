"""``docker save`` tarballs (``docker-archive:FILE``), read-only.

The archive's ``manifest.json`` names a config and layer files. There is no registry
manifest, so we build the one ``skopeo copy docker-archive:`` would: Docker schema 2 with
the layers as stored (uncompressed tars, whose digests are the config's diff_ids). That
manifest's digest is the image's digest.
"""

from __future__ import annotations

import contextlib
import hashlib
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from gate import safejson
from gate.errors import ImageFormatError, NotFoundError
from gate.image.digest import VerifyingReader, digest_of, validate_digest
from gate.image.manifest import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    MAX_CONFIG_SIZE,
    Descriptor,
    Index,
    Manifest,
    canonical_json,
    parse_config,
    parse_document,
)
from gate.image.store import read_small_blob

_UNCOMPRESSED = "application/vnd.docker.image.rootfs.diff.tar"
_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class DockerArchive:
    """A ``docker save`` tarball holding one image."""

    path: Path
    _tar: tarfile.TarFile = field(init=False, repr=False)
    _members: dict[str, tarfile.TarInfo] = field(init=False, repr=False)
    _blob_members: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    manifest: Manifest = field(init=False)

    def __post_init__(self) -> None:
        if not self.path.is_file():
            raise NotFoundError(f"docker archive {self.path} not found")
        try:
            self._tar = tarfile.open(self.path, mode="r:")  # noqa: SIM115 - open for the archive's lifetime
            self._members = {_clean(m.name): m for m in self._tar.getmembers() if m.isfile()}
        except (tarfile.TarError, OSError, EOFError) as error:
            raise ImageFormatError(f"{self.path} is not a readable tar archive: {error}") from error
        try:
            self.manifest = self._build_manifest()
        except BaseException:
            self._tar.close()
            raise

    def describe(self) -> str:
        return f"docker-archive:{self.path}"

    def close(self) -> None:
        self._tar.close()

    def _member_bytes(self, name: str, limit: int) -> bytes:
        member = self._members.get(_clean(name))
        if member is None:
            raise ImageFormatError(f"{self.describe()}: {name} is missing from the archive")
        if member.size > limit:
            raise ImageFormatError(f"{self.describe()}: {name} is over the {limit} byte limit")
        handle = self._tar.extractfile(member)
        assert handle is not None
        return handle.read()

    def _build_manifest(self) -> Manifest:
        try:
            entries = safejson.loads(self._member_bytes("manifest.json", MAX_CONFIG_SIZE))
        except ValueError as error:
            raise ImageFormatError(f"{self.describe()}: manifest.json is not valid JSON") from error
        if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
            count = len(entries) if isinstance(entries, list) else "no"
            raise ImageFormatError(
                f"{self.describe()}: expected exactly one image in manifest.json, found {count}"
            )
        entry = entries[0]
        config_name, layer_names = entry.get("Config"), entry.get("Layers")
        if not isinstance(config_name, str) or not isinstance(layer_names, list):
            raise ImageFormatError(f"{self.describe()}: manifest.json entry lacks Config or Layers")
        config_raw = self._member_bytes(config_name, MAX_CONFIG_SIZE)
        config = parse_config(config_raw)
        if len(config.diff_ids) != len(layer_names):
            raise ImageFormatError(
                f"{self.describe()}: config lists {len(config.diff_ids)} layers, "
                f"manifest.json {len(layer_names)}"
            )
        config_digest = digest_of(config_raw)
        self._blob_members[config_digest] = config_name
        layers = [
            self._layer_descriptor(name, diff_id)
            for name, diff_id in zip(layer_names, config.diff_ids, strict=True)
        ]
        raw = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": {"mediaType": DOCKER_CONFIG, "digest": config_digest, "size": len(config_raw)},
                "layers": [d.to_json() for d in layers],
            }
        )
        document = parse_document(raw, media_type=DOCKER_MANIFEST)
        assert isinstance(document, Manifest)
        return document

    def _layer_descriptor(self, name: str, diff_id: str) -> Descriptor:
        member = self._members.get(_clean(str(name)))
        if member is None:
            raise ImageFormatError(f"{self.describe()}: layer {name} is missing from the archive")
        handle = self._tar.extractfile(member)
        assert handle is not None
        compressed = handle.read(2) == _GZIP_MAGIC
        if compressed:
            digest = _digest_from_blob_path(member.name) or _hash_member(self._tar, member)
            media_type = _GZIP
        else:
            digest, media_type = validate_digest(diff_id), _UNCOMPRESSED
        self._blob_members[digest] = member.name
        return Descriptor(media_type, digest, member.size)

    def get_document(self, reference: str) -> Manifest | Index:
        if reference not in ("", self.manifest.digest):
            raise NotFoundError(f"{self.describe()}: no manifest {reference}")
        return self.manifest

    @contextlib.contextmanager
    def open_blob(self, descriptor: Descriptor) -> Iterator[VerifyingReader]:
        name = self._blob_members.get(descriptor.digest)
        if name is None:
            raise NotFoundError(f"{self.describe()}: blob {descriptor.digest} not in archive")
        handle = self._tar.extractfile(self._members[_clean(name)])
        assert handle is not None
        yield VerifyingReader(handle, descriptor.digest, descriptor.size, what=f"{self.describe()} {name}")

    def read_blob(self, descriptor: Descriptor, max_size: int) -> bytes:
        return read_small_blob(self, descriptor, max_size)


def _clean(name: str) -> str:
    return name.removeprefix("./").lstrip("/")


def _digest_from_blob_path(name: str) -> str | None:
    parts = _clean(name).split("/")
    if len(parts) == 3 and parts[0] == "blobs" and parts[1] == "sha256" and len(parts[2]) == 64:
        return f"sha256:{parts[2]}"
    return None


def _hash_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    handle: IO[bytes] | None = tar.extractfile(member)
    assert handle is not None
    hasher = hashlib.sha256()
    while chunk := handle.read(1 << 20):
        hasher.update(chunk)
    return f"sha256:{hasher.hexdigest()}"
