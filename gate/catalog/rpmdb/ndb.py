"""rpm's own "NDB" package database (``Packages.db``, SUSE), all integers little-endian.

The file starts with ``slotnpages`` 4096-byte *slot pages*. Their first 32 bytes are the
database header::

    "RpmP" magic, uint32 version (0), uint32 generation, uint32 slotnpages, uint32 nextpkgidx, ...

and the rest is an array of 16-byte slots::

    "Slot" magic, uint32 pkgidx (0: free), uint32 blkoff, uint32 blkcnt

A used slot points at a blob occupying ``blkcnt`` 16-byte blocks from byte ``16 * blkoff``::

    "BlbS" magic, uint32 pkgidx, uint32 generation, uint32 bloblen,   (blob head, 16 bytes)
    bloblen bytes of header blob, padding,
    uint32 adler32, uint32 bloblen, "BlbE" magic                      (blob tail, 12 bytes,
                                                                       ending the last block)

The Adler-32 checksum covers everything from the blob head up to the tail.
"""

from __future__ import annotations

import struct
import zlib

from gate.catalog.rpmdb import RpmDbError

PAGE_SIZE = 4096
HEADER_SIZE = 32
SLOT_SIZE = 16
BLOCK_SIZE = 16
BLOB_HEAD_SIZE = 16
BLOB_TAIL_SIZE = 12
DB_MAGIC = b"RpmP"
SLOT_MAGIC = b"Slot"
BLOB_HEAD_MAGIC = b"BlbS"
BLOB_TAIL_MAGIC = b"BlbE"

_HEADER = struct.Struct("<4sIII")
_SLOT = struct.Struct("<4sIII")
_BLOB_HEAD = struct.Struct("<4sIII")
_BLOB_TAIL = struct.Struct("<II4s")


def read_blobs(data: bytes) -> list[bytes]:
    """Every package's header blob, in package-index order."""
    if len(data) < HEADER_SIZE:
        raise RpmDbError(f"NDB rpm database truncated ({len(data)} bytes)")
    magic, version, _generation, slot_pages = _HEADER.unpack_from(data, 0)
    if magic != DB_MAGIC:
        raise RpmDbError("not an NDB rpm database (bad magic)")
    if version != 0:
        raise RpmDbError(f"NDB rpm database version {version} is not supported")
    slots_end = slot_pages * PAGE_SIZE
    if slot_pages < 1 or slots_end > len(data):
        raise RpmDbError(f"NDB rpm database claims {slot_pages} slot pages, file has {len(data)} bytes")
    slots: list[tuple[int, int, int]] = []
    for offset in range(HEADER_SIZE, slots_end, SLOT_SIZE):
        magic, package_index, block_offset, block_count = _SLOT.unpack_from(data, offset)
        if magic != SLOT_MAGIC:
            raise RpmDbError(f"NDB rpm database: bad slot magic at byte {offset}")
        if package_index:
            slots.append((block_offset, block_count, package_index))
    _check_no_overlap(slots)
    found = [(index, _blob(data, index, offset, count, slots_end)) for offset, count, index in slots]
    found.sort(key=lambda item: item[0])
    return [blob for _, blob in found]


def _check_no_overlap(slots: list[tuple[int, int, int]]) -> None:
    """Refuse slots whose blobs share blocks (which also bounds the output by the file size)."""
    previous_end = 0
    for block_offset, block_count, package_index in sorted(slots):
        if block_offset < previous_end:
            raise RpmDbError(f"NDB rpm database, package {package_index}: blob overlaps another")
        previous_end = block_offset + block_count


def _blob(data: bytes, package_index: int, block_offset: int, block_count: int, slots_end: int) -> bytes:
    """Read and check the blob a slot points at."""
    start = block_offset * BLOCK_SIZE
    end = start + block_count * BLOCK_SIZE
    where = f"NDB rpm database, package {package_index}"
    if start < slots_end or end > len(data) or block_count * BLOCK_SIZE < BLOB_HEAD_SIZE + BLOB_TAIL_SIZE:
        raise RpmDbError(f"{where}: blob blocks {block_offset}+{block_count} outside the file")
    magic, owner, _generation, length = _BLOB_HEAD.unpack_from(data, start)
    if magic != BLOB_HEAD_MAGIC or owner != package_index:
        raise RpmDbError(f"{where}: bad blob head")
    if BLOB_HEAD_SIZE + length + BLOB_TAIL_SIZE > end - start:
        raise RpmDbError(f"{where}: blob length {length} exceeds its {block_count} blocks")
    checksum, tail_length, tail_magic = _BLOB_TAIL.unpack_from(data, end - BLOB_TAIL_SIZE)
    if tail_magic != BLOB_TAIL_MAGIC or tail_length != length:
        raise RpmDbError(f"{where}: bad blob tail")
    blob = data[start + BLOB_HEAD_SIZE : start + BLOB_HEAD_SIZE + length]
    if zlib.adler32(data[start : end - BLOB_TAIL_SIZE]) != checksum:
        raise RpmDbError(f"{where}: blob checksum mismatch")
    return blob
