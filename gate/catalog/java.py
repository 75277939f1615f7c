"""Java archives (.jar, .war, .ear, .par, ...): Maven coordinates of what they hold.

Evidence, strongest first:

* ``META-INF/maven/<groupId>/<artifactId>/pom.properties``, which Maven writes into every
  artifact it builds (Java properties syntax: the key ends at the first ``=``, ``:`` or
  blank). An archive holds one for itself and one per library shaded into it.
* ``META-INF/MANIFEST.MF`` main section (JAR File Specification: ``Name: value`` lines,
  continuation lines start with one space), used when no pom.properties names the archive,
  with the file name (``name-1.2.3.jar``): as in syft, the file name's version wins over
  ``Implementation-*``/``Bundle-*`` versions, and the groupId is the first reverse-domain
  value of ``Bundle-SymbolicName``, ``Implementation-Vendor-Id``, ``Extension-Name``.
* Archives inside the archive (Spring Boot ``BOOT-INF/lib``, ``WEB-INF/lib``, an EAR's
  modules), read the same way down to :data:`MAX_DEPTH` levels.

Archives come from the image, so every read is bounded: the outer file's size, the entries
and the uncompressed bytes read across all nested archives (a zip bomb expands only as far
as the budget), and the nesting depth. Hitting a bound, or a damaged archive inside it, stops
reading the file with a message naming the archive inside it, which the catalog records as an
Unknown; the packages found before that point are kept (:class:`gate.catalog.PartlyRead`).
"""

from __future__ import annotations

import io
import lzma
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass

from packageurl import PackageURL

from gate.catalog import CatalogContext, Cataloger, PartlyRead
from gate.image.filesystem import FileEntry, FileSystem
from gate.model import Package, PackageLocation

NAME = "java-archive-cataloger"
ECOSYSTEM = "Maven"
ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".par", ".sar", ".jpi", ".hpi")
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024  # the file in the image
MAX_DEPTH = 5  # an archive in an archive ... (the file itself is depth 0)
MAX_ENTRIES = 200_000  # zip entries, summed over the file and every archive inside it
MAX_UNCOMPRESSED = 1024 * 1024 * 1024  # bytes inflated, summed likewise
MAX_NESTED_ARCHIVE = 128 * 1024 * 1024  # one archive inside an archive, held in memory while read
MAX_METADATA_FILE = 1024 * 1024  # one pom.properties or MANIFEST.MF
MAX_CENTRAL_DIRECTORY = 32 * 1024 * 1024  # the zip's table of entries, parsed whole by zipfile
EOCD_SIGNATURE = b"PK\x05\x06"
ZIP64_LOCATOR = b"PK\x06\x07"
EOCD_SEARCH = 65535 + 22  # the record, after a comment of at most 65535 bytes
MANIFEST = "META-INF/MANIFEST.MF"
POM_PROPERTIES = re.compile(r"META-INF/maven/[^/]+/[^/]+/pom\.properties")
# name-1.2.3.jar, name-1.2.3-SNAPSHOT.jar: the version starts at the first "-<digit>"
FILENAME_VERSION = re.compile(r"^(?P<name>.+?)-(?P<version>\d[^/]*)$")
GROUP_ID = re.compile(r"^[A-Za-z_][\w-]*(\.[\w-]+)+$")
MANIFEST_VERSION_KEYS = ("implementation-version", "bundle-version", "specification-version")
MANIFEST_NAME_KEYS = ("implementation-title", "bundle-name", "specification-title", "extension-name")
# Automatic-Module-Name names a Java module (spring.web), not a Maven group: not used
MANIFEST_GROUP_KEYS = ("bundle-symbolicname", "implementation-vendor-id", "extension-name")


class ArchiveLimitError(ValueError):
    """An archive exceeded a read bound (size, entries, depth, inflated bytes)."""


@dataclass
class Budget:
    """What is left to spend on one file of the image, nested archives included."""

    entries: int = MAX_ENTRIES
    inflated: int = MAX_UNCOMPRESSED


@dataclass(frozen=True, slots=True)
class Coordinates:
    group: str
    artifact: str
    version: str
    evidence: str  # the member the coordinates were read from

    @property
    def purl(self) -> str:
        return PackageURL(
            type="maven", namespace=self.group or None, name=self.artifact, version=self.version or None
        ).to_string()


def parse_java_archive(fs: FileSystem, context: CatalogContext, entry: FileEntry) -> list[Package]:
    """The packages of one archive file in the image and of the archives nested in it."""
    if not entry.path.lower().endswith(ARCHIVE_SUFFIXES):
        return []
    if entry.size > MAX_ARCHIVE_BYTES:
        raise ArchiveLimitError(f"archive is {entry.size} bytes, over the {MAX_ARCHIVE_BYTES}-byte limit")
    data = fs.read_bytes(entry, limit=MAX_ARCHIVE_BYTES)
    location = context.location_of(entry)
    found: list[tuple[str, Coordinates]] = []
    try:
        archive_coordinates(data, "/" + entry.path, 0, Budget(), found)
    except ValueError as error:
        if not found:
            raise
        raise PartlyRead(str(error), _packages(found, location)) from error
    return _packages(found, location)


