"""A fast, strict index of the member headers of an uncompressed tar archive.

:func:`iter_members` reads only the 512-byte headers of a tar file (the layer spool) and
reports, for each member, what :class:`tarfile.TarFile` would report: name, type, mode, owner,
size, link target and the offset of its data. It is about four times faster than
``tarfile`` because it unpacks each header with two ``struct`` calls, and it is stricter:
anything malformed is a :class:`TarFormatError` instead of a quiet end of the archive.

Formats understood (everything container image tools write):

* the ustar header of POSIX.1-2017 (``pax`` utility, "ustar Interchange Format"), including
  the old V7 spelling of a directory as a regular file whose name ends in ``/``;
* pax extended headers (same standard, "pax Interchange Format"): ``x`` (and Solaris ``X``)
  with the keywords ``path``, ``linkpath``, ``size``, ``uid``, ``gid``; ``g`` global headers
  that carry none of those;
* GNU ``L`` (long name) and ``K`` (long link name) headers.

Anything else that changes what a member is - GNU base-256 numbers, sparse files (``S`` or
``GNU.sparse.*`` pax keywords), GNU ``D``/``M``/``V`` headers, global headers that set one of
the keywords above - raises :class:`NeedsTarfile`; the caller then reads the whole archive
again with :func:`iter_members_with_tarfile`, which reports members in the same way.
"""

from __future__ import annotations

import mmap
import os
import struct
import tarfile
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

BLOCK = 512
MAX_LONGNAME = 64 * 1024  # GNU L/K payload
MAX_PAX_HEADER = 1024 * 1024  # pax x/g payload (the limit Go's archive/tar uses too)
_MAX_PAX_NUMBER_DIGITS = 20

# The ustar header (POSIX.1-2017 pax, "ustar Interchange Format"); offsets in bytes:
#     0 name[100]     100 mode[8]     108 uid[8]      116 gid[8]       124 size[12]
#   136 mtime[12]     148 chksum[8]   156 typeflag[1] 157 linkname[100] 257 magic[6]
#   263 version[2]    265 uname[32]   297 gname[32]   329 devmajor[8]  337 devminor[8]
#   345 prefix[155]   500 padding[12]
# Numbers are octal ASCII, terminated by NUL or space. The checksum is the sum of the 512
# bytes with the chksum field taken as 8 spaces. Only the fields gate uses are read.
_HEADER = struct.Struct("100s56xc100s88x155s12x")  # name, typeflag, linkname, prefix
_NUMBERS = struct.Struct("8s8s8s12s12x8s")  # mode, uid, gid, size, chksum (of block[100:156])
_CHKSUM = slice(148, 156)
_ZEROS = bytes(BLOCK)
_ASCII = bytes(range(128))
_OCTAL_DIGITS = b"01234567"
_OCTAL_FIELD_BYTES = b"01234567 \0"

REGULAR_TYPES = frozenset({b"0", b"\0", b"7"})  # "7" is a contiguous file: a regular file
HARDLINK = b"1"
SYMLINK = b"2"
DIRECTORY = b"5"
# Members of these types have no data blocks, whatever their size field says (as in tarfile
# and Go's archive/tar). Every other type is followed by size bytes of data, padded to a block.
_HEADER_ONLY_TYPES = frozenset({b"1", b"2", b"3", b"4", b"5", b"6"})
_PAX_TYPES = frozenset({b"x", b"X"})
_GLOBAL_PAX = b"g"
_GNU_LONGNAME = b"L"
_GNU_LONGLINK = b"K"
_EXTENDED_TYPES = _PAX_TYPES | {_GLOBAL_PAX, _GNU_LONGNAME, _GNU_LONGLINK}
_TARFILE_TYPES = frozenset({b"S", b"D", b"M", b"V"})  # GNU sparse, dumpdir, multi-volume, label
_PAX_MEMBER_KEYWORDS = frozenset({b"path", b"linkpath", b"size", b"uid", b"gid"})
_PAX_SPARSE_PREFIX = b"GNU.sparse."

