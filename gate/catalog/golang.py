"""Go modules compiled into executables, from the build info the Go linker embeds.

Every Go binary since Go 1.13 carries a 32-byte header starting with ``\\xff Go buildinf:``
(Go's ``debug/buildinfo``): byte 14 is the pointer size, byte 15 flags (bit 0 big-endian,
bit 1 "strings inline"). Go 1.18+ writes the toolchain version and the module info inline as
two varint-length-prefixed strings right after the header; older linkers wrote two pointers
to Go string headers elsewhere in the image, which only ELF files are followed for here. The
header sits at the start of the ``.go.buildinfo`` section, or when section headers are gone,
in the first 64 KiB of the first writable segment; stripping symbols (``-ldflags=-s -w``)
keeps it. In PE and Mach-O files the data section their headers name is searched (see
:mod:`gate.catalog.pe_macho`), for the inline form.

The module info is ``runtime/debug.BuildInfo`` text: tab-separated ``path``, ``mod``, ``dep``,
``=>`` (replaces the module on the line before) and ``build`` lines. Each module becomes a
``pkg:golang/<module path>@<version>`` package, the toolchain becomes ``stdlib``. A binary
built outside module mode (GOPATH, as Debian builds its Go packages) has a ``path`` line and
no ``mod`` line: its main package is reported with an unknown version.

Executables are read by :mod:`gate.catalog.executables`, which hands each one here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from packageurl import PackageURL

from gate.catalog.elf import ElfBinary, Reader, bytes_reader, parse_elf
from gate.catalog.pe_macho import macho_data_section, pe_data_section
from gate.model import Package, PackageLocation

NAME = "go-module-binary-cataloger"
ECOSYSTEM = "Go"
BUILDINFO_MAGIC = b"\xff Go buildinf:"
BUILDINFO_HEADER = 32
BUILDINFO_ALIGN = 16
BUILDINFO_SECTION = ".go.buildinfo"
SEARCH_WINDOW = 64 * 1024  # how far into the data segment Go's own reader looks
MAX_STRING = 1024 * 1024
# a header and its two inline varint-prefixed strings, read at once
HEADER_AND_STRINGS = BUILDINFO_HEADER + 2 * (10 + MAX_STRING)
FIRST_READ = 64 * 1024  # enough for the module list of most binaries
FLAG_BIG_ENDIAN = 0x1
FLAG_INLINE = 0x2
DEVEL = "(devel)"
GO_VERSION_PREFIXES = ("go1", "devel")  # "go1.21.5", "devel go1.22-abcdef"
# the module info is framed by 16-byte sentinels, the closing one preceded by a newline
SENTINEL = 16
# hosts whose repositories are always host/owner/repository (as the go command knows them)
REPOSITORY_HOSTS = ("github.com", "gitlab.com", "bitbucket.org")
BUILD_SETTINGS_KEPT = ("GOOS", "GOARCH", "CGO_ENABLED", "-buildmode", "vcs", "vcs.revision", "vcs.time")


@dataclass(frozen=True, slots=True)
class Module:
    path: str
    version: str
    sum: str = ""
    replace: Module | None = None


@dataclass(frozen=True, slots=True)
class BuildInfo:
    go_version: str  # "go1.21.5", possibly followed by experiment flags
    path: str  # the main package's import path
    main: Module | None  # absent for binaries built outside module mode (GOPATH)
    deps: tuple[Module, ...]
    settings: tuple[tuple[str, str], ...]


def binary_packages(
    read: Reader, size: int, kind: str, elf: ElfBinary | None, location: PackageLocation
) -> list[Package]:
    """The Go modules of one executable of ``size`` bytes (``elf`` is its parsed headers when ELF)."""
    info = read_elf_build_info(elf) if elf is not None else _read_pe_macho_build_info(read, size, kind)
    return build_info_packages(info, location) if info is not None else []


def read_build_info(data: bytes, kind: str, elf: ElfBinary | None = None) -> BuildInfo | None:
    """The build info of an ``"elf"``, ``"pe"`` or ``"macho"`` image; None when it has none.

    Raises ValueError for a damaged ELF file (corrupt section headers, truncated) in which no
    build info turns up anywhere, since whether it is a Go binary cannot be told.
    """
    if kind == "elf":
        return read_elf_build_info(elf if elf is not None else parse_elf(data))
    return _read_pe_macho_build_info(bytes_reader(data), len(data), kind)


def read_elf_build_info(binary: ElfBinary) -> BuildInfo | None:
    """The build info of an ELF file, reading only the window Go's reader looks in (and the
    strings the header points to); the whole file only when it is damaged."""
    start, end = _elf_search_window(binary)
    strings = _first_valid_in(binary.read, start, end, binary)
    if strings is None and binary.damage:
        whole = binary.read(0, binary.size)
        strings = _first_valid(whole, _aligned_matches(whole, 0, len(whole)), binary)
        if strings is None:
            raise ValueError(binary.damage)
    return _build_info(*strings) if strings else None


def _read_pe_macho_build_info(read: Reader, size: int, kind: str) -> BuildInfo | None:
    """Inline build info in the data section the headers name; the whole file searched when they name none."""
    section = pe_data_section(read) if kind == "pe" else macho_data_section(read)
    if section is not None:
        offset, length = section
        strings = _first_valid_in(read, offset, offset + min(length, SEARCH_WINDOW), None)
    else:
        whole = read(0, size)
        strings = _first_valid(whole, _aligned_matches(whole, 0, len(whole)), None)
    return _build_info(*strings) if strings else None


def _first_valid_in(read: Reader, start: int, end: int, binary: ElfBinary | None) -> tuple[str, str] | None:
    """:func:`_first_valid` for the file window ``[start, end)``: each header read with its inline strings."""
    window = read(start, max(end - start, 0))
    for offset in _aligned_matches(window, 0, len(window)):
        chunk = read(start + offset, FIRST_READ)
        strings = _first_valid(chunk, [0], binary)
        if (strings is None or not strings[1]) and len(chunk) == FIRST_READ:  # longer strings
            strings = _first_valid(read(start + offset, HEADER_AND_STRINGS), [0], binary)
        if strings is not None:
            return strings
    return None


def _elf_search_window(binary: ElfBinary) -> tuple[int, int]:
    """File offsets ``[start, end)`` where Go's reader looks for the header (empty if nowhere)."""
    section = binary.sections.get(BUILDINFO_SECTION)
    if section is not None:
        return section.offset, section.offset + min(max(section.size, BUILDINFO_HEADER), SEARCH_WINDOW)
    segment = binary.first_data_segment()
    if segment is not None:
        return segment.offset, segment.offset + min(segment.filesz, SEARCH_WINDOW)
    return 0, 0


