"""Opening an image from any reference kind, pinned to a digest before anything else."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from gate.errors import ImageFormatError
from gate.image.docker_archive import DockerArchive
from gate.image.filesystem import LayeredFileSystem, LayerSource
from gate.image.layout import OciLayout
from gate.image.manifest import (
    DOCKER_CONFIG,
    MAX_CONFIG_SIZE,
    OCI_CONFIG,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    Platform,
    host_default_platform,
    layer_compression,
    parse_config,
)
from gate.image.reference import ArchiveRef, DirRef, ImageRef, LayoutRef, RegistryRef, parse_reference
from gate.image.registry import RegistryClient
from gate.image.rootfs import DirFileSystem, tree_digest
from gate.image.store import ReadableStore


@dataclass(frozen=True)
class Layer:
    index: int
    descriptor: Descriptor
    diff_id: str | None

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    @property
    def size(self) -> int:
        return self.descriptor.size


@dataclass
class Image:
    """A container image: its pinned reference, manifest, config and layers."""

    ref: ImageRef
    store: ReadableStore
    manifest: Manifest
    config: ImageConfig
    index: Index | None = None
    platform: Platform | None = None
    _close: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def digest(self) -> str:
        """The digest the reference resolved to (the index's, for a multi-platform image)."""
        return self.index.digest if self.index else self.manifest.digest

    @property
    def media_type(self) -> str:
        return self.index.media_type if self.index else self.manifest.media_type

    @property
    def layers(self) -> tuple[Layer, ...]:
        diff_ids = self.config.diff_ids
        return tuple(
            Layer(i, descriptor, diff_ids[i] if i < len(diff_ids) else None)
            for i, descriptor in enumerate(self.manifest.layers)
        )

    def open_layer(self, layer: Layer) -> contextlib.AbstractContextManager[BinaryIO]:
        """The layer blob as stored (compressed), verified when read to the end."""
        return self.store.open_blob(layer.descriptor)  # type: ignore[return-value]  # VerifyingReader has the read() layer readers use, not all of BinaryIO

    def filesystem(self, *, progress: Callable[[int], None] | None = None) -> LayeredFileSystem:
        """Apply every layer (read once, streaming) into a merged, layer-aware filesystem."""
        sources = [
            LayerSource(
                index=layer.index,
                digest=layer.digest,
                diff_id=layer.diff_id,
                compression=layer_compression(layer.descriptor.media_type),
                open=_opener(self, layer),
            )
            for layer in self.layers
        ]
        return LayeredFileSystem.build(sources, progress=progress)

    def close(self) -> None:
        if self._close:
            self._close()

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _opener(image: Image, layer: Layer) -> Callable[[], contextlib.AbstractContextManager[BinaryIO]]:
    return lambda: image.open_layer(layer)


@dataclass
class DirImage:
    """A root filesystem on disk; it has no manifest, config or layers of its own."""

    ref: DirRef
    _filesystem: DirFileSystem

    @property
    def digest(self) -> str:
        assert self.ref.digest
        return self.ref.digest

    @property
    def media_type(self) -> str:
        return "directory"

    def filesystem(self, *, progress: Callable[[int], None] | None = None) -> DirFileSystem:
        return self._filesystem

    def close(self) -> None:
        self._filesystem.close()

    def __enter__(self) -> DirImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_image(
    reference: str | ImageRef, *, platform: Platform | str | None = None, client: RegistryClient | None = None
) -> Image | DirImage:
    """Open and pin an image; the returned object's ``ref`` always carries the digest."""
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    wanted = Platform.parse(platform) if isinstance(platform, str) else platform
    if isinstance(ref, DirRef):
        filesystem = DirFileSystem(ref.path)
        return DirImage(ref.with_digest(tree_digest(filesystem)), filesystem)
    if isinstance(ref, RegistryRef):
        store: ReadableStore = (client or RegistryClient()).repository(ref)
        return _open_from_store(ref, store, ref.reference, wanted, None)
    if isinstance(ref, LayoutRef):
        layout = OciLayout.open(ref.path)
        top = ref.digest or ref.tag or layout.resolve(None).digest
        return _open_from_store(ref, layout, top, wanted, None)
    if isinstance(ref, ArchiveRef):
        archive = DockerArchive(ref.path)
        try:
            return _open_from_store(ref, archive, archive.manifest.digest, wanted, archive.close)
        except BaseException:
            archive.close()
            raise
    raise ImageFormatError(f"unsupported reference {ref!r}")


def index_platforms(
    reference: str | ImageRef, *, client: RegistryClient | None = None
) -> tuple[ImageRef, list[Platform]]:
    """``reference`` pinned to its top-level digest, and the platforms of its index ([] for one image)."""
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    if isinstance(ref, RegistryRef):
        top = (client or RegistryClient()).repository(ref).get_document(ref.reference)
    elif isinstance(ref, LayoutRef):
        layout = OciLayout.open(ref.path)
        top = layout.get_document(ref.digest or ref.tag or layout.resolve(None).digest)
    else:
        with open_image(ref, client=client) as image:
            return image.ref, []
    platforms = top.platforms() if isinstance(top, Index) else []
    return ref.with_digest(top.digest), platforms


def _open_from_store(
    ref: ImageRef,
    store: ReadableStore,
    reference: str,
    wanted: Platform | None,
    close: Callable[[], None] | None,
) -> Image:
    top = store.get_document(reference)
    index: Index | None = None
    chosen: Platform | None = None
    if isinstance(top, Index):
        index = top
        entry = top.select(wanted or host_default_platform())
        chosen = entry.platform
        manifest = store.get_document(entry.digest)
        if not isinstance(manifest, Manifest):
            raise ImageFormatError(f"{store.describe()}: nested index {entry.digest} is not supported")
    else:
        manifest = top
    if manifest.config.media_type not in (OCI_CONFIG, DOCKER_CONFIG):
        kind = manifest.artifact_type or manifest.config.media_type
        raise ImageFormatError(
            f"{store.describe()}@{manifest.digest} is an artifact ({kind}), not a container image"
        )
    config = parse_config(store.read_blob(manifest.config, MAX_CONFIG_SIZE))
    if config.diff_ids and len(config.diff_ids) != len(manifest.layers):
        raise ImageFormatError(
            f"{store.describe()}@{manifest.digest}: manifest has {len(manifest.layers)} layers "
            f"but the config lists {len(config.diff_ids)}"
        )
    pinned = ref.with_digest(top.digest)
    return Image(
        pinned, store, manifest, config, index=index, platform=chosen or config.platform, _close=close
    )