T = TypeVar("T")


class TarFormatError(ValueError):
    """The archive is malformed (or hostile)."""


class NeedsTarfile(Exception):
    """The archive uses a feature the fast path leaves to :mod:`tarfile`."""


@dataclass(frozen=True, slots=True)
class TarMember:
    """One member as tarfile reports it; ``type`` is the typeflag byte (``b"0"``, ``b"5"``...)."""

    name: str
    type: bytes
    mode: int
    uid: int
    gid: int
    size: int
    linkname: str
    offset_data: int

    @classmethod
    def from_tarinfo(cls, info: tarfile.TarInfo) -> TarMember:
        # a sparse file's data is not stored contiguously: type "S" keeps it from being read
        kind = b"S" if info.issparse() else info.type
        return cls(info.name, kind, info.mode, info.uid, info.gid, info.size, info.linkname, info.offset_data)


def iter_members(path: str | os.PathLike[str]) -> Generator[TarMember, None, None]:
    """The members of the tar archive at ``path``, in order.

    Raises TarFormatError if the archive is malformed, NeedsTarfile if it needs tarfile.
    """
    with Path(path).open("rb") as file:
        end = os.fstat(file.fileno()).st_size
        if end == 0:
            raise TarFormatError("empty file")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield from _scan(data, end)


def iter_members_with_tarfile(path: str | os.PathLike[str]) -> Generator[TarMember, None, None]:
    """The same members, read with :mod:`tarfile` (for archives that raise NeedsTarfile).

    Raises tarfile.TarError, or TarFormatError if tarfile stopped before the end of the archive
    (it treats an unreadable header after the first as the end).
    """
    end = Path(path).stat().st_size
    with _tarfile_step(tarfile.open, path, mode="r:", encoding="utf-8", errors="surrogateescape") as tar:
        # TarFile.next() keeps every member it returns; reading headers one by one with the public
        # TarInfo.fromtarfile keeps none (the caller has its own index).
        tar.offset = 0
        while True:
            tar.fileobj.seek(tar.offset)
            try:
                info = _tarfile_step(tarfile.TarInfo.fromtarfile, tar)
            except tarfile.HeaderError:
                break  # the end, or a header tarfile cannot read: _check_end below tells which
            if tar.offset > end:  # a huge size (base-256 numbers reach 2^95) would seek past it
                raise TarFormatError(
                    f"member {info.name!r} at offset {info.offset} has {info.size} bytes of data, "
                    f"past the end of the file ({end} bytes)"
                )
            yield TarMember.from_tarinfo(info)
        stop = tar.offset
    with Path(path).open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        _check_end(data, stop, len(data))


