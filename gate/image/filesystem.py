"""The image's filesystem: layers applied in order, never extracted to the host.

Each layer is decompressed once, streaming, into a private spool file (the uncompressed
tar); its headers are indexed and file contents are later read from the spool by offset.
Nothing from the image is ever written to a host path derived from the image.

Rules applied while merging layers (OCI image-spec "Applying changesets"):

* ``dir/.wh.name`` deletes ``dir/name`` (and everything below it) from lower layers;
* ``dir/.wh..wh..opq`` hides every lower-layer child of ``dir``;
* a non-directory replacing a directory hides what was below it;
* hardlinks share their target's content; symlinks are resolved inside the image root
  only (an absolute target or too many ``..`` stops at the root, as in a chroot).

Entry names that are absolute or climb with ``..``, hardlinks that leave the root, and
whiteouts of ``.`` or ``..`` are hostile: the layer is rejected with a LayerError.

Decompression is bounded (:class:`SpoolLimits`): the uncompressed size of the whole image and,
past the first 64 MiB of a layer, its compression ratio; the limits come from the environment
(``GATE_MAX_IMAGE_SIZE``, ``GATE_MAX_COMPRESSION_RATIO``, see docs/security.md).

Contract of the lookups: paths are image-absolute or relative to the root (``/etc/os-release``
and ``etc/os-release`` are the same); :meth:`FileSystem.entry` does not follow a final
symlink, :meth:`FileSystem.stat` and the read methods do; globs match paths of the merged
view without following symlinks, so a file reached through a symlinked directory is
reported once, under its real path.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import logging
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Self, cast

from gate.errors import GateError, IntegrityError, LayerError
from gate.image import tarindex
from gate.image.tarindex import TarMember

logger = logging.getLogger(__name__)

MAX_SYMLINK_HOPS = 40
MAX_ENTRIES = 5_000_000
MAX_PATH_LENGTH = 4096
WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
_READ_CHUNK = 1 << 20
MAX_OPEN_SPOOLS = 64  # spool files kept open at once; an image may have thousands of layers

MAX_IMAGE_SIZE_ENV = "GATE_MAX_IMAGE_SIZE"
MAX_RATIO_ENV = "GATE_MAX_COMPRESSION_RATIO"
DEFAULT_MAX_IMAGE_SIZE = 64 << 30
# Real layers compress 3:1 to 50:1; only runs of one byte reach deflate's ceiling of ~1032:1.
DEFAULT_MAX_RATIO = 250
RATIO_GRACE = 64 << 20  # a small layer of zeros is fine; the ratio is checked past this size
_SIZE_SHIFTS = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}


class Kind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    OTHER = "other"  # devices, fifos, sockets: recorded, never read


@dataclass(frozen=True, slots=True)
class Location:
    """Where a file came from: its path and the layer that put it there."""

    path: str
    layer_index: int
    layer_digest: str


@dataclass(frozen=True, slots=True, eq=False)
class FileEntry:
    path: str  # root-relative, no leading slash ("" is the root)
    kind: Kind
    mode: int
    uid: int
    gid: int
    size: int
    layer_index: int
    layer_digest: str
    link_target: str | None = None
    content: tuple[int, int] | None = None  # (content source id, offset) for regular files

    @property
    def location(self) -> Location:
        return Location("/" + self.path, self.layer_index, self.layer_digest)

    @property
    def is_file(self) -> bool:
        return self.kind is Kind.FILE

    @property
    def is_executable(self) -> bool:
        return self.kind is Kind.FILE and bool(self.mode & 0o111)


def normalize(path: str) -> str:
    """``/etc/../etc/os-release`` -> ``etc/os-release`` (lexically, inside the root)."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


