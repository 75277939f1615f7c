"""BerkeleyDB hash databases (``Packages``, RHEL 7/8, CentOS, Amazon Linux 2), read-only.

The file is an array of ``pagesize`` pages, integers in the byte order of the machine that
wrote it (detected from the magic). Page 0 is the hash *metadata page*::

    0  lsn (8)  8 pgno  12 magic (0x061561)  16 version  20 pagesize
    24 encrypt_alg (1)  25 type (1, 8 = hash meta)  26 metaflags  27 unused
    28 free  32 last_pgno  ...

Every other page starts with the 26-byte page header::

    0 lsn (8)  8 pgno  12 prev_pgno  16 next_pgno  20 entries (u16)  22 hf_offset (u16)
    24 level (1)  25 type (1)

*Hash pages* (type 13, or 2 for the old unsorted kind) carry ``entries`` 16-bit item
offsets after the header, in key/value pairs; item ``i`` spans from its offset to the
offset of item ``i - 1`` (the page end for item 0). An item's first byte is its kind:
1 = data inline (the bytes follow), 3 = *off-page*: ``u8 kind, 3 unused, u32 pgno,
u32 total length`` naming a chain of *overflow pages* (type 7) that each carry
``hf_offset`` bytes after their header and link on through ``next_pgno``.

rpm keys its Packages database by 4-byte instance number; key 0 holds bookkeeping, not a
header, and is skipped. Pages are scanned in order; overflow chains are followed with a
visited set shared by all chains (a page reached twice is a loop or a shared chain, either
way hostile, and refusing it bounds the output by the file size) and must add up to exactly
the announced length.
"""

from __future__ import annotations

import struct

from gate.catalog.rpmdb import RpmDbError

HASH_MAGIC = 0x061561
PAGE_HEADER_SIZE = 26
P_HASH_UNSORTED = 2
P_OVERFLOW = 7
P_HASHMETA = 8
P_HASH = 13
H_KEYDATA = 1
H_DUPLICATE = 2
H_OFFPAGE = 3
H_OFFDUP = 4
MIN_PAGE_SIZE = 512
MAX_PAGE_SIZE = 65536


def _byte_order(data: bytes) -> str | None:
    """``<`` or ``>`` when ``data`` starts like a BerkeleyDB hash database, else None."""
    if len(data) < 16:
        return None
    for order in "<>":
        if struct.unpack_from(f"{order}I", data, 12)[0] == HASH_MAGIC:
            return order
    return None


def is_hash_db(data: bytes) -> bool:
    return _byte_order(data) is not None


def read_blobs(data: bytes) -> list[bytes]:
    """The values (header blobs) of every non-zero key, in page order."""
    order = _byte_order(data)
    if order is None:
        raise RpmDbError("not a BerkeleyDB hash database")
    if len(data) < MIN_PAGE_SIZE:
        raise RpmDbError(f"BerkeleyDB rpm database truncated ({len(data)} bytes)")
    page_size, encryption, page_type = struct.unpack_from(f"{order}IBB", data, 20)
    last_page = struct.unpack_from(f"{order}I", data, 32)[0]
    if page_size < MIN_PAGE_SIZE or page_size > MAX_PAGE_SIZE or page_size & (page_size - 1):
        raise RpmDbError(f"BerkeleyDB rpm database: bad page size {page_size}")
    if page_type != P_HASHMETA:
        raise RpmDbError(f"BerkeleyDB rpm database: page 0 has type {page_type}, not hash metadata")
    if encryption:
        raise RpmDbError("BerkeleyDB rpm database is encrypted")
    if (last_page + 1) * page_size > len(data):
        raise RpmDbError(
            f"BerkeleyDB rpm database truncated: {last_page + 1} pages of {page_size} bytes "
            f"announced, file has {len(data)} bytes"
        )
    reader = _Reader(data, order, page_size, last_page)
    blobs: list[bytes] = []
    for page_number in range(1, last_page + 1):
        if reader.page_type(page_number) in (P_HASH, P_HASH_UNSORTED):
            blobs.extend(reader.hash_page_values(page_number))
    return blobs


class _Reader:
    """Page access for one database, every offset checked against the page and file."""

    def __init__(self, data: bytes, order: str, page_size: int, last_page: int) -> None:
        self.data = data
        self.order = order
        self.page_size = page_size
        self.last_page = last_page
        self.overflow_pages: set[int] = set()  # every chain's pages: none may be shared or revisited

    def page(self, number: int) -> bytes:
        if not 1 <= number <= self.last_page:
            raise RpmDbError(f"BerkeleyDB rpm database: page {number} outside 1..{self.last_page}")
        start = number * self.page_size
        return self.data[start : start + self.page_size]

    def page_type(self, number: int) -> int:
        return self.data[number * self.page_size + 25]

    def hash_page_values(self, number: int) -> list[bytes]:
        """The values of the key/value pairs on one hash page (key 0 skipped)."""
        page = self.page(number)
        entries = struct.unpack_from(f"{self.order}H", page, 20)[0]
        index_end = PAGE_HEADER_SIZE + 2 * entries
        if entries % 2 or index_end > self.page_size:
            raise RpmDbError(f"BerkeleyDB rpm database: page {number} claims {entries} entries")
        offsets = struct.unpack_from(f"{self.order}{entries}H", page, PAGE_HEADER_SIZE)
        items: list[bytes] = []
        end = self.page_size
        for offset in offsets:
            if not index_end <= offset < end:
                raise RpmDbError(f"BerkeleyDB rpm database: page {number} has an item at bad offset {offset}")
            items.append(page[offset:end])
            end = offset
        values: list[bytes] = []
        for key, value in zip(items[0::2], items[1::2], strict=True):
            if key[0] == H_KEYDATA and key[1:] == b"\x00\x00\x00\x00":
                continue
            values.append(self.value(number, value))
        return values

    def value(self, number: int, item: bytes) -> bytes:
        kind = item[0]
        if kind == H_KEYDATA:
            return item[1:]
        if kind == H_OFFPAGE:
            if len(item) < 12:
                raise RpmDbError(f"BerkeleyDB rpm database: page {number} has a short off-page item")
            first, length = struct.unpack_from(f"{self.order}II", item, 4)
            return self.overflow(first, length)
        raise RpmDbError(f"BerkeleyDB rpm database: page {number} has an unsupported item kind {kind}")

    def overflow(self, first: int, length: int) -> bytes:
        """Concatenate an overflow chain, which must hold exactly ``length`` bytes."""
        if length > len(self.data):
            raise RpmDbError(f"BerkeleyDB rpm database: overflow item claims {length} bytes")
        chunks: list[bytes] = []
        collected = 0
        number = first
        while number:
            if number in self.overflow_pages:
                raise RpmDbError(f"BerkeleyDB rpm database: overflow page {number} reached twice")
            self.overflow_pages.add(number)
            page = self.page(number)
            _, next_page, _, used, _, page_type = struct.unpack_from(f"{self.order}IIHHBB", page, 12)
            if page_type != P_OVERFLOW or PAGE_HEADER_SIZE + used > self.page_size:
                raise RpmDbError(f"BerkeleyDB rpm database: page {number} is not a valid overflow page")
            chunks.append(page[PAGE_HEADER_SIZE : PAGE_HEADER_SIZE + used])
            collected += used
            if collected > length:
                break
            number = next_page
        if collected != length:
            raise RpmDbError(
                f"BerkeleyDB rpm database: overflow chain holds {collected} bytes, expected {length}"
            )
        return b"".join(chunks)