def _tarfile_step(step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return step(*args, **kwargs)
    except ValueError as error:  # tarfile lets some malformed input through as ValueError (sparse maps)
        raise TarFormatError(f"tarfile: {error}") from error


def _scan(data: mmap.mmap, end: int) -> Generator[TarMember, None, None]:
    pos = 0
    # What the extended headers before a member say about it. With several of them the first
    # one wins, as in tarfile (which applies them from the innermost out); "name" holds
    # (from_pax, value) because pax and GNU names lose their trailing slashes differently.
    pending: dict[str, Any] = {}
    while True:
        block = data[pos : pos + BLOCK]
        if len(block) < BLOCK or block == _ZEROS:
            if pending:
                raise TarFormatError(f"the extended header before offset {pos} is not followed by a member")
            _check_end(data, pos, end)
            return
        name_f, typeflag, link_f, prefix_f = _HEADER.unpack(block)
        mode, uid, gid, size, stored = _numbers(block, pos)
        _check_checksum(block, stored, pos)
        if typeflag in _TARFILE_TYPES:
            raise NeedsTarfile(f"header at offset {pos} has the GNU type {typeflag.decode('latin-1')!r}")
        data_at = pos + BLOCK

        if typeflag in _EXTENDED_TYPES:
            limit = MAX_LONGNAME if typeflag in (_GNU_LONGNAME, _GNU_LONGLINK) else MAX_PAX_HEADER
            if size > limit:
                raise TarFormatError(
                    f"extended header at offset {pos} is {size} bytes long (the limit is {limit})"
                )
            pos = data_at + _padded(size)
            if pos > end:
                raise TarFormatError(
                    f"extended header at offset {data_at - BLOCK} runs past the end of the file"
                )
            payload = data[data_at : data_at + size]
            if typeflag == _GNU_LONGNAME:
                pending.setdefault("name", (False, _text(payload)))
            elif typeflag == _GNU_LONGLINK:
                pending.setdefault("linkname", _text(payload))
            elif typeflag == _GLOBAL_PAX:
                for keyword in _pax_records(payload, data_at):
                    if keyword in _PAX_MEMBER_KEYWORDS or keyword.startswith(_PAX_SPARSE_PREFIX):
                        raise NeedsTarfile(f"global pax header at offset {data_at - BLOCK} sets {keyword!r}")
            else:
                _merge_pax(pending, _pax_records(payload, data_at), data_at - BLOCK)
            continue

        header_name = _text(name_f)
        if typeflag == b"\0" and header_name.endswith("/"):  # V7: a directory
            typeflag = DIRECTORY
        # tarfile joins a non-empty prefix whatever the magic says; so does this
        name = f"{_text(prefix_f)}/{header_name}" if prefix_f[0] else header_name
        if typeflag == DIRECTORY:
            name = name.rstrip("/")
        linkname = _text(link_f) if link_f[0] else ""
        if pending:
            if (named := pending.get("name")) is not None:
                from_pax, value = named
                if from_pax:
                    name = value.rstrip("/")
                else:
                    name = value.removesuffix("/") if typeflag == DIRECTORY else value
            linkname = pending.get("linkname", linkname)
            size = pending.get("size", size)
            uid = pending.get("uid", uid)
            gid = pending.get("gid", gid)
            pending = {}
        pos = data_at if typeflag in _HEADER_ONLY_TYPES else data_at + _padded(size)
        if pos > end:
            raise TarFormatError(
                f"member {name!r} at offset {data_at - BLOCK} has {size} bytes of data, "
                f"past the end of the file ({end} bytes)"
            )
        yield TarMember(name, typeflag, mode, uid, gid, size, linkname, data_at)


def _check_end(data: mmap.mmap, pos: int, end: int) -> None:
    """The archive ends at ``pos``: EOF on a block boundary, or a zero block followed by EOF or
    by a second zero block (POSIX: "two consecutive 512-byte blocks of binary zeros")."""
    if pos == end:
        if pos == 0:
            raise TarFormatError("empty file")
        return
    if end - pos < BLOCK:
        raise TarFormatError(
            f"truncated header at offset {pos} ({end - pos} bytes before the end of the file)"
        )
    if data[pos : pos + BLOCK] != _ZEROS:
        raise TarFormatError(f"invalid header at offset {pos}")
    after = data[pos + BLOCK : pos + 2 * BLOCK]
    if after and after != _ZEROS:
        raise TarFormatError(f"data after the end-of-archive block at offset {pos}")


def _check_checksum(block: bytes, stored: int, pos: int) -> None:
    # sum(block), ten times faster: the low half of Adler-32 is 1 + the sum of the bytes modulo
    # 65521, which is the exact sum for 256 bytes or fewer (256 * 255 < 65521)
    total = (zlib.adler32(block[:256]) & 0xFFFF) + (zlib.adler32(block[256:]) & 0xFFFF) - 2
    unsigned = total - sum(block[_CHKSUM]) + 8 * 0x20  # the chksum field counts as 8 spaces
    if stored == unsigned:
        return
    # some old tars (Sun, NeXT) summed signed chars; tarfile accepts both, and so does this
    high = len(block[:148].translate(None, _ASCII)) + len(block[156:].translate(None, _ASCII))
    if stored != unsigned - 256 * high:
        raise TarFormatError(f"header at offset {pos}: bad checksum (stored {stored}, computed {unsigned})")


def _numbers(block: bytes, pos: int) -> tuple[int, int, int, int, int]:
    """mode, uid, gid, size and chksum; the common case (digits, spaces, NULs) in one pass."""
    region = block[100:156]
    mode, uid, gid, size, chksum = _NUMBERS.unpack(region)
    if not region.translate(None, _OCTAL_FIELD_BYTES):
        try:  # the same as _octal, given those bytes; an empty field or "1 2" fails over to it
            return (
                int(mode.partition(b"\0")[0], 8),
                int(uid.partition(b"\0")[0], 8),
                int(gid.partition(b"\0")[0], 8),
                int(size.partition(b"\0")[0], 8),
                int(chksum.partition(b"\0")[0], 8),
            )
        except ValueError:
            pass
    return (
        _octal(mode, pos, "mode"),
        _octal(uid, pos, "uid"),
        _octal(gid, pos, "gid"),
        _octal(size, pos, "size"),
        _octal(chksum, pos, "checksum"),
    )


def _octal(field: bytes, pos: int, what: str) -> int:
    """An octal number field: digits, then NUL or space padding (leading spaces allowed)."""
    if field[0] in (0x80, 0xFF):  # GNU base-256 for numbers too large for octal
        raise NeedsTarfile(f"header at offset {pos} has a base-256 {what}")
    digits = field.split(b"\0", 1)[0].strip()
    if digits.translate(None, _OCTAL_DIGITS):
        raise TarFormatError(f"header at offset {pos}: {what} field is not an octal number: {field!r}")
    return int(digits, 8) if digits else 0


def _padded(size: int) -> int:
    return (size + BLOCK - 1) & ~(BLOCK - 1)


def _text(field: bytes) -> str:
    """A NUL-terminated string field."""
    return _decode(field.split(b"\0", 1)[0])


def _decode(raw: bytes) -> str:
    """Text as tarfile decodes it: UTF-8, undecodable bytes escaped (a pax value keeps any NUL)."""
    return raw.decode("utf-8", "surrogateescape")


def _pax_records(payload: bytes, at: int) -> dict[bytes, bytes]:
    """The records of a pax extended header: ``"%d %s=%s\\n", length, keyword, value``,
    where length counts the whole record, its own digits included."""
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(payload):
        space = payload.find(b" ", pos, pos + 21)
        digits = payload[pos:space] if space > pos else b""
        length = int(digits) if digits.isdigit() else 0
        stop = pos + length
        # the shortest record is "5 k=\n": digits, space, keyword, "=", newline
        if length < len(digits) + 4 or stop > len(payload) or payload[stop - 1] != 0x0A:
            raise TarFormatError(f"pax header at offset {at}: malformed record at byte {pos}")
        keyword, equals, value = payload[space + 1 : stop - 1].partition(b"=")
        if not equals or not keyword:
            raise TarFormatError(f"pax header at offset {at}: malformed record at byte {pos}")
        records[keyword] = value
        pos = stop
    return records


def _merge_pax(pending: dict[str, Any], records: dict[bytes, bytes], at: int) -> None:
    for keyword, value in records.items():
        if keyword == b"path":
            pending.setdefault("name", (True, _decode(value)))
        elif keyword == b"linkpath":
            pending.setdefault("linkname", _decode(value))
        elif keyword in (b"size", b"uid", b"gid"):
            if not value.isdigit() or len(value) > _MAX_PAX_NUMBER_DIGITS:
                raise TarFormatError(
                    f"pax header at offset {at}: {keyword.decode()} is not a number: {value!r}"
                )
            pending.setdefault(keyword.decode(), int(value))
        elif keyword.startswith(_PAX_SPARSE_PREFIX):
            raise NeedsTarfile(f"pax header at offset {at} describes a sparse file")
