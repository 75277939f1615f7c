"""Build small images from files: the demo's sample image, test images, later artifacts.

    layer = LayerBuilder()
    layer.add_file("etc/os-release", b"ID=gate-sample\\n")
    built = build_image([layer.build()], config={"User": "1000"})
    built.push(OciLayout.create(Path("out")), tag="demo")

Output is deterministic: entries are written in the order added, with ``mtime`` from
``SOURCE_DATE_EPOCH`` (0 when unset), and gzip headers carry no name or time.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.image.digest import digest_of
from gate.image.manifest import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, Platform, canonical_json
from gate.image.store import Store

OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DEFAULT_PLATFORM = Platform("linux", "amd64")


def _epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


@dataclass
class LayerBuilder:
    """A layer tarball assembled in memory."""

    _buffer: io.BytesIO = field(default_factory=io.BytesIO)
    _tar: tarfile.TarFile | None = None

    def __post_init__(self) -> None:
        # kept open across add_* calls and closed by build()
        self._tar = tarfile.open(fileobj=self._buffer, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115 - closed by build()

    def _add(self, info: tarfile.TarInfo, data: bytes | None = None) -> LayerBuilder:
        assert self._tar is not None
        info.mtime = _epoch()
        info.uname = info.gname = ""
        self._tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return self

    def add_file(
        self, path: str, data: bytes, *, mode: int = 0o644, uid: int = 0, gid: int = 0
    ) -> LayerBuilder:
        info = tarfile.TarInfo(path)
        info.size, info.mode, info.uid, info.gid = len(data), mode, uid, gid
        return self._add(info, data)

    def add_dir(self, path: str, *, mode: int = 0o755) -> LayerBuilder:
        info = tarfile.TarInfo(path)
        info.type, info.mode = tarfile.DIRTYPE, mode
        return self._add(info)

    def add_symlink(self, path: str, target: str) -> LayerBuilder:
        info = tarfile.TarInfo(path)
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
        return self._add(info)

    def add_hardlink(self, path: str, target: str) -> LayerBuilder:
        info = tarfile.TarInfo(path)
        info.type, info.linkname, info.mode = tarfile.LNKTYPE, target, 0o644
        return self._add(info)

    def add_device(self, path: str, *, major: int = 1, minor: int = 3) -> LayerBuilder:
        info = tarfile.TarInfo(path)
        info.type, info.devmajor, info.devminor, info.mode = tarfile.CHRTYPE, major, minor, 0o666
        return self._add(info)

    def add_whiteout(self, path: str) -> LayerBuilder:
        """Delete ``path`` (from lower layers) by adding ``dir/.wh.name``."""
        parent, _, name = path.rstrip("/").rpartition("/")
        return self.add_file(f"{parent}/.wh.{name}" if parent else f".wh.{name}", b"")

    def add_opaque(self, directory: str) -> LayerBuilder:
        """Hide every lower-layer child of ``directory``."""
        return self.add_file(f"{directory.rstrip('/')}/.wh..wh..opq", b"")

    def build(self) -> bytes:
        """The uncompressed tar bytes."""
        assert self._tar is not None
        self._tar.close()
        return self._buffer.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


@dataclass(frozen=True)
class BuiltImage:
    """Blobs and manifest of an image, ready to push into any store."""

    manifest: bytes
    config: bytes
    layers: tuple[bytes, ...]  # compressed blobs

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    def push(self, store: Store, *, tag: str | None = None) -> str:
        for blob in (*self.layers, self.config):
            store.push_blob(blob)
        store.push_manifest(self.manifest, media_type=OCI_MANIFEST, tag=tag)
        return self.digest


def build_image(
    layers: list[bytes],
    *,
    config: dict[str, Any] | None = None,
    platform: Platform = DEFAULT_PLATFORM,
    labels: dict[str, str] | None = None,
    history: list[str] | None = None,
    annotations: dict[str, str] | None = None,
) -> BuiltImage:
    """Assemble an OCI image from uncompressed layer tars (they are gzipped here)."""
    compressed = tuple(gzip_bytes(layer) for layer in layers)
    runtime = dict(config or {})
    if labels:
        runtime["Labels"] = labels
    created = _iso(_epoch())
    config_doc: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "created": created,
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": [digest_of(layer) for layer in layers]},
        "history": [
            {"created": created, "created_by": line} for line in (history or ["gate build"] * len(layers))
        ],
    }
    if platform.variant:
        config_doc["variant"] = platform.variant
    config_raw = canonical_json(config_doc)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config_raw), "size": len(config_raw)},
        "layers": [
            {"mediaType": OCI_LAYER_GZIP, "digest": digest_of(blob), "size": len(blob)} for blob in compressed
        ],
    }
    if annotations:
        manifest["annotations"] = annotations
    return BuiltImage(canonical_json(manifest), config_raw, compressed)


def build_index(images: dict[Platform, BuiltImage]) -> bytes:
    """An OCI image index over per-platform images."""
    entries = []
    for platform, image in images.items():
        entry: dict[str, Any] = {
            "mediaType": OCI_MANIFEST,
            "digest": image.digest,
            "size": len(image.manifest),
            "platform": {"architecture": platform.architecture, "os": platform.os},
        }
        if platform.variant:
            entry["platform"]["variant"] = platform.variant
        entries.append(entry)
    return canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})


def _iso(epoch: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def layer_from_directory(root: Path) -> bytes:
    """An uncompressed, deterministic PAX tar of the host directory ``root`` (for a layer).

    Entries are written in sorted path order (parents first) relative to ``root``; symlinks
    are stored, not followed; a second path to an already-written inode becomes a hardlink.
    Directories, modes, uid and gid are kept; sockets, FIFOs and device nodes are skipped;
    ``mtime`` is ``SOURCE_DATE_EPOCH`` (0 when unset) and user/group names are empty.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        stack = [root]
        while stack:
            directory = stack.pop()
            with os.scandir(directory) as scan:
                children = sorted(scan, key=lambda child: child.name)
            subdirs: list[Path] = []
            for child in children:
                path = Path(child.path)
                info = tar.gettarinfo(path, arcname=path.relative_to(root).as_posix())
                if info is None or info.type not in (
                    tarfile.REGTYPE,
                    tarfile.LNKTYPE,
                    tarfile.SYMTYPE,
                    tarfile.DIRTYPE,
                ):
                    continue
                info.mtime, info.uname, info.gname = _epoch(), "", ""
                if info.type == tarfile.REGTYPE:
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
                if info.type == tarfile.DIRTYPE:
                    subdirs.append(path)
            stack.extend(reversed(subdirs))
    return buffer.getvalue()
