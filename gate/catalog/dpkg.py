"""Debian packages from the dpkg database: ``var/lib/dpkg/status`` and ``status.d/*``.

The status file is a sequence of stanzas in the control-file syntax of Debian Policy
chapter 5 (5.1: ``Field: value`` lines, continuation lines start with a space or tab,
stanzas are separated by blank lines). Only stanzas whose ``Status`` (5.6.x, three words
"want flag status") ends in ``installed`` are packages on disk; distroless images keep one
stanza per file in ``status.d/`` without a ``Status`` field, and those are all installed.

Files a package owns come from ``var/lib/dpkg/info/<pkg>[:<arch>].list`` (falling back to the
paths in ``.md5sums``), or ``status.d/<name>.md5sums`` for distroless. Licenses come from
``usr/share/doc/<pkg>/copyright`` when it is machine-readable (DEP-5 copyright-format 1.0).
"""

from __future__ import annotations

import re

from packageurl import PackageURL

from gate.catalog import CatalogContext, Cataloger, read_whole
from gate.catalog.distro import osv_ecosystem
from gate.catalog.licenses import normalize_license
from gate.image.filesystem import FileEntry, FileSystem
from gate.model import Package

NAME = "dpkg-db-cataloger"
MAX_STATUS_FILE = 512 * 1024 * 1024
MAX_FILE_LIST = 16 * 1024 * 1024
MAX_COPYRIGHT = 1024 * 1024
INFO_DIR = "var/lib/dpkg/info"
STATUS_D = "var/lib/dpkg/status.d/"
DEP5_MARKERS = ("copyright-format/1.0", "dep.debian.net/deps/dep5")
# status.d holds maintainer scripts and lists beside the stanzas; they are not status files
STATUS_D_SIDECARS = (
    ".md5sums",
    ".list",
    ".conffiles",
    ".preinst",
    ".postinst",
    ".prerm",
    ".postrm",
    ".triggers",
    ".shlibs",
    ".symbols",
    ".templates",
    ".config",
)

Stanza = dict[str, str]

_DEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.\-]*")
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s*\((?P<version>[^)]*)\))?")


def parse_stanzas(text: str) -> list[Stanza]:
    """Split control-file text into stanzas (Policy 5.1); field names are case-insensitive.

    Lines that are neither ``Field: value`` nor a continuation are ignored, and so is a
    continuation with no field before it, so trailing junk cannot abort the parse.
    """
    stanzas: list[Stanza] = []
    current: Stanza = {}
    key = ""
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
        elif line[0] in " \t":
            if key:
                current[key] += "\n" + line.strip()
        else:
            name, sep, value = line.partition(":")
            if sep and name.strip() and " " not in name.strip():
                key = name.strip().lower()
                current[key] = value.strip()
            else:
                key = ""
    if current:
        stanzas.append(current)
    return stanzas


def is_installed(stanza: Stanza, *, default: bool = False) -> bool:
    """``Status: install ok installed`` (dpkg(1) "want flag status"); ``default`` when Status is absent.

    dpkg always writes Status into ``var/lib/dpkg/status``; distroless ``status.d`` stanzas
    have none and describe installed packages, so their callers pass ``default=True``.
    """
    status = stanza.get("status")
    if status is None:
        return default
    words = status.split()
    return len(words) == 3 and words[2] == "installed"


def parse_source(stanza: Stanza) -> tuple[str, str]:
    """``Source: name (version)`` (Policy 5.6.1); missing parts default to the binary package's."""
    name, version = stanza.get("package", ""), stanza.get("version", "")
    match = _SOURCE.match(stanza.get("source", "").strip())
    if match:
        return match.group("name"), (match.group("version") or version).strip()
    return name, version


def parse_dependencies(stanza: Stanza) -> tuple[str, ...]:
    """Package names from ``Pre-Depends`` and ``Depends`` (Policy 7.1): no versions, arch or alternatives."""
    names: set[str] = set()
    for field in ("pre-depends", "depends"):
        for clause in stanza.get(field, "").replace("\n", " ").split(","):
            for alternative in clause.split("|"):
                match = _DEP_NAME.match(alternative.strip())
                if match:
                    names.add(match.group(0))
    return tuple(sorted(names))


