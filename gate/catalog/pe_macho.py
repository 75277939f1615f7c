"""Where Go's build info lies in PE (Windows) and Mach-O (macOS) executables, from their headers.

Go's ``debug/buildinfo`` looks for the build info header in the first 64 KiB of one place:
in a PE file, the first section whose characteristics say initialized, readable, writable data
(Microsoft PE format, "Section Table"); in a Mach-O file, the ``__go_buildinfo`` section, else
the ``__DATA`` segment (``<mach-o/loader.h>``: ``LC_SEGMENT``/``LC_SEGMENT_64`` load commands
and the sections after each). Only those file offsets are read; None means the headers did not
say, and the caller searches the whole file.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

Reader = Callable[[int, int], bytes]  # (offset, size) -> bytes of a file; fewer at its end

PE_DATA = 0x00000040 | 0x40000000 | 0x80000000  # CNT_INITIALIZED_DATA, MEM_READ, MEM_WRITE
PE_SECTION = 40
MAX_SECTIONS = 96  # the PE loader's limit
MACHO_MAGICS = {  # magic as read little-endian -> (byte order, 64-bit)
    0xFEEDFACE: ("<", False),
    0xFEEDFACF: ("<", True),
    0xCEFAEDFE: (">", False),
    0xCFFAEDFE: (">", True),
}
LC_SEGMENT, LC_SEGMENT_64 = 0x1, 0x19
MAX_LOAD_COMMANDS = 1024 * 1024  # sizeofcmds read at once


def pe_data_section(read: Reader) -> tuple[int, int] | None:
    """(file offset, size) of the first initialized, readable, writable section of a PE file."""
    try:
        (header_at,) = struct.unpack("<I", read(0x3C, 4))
        coff = read(header_at, 24)
        if coff[:4] != b"PE\0\0":
            return None
        sections, optional_size = struct.unpack_from("<H12xH", coff, 6)
        table = read(header_at + 24 + optional_size, min(sections, MAX_SECTIONS) * PE_SECTION)
        for index in range(len(table) // PE_SECTION):
            size, offset = struct.unpack_from("<II", table, index * PE_SECTION + 16)
            (flags,) = struct.unpack_from("<I", table, index * PE_SECTION + 36)
            if flags & PE_DATA == PE_DATA:
                return offset, size
    except struct.error:
        return None
    return None


def macho_data_section(read: Reader) -> tuple[int, int] | None:
    """(file offset, size) of ``__go_buildinfo``, else of the ``__DATA`` segment, in a Mach-O file."""
    try:
        (magic,) = struct.unpack("<I", read(0, 4))
        if magic not in MACHO_MAGICS:
            return None
        order, wide = MACHO_MAGICS[magic]
        commands, commands_size = struct.unpack(order + "II", read(16, 8))
        table = read(32 if wide else 28, min(commands_size, MAX_LOAD_COMMANDS))
        return _find_in_commands(table, commands, order, wide)
    except struct.error:
        return None


def _find_in_commands(table: bytes, commands: int, order: str, wide: bool) -> tuple[int, int] | None:
    segment_layout = order + ("16sQQQQiiII" if wide else "16sIIIIiiII")
    section_layout = order + ("16s16sQQI" if wide else "16s16sIII")
    section_size = 80 if wide else 68
    data_segment, position = None, 0
    for _ in range(commands):
        command, size = struct.unpack_from(order + "II", table, position)
        if size < 8:
            return None
        if command == (LC_SEGMENT_64 if wide else LC_SEGMENT):
            name, _, _, file_offset, file_size, _, _, sections, _ = struct.unpack_from(
                segment_layout, table, position + 8
            )
            first = position + 8 + struct.calcsize(segment_layout)
            for index in range(sections):
                section_name, _, _, length, offset = struct.unpack_from(
                    section_layout, table, first + index * section_size
                )
                if section_name.rstrip(b"\0") == b"__go_buildinfo":
                    return offset, length
            if name.rstrip(b"\0") == b"__DATA" and data_segment is None:
                data_segment = (file_offset, file_size)
        position += size
    return data_segment