def _aligned_matches(data: bytes, start: int, end: int) -> list[int]:
    """Offsets of the magic in ``data[start:end]``, 16-byte aligned from ``start``, with room for a header."""
    found: list[int] = []
    end = min(end, len(data))
    position = data.find(BUILDINFO_MAGIC, start, end)
    while position >= 0:
        if (position - start) % BUILDINFO_ALIGN == 0 and end - position >= BUILDINFO_HEADER:
            found.append(position)
        position = data.find(BUILDINFO_MAGIC, position + 1, end)
    return found


def _first_valid(data: bytes, offsets: list[int], binary: ElfBinary | None) -> tuple[str, str] | None:
    """(toolchain version, module info) from the first header that decodes to a Go version.

    The check matters where the whole file is searched: a binary that reads build info (the
    ``go`` command itself) holds the magic string in its code too.
    """
    for offset in offsets:
        strings = _header_strings(data, offset, binary)
        if strings is not None and strings[0].startswith(GO_VERSION_PREFIXES):
            return strings
    return None


def _header_strings(data: bytes, offset: int, binary: ElfBinary | None) -> tuple[str, str] | None:
    pointer_size, flags = data[offset + 14], data[offset + 15]
    if flags & FLAG_INLINE:
        version, after = _varint_string(data, offset + BUILDINFO_HEADER)
        module_info, _ = _varint_string(data, after)
    elif binary is not None and pointer_size in (4, 8):
        order = ">" if flags & FLAG_BIG_ENDIAN else "<"
        pointers = data[offset + 16 : offset + 16 + 2 * pointer_size]
        version_address, module_address = struct.unpack(
            f"{order}2{'Q' if pointer_size == 8 else 'I'}", pointers
        )
        version = _go_string_at(binary, version_address, pointer_size, order)
        module_info = _go_string_at(binary, module_address, pointer_size, order)
    else:
        return None
    return version.decode("utf-8", "replace"), _strip_sentinels(module_info).decode("utf-8", "replace")


def _varint_string(data: bytes, offset: int) -> tuple[bytes, int]:
    """A uvarint length then that many bytes (Go's ``decodeString``); empty when malformed."""
    length, shift, position = 0, 0, offset
    while position < len(data) and shift <= 63:
        byte = data[position]
        position += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if length > MAX_STRING or position + length > len(data):
                return b"", position
            return data[position : position + length], position + length
        shift += 7
    return b"", position


def _go_string_at(binary: ElfBinary, address: int, pointer_size: int, order: str) -> bytes:
    """A Go string header (data pointer, length) at ``address``, followed to its bytes."""
    header = binary.read_address(address, 2 * pointer_size)
    if header is None:
        return b""
    data_address, length = struct.unpack(f"{order}2{'Q' if pointer_size == 8 else 'I'}", header)
    if length > MAX_STRING:
        return b""
    return binary.read_address(data_address, length) or b""


def _strip_sentinels(module_info: bytes) -> bytes:
    if len(module_info) >= 2 * SENTINEL + 1 and module_info[-SENTINEL - 1] == ord("\n"):
        return module_info[SENTINEL:-SENTINEL]
    return b""


