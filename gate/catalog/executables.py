"""Executable files: each is read once and handed to the readers of what compilers embed.

One cataloger looks at every regular file with an execute bit (see :mod:`gate.catalog.elf`
for the cheap filter) so that an image's binaries are opened and their ELF headers parsed
once, not once per ecosystem (an ELF file is read by range, only the parts needed): Go build
info (:mod:`gate.catalog.golang`, ELF, PE and Mach-O) and cargo-auditable data
(:mod:`gate.catalog.rust`, ELF). Packages keep their ecosystem's ``found_by``; a damaged file
is one Unknown under this cataloger's name.
"""

from __future__ import annotations

from gate.catalog import CatalogContext, Cataloger, golang, rust
from gate.catalog.elf import check_size, executable_format, file_reader, read_elf
from gate.image.filesystem import FileEntry, FileSystem
from gate.model import Package

NAME = "executable-cataloger"


def parse_executable(fs: FileSystem, context: CatalogContext, entry: FileEntry) -> list[Package]:
    """Go modules, or else Rust crates, compiled into one executable; [] for other files.

    A Go binary carries no cargo-auditable data, so Rust is only looked for when Go's build
    info is absent. A damaged ELF file fails when neither reader finds anything in it.
    """
    kind = executable_format(fs, entry)
    if kind is None:
        return []
    check_size(entry)
    location = context.location_of(entry)
    read = file_reader(fs, entry)
    elf = read_elf(read, entry.size) if kind == "elf" else None
    go_damage: ValueError | None = None
    try:
        go_packages = golang.binary_packages(read, entry.size, kind, elf, location)
    except ValueError as damage:
        go_packages, go_damage = [], damage
    if go_packages or elf is None:
        return go_packages
    rust_packages = rust.binary_packages(elf, location)
    if not rust_packages and go_damage is not None:
        raise go_damage
    return rust_packages


CATALOGERS: list[Cataloger] = [Cataloger(NAME, ("**",), parse_executable)]
