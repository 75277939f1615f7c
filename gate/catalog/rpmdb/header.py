"""rpm header blobs, as stored in every rpm database.

A stored header (no lead, no 8-byte header magic) is, all integers big-endian::

    int32 il                     number of index entries
    int32 dl                     size of the data store in bytes
    il x 16-byte index entries:  int32 tag, uint32 type, int32 offset, uint32 count
    dl bytes of data store       the values, each at ``offset`` from the store's start

Value types: CHAR/INT8 (1 byte), INT16 (2), INT32 (4), INT64 (8) arrays of ``count``
items; STRING (one NUL-terminated string, count 1); BIN (``count`` raw bytes);
STRING_ARRAY and I18NSTRING (``count`` consecutive NUL-terminated strings).

The first entry is usually a *region* tag (HEADERIMMUTABLE 63, HEADERSIGNATURES 62 or
HEADERIMAGE 61), type BIN, count 16: its offset points at a 16-byte trailer entry in the
data store whose negated offset is ``16 * (number of entries in the region)``. Entries
after the region ("dribbles") were added after signing and override same-tag entries
inside it, which is what keeping the *last* entry of each tag gives.

Every offset and count is checked against the data store before it is used; limits follow
rpm's own (at most 0xffff entries and 256 MiB of data).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gate.catalog.rpmdb import RpmDbError

MAX_ENTRIES = 0xFFFF
MAX_DATA = 0x0FFFFFFF
ENTRY_SIZE = 16
REGION_TAGS = frozenset({61, 62, 63})

# value types
NULL, CHAR, INT8, INT16, INT32, INT64, STRING, BIN, STRING_ARRAY, I18NSTRING = range(10)
_INT_SIZES = {CHAR: 1, INT8: 1, INT16: 2, INT32: 4, INT64: 8}
_INT_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
_STRING_TYPES = frozenset({STRING, STRING_ARRAY, I18NSTRING})

# tags gate reads
TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_SIZE = 1009
TAG_VENDOR = 1011
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_OLDFILENAMES = 1027
TAG_SOURCERPM = 1044
TAG_DIRINDEXES = 1116
TAG_BASENAMES = 1117
TAG_DIRNAMES = 1118
TAG_LONGSIZE = 5009

_HEAD = struct.Struct(">ii")
_ENTRY = struct.Struct(">iIiI")


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One index entry: where a tag's value lives in the data store."""

    tag: int
    type: int
    offset: int
    count: int


class Header:
    """A decoded header: the index by tag and the data store; values are decoded on demand."""

    def __init__(self, entries: dict[int, IndexEntry], store: bytes) -> None:
        self._entries = entries
        self._store = store

    def __contains__(self, tag: int) -> bool:
        return tag in self._entries

    def strings(self, tag: int) -> list[str]:
        """A string-typed tag's values ([] when absent); STRING gives a one-item list."""
        entry = self._entries.get(tag)
        if entry is None:
            return []
        if entry.type not in _STRING_TYPES:
            raise RpmDbError(f"rpm header tag {tag}: type {entry.type} is not a string")
        count = 1 if entry.type == STRING else entry.count
        values: list[str] = []
        position = entry.offset
        for _ in range(count):
            end = self._store.find(b"\x00", position)
            if end < 0:
                raise RpmDbError(f"rpm header tag {tag}: string runs past the data store")
            values.append(self._store[position:end].decode("utf-8", errors="replace"))
            position = end + 1
        return values

    def string(self, tag: int) -> str:
        """The first string of a tag, "" when absent."""
        values = self.strings(tag)
        return values[0] if values else ""

    def integers(self, tag: int) -> list[int]:
        """An integer-typed tag's values ([] when absent)."""
        entry = self._entries.get(tag)
        if entry is None:
            return []
        size = _INT_SIZES.get(entry.type)
        if size is None:
            raise RpmDbError(f"rpm header tag {tag}: type {entry.type} is not an integer")
        return list(struct.unpack_from(f">{entry.count}{_INT_FORMATS[size]}", self._store, entry.offset))

    def integer(self, tag: int) -> int | None:
        """The first integer of a tag, None when absent."""
        values = self.integers(tag)
        return values[0] if values else None