def _build_info(go_version: str, module_info: str) -> BuildInfo:
    """Parse ``runtime/debug.BuildInfo.String()`` text; unknown lines are ignored, as Go does."""
    path, main = "", None
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    for line in module_info.split("\n"):
        kind, _, rest = line.partition("\t")
        if kind == "path":
            path = rest
        elif kind in ("mod", "dep"):
            module = _module(rest)
            if module is not None and kind == "mod":
                main = module
            elif module is not None:
                deps.append(module)
        elif kind == "=>":
            replacement = _module(rest)
            if deps and replacement is not None:
                deps[-1] = Module(deps[-1].path, deps[-1].version, deps[-1].sum, replacement)
            elif main is not None and replacement is not None:
                main = Module(main.path, main.version, main.sum, replacement)
        elif kind == "build":
            key, _, value = rest.partition("=")
            settings.append((key, value))
    return BuildInfo(go_version, path, main, tuple(deps), tuple(settings))


def _module(fields_text: str) -> Module | None:
    fields = fields_text.split("\t")
    if not fields[0]:
        return None
    version = fields[1] if len(fields) > 1 else ""
    checksum = fields[2] if len(fields) > 2 else ""
    return Module(fields[0], version, checksum)


# -- packages -------------------------------------------------------------------------------


def build_info_packages(info: BuildInfo, location: PackageLocation) -> list[Package]:
    """The main module, every dependency and the Go standard library as packages."""
    settings = dict(info.settings)
    arch = settings.get("GOARCH", "")
    packages = [_module_package(dep, location, arch, ()) for dep in info.deps]
    kept = tuple((key, settings[key]) for key in BUILD_SETTINGS_KEPT if settings.get(key))
    main_facts = (("main-module", "true"), ("go-toolchain", info.go_version), *kept)
    if info.main is not None:
        packages.append(_module_package(info.main, location, arch, main_facts))
    elif "." in info.path.split("/", 1)[0]:  # not the toolchain's own (cmd/go) nor a local path
        packages.append(_gopath_main_package(info.path, location, arch, main_facts))
    stdlib = info.go_version.split()[0] if info.go_version.split() else ""
    if stdlib.startswith("go1"):
        packages.append(_package("stdlib", stdlib, location, arch, ()))
    return packages


def _module_package(
    module: Module, location: PackageLocation, arch: str, facts: tuple[tuple[str, str], ...]
) -> Package:
    """The module as built: a ``=>`` replacement by another module version names the code compiled in.

    A replacement by a local directory (``=> ./fork``) keeps the module path, with the
    directory's version ``(devel)``: the path names no module anyone publishes advisories for.
    """
    name, version, checksum = module.path, module.version, module.sum
    replace = module.replace
    if replace is not None and _is_module_path(replace.path):
        facts = (*facts, ("replaces", f"{module.path}@{module.version}"))
        name, version, checksum = replace.path, replace.version, replace.sum
    elif replace is not None:
        facts = (*facts, ("replaced-by", replace.path))
        version, checksum = replace.version or DEVEL, ""
    if checksum:
        facts = (*facts, ("go-sum", checksum))
    return _package(name, version, location, arch, facts)


def _gopath_main_package(
    package_path: str, location: PackageLocation, arch: str, facts: tuple[tuple[str, str], ...]
) -> Package:
    """The main package of a binary built outside module mode (GOPATH), whose version nobody recorded.

    Such build info has a ``path`` line (the main package's import path) and no ``mod`` line.
    The package is named by the repository the path lies in, where the host fixes its shape
    (``github.com/docker/distribution`` for ``github.com/docker/distribution/cmd/registry``,
    the rest becoming the purl's subpath), else by the whole path; its version stays unknown.
    """
    module, subpath = gopath_module(package_path)
    facts = (*facts, ("build-mode", "gopath"), ("main-package", package_path), ("version", "unknown"))
    return _package(module, "", location, arch, facts, subpath=subpath)


def gopath_module(package_path: str) -> tuple[str, str]:
    """(repository path, package directory inside it) of an import path; the directory may be ""."""
    parts = package_path.split("/")
    if parts[0] in REPOSITORY_HOSTS or parts[:2] == ["golang.org", "x"]:
        return "/".join(parts[:3]), "/".join(parts[3:])
    return package_path, ""


def _is_module_path(path: str) -> bool:
    """Module paths, unlike the directory paths a ``replace`` may name, never start with . or /."""
    return not path.startswith(("./", "../", "/", ".\\", "..\\")) and not (len(path) > 1 and path[1] == ":")


def _package(
    name: str,
    version: str,
    location: PackageLocation,
    arch: str,
    facts: tuple[tuple[str, str], ...],
    *,
    subpath: str = "",
) -> Package:
    return Package(
        name=name,
        version=version,
        type="golang",
        purl=golang_purl(name, version, subpath=subpath),
        found_by=NAME,
        locations=(location,),
        ecosystem=ECOSYSTEM,
        arch=arch,
        metadata=tuple(sorted(facts)),
    )


def golang_purl(module_path: str, version: str, *, subpath: str = "") -> str:
    """``pkg:golang/github.com/google/uuid@v1.3.0``; no version when the build info has none."""
    namespace, _, name = module_path.rpartition("/")
    known = version if version and version != DEVEL else None
    return PackageURL(
        type="golang", namespace=namespace or None, name=name, version=known, subpath=subpath or None
    ).to_string()
