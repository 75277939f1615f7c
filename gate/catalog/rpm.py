"""RPM packages from the rpm database, read in pure Python (no ``rpm`` binary).

All three container formats are recognised by their magic bytes (not their file name):
SQLite ``rpmdb.sqlite``, BerkeleyDB hash ``Packages`` and SUSE's NDB ``Packages.db``; see
:mod:`gate.catalog.rpmdb`. Each stored header blob becomes one :class:`Package`; the
``gpg-pubkey`` pseudo-packages (imported signing keys) are skipped. A database that is
malformed anywhere raises :class:`~gate.catalog.rpmdb.RpmDbError`, which the catalog run
records as an Unknown: a half-read package list is never reported as complete.
"""

from __future__ import annotations

from packageurl import PackageURL

from gate.catalog import CatalogContext, Cataloger
from gate.catalog.distro import osv_ecosystem
from gate.catalog.licenses import normalize_license
from gate.catalog.rpmdb import RpmDbError, read_blobs
from gate.catalog.rpmdb import header as tags
from gate.catalog.rpmdb.header import Header, parse_header
from gate.image.filesystem import FileEntry, FileSystem
from gate.model import Distro, Package, PackageLocation

CATALOGER_NAME = "rpm-db-cataloger"
MAX_DB_SIZE = 2 * 1024**3
PSEUDO_PACKAGES = frozenset({"gpg-pubkey"})
_SOURCE_SUFFIXES = (".src.rpm", ".nosrc.rpm")


def parse_rpm_db(fs: FileSystem, context: CatalogContext, entry: FileEntry) -> list[Package]:
    """The packages recorded in one rpm database file."""
    if entry.size > MAX_DB_SIZE:
        raise RpmDbError(f"rpm database of {entry.size} bytes exceeds the {MAX_DB_SIZE}-byte limit")
    location = context.location_of(entry)
    packages: list[Package] = []
    for number, blob in enumerate(read_blobs(fs.read_bytes(entry)), start=1):
        try:
            package = package_from_header(parse_header(blob), context.distro, location)
        except RpmDbError as error:
            raise RpmDbError(f"header blob {number}: {error.message}") from error
        if package is not None:
            packages.append(package)
    return packages


def package_from_header(header: Header, distro: Distro | None, location: PackageLocation) -> Package | None:
    """One package from a decoded header; None for pseudo-packages and nameless headers."""
    name = header.string(tags.TAG_NAME)
    if not name or name in PSEUDO_PACKAGES:
        return None
    epoch = header.integer(tags.TAG_EPOCH)
    version = header.string(tags.TAG_VERSION)
    release = header.string(tags.TAG_RELEASE)
    arch = header.string(tags.TAG_ARCH)
    source_name, source_version = split_source_rpm(header.string(tags.TAG_SOURCERPM))
    raw_license = header.string(tags.TAG_LICENSE)
    full_version = f"{version}-{release}" if release else version
    return Package(
        name=name,
        version=f"{epoch}:{full_version}" if epoch is not None else full_version,
        type="rpm",
        purl=rpm_purl(name, full_version, arch, epoch, distro),
        found_by=CATALOGER_NAME,
        locations=(location,),
        ecosystem=osv_ecosystem(distro),
        arch=arch,
        licenses=(normalize_license(raw_license),) if raw_license else (),
        source_name=source_name,
        source_version=source_version,
        files=file_paths(header),
        metadata=_metadata(header),
    )


def rpm_purl(name: str, version: str, arch: str, epoch: int | None, distro: Distro | None) -> str:
    """``pkg:rpm/<distro id or redhat>/<name>@<version>-<release>?arch=..&epoch=..&distro=..``."""
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if epoch is not None:
        qualifiers["epoch"] = str(epoch)
    if distro is not None:
        qualifiers["distro"] = distro.purl_distro
    namespace = distro.id if distro is not None else "redhat"
    purl = PackageURL(type="rpm", namespace=namespace, name=name, version=version, qualifiers=qualifiers)
    return purl.to_string()


def split_source_rpm(source_rpm: str) -> tuple[str, str]:
    """``foo-1.2-3.el9.src.rpm`` -> (``foo``, ``1.2-3.el9``); ("", "") when absent or unparsable."""
    stem = source_rpm
    for suffix in _SOURCE_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    else:
        return "", ""
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return "", ""
    return parts[0], f"{parts[1]}-{parts[2]}"


def file_paths(header: Header) -> tuple[str, ...]:
    """The files a package owns: DIRNAMES[DIRINDEXES[i]] + BASENAMES[i], or OLDFILENAMES."""
    basenames = header.strings(tags.TAG_BASENAMES)
    if not basenames:
        return tuple(header.strings(tags.TAG_OLDFILENAMES))
    dirnames = header.strings(tags.TAG_DIRNAMES)
    indexes = header.integers(tags.TAG_DIRINDEXES)
    if len(indexes) != len(basenames):
        raise RpmDbError(f"{len(basenames)} file basenames but {len(indexes)} directory indexes")
    paths: list[str] = []
    for basename, index in zip(basenames, indexes, strict=True):
        if index >= len(dirnames):
            raise RpmDbError(f"directory index {index} outside the {len(dirnames)} directory names")
        paths.append(dirnames[index] + basename)
    return tuple(paths)


def _metadata(header: Header) -> tuple[tuple[str, str], ...]:
    facts: list[tuple[str, str]] = []
    if vendor := header.string(tags.TAG_VENDOR):
        facts.append(("vendor", vendor))
    size = header.integer(tags.TAG_SIZE)
    if size is None:
        size = header.integer(tags.TAG_LONGSIZE)
    if size is not None:
        facts.append(("size", str(size)))
    return tuple(sorted(facts))


CATALOGERS: list[Cataloger] = [
    Cataloger(
        CATALOGER_NAME,
        (
            "var/lib/rpm/rpmdb.sqlite",
            "usr/lib/sysimage/rpm/rpmdb.sqlite",
            "var/lib/rpm/Packages.db",
            "usr/lib/sysimage/rpm/Packages.db",
            "var/lib/rpm/Packages",
            "usr/lib/sysimage/rpm/Packages",
        ),
        parse_rpm_db,
    )
]
