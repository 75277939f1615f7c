"""Executables in an image: which files to look at, and named sections and segments of ELF files.

Binary catalogers (Go build info, Rust cargo-auditable data) only look at regular files with
an execute bit whose first bytes are an executable format's magic; the rest of the image costs
one 4-byte read per executable file. An ELF file is not read whole: its header, program and
section header tables, the section-name table and then only the sections a reader asks for are
read by range (:meth:`FileSystem.read_range`). Files up to :data:`MAX_BINARY_BYTES` are
looked at; PE and Mach-O headers are read by :mod:`gate.catalog.pe_macho`.

The headers are read with ``struct`` after the System V gABI (ELF header, program header
table, section header table), not with pyelftools, which reads the section table when it
opens a file and so gives nothing at all for a file whose section table is broken. Such a
file still yields its program headers here; :attr:`ElfBinary.damage` says what was wrong
(corrupt section table, truncated file) so callers can report it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from gate.image.filesystem import FileEntry, FileSystem

ELF_MAGIC = b"\x7fELF"
PE_MAGIC = b"MZ"
MACHO_MAGICS = (
    b"\xfe\xed\xfa\xce",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xcf\xfa\xed\xfe",
)
MAGIC_BYTES = 4
MAX_BINARY_BYTES = 512 * 1024 * 1024
PT_LOAD = 1
SHT_NOBITS = 8
SHN_XINDEX = 0xFFFF
PF_X, PF_W = 0x1, 0x2


MAX_HEADER_TABLE = 16 * 1024 * 1024  # a program or section header table, or the section-name table
Reader = Callable[[int, int], bytes]  # (offset, size) -> bytes of a file; fewer at its end


class BinaryTooLarge(ValueError):
    """A candidate executable larger than the bytes a cataloger may read for one file."""


def executable_format(fs: FileSystem, entry: FileEntry) -> str | None:
    """``"elf"``, ``"pe"`` or ``"macho"`` for an executable regular file in that format, else None."""
    if not entry.is_executable or entry.size < 64:
        return None
    head = fs.read_bytes(entry, limit=MAGIC_BYTES)
    if head == ELF_MAGIC:
        return "elf"
    if head.startswith(PE_MAGIC):
        return "pe"
    if head in MACHO_MAGICS:
        return "macho"
    return None


def check_size(entry: FileEntry) -> None:
    """Refuses an executable over :data:`MAX_BINARY_BYTES` rather than reading part of it."""
    if entry.size > MAX_BINARY_BYTES:
        raise BinaryTooLarge(
            f"executable is {entry.size} bytes, over the {MAX_BINARY_BYTES}-byte limit; not read"
        )


def file_reader(fs: FileSystem, entry: FileEntry) -> Reader:
    return lambda offset, size: fs.read_range(entry, offset, size)


def bytes_reader(data: bytes) -> Reader:
    return lambda offset, size: data[offset : offset + size]


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    offset: int
    size: int
    address: int
    has_content: bool = True  # False for SHT_NOBITS (.bss): it takes no bytes in the file


@dataclass(frozen=True, slots=True)
class Segment:
    """A ``PT_LOAD`` program header: file bytes ``[offset, offset+filesz)`` mapped at ``vaddr``."""

    offset: int
    vaddr: int
    filesz: int
    memsz: int
    flags: int


@dataclass
class ElfBinary:
    read: Reader
    size: int  # of the file
    sections: dict[str, Section] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    little_endian: bool = True
    section_error: str = ""
    truncated: str = ""

    @property
    def damage(self) -> str:
        """Why the file cannot be fully read ("" when it can)."""
        return "; ".join(problem for problem in (self.section_error, self.truncated) if problem)

    def section_bytes(self, name: str) -> bytes | None:
        """The file content of section ``name``; None when absent or it lies past the end of the file."""
        section = self.sections.get(name)
        if section is None or section.offset + section.size > self.size:
            return None
        return self.read(section.offset, section.size)

    def read_address(self, address: int, size: int) -> bytes | None:
        """``size`` bytes at virtual ``address`` through the loadable segments; None when unmapped."""
        for segment in self.segments:
            if segment.vaddr <= address and address + size <= segment.vaddr + segment.filesz:
                chunk = self.read(segment.offset + address - segment.vaddr, size)
                return chunk if len(chunk) == size else None
        return None

    def first_data_segment(self) -> Segment | None:
        """The first writable, non-executable loadable segment (where a linker puts ``.data``)."""
        return next((s for s in self.segments if s.flags & (PF_X | PF_W) == PF_W), None)


def parse_elf(data: bytes) -> ElfBinary:
    """Program and section headers of an ELF image in memory (see :func:`read_elf`)."""
    return read_elf(bytes_reader(data), len(data))


def read_elf(read: Reader, size: int) -> ElfBinary:
    """Program and section headers of an ELF file; ValueError if the ELF header itself is unreadable."""
    header = _elf_header(read(0, 64))
    binary = ElfBinary(
        read, size, segments=_load_segments(read, size, header), little_endian=header.order == "<"
    )
    try:
        binary.sections = _sections(read, size, header)
    except (ValueError, struct.error) as error:
        binary.section_error = f"corrupt ELF section header table: {error}"
    binary.truncated = _truncation(binary)
    return binary


@dataclass(frozen=True, slots=True)
class _Header:
    order: str  # struct byte order: "<" or ">"
    wide: bool  # ELFCLASS64
    phoff: int
    phentsize: int
    phnum: int
    shoff: int
    shentsize: int
    shnum: int
    shstrndx: int


def _elf_header(data: bytes) -> _Header:
    """The fields of the ELF header (System V gABI, "ELF Header") that locate the two tables."""
    if len(data) < 52 or data[:4] != ELF_MAGIC or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ValueError("not a readable ELF file: bad identification bytes")
    order, wide = ("<" if data[5] == 1 else ">"), data[4] == 2
    layout = "HHIQQQIHHHHHH" if wide else "HHIIIIIHHHHHH"
    if len(data) < 16 + struct.calcsize(order + layout):
        raise ValueError("not a readable ELF file: header is truncated")
    fields = struct.unpack_from(order + layout, data, 16)
    phoff, shoff = fields[4], fields[5]
    phentsize, phnum, shentsize, shnum, shstrndx = fields[8:13]
    return _Header(order, wide, phoff, phentsize, phnum, shoff, shentsize, shnum, shstrndx)


def _table(read: Reader, size: int, offset: int, length: int) -> bytes:
    """A header table, cut at the end of the file; ValueError past :data:`MAX_HEADER_TABLE`."""
    if length > MAX_HEADER_TABLE:
        raise ValueError(f"a header table of {length} bytes is over the {MAX_HEADER_TABLE}-byte limit")
    return read(offset, max(min(length, size - offset), 0))


def _load_segments(read: Reader, size: int, header: _Header) -> list[Segment]:
    """``PT_LOAD`` entries of the program header table; entries past the end of the file are skipped."""
    layout = header.order + ("IIQQQQQQ" if header.wide else "IIIIIIII")
    if header.phentsize < struct.calcsize(layout):
        return []
    table = _table(read, size, header.phoff, header.phnum * header.phentsize)
    segments: list[Segment] = []
    for index in range(header.phnum):
        offset = index * header.phentsize
        if offset + header.phentsize > len(table):
            break
        fields = struct.unpack_from(layout, table, offset)
        if header.wide:
            kind, flags, file_offset, vaddr, _, filesz, memsz, _ = fields
        else:
            kind, file_offset, vaddr, _, filesz, memsz, flags, _ = fields
        if kind == PT_LOAD:
            segments.append(Segment(file_offset, vaddr, filesz, memsz, flags))
    return segments


def _sections(read: Reader, size: int, header: _Header) -> dict[str, Section]:
    """Sections by name (the first of each name), names read from the section-name string table."""
    if header.shoff == 0:
        return {}  # no section header table at all (sstrip), which is not an error
    layout = header.order + ("IIQQQQIIQQ" if header.wide else "IIIIIIIIII")
    if header.shentsize < struct.calcsize(layout):
        raise ValueError(f"section header entries are {header.shentsize} bytes, too small")
    count, names_index = header.shnum, header.shstrndx
    first_entry = read(header.shoff, header.shentsize) if header.shoff < size else b""
    first = struct.unpack_from(layout, first_entry) if len(first_entry) == header.shentsize else None
    if first is not None and count == 0:  # extended numbering: the count is in section 0
        count = first[5]
    if first is not None and names_index == SHN_XINDEX:
        names_index = first[6]
    end = header.shoff + count * header.shentsize
    if end > size:
        raise ValueError(f"section headers end at byte {end}, past the end of the file ({size} bytes)")
    table = _table(read, size, header.shoff, count * header.shentsize)
    raw = [struct.unpack_from(layout, table, i * header.shentsize) for i in range(count)]
    if not 0 < names_index < count:
        raise ValueError(f"section-name string table index {names_index} is out of range")
    names = _table(read, size, raw[names_index][4], raw[names_index][5])
    sections: dict[str, Section] = {}
    for name_offset, kind, _, address, offset, section_size, *_ in raw:
        name = names[name_offset : names.find(b"\0", name_offset)].decode("ascii", "replace")
        sections.setdefault(name, Section(name, offset, section_size, address, kind != SHT_NOBITS))
    return sections


def _truncation(binary: ElfBinary) -> str:
    """Says so when a loadable segment or a section with content ends past the end of the file."""
    size = binary.size
    ends = [(s.offset + s.filesz, "a loadable segment") for s in binary.segments]
    ends += [(s.offset + s.size, f"section {s.name}") for s in binary.sections.values() if s.has_content]
    beyond = [(end, what) for end, what in ends if end > size]
    if not beyond:
        return ""
    end, what = max(beyond)
    return f"truncated ELF file: {what} ends at byte {end}, the file has {size}"