def _packages(found: list[tuple[str, Coordinates]], location: PackageLocation) -> list[Package]:
    packages: dict[tuple[str, str], Package] = {}
    for archive_path, coordinates in found:
        packages.setdefault((archive_path, coordinates.purl), _package(coordinates, archive_path, location))
    return list(packages.values())


def archive_coordinates(
    data: bytes,
    archive_path: str,
    depth: int,
    budget: Budget,
    found: list[tuple[str, Coordinates]] | None = None,
) -> list[tuple[str, Coordinates]]:
    """(archive path, coordinates) for an archive and, recursively, the archives inside it.

    Nested archives are named ``outer.war!/WEB-INF/lib/inner.jar``. Results are appended to
    ``found`` as they are read, so a caller keeps them when a later archive raises.
    """
    found = [] if found is None else found
    check_central_directory(data, archive_path, budget)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        # a nameless entry names no file gate looks for (and zipfile's is_dir() fails on it)
        members = [member for member in archive.infolist() if member.filename]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, EOFError) as error:
        raise ValueError(f"{archive_path}: not a readable zip archive: {error}") from error
    budget.entries -= len(members)
    if budget.entries < 0:
        raise ArchiveLimitError(f"{archive_path}: over {MAX_ENTRIES} zip entries for this file")
    found.extend((archive_path, c) for c in _own_coordinates(archive, members, archive_path, budget))
    for member in members:
        if member.is_dir() or not member.filename.lower().endswith(ARCHIVE_SUFFIXES):
            continue
        inner_path = f"{archive_path}!/{member.filename}"
        if depth + 1 > MAX_DEPTH:
            raise ArchiveLimitError(f"{inner_path}: archives nested deeper than {MAX_DEPTH} levels")
        inner = read_member(archive, member, archive_path, budget, MAX_NESTED_ARCHIVE)
        archive_coordinates(inner, inner_path, depth + 1, budget, found)
    return found


def check_central_directory(data: bytes, archive_path: str, budget: Budget) -> None:
    """Refuse, before zipfile builds an object per entry, a directory too large for the budget.

    APPNOTE 4.3.16: the end of central directory record (``PK\\x05\\x06``, within the last
    64 KiB + 22 bytes) holds the entry count and the directory's size; ZIP64 archives set them
    to all ones and keep the real values in the ZIP64 record its locator points to (4.3.14-15).
    """
    end = data.rfind(EOCD_SIGNATURE, max(0, len(data) - EOCD_SEARCH))
    if end < 0 or end + 22 > len(data):
        return  # zipfile reports the archive as unreadable
    count, size = struct.unpack_from("<HI", data, end + 10)
    locator = end - 20
    if (count == 0xFFFF or size == 0xFFFFFFFF) and data[locator : locator + 4] == ZIP64_LOCATOR:
        (record,) = struct.unpack_from("<Q", data, locator + 8)
        if record + 56 <= len(data):
            count, size = struct.unpack_from("<QQ", data, record + 32)
    if count > budget.entries or size > MAX_CENTRAL_DIRECTORY:
        raise ArchiveLimitError(
            f"{archive_path}: central directory of {count} entries and {size} bytes is over the limits "
            f"({budget.entries} more entries for this file, {MAX_CENTRAL_DIRECTORY} bytes)"
        )


def _own_coordinates(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], archive_path: str, budget: Budget
) -> list[Coordinates]:
    """Every pom.properties of the archive, and the manifest's coordinates if none of them names it."""
    poms: list[Coordinates] = []
    manifest: dict[str, str] = {}
    for member in members:
        if POM_PROPERTIES.fullmatch(member.filename):
            text = _read_text(archive, member, archive_path, budget)
            pom = pom_coordinates(parse_properties(text), member.filename)
            if pom is not None:
                poms.append(pom)
        elif member.filename == MANIFEST:
            manifest = parse_manifest(_read_text(archive, member, archive_path, budget))
    file_name = archive_path.rsplit("/", 1)[-1]
    if _names_archive(poms, file_name) or not manifest:
        return poms  # without a manifest, as in syft, an archive is no package of its own
    from_manifest = manifest_coordinates(manifest, file_name)
    return [from_manifest, *poms] if from_manifest is not None else poms


def _names_archive(poms: list[Coordinates], file_name: str) -> bool:
    """Whether one pom.properties is the archive's own (its artifactId starts the file name)."""
    stem = file_name.rsplit(".", 1)[0]
    return len(poms) == 1 or any(stem == p.artifact or stem.startswith(p.artifact + "-") for p in poms)


