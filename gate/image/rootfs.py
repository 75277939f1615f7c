"""A root filesystem on disk (``dir:PATH``) seen through the same interface as an image.

Nothing outside ``PATH`` is ever read: the tree is listed without following symlinks,
symlinks are resolved by the image resolver (inside the root), and files are opened with
``O_NOFOLLOW`` so a symlink swapped in after listing is refused, not followed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gate.errors import GateError, NotFoundError
from gate.image.filesystem import FileEntry, FileSystem, Kind

DIR_LAYER = "dir"
_HASH_CHUNK = 1 << 20


class DirFileSystem(FileSystem):
    """A directory tree as a single-layer filesystem."""

    def __init__(self, root: Path, layer_digest: str = DIR_LAYER) -> None:
        super().__init__()
        if not root.is_dir():
            raise NotFoundError(f"{root} is not a directory")
        self.root = root
        self._host_paths: list[str] = []
        entries = [self._entry(rel, st, layer_digest) for rel, st in _walk(root)]
        self._apply_layer(0, layer_digest, entries, set(), set())

    def _entry(self, relative: str, st: os.stat_result, layer_digest: str) -> FileEntry:
        common: dict[str, Any] = {
            "mode": stat.S_IMODE(st.st_mode),
            "uid": st.st_uid,
            "gid": st.st_gid,
            "layer_index": 0,
            "layer_digest": layer_digest,
        }
        if stat.S_ISREG(st.st_mode):
            self._host_paths.append(relative)
            return FileEntry(
                relative, Kind.FILE, size=st.st_size, content=(0, len(self._host_paths) - 1), **common
            )
        if stat.S_ISDIR(st.st_mode):
            return FileEntry(relative, Kind.DIR, size=0, **common)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(self.root / relative)
            return FileEntry(relative, Kind.SYMLINK, size=0, link_target=target, **common)
        return FileEntry(relative, Kind.OTHER, size=0, **common)

    def _read_at(self, entry: FileEntry, content: tuple[int, int], start: int, count: int) -> bytes:
        """The content key of a host file is its index, not an offset: read at ``start`` in that file."""
        with self._opened(content[1]) as fd:
            return os.pread(fd, count, start)

    def sha256(self, entry: FileEntry) -> str:
        """The hex sha256 of a regular file, read in chunks (files may be larger than memory)."""
        if entry.kind is not Kind.FILE or entry.content is None:
            raise GateError(f"/{entry.path}: not a regular file ({entry.kind.value})")
        hasher = hashlib.sha256()
        with self._opened(entry.content[1]) as fd:
            while chunk := os.read(fd, _HASH_CHUNK):
                hasher.update(chunk)
        return hasher.hexdigest()

    @contextlib.contextmanager
    def _opened(self, index: int) -> Iterator[int]:
        """A descriptor of the host file, opened without following any symlink."""
        relative = self._host_paths[index]
        host_path = self.root / relative
        # Walk down from the root one component at a time, refusing symlinks at every level:
        # O_NOFOLLOW on the full path would still follow a directory swapped for a symlink.
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            *parents, name = relative.split("/")
            for part in parents:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = child
            child = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
            os.close(fd)
            fd = child
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise GateError(f"cannot read {host_path}: no longer a regular file")
            yield fd
        except OSError as error:
            raise GateError(f"cannot read {host_path}: {error.strerror}") from error
        finally:
            os.close(fd)


def _walk(root: Path) -> list[tuple[str, os.stat_result]]:
    found: list[tuple[str, os.stat_result]] = []
    pending = [""]
    while pending:
        relative_dir = pending.pop()
        try:
            with os.scandir(root / relative_dir) as it:
                for item in it:
                    relative = f"{relative_dir}/{item.name}" if relative_dir else item.name
                    st = item.stat(follow_symlinks=False)
                    found.append((relative, st))
                    if stat.S_ISDIR(st.st_mode):
                        pending.append(relative)
        except PermissionError:
            continue
    found.sort(key=lambda item: item[0])
    return found


def tree_digest(filesystem: DirFileSystem) -> str:
    """A digest of the listing and contents, so a ``dir:`` scan can be reproduced."""
    hasher = hashlib.sha256()
    for entry in filesystem.walk():
        detail = filesystem.sha256(entry) if entry.kind is Kind.FILE else entry.link_target or ""
        hasher.update(
            f"{entry.path}\0{entry.kind.value}\0{entry.mode:o}\0{detail}\n".encode("utf-8", "surrogateescape")
        )
    return f"sha256:{hasher.hexdigest()}"