class FileSystem:
    """A merged view of files with the layer each came from; read-only."""

    def __init__(self) -> None:
        self._view: dict[str, FileEntry] = {}
        self._children: dict[str, set[str]] = {"": set()}
        self._layers: list[list[FileEntry]] = []
        self._readers: dict[int, Callable[[int, int], bytes]] = {}  # source id -> read(offset, size)
        self.layer_digests: list[str] = []

    # -- lookups --------------------------------------------------------------------------

    def entry(self, path: str) -> FileEntry | None:
        """The entry at ``path``; intermediate symlinks are followed, a final one is not."""
        parent, _, name = normalize(path).rpartition("/")
        resolved_parent = self._resolve(parent, 0) if parent else ""
        return self._view.get(f"{resolved_parent}/{name}" if resolved_parent else name)

    def stat(self, path: str) -> FileEntry | None:
        """The entry at ``path`` with every symlink followed; None if absent or dangling."""
        return self._view.get(self.resolve(path))

    def resolve(self, path: str) -> str:
        """The real root-relative path of ``path``; symlinks never leave the root."""
        return self._resolve(normalize(path), 0)

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def read_bytes(self, path: str | FileEntry, *, limit: int | None = None) -> bytes:
        """The content of a regular file (symlinks followed), at most ``limit`` bytes."""
        return self.read_range(path, 0, limit)

    def read_range(self, path: str | FileEntry, start: int, size: int | None) -> bytes:
        """``size`` bytes (None: the rest) of a regular file from byte ``start``; fewer at its end.

        Readers of large files (executables) take only the parts their headers point to.
        """
        entry = path if isinstance(path, FileEntry) else self.stat(path)
        if entry is None:
            raise GateError(f"{path}: no such file in the image")
        if entry.kind is not Kind.FILE or entry.content is None:
            raise GateError(f"/{entry.path}: not a regular file ({entry.kind.value})")
        start = min(max(start, 0), entry.size)
        count = entry.size - start if size is None else max(min(size, entry.size - start), 0)
        return self._read_at(entry, entry.content, start, count)

    def _read_at(self, entry: FileEntry, content: tuple[int, int], start: int, count: int) -> bytes:
        """``count`` bytes from ``start`` of a regular file's content, through its source's reader."""
        source, offset = content
        reader = self._readers.get(source)
        if reader is None:
            raise GateError(f"/{entry.path}: the image filesystem is closed")
        return reader(offset + start, count)

    def open(self, path: str | FileEntry) -> BinaryIO:
        import io

        return io.BytesIO(self.read_bytes(path))

    def walk(self) -> Iterator[FileEntry]:
        """Every entry of the merged view, in path order."""
        for path in sorted(self._view):
            yield self._view[path]

    def files(self) -> Iterator[FileEntry]:
        return (e for e in self.walk() if e.kind is Kind.FILE)

    def glob(self, *patterns: str) -> list[FileEntry]:
        """Entries whose path matches any pattern (``**`` spans directories, ``*`` does not)."""
        matchers = [glob_regex(normalize(p) if not p.startswith("**") else p) for p in patterns]
        return [e for e in self.walk() if any(m.fullmatch(e.path) for m in matchers)]

    def all_layer_files(self) -> Iterator[tuple[FileEntry, bool]]:
        """Every regular file of every layer, with whether it is visible in the final view.

        Files deleted or overwritten by later layers are still in the image; analyzers that
        look for leaked secrets ask for them here.
        """
        for entries in self._layers:
            for entry in entries:
                if entry.kind is Kind.FILE:
                    yield entry, self._view.get(entry.path) is entry

    def __len__(self) -> int:
        return len(self._view)

    def close(self) -> None:
        """Release spool files; the filesystem cannot be read afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- merging --------------------------------------------------------------------------

    def _resolve(self, path: str, hops: int) -> str:
        resolved = ""
        parts = path.split("/") if path else []
        for i, part in enumerate(parts):
            candidate = f"{resolved}/{part}" if resolved else part
            entry = self._view.get(candidate)
            if entry is None or entry.kind is not Kind.SYMLINK:
                resolved = candidate
                continue
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise LayerError(f"/{path}: too many levels of symbolic links (a symlink loop?)")
            target = entry.link_target or ""
            base = "" if target.startswith("/") else resolved
            rest = "/".join(parts[i + 1 :])
            joined = normalize(f"{base}/{target}/{rest}")
            return self._resolve(joined, hops)
        return resolved

    def _apply_layer(
        self, index: int, digest: str, entries: list[FileEntry], whiteouts: set[str], opaque_dirs: set[str]
    ) -> None:
        for path in sorted(whiteouts):
            self._remove(path)
        for directory in sorted(opaque_dirs):
            for child in list(self._children.get(directory, ())):
                self._remove(f"{directory}/{child}" if directory else child)
        for entry in entries:
            existing = self._view.get(entry.path)
            if existing is not None and existing.kind is Kind.DIR and entry.kind is not Kind.DIR:
                self._remove(entry.path)
            self._insert(entry, index, digest)
        self._layers.append(entries)
        self.layer_digests.append(digest)

    def _insert(self, entry: FileEntry, index: int, digest: str) -> None:
        if len(self._view) >= MAX_ENTRIES:
            raise LayerError(f"image has over {MAX_ENTRIES} files; refusing to index more")
        parent, _, name = entry.path.rpartition("/")
        self._ensure_dir(parent, index, digest)
        self._view[entry.path] = entry
        self._children[parent].add(name)
        if entry.kind is Kind.DIR:
            self._children.setdefault(entry.path, set())

    def _ensure_dir(self, path: str, index: int, digest: str) -> None:
        if path in self._children and (path == "" or path in self._view):
            return
        parent, _, name = path.rpartition("/")
        self._ensure_dir(parent, index, digest)
        existing = self._view.get(path)
        if existing is None or existing.kind is not Kind.DIR:
            if existing is not None:
                self._remove(path)
            self._view[path] = FileEntry(path, Kind.DIR, 0o755, 0, 0, 0, index, digest)
        self._children.setdefault(path, set())
        self._children[parent].add(name)

    def _remove(self, path: str) -> None:
        if path not in self._view:
            return
        del self._view[path]
        for child in self._children.pop(path, set()):
            self._remove(f"{path}/{child}")
        parent, _, name = path.rpartition("/")
        self._children.get(parent, set()).discard(name)


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """An image-path glob as a regex: ``**`` spans directories, ``*`` and ``?`` stay inside one."""
    pattern = pattern.lstrip("/")
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


# -- layered images -------------------------------------------------------------------------


@dataclass(frozen=True)
class SpoolLimits:
    """How much a layer may expand: the image's total uncompressed size, and the ratio of a layer's
    uncompressed to compressed size once it is past :data:`RATIO_GRACE` bytes."""

    max_image_size: int = DEFAULT_MAX_IMAGE_SIZE
    max_ratio: int = DEFAULT_MAX_RATIO
    ratio_grace: int = RATIO_GRACE

    @classmethod
    def from_env(cls) -> SpoolLimits:
        return cls(
            max_image_size=parse_size(os.environ.get(MAX_IMAGE_SIZE_ENV, ""), MAX_IMAGE_SIZE_ENV)
            or DEFAULT_MAX_IMAGE_SIZE,
            max_ratio=_parse_ratio(os.environ.get(MAX_RATIO_ENV, "")) or DEFAULT_MAX_RATIO,
        )


def _parse_ratio(text: str) -> int:
    if not text.strip():
        return 0
    if not text.strip().isdigit() or int(text) < 1:
        raise GateError(f"{MAX_RATIO_ENV}={text!r} is not a positive whole number")
    return int(text)


def parse_size(text: str, name: str) -> int:
    """``"512MiB"``, ``"2G"``, ``"1000"`` -> bytes (0 for an empty setting)."""
    if not text.strip():
        return 0
    match = re.fullmatch(r"\s*(\d+)\s*([kmgtKMGT]?)(?:i?[bB])?\s*", text)
    if match is None:
        raise GateError(f"{name}={text!r} is not a size (a number, optionally with KiB, MiB, GiB or TiB)")
    return int(match.group(1)) << _SIZE_SHIFTS[match.group(2).lower()]


@dataclass
class LayerSource:
    """One layer to apply: a verified stream of its (possibly compressed) blob."""

    index: int
    digest: str
    diff_id: str | None
    compression: str  # "none" | "gzip" | "zstd"
    open: Callable[[], contextlib.AbstractContextManager[BinaryIO]]


@dataclass
class LayeredFileSystem(FileSystem):
    """The filesystem of an image built from its layers, spooled under a private temp dir."""

    spool_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="gate-layers-")))
    limits: SpoolLimits = field(default_factory=SpoolLimits.from_env)
    _spools: _SpoolFiles = field(default_factory=lambda: _SpoolFiles(MAX_OPEN_SPOOLS))
    _spooled_bytes: int = 0

    def __post_init__(self) -> None:
        FileSystem.__init__(self)

    @classmethod
    def build(
        cls,
        layers: Iterable[LayerSource],
        *,
        progress: Callable[[int], None] | None = None,
        limits: SpoolLimits | None = None,
    ) -> LayeredFileSystem:
        filesystem = cls(limits=limits or SpoolLimits.from_env())
        try:
            for layer in layers:
                filesystem._add_layer(layer)
                if progress:
                    progress(layer.index)
        except BaseException:
            filesystem.close()
            raise
        return filesystem

    def close(self) -> None:
        self._spools.close()
        self._readers.clear()
        shutil.rmtree(self.spool_dir, ignore_errors=True)

    def _add_layer(self, layer: LayerSource) -> None:
        spool = self.spool_dir / f"layer-{layer.index}.tar"
        budget = _Budget(self.limits, self.limits.max_image_size - self._spooled_bytes)
        diff_id = _spool_layer(layer, spool, budget)
        self._spooled_bytes += budget.written
        if layer.diff_id and diff_id != layer.diff_id:
            raise IntegrityError(
                f"layer {layer.index} ({layer.digest}) uncompressed digest {diff_id} "
                f"does not match the config's diff_id {layer.diff_id}"
            )
        self._readers[layer.index] = self._spools.reader(spool, layer.index)
        entries, whiteouts, opaque = self._index_layer(spool, layer)
        self._apply_layer(layer.index, layer.digest, entries, whiteouts, opaque)

    def _index_layer(self, spool: Path, layer: LayerSource) -> tuple[list[FileEntry], set[str], set[str]]:
        where = f"layer {layer.index} ({layer.digest})"
        try:
            try:
                return self._index_members(tarindex.iter_members(spool), layer, where)
            except tarindex.NeedsTarfile as reason:
                # rare (sparse files, huge uids...): start over with tarfile, which reads them all
                logger.debug("%s: %s; indexing the layer with tarfile", where, reason)
                return self._index_members(tarindex.iter_members_with_tarfile(spool), layer, where)
        except (tarfile.TarError, tarindex.TarFormatError) as error:
            raise LayerError(f"{where} is not a valid tar archive: {error}") from error

    def _index_members(
        self, members: Generator[TarMember, None, None], layer: LayerSource, where: str
    ) -> tuple[list[FileEntry], set[str], set[str]]:
        entries: dict[str, FileEntry] = {}
        whiteouts: set[str] = set()
        opaque: set[str] = set()
        with contextlib.closing(members):  # release the spool's mapping even on a LayerError
            for member in members:
                self._index_member(member, layer, entries, whiteouts, opaque, where)
        return list(entries.values()), whiteouts, opaque

    def _index_member(
        self,
        member: TarMember,
        layer: LayerSource,
        entries: dict[str, FileEntry],
        whiteouts: set[str],
        opaque: set[str],
        where: str,
    ) -> None:
        path = _member_path(member.name, where)
        if not path:
            return
        parent, _, name = path.rpartition("/")
        if name.startswith(WHITEOUT_PREFIX):
            if name == OPAQUE_WHITEOUT:
                opaque.add(parent)
            elif not name.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):  # other AUFS markers
                target = name[len(WHITEOUT_PREFIX) :]
                if target in ("", ".", ".."):
                    raise LayerError(f"{where}: whiteout {member.name!r} names no file")
                whiteouts.add(f"{parent}/{target}" if parent else target)
            return
        entries[path] = self._entry_for(member, path, layer, entries, where)

    def _entry_for(
        self,
        member: TarMember,
        path: str,
        layer: LayerSource,
        entries: dict[str, FileEntry],
        where: str,
    ) -> FileEntry:
        common: dict[str, Any] = {
            "mode": member.mode,
            "uid": member.uid,
            "gid": member.gid,
            "layer_index": layer.index,
            "layer_digest": layer.digest,
        }
        kind = member.type
        if kind == tarindex.HARDLINK:
            target_path = _member_path(member.linkname, where, link=True)
            target = entries.get(target_path) or self._view.get(target_path)
            if target is None or target.kind is not Kind.FILE:
                raise LayerError(
                    f"{where}: hardlink {member.name!r} points to missing file {member.linkname!r}"
                )
            return FileEntry(path, Kind.FILE, size=target.size, content=target.content, **common)
        if kind in tarindex.REGULAR_TYPES:  # not sparse files (type "S"): their data is not contiguous
            return FileEntry(
                path, Kind.FILE, size=member.size, content=(layer.index, member.offset_data), **common
            )
        if kind == tarindex.DIRECTORY:
            return FileEntry(path, Kind.DIR, size=0, **common)
        if kind == tarindex.SYMLINK:
            return FileEntry(path, Kind.SYMLINK, size=0, link_target=member.linkname, **common)
        return FileEntry(path, Kind.OTHER, size=0, **common)


def _member_path(name: str, where: str, *, link: bool = False) -> str:
    what = "hardlink target" if link else "entry"
    if len(name) > MAX_PATH_LENGTH:
        raise LayerError(f"{where}: {what} name longer than {MAX_PATH_LENGTH} characters")
    if name.startswith("/"):
        raise LayerError(f"{where}: {what} {name!r} is an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise LayerError(f"{where}: {what} {name!r} climbs out of the image root")
    if "\x00" in name:
        raise LayerError(f"{where}: {what} name contains a NUL byte")
    return "/".join(parts)


class _Budget:
    """Counts what a layer reads and writes while it is spooled, and stops a decompression bomb."""

    def __init__(self, limits: SpoolLimits, remaining: int) -> None:
        self.limits = limits
        self.remaining = remaining
        self.read = 0
        self.written = 0

    def counted(self, stream: BinaryIO) -> BinaryIO:
        # the decoders only call read(); typing's BinaryIO is nominal, hence the cast
        return cast(BinaryIO, _CountingReader(stream, self))

    def spend(self, size: int, what: str) -> None:
        self.written += size
        if self.written > self.remaining:
            raise LayerError(
                f"{what}: the image expands to more than {self.limits.max_image_size} bytes uncompressed "
                f"(raise {MAX_IMAGE_SIZE_ENV} if this image is genuine)"
            )
        limits = self.limits
        if self.written > limits.ratio_grace and self.written > limits.max_ratio * max(self.read, 1):
            raise LayerError(
                f"{what}: {self.read} compressed bytes expand to over {self.written} "
                f"(more than {self.limits.max_ratio}:1, a decompression bomb?; "
                f"raise {MAX_RATIO_ENV} if this layer is genuine)"
            )


class _CountingReader:
    def __init__(self, stream: BinaryIO, budget: _Budget) -> None:
        self._stream = stream
        self._budget = budget

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._budget.read += len(data)
        return data


def _spool_layer(layer: LayerSource, spool: Path, budget: _Budget) -> str:
    """Decompress a layer into ``spool``, within ``budget``; return the sha256 of the uncompressed tar."""
    hasher = hashlib.sha256()
    what = f"layer {layer.index}"
    with layer.open() as stream, spool.open("wb") as out:
        drain = getattr(stream, "drain", None)
        try:
            for chunk in _decompressed_chunks(budget.counted(stream), layer.compression, what):
                budget.spend(len(chunk), what)
                hasher.update(chunk)
                _write(out, chunk, spool, what)
        except LayerError:
            # A blob that does not match its digest is corrupt in transit or storage, not a bad
            # layer: report the IntegrityError (drain raises it) rather than the decoder's error.
            if drain:
                drain()
            raise
        if drain:
            drain()
    return f"sha256:{hasher.hexdigest()}"


def _write(out: BinaryIO, chunk: bytes, spool: Path, what: str) -> None:
    try:
        out.write(chunk)
    except OSError as error:  # ENOSPC, EFBIG (RLIMIT_FSIZE), EDQUOT...
        raise LayerError(
            f"{what}: cannot write the uncompressed layer to {spool.parent}: {error.strerror} "
            "(set TMPDIR to a larger disk)"
        ) from error


def _decompressed_chunks(stream: BinaryIO, compression: str, what: str) -> Iterator[bytes]:
    if compression == "none":
        while chunk := stream.read(_READ_CHUNK):
            yield chunk
    elif compression == "gzip":
        yield from _gunzip(stream, what)
    elif compression == "zstd":
        import zstandard

        try:
            reader = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
            while chunk := reader.read(_READ_CHUNK):
                yield chunk
        except zstandard.ZstdError as error:
            raise LayerError(f"{what} is not valid zstd data: {error}") from error
    else:
        raise LayerError(f"{what}: unsupported compression {compression!r}")


def _inflater() -> Any:
    """ISA-L's inflate (about 3x zlib's speed here) when its wheel exists for this platform."""
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib
    return isal_zlib


def _gunzip(stream: BinaryIO, what: str) -> Iterator[bytes]:
    """Inflate (possibly concatenated) gzip members, never more than _READ_CHUNK bytes at a time."""
    inflate = _inflater()
    decompressor = inflate.decompressobj(wbits=31)
    fed = False
    try:
        while chunk := stream.read(_READ_CHUNK):
            while True:
                fed = True
                out = decompressor.decompress(chunk, _READ_CHUNK)
                if out:
                    yield out
                if decompressor.eof:
                    # concatenated gzip members are one stream (gzip -c a b > c)
                    chunk = decompressor.unused_data
                    decompressor = inflate.decompressobj(wbits=31)
                    fed = False
                    if not chunk:
                        break
                    continue
                chunk = decompressor.unconsumed_tail
                if not chunk and len(out) < _READ_CHUNK:
                    break  # input used up and no output held back: read more
    except inflate.error as error:
        raise LayerError(f"{what} is not valid gzip data: {error}") from error
    if fed and not decompressor.eof:
        raise LayerError(f"{what}: gzip stream is truncated")


class _SpoolFiles:
    """Spool files opened on demand, at most ``capacity`` at once (least recently used closed first)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._paths: dict[int, Path] = {}
        self._open: OrderedDict[int, int] = OrderedDict()  # layer index -> descriptor

    def reader(self, spool: Path, index: int) -> Callable[[int, int], bytes]:
        self._paths[index] = spool

        def read(offset: int, size: int) -> bytes:
            data = os.pread(self._descriptor(index), size, offset)
            if len(data) != size:
                raise LayerError(f"layer {index}: spool file is shorter than its index says")
            return data

        return read

    def _descriptor(self, index: int) -> int:
        fd = self._open.get(index)
        if fd is not None:
            self._open.move_to_end(index)
            return fd
        if len(self._open) >= self._capacity:
            _, oldest = self._open.popitem(last=False)
            os.close(oldest)
        try:
            fd = os.open(self._paths[index], os.O_RDONLY)
        except OSError as error:
            raise LayerError(f"layer {index}: cannot open its spool file: {error.strerror}") from error
        self._open[index] = fd
        return fd

    def close(self) -> None:
        for fd in self._open.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._open.clear()
        self._paths.clear()