# what zipfile lets through from a damaged or unusual member: its decompressors' own errors too
_UNREADABLE_MEMBER = (
    zipfile.BadZipFile, zlib.error, lzma.LZMAError,
    NotImplementedError, RuntimeError, ValueError, EOFError, OSError,
)  # fmt: skip


def read_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, archive_path: str, budget: Budget, limit: int
) -> bytes:
    """A member's bytes, inflating at most ``limit`` (and what the budget has left) whatever it claims."""
    allowed = min(limit, budget.inflated)
    try:
        with archive.open(member) as stream:
            data = stream.read(allowed + 1)
    except _UNREADABLE_MEMBER as error:
        raise ValueError(f"{archive_path}!/{member.filename}: cannot be read: {error}") from error
    if len(data) > allowed:
        bound = f"the {limit}-byte limit" if allowed == limit else f"the {allowed} bytes left to inflate"
        raise ArchiveLimitError(f"{archive_path}!/{member.filename}: inflates past {bound} for this file")
    budget.inflated -= len(data)
    return data


def _read_text(archive: zipfile.ZipFile, member: zipfile.ZipInfo, archive_path: str, budget: Budget) -> str:
    return read_member(archive, member, archive_path, budget, MAX_METADATA_FILE).decode("utf-8", "replace")


# -- metadata formats -----------------------------------------------------------------------


def parse_properties(text: str) -> dict[str, str]:
    """Java ``.properties`` lines: the key ends at the first unescaped ``=``, ``:`` or blank."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"((?:\\.|[^=:\s\\])+)\s*[=:]?\s*(.*)$", line)
        if match:
            values[match.group(1).replace("\\", "")] = match.group(2).strip()
    return values


def pom_coordinates(properties: dict[str, str], member: str) -> Coordinates | None:
    group, artifact = properties.get("groupId", ""), properties.get("artifactId", "")
    version = properties.get("version", "")
    if not (group and artifact and version):
        return None
    return Coordinates(group, artifact, version, member)


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a MANIFEST.MF, keys lower-cased (attribute names are case-insensitive).

    The section ends at the first empty line; a line starting with a space continues the
    value before it (even a line of spaces only); a line without ``:`` is skipped.
    """
    attributes: dict[str, str] = {}
    key = ""
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if attributes:
                break
            continue
        if line.startswith(" "):
            if key:
                attributes[key] += line[1:]
            continue
        name, sep, value = line.partition(":")
        key = name.strip().lower() if sep and name.strip() else ""
        if key:
            attributes[key] = value.strip()
    return attributes


def manifest_coordinates(manifest: dict[str, str], file_name: str) -> Coordinates | None:
    """Coordinates from manifest attributes and the file name; None without any name.

    A version may be missing (``xercesSamples.jar`` has none anywhere); the archive is still
    reported, as syft does, so the SBOM lists it.
    """
    stem = file_name.rsplit(".", 1)[0]
    from_name = FILENAME_VERSION.match(stem)
    name_part, version_part = (from_name["name"], from_name["version"]) if from_name else (stem, "")
    artifact = name_part or _first_token(manifest, MANIFEST_NAME_KEYS)
    version = version_part or _first_token(manifest, MANIFEST_VERSION_KEYS)
    if not artifact:
        return None
    return Coordinates(_manifest_group(manifest), artifact, version, MANIFEST)


def _first_token(manifest: dict[str, str], keys: tuple[str, ...]) -> str:
    """The first word of the first of ``keys`` present ("1.4 1855 April 22 2006" gives "1.4")."""
    for key in keys:
        words = manifest.get(key, "").split()
        if words and not words[0].startswith(("$", "%")):
            return words[0]
    return ""


def _manifest_group(manifest: dict[str, str]) -> str:
    """The first reverse-domain value among the group attributes, whole (as syft and osv-scalibr do)."""
    for key in MANIFEST_GROUP_KEYS:
        value = manifest.get(key, "").split(";", 1)[0].strip()
        if GROUP_ID.match(value):
            return value
    return ""


# -- packages -------------------------------------------------------------------------------


def _package(coordinates: Coordinates, archive_path: str, location: PackageLocation) -> Package:
    group, artifact = coordinates.group, coordinates.artifact
    facts = {"archive-path": archive_path, "evidence": coordinates.evidence, "artifact-id": artifact}
    if group:
        facts["group-id"] = group
    return Package(
        name=f"{group}:{artifact}" if group else artifact,
        version=coordinates.version,
        type="maven",
        purl=coordinates.purl,
        found_by=NAME,
        locations=(location,),
        ecosystem=ECOSYSTEM,
        metadata=tuple(sorted(facts.items())),
    )


# two globs cover every suffix (each glob costs a regex match per file in the image); the
# parser skips the other names they let through (.tar, .rar, ...)
CATALOGERS: list[Cataloger] = [Cataloger(NAME, ("**/*.?ar", "**/*.?pi"), parse_java_archive)]
