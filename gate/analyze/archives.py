"""The files inside archives (jar, war, whl, zip, tar, tar.gz), for analyzers that read text.

A secret packed into an application archive ships as surely as one beside it. Members are read
with the bounds the Java cataloger uses (:mod:`gate.catalog.java`): per file of the image at
most 200,000 entries and 1 GiB inflated across every archive inside it, 128 MiB per nested
archive, 5 levels of nesting; each member is read only up to the analyzer's per-file limit,
and a member whose first bytes are not text is not read further. Members are named
``/app/demo.jar!/BOOT-INF/classes/application.properties`` (nested: ``a.war!/lib/b.jar!/x``).

Hitting a bound raises :class:`gate.catalog.java.ArchiveLimitError`, a damaged archive inside
the file raises ValueError; the members yielded before that have been read.
"""

from __future__ import annotations

import functools
import io
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from gate.catalog.java import (
    ARCHIVE_SUFFIXES,
    MAX_DEPTH,
    MAX_NESTED_ARCHIVE,
    ArchiveLimitError,
    Budget,
    check_central_directory,
    read_member,
)

ZIP_SUFFIXES = (*ARCHIVE_SUFFIXES, ".whl", ".egg", ".zip")
TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024  # the archive file in the image, read whole
SNIFF_BYTES = 8192
GZIP_WBITS = 16 + zlib.MAX_WBITS


class NotAnArchive(ValueError):
    """A file named like an archive that is not one; it is scanned as an ordinary file."""


@dataclass(frozen=True, slots=True)
class Member:
    path: str  # archive path, "!/", member name
    data: bytes | None  # None: the first bytes are not text, nothing more was read
    size: int  # as the archive declares it; more than len(data) when cut at the limit


def is_archive(name: str) -> bool:
    return name.lower().endswith(ZIP_SUFFIXES + TAR_SUFFIXES)


def archive_members(
    data: bytes, archive_path: str, *, limit: int, is_text: Callable[[bytes], bool]
) -> Iterator[Member]:
    """Every regular member of the archive ``data`` and of the archives inside it, depth first."""
    try:
        yield from _members(data, archive_path, 0, Budget(), limit, is_text)
    except NotAnArchive:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError) as error:
        raise ValueError(f"{archive_path}: cannot be read: {error}") from error
    except (RuntimeError, NotImplementedError) as error:  # an encrypted member, an unknown compression
        raise ValueError(f"{archive_path}: a member cannot be read: {error}") from error


def _members(
    data: bytes, archive_path: str, depth: int, budget: Budget, limit: int, is_text: Callable[[bytes], bool]
) -> Iterator[Member]:
    name = archive_path.rsplit("/", 1)[-1].lower()
    if name.endswith(ZIP_SUFFIXES):
        entries = _zip_entries(data, archive_path, depth, budget)
    else:
        entries = _tar_entries(data, archive_path, budget)
    for entry in entries:
        member_path = f"{archive_path}!/{entry.name}"
        if is_archive(entry.name):
            if depth + 1 > MAX_DEPTH:
                raise ArchiveLimitError(f"{member_path}: archives nested deeper than {MAX_DEPTH} levels")
            inner = entry.read_whole(MAX_NESTED_ARCHIVE)
            try:
                yield from _members(inner, member_path, depth + 1, budget, limit, is_text)
                continue
            except NotAnArchive:
                pass  # named like an archive, scanned as a file
            yield _text_member(
                member_path, entry.size, io.BytesIO(inner), limit, is_text, budget, charge=False
            )
        else:
            yield _text_member(member_path, entry.size, entry.open(), limit, is_text, budget, charge=True)


@dataclass(frozen=True)
class _Entry:
    name: str
    size: int  # declared
    read_whole: Callable[[int], bytes]  # a nested archive, whole, within a byte limit
    open: Callable[[], IO[bytes]]  # a stream to read a text member from


def _zip_entries(data: bytes, archive_path: str, depth: int, budget: Budget) -> list[_Entry]:
    check_central_directory(data, archive_path, budget)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
        if depth == 0 or isinstance(error, zipfile.BadZipFile):
            raise NotAnArchive(str(error)) from error
        raise
    _spend_entries(budget, len(infos), archive_path)
    return [
        _Entry(
            info.filename,
            info.file_size,
            functools.partial(read_member, archive, info, archive_path, budget),
            functools.partial(archive.open, info),
        )
        for info in infos
        if not info.is_dir()
    ]


def _tar_entries(data: bytes, archive_path: str, budget: Budget) -> list[_Entry]:
    if archive_path.lower().endswith((".tar.gz", ".tgz")):
        data = _gunzip(data, archive_path, budget)
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 - in memory, read by the entries
        infos = archive.getmembers()
    except tarfile.ReadError as error:
        raise NotAnArchive(str(error)) from error
    _spend_entries(budget, len(infos), archive_path)

    def open_member(info: tarfile.TarInfo) -> IO[bytes]:
        return archive.extractfile(info) or io.BytesIO()

    def read_whole(info: tarfile.TarInfo, limit: int) -> bytes:
        if info.size > limit:
            raise ArchiveLimitError(f"{archive_path}!/{info.name}: over the {limit}-byte limit")
        return open_member(info).read(limit)

    return [
        _Entry(
            info.name.removeprefix("./"),
            info.size,
            functools.partial(read_whole, info),
            functools.partial(open_member, info),
        )
        for info in infos
        if info.isfile()
    ]


def _gunzip(data: bytes, archive_path: str, budget: Budget) -> bytes:
    """The tar inside a gzip file, inflated within what the budget has left."""
    allowed = min(MAX_NESTED_ARCHIVE, budget.inflated)
    try:
        inflater = zlib.decompressobj(GZIP_WBITS)
        tar = inflater.decompress(data, allowed + 1)
    except zlib.error as error:
        raise NotAnArchive(f"not gzip data: {error}") from error
    if len(tar) > allowed:
        raise ArchiveLimitError(f"{archive_path}: inflates past {allowed} bytes")
    budget.inflated -= len(tar)
    return tar


def _spend_entries(budget: Budget, count: int, archive_path: str) -> None:
    budget.entries -= count
    if budget.entries < 0:
        raise ArchiveLimitError(f"{archive_path}: too many entries across the archives of this file")


def _text_member(
    path: str,
    size: int,
    stream: IO[bytes],
    limit: int,
    is_text: Callable[[bytes], bool],
    budget: Budget,
    *,
    charge: bool,
) -> Member:
    """The member's first ``limit`` bytes if they start as text; inflated bytes are charged to the budget."""
    with stream as reader:
        allowed = min(limit, budget.inflated) if charge else limit
        head = reader.read(min(SNIFF_BYTES, allowed))
        data = head + reader.read(allowed - len(head)) if is_text(head[:SNIFF_BYTES]) else None
    if charge:
        budget.inflated -= len(head) if data is None else len(data)
        if budget.inflated <= 0 and size > (len(head) if data is None else len(data)):
            raise ArchiveLimitError(f"{path}: the archive inflates past the bytes allowed for this file")
    return Member(path, data, size)