def parse_header(blob: bytes) -> Header:
    """Decode and bounds-check one stored header blob."""
    if len(blob) < _HEAD.size:
        raise RpmDbError(f"rpm header blob too short ({len(blob)} bytes)")
    il, dl = _HEAD.unpack_from(blob, 0)
    if not 1 <= il <= MAX_ENTRIES:
        raise RpmDbError(f"rpm header claims {il} index entries (allowed 1..{MAX_ENTRIES})")
    if not 0 <= dl <= MAX_DATA:
        raise RpmDbError(f"rpm header claims a {dl}-byte data store (allowed 0..{MAX_DATA})")
    store_start = _HEAD.size + il * ENTRY_SIZE
    if store_start + dl > len(blob):
        raise RpmDbError(
            f"rpm header blob truncated: {il} entries and {dl} data bytes need "
            f"{store_start + dl} bytes, blob has {len(blob)}"
        )
    store = blob[store_start : store_start + dl]
    entries: dict[int, IndexEntry] = {}
    for index in range(il):
        entry = IndexEntry(*_ENTRY.unpack_from(blob, _HEAD.size + index * ENTRY_SIZE))
        _check_entry(entry, dl)
        if index == 0 and entry.tag in REGION_TAGS:
            _check_region(entry, store, il)
        entries[entry.tag] = entry
    return Header(entries, store)


def _check_entry(entry: IndexEntry, dl: int) -> None:
    """Refuse an entry whose type is unknown or whose value cannot fit in the data store."""
    if not NULL <= entry.type <= I18NSTRING:
        raise RpmDbError(f"rpm header tag {entry.tag}: unknown type {entry.type}")
    if entry.type != NULL and not 0 <= entry.offset < dl:
        raise RpmDbError(f"rpm header tag {entry.tag}: offset {entry.offset} outside the {dl}-byte store")
    room = dl - entry.offset
    size = _INT_SIZES.get(entry.type)
    if size is not None:
        if entry.count * size > room:
            raise RpmDbError(f"rpm header tag {entry.tag}: {entry.count} values of {size} bytes do not fit")
        if entry.offset % size:
            raise RpmDbError(f"rpm header tag {entry.tag}: offset {entry.offset} not {size}-byte aligned")
    elif entry.type == BIN and entry.count > room:
        raise RpmDbError(f"rpm header tag {entry.tag}: {entry.count} bytes do not fit")
    elif entry.type in _STRING_TYPES and (entry.count < 1 or entry.count > room):
        # every string takes at least its NUL byte
        raise RpmDbError(f"rpm header tag {entry.tag}: {entry.count} strings cannot fit in {room} bytes")


def _check_region(entry: IndexEntry, store: bytes, il: int) -> None:
    """Check a region tag and its trailer entry (see the module docstring)."""
    if entry.type != BIN or entry.count != ENTRY_SIZE:
        raise RpmDbError(f"rpm header region tag {entry.tag}: bad type {entry.type} or count {entry.count}")
    if entry.offset + ENTRY_SIZE > len(store):
        raise RpmDbError(f"rpm header region tag {entry.tag}: trailer outside the data store")
    trailer = IndexEntry(*_ENTRY.unpack_from(store, entry.offset))
    region_entries, remainder = divmod(-trailer.offset, ENTRY_SIZE)
    # old packages carry HEADERIMAGE (61) in the signature region's trailer; rpm accepts it
    if trailer.tag not in (entry.tag, 61) or remainder or not 1 <= region_entries <= il:
        raise RpmDbError(f"rpm header region tag {entry.tag}: malformed trailer")