def parse_dpkg_db(fs: FileSystem, context: CatalogContext, entry: FileEntry) -> list[Package]:
    """The installed packages of one dpkg status file (or one status.d file)."""
    distroless = entry.path.startswith(STATUS_D)
    if distroless and entry.path.endswith(STATUS_D_SIDECARS):
        return []
    data = read_whole(fs, entry, MAX_STATUS_FILE)
    stanzas = parse_stanzas(data.decode("utf-8", "replace"))
    if data.strip() and not any(stanza.get("package") for stanza in stanzas):
        raise ValueError("no Package field in any stanza: not a dpkg status file")
    packages: list[Package] = []
    for stanza in stanzas:
        if (
            not stanza.get("package")
            or not stanza.get("version")
            or not is_installed(stanza, default=distroless)
        ):
            continue
        packages.append(_package(fs, context, entry, stanza, distroless))
    return packages


def _package(
    fs: FileSystem, context: CatalogContext, entry: FileEntry, stanza: Stanza, distroless: bool
) -> Package:
    name, version, arch = stanza["package"], stanza["version"], stanza.get("architecture", "")
    source_name, source_version = parse_source(stanza)
    metadata = tuple(
        sorted(
            (key, stanza[field])
            for key, field in (("maintainer", "maintainer"), ("installed-size", "installed-size"))
            if stanza.get(field)
        )
    )
    return Package(
        name=name,
        version=version,
        type="deb",
        purl=_purl(context, name, version, arch, source_name),
        found_by=NAME,
        locations=(context.location_of(entry),),
        ecosystem=osv_ecosystem(context.distro),
        arch=arch,
        licenses=_licenses(fs, name),
        source_name=source_name,
        source_version=source_version,
        files=_owned_files(fs, entry, name, arch, distroless),
        dependencies=parse_dependencies(stanza),
        metadata=metadata,
    )


def _purl(context: CatalogContext, name: str, version: str, arch: str, source: str) -> str:
    """``pkg:deb/debian/name@version?arch=..&distro=debian-12[&upstream=src]`` (purl-spec deb type)."""
    distro = context.distro
    namespace = distro.id if distro is not None and distro.id else "debian"
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if distro is not None:
        qualifiers["distro"] = distro.purl_distro
    if source and source != name:
        qualifiers["upstream"] = source
    return PackageURL(
        type="deb", namespace=namespace, name=name, version=version, qualifiers=qualifiers
    ).to_string()


def _owned_files(fs: FileSystem, entry: FileEntry, name: str, arch: str, distroless: bool) -> tuple[str, ...]:
    """Image-absolute paths from the package's ``.list`` (or ``.md5sums``) file."""
    if distroless:
        candidates = [f"{entry.path}.md5sums", f"{STATUS_D}{name}.md5sums"]
    else:
        stems = [f"{INFO_DIR}/{name}:{arch}", f"{INFO_DIR}/{name}"] if arch else [f"{INFO_DIR}/{name}"]
        candidates = [f"{stem}.list" for stem in stems] + [f"{stem}.md5sums" for stem in stems]
    for path in candidates:
        found = fs.stat(path)
        if found is None or not found.is_file:
            continue
        text = fs.read_bytes(found, limit=MAX_FILE_LIST).decode("utf-8", "replace")
        md5sums = path.endswith(".md5sums")
        files = {_file_path(line, md5sums) for line in text.splitlines()}
        files.discard("")
        return tuple(sorted(files))
    return ()


def _file_path(line: str, md5sums: bool) -> str:
    """A ``.list`` line is a path; an ``.md5sums`` line is ``<md5>  <root-relative path>``."""
    line = line.strip()
    if md5sums:
        parts = line.split(None, 1)
        line = parts[1].strip() if len(parts) == 2 else ""
    if not line or line in ("/", "/."):
        return ""
    return "/" + line.lstrip("/")


def _licenses(fs: FileSystem, name: str) -> tuple[str, ...]:
    """SPDX-normalised ``License:`` short names of a DEP-5 copyright file; () for free-form ones."""
    found = fs.stat(f"usr/share/doc/{name}/copyright")
    if found is None or not found.is_file:
        return ()
    text = fs.read_bytes(found, limit=MAX_COPYRIGHT).decode("utf-8", "replace")
    return parse_copyright_licenses(text)


def parse_copyright_licenses(text: str) -> tuple[str, ...]:
    """Licenses of a machine-readable copyright file (DEP-5); () when it is not one."""
    stanzas = parse_stanzas(text)
    if not stanzas or not any(marker in stanzas[0].get("format", "") for marker in DEP5_MARKERS):
        return ()
    licenses: set[str] = set()
    for stanza in stanzas:
        short_name = stanza.get("license", "").split("\n", 1)[0].strip()
        if short_name:
            licenses.add(normalize_license(short_name))
    return tuple(sorted(licenses))


CATALOGERS: list[Cataloger] = [
    Cataloger(NAME, ("var/lib/dpkg/status", "var/lib/dpkg/status.d/*"), parse_dpkg_db),
]
