"""Shared test helpers: hand-made layer tarballs, images, layouts and docker archives.

``LayerBuilder`` writes well-formed layers; these helpers also write hostile ones (names
with ``..``, absolute paths, links leaving the root) that a real build tool never would.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gate.image.build import OCI_LAYER_GZIP, BuiltImage, build_image
from gate.image.digest import digest_of
from gate.image.filesystem import LayeredFileSystem
from gate.image.image import Image, open_image
from gate.image.layout import OciLayout
from gate.image.manifest import OCI_CONFIG, OCI_MANIFEST, canonical_json

OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

Member = tuple[tarfile.TarInfo, bytes | None]


# -- raw tar members ------------------------------------------------------------------------


def reg(name: str, data: bytes = b"", *, mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def directory(name: str, *, mode: int = 0o755) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    return info, None


def symlink(name: str, target: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    return info, None


def hardlink(name: str, target: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = tarfile.LNKTYPE, target, 0o644
    return info, None


def special(name: str, kind: bytes = tarfile.CHRTYPE) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.devmajor, info.devminor = kind, 0o666, 1, 3
    return info, None


def make_tar(members: Iterable[Member]) -> bytes:
    """An uncompressed tar of exactly these members (names are written as given)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


_USTAR_TEMPLATE = bytearray(512)
_USTAR_TEMPLATE[100:108] = b"0000644\0"
_USTAR_TEMPLATE[108:116] = b"0000000\0"
_USTAR_TEMPLATE[116:124] = b"0000000\0"
_USTAR_TEMPLATE[124:136] = b"00000000000\0"
_USTAR_TEMPLATE[136:148] = b"00000000000\0"
_USTAR_TEMPLATE[148:156] = b"        "
_USTAR_TEMPLATE[156:157] = b"0"
_USTAR_TEMPLATE[257:265] = b"ustar\x0000"
_USTAR_SUM = sum(_USTAR_TEMPLATE)


def many_empty_files_tar(names: Iterable[str]) -> bytes:
    """A ustar archive of empty regular files, written fast (tarfile needs ~15 s for 200k)."""
    parts = []
    for name in names:
        encoded = name.encode()
        assert len(encoded) < 100
        header = bytearray(_USTAR_TEMPLATE)
        header[: len(encoded)] = encoded
        header[148:156] = b"%06o\0 " % (_USTAR_SUM + sum(encoded))
        parts.append(bytes(header))
    parts.append(b"\0" * 1024)
    return b"".join(parts)


# -- images ---------------------------------------------------------------------------------


def assemble_image(
    blobs: list[tuple[bytes, str]],
    diff_ids: list[str],
    *,
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> BuiltImage:
    """An OCI image from layer blobs as stored (any compression, any lie in the diff_ids)."""
    config_doc = {
        "architecture": "amd64",
        "os": "linux",
        "config": config or {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    config_raw = canonical_json(config_doc)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config_raw), "size": len(config_raw)},
        "layers": [
            {"mediaType": media_type, "digest": digest_of(blob), "size": len(blob)}
            for blob, media_type in blobs
        ],
        **(extra or {}),
    }
    return BuiltImage(canonical_json(manifest), config_raw, tuple(blob for blob, _ in blobs))


def gzip_layer(tar: bytes) -> tuple[bytes, str]:
    return gzip.compress(tar, mtime=0), OCI_LAYER_GZIP


def push(root: Path, image: BuiltImage, tag: str = "t") -> str:
    """Push ``image`` into the layout at ``root``; return its ``oci:`` reference."""
    image.push(OciLayout.create(root), tag=tag)
    return f"oci:{root}:{tag}"


def push_layers(root: Path, layers: list[bytes], tag: str = "t") -> str:
    """Build an image from uncompressed layer tars, push it; return its reference."""
    return push(root, build_image(layers), tag)


@contextlib.contextmanager
def opened(reference: str) -> Iterator[tuple[Image, LayeredFileSystem]]:
    """The image and its filesystem, both closed afterwards."""
    with open_image(reference) as image:
        assert isinstance(image, Image)
        with image.filesystem() as filesystem:
            yield image, filesystem


# -- docker save archives -------------------------------------------------------------------


def docker_archive(
    path: Path,
    layers: list[bytes],
    *,
    compress: Iterable[int] = (),
    config: dict[str, Any] | None = None,
    entries: list[dict[str, Any]] | None = None,
    omit: Iterable[int | str] = (),
    diff_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Write a ``docker save``-style tarball; return its manifest.json entry.

    ``layers`` are uncompressed tars; those whose index is in ``compress`` are stored
    gzipped (as ``blobs/sha256/<hex>``, the name newer Dockers use). Layers whose
    index is in ``omit`` (and the config, if ``"config"`` is) are left out of the archive
    though manifest.json names them; ``diff_ids`` replaces the config's true ones.
    """
    compressed = set(compress)
    omitted = set(omit)
    skipped = set()
    diff_ids = diff_ids if diff_ids is not None else [digest_of(layer) for layer in layers]
    config_raw = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": config or {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    config_name = f"{hashlib.sha256(config_raw).hexdigest()}.json"
    files: dict[str, bytes] = {config_name: config_raw}
    if "config" in omitted:
        skipped.add(config_name)
    layer_names = []
    for index, layer in enumerate(layers):
        if index in compressed:
            blob = gzip.compress(layer, mtime=0)
            name = f"blobs/sha256/{hashlib.sha256(blob).hexdigest()}"
        else:
            blob = layer
            name = f"{hashlib.sha256(layer + b'id').hexdigest()}/layer.tar"
        files[name] = blob
        layer_names.append(name)
        if index in omitted:
            skipped.add(name)
    entry = {"Config": config_name, "RepoTags": ["example/app:1"], "Layers": layer_names}
    files["manifest.json"] = json.dumps(entries if entries is not None else [entry]).encode()
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            if name in skipped:
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return entry
