"""`gate db update`: download OSV's per-ecosystem archives and swap in a new database.

Each ecosystem's ``<mirror>/<ecosystem>/all.zip`` is fetched with the validators of the last
download (``If-None-Match`` / ``If-Modified-Since``); archives are kept beside the DB
(``<db>.archives/``) so a 304 costs nothing. When anything changed, a new database is built
from all archives into a temporary file next to the old one and renamed over it: a failed,
partial or wrong download raises before the rename and leaves the old DB as it was.

The CISA KEV catalog is fetched the same way (``kev.json`` beside the archives) but it is
optional: an unreachable, failing or malformed catalog never stops the OSV update. Its fetch
gets a short budget (two attempts, 5 s to connect), the problem is reported in the outcome,
and the last good catalog (the cached copy) stays in use. A new catalog alone is applied to
the database in place, in one transaction, without rebuilding it.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from gate.errors import GateError
from gate.vulndb.errors import VulnDBError
from gate.vulndb.importer import KEV_SOURCE, default_workers, import_files
from gate.vulndb.kev import KEV_URL, MAX_KEV_BYTES, KevCatalog, load_kev, parse_kev
from gate.vulndb.osv import base_ecosystem
from gate.vulndb.sources import load_zip
from gate.vulndb.store import Source, VulnDB, now_utc, upgrade

DEFAULT_MIRROR = "https://osv-vulnerabilities.storage.googleapis.com"
DEFAULT_ECOSYSTEMS = (
    "AlmaLinux", "Alpine", "Bitnami", "Debian", "Go", "Maven", "NuGet", "Packagist", "PyPI",
    "Rocky Linux", "RubyGems", "Ubuntu", "crates.io", "npm",
)  # fmt: skip
SOURCE_PREFIX = "osv:"
_CHUNK = 1 << 20
MAX_ARCHIVE_BYTES = 1 << 30  # the largest OSV ecosystem archive is a small fraction of this


@dataclass
class Fetched:
    """One ecosystem's archive: where it is, its validators, and whether it is new."""

    ecosystem: str
    url: str
    path: Path
    etag: str = ""
    last_modified: str = ""
    new_file: Path | None = None  # a fresh download, renamed over ``path`` once the DB is swapped


@dataclass
class UpdateOutcome:
    downloaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rebuilt: bool = False
    digest: str = ""
    kev: str = "skipped"  # downloaded | not modified | unavailable | skipped
    kev_problem: str = ""  # why the catalog could not be updated
    kev_version: str = ""  # the catalog the database holds afterwards


@dataclass
class KevFetch:
    """The KEV catalog to store: a fresh download, the cached copy, or none."""

    catalog: KevCatalog | None
    source: Source | None
    new_file: Path | None = None


def archive_dir(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".archives")


def update_db(
    db_path: Path,
    *,
    mirror: str = DEFAULT_MIRROR,
    ecosystems: list[str] | None = None,
    kev_url: str | None = KEV_URL,
    transport: Any = None,
) -> UpdateOutcome:
    """Fetch what changed and rebuild ``db_path`` atomically; see the module docstring.
    ``kev_url=None`` (or ``GATE_OFFLINE=1``) skips the KEV download; the cached catalog, if
    any, is kept."""
    from gate.image.transport import RetryPolicy, Transport, offline_from_env

    if offline_from_env():  # the catalog is an optional lookup; the OSV archives are what was asked for
        kev_url = None
    kev_transport = transport or Transport(
        retry=RetryPolicy(attempts=2, base_delay=0.5, max_delay=1.0, total_budget=15.0), timeout=(5.0, 30.0)
    )
    transport = transport or Transport()
    if db_path.exists():
        upgrade(db_path)
    known = _known_sources(db_path)
    names = ecosystems or sorted(
        name[len(SOURCE_PREFIX) :] for name in known if name.startswith(SOURCE_PREFIX)
    )
    names = names or list(DEFAULT_ECOSYSTEMS)
    cache = archive_dir(db_path)
    cache.mkdir(parents=True, exist_ok=True)
    outcome = UpdateOutcome()
    fetched: list[Fetched] = []
    kev = KevFetch(None, None)
    try:
        for name in names:
            item = _fetch(transport, mirror, name, cache, known.get(SOURCE_PREFIX + name))
            fetched.append(item)
            (outcome.downloaded if item.new_file else outcome.unchanged).append(name)
        kev = _kev(kev_transport, kev_url, cache, known.get(KEV_SOURCE), outcome)
        outcome.kev_version = kev.catalog.version if kev.catalog else ""
        if not outcome.downloaded and db_path.exists() and set(names) == _ecosystems_of(known):
            outcome.digest = _apply_kev(db_path, kev) if kev.new_file else _digest_of(db_path)
        else:
            outcome.digest = _rebuild(db_path, fetched, kev)
            outcome.rebuilt = True
        if kev.new_file is not None:
            os.replace(kev.new_file, _kev_path(cache))
            kev.new_file = None
    finally:
        for item in fetched:
            if item.new_file is not None:
                item.new_file.unlink(missing_ok=True)
        if kev.new_file is not None:
            kev.new_file.unlink(missing_ok=True)
    return outcome


def _digest_of(db_path: Path) -> str:
    with VulnDB.open(db_path) as db:
        return db.digest


def _kev_path(cache: Path) -> Path:
    return cache / "kev.json"


def _kev(
    transport: Any, url: str | None, cache: Path, previous: Source | None, outcome: UpdateOutcome
) -> KevFetch:
    """The catalog to store, and how it was obtained (recorded in ``outcome``); never raises for
    a catalog that cannot be fetched or read: the cached one stays in use."""
    cached = _kev_path(cache)
    if url is not None:
        try:
            fetched = _fetch_kev(transport, url, cache, previous if cached.exists() else None)
        except GateError as error:
            outcome.kev, outcome.kev_problem = "unavailable", str(error)
        else:
            if fetched is not None:
                outcome.kev = "downloaded"
                return fetched
            outcome.kev = "not modified"
    if not cached.exists():
        return KevFetch(None, None)
    try:
        catalog = load_kev(cached)
    except GateError as error:
        outcome.kev, outcome.kev_problem = "unavailable", str(error)
        return KevFetch(None, None)
    return KevFetch(catalog, previous or Source(KEV_SOURCE, str(cached), now_utc()))


def _fetch_kev(transport: Any, url: str, cache: Path, previous: Source | None) -> KevFetch | None:
    """A new catalog, or None when the server says it has not changed."""
    _check_scheme(transport, url)
    headers = {}
    if previous is not None:
        if previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
    response = transport.request(
        "GET",
        url,
        headers=headers,
        limit=MAX_KEV_BYTES,
        stream=True,
        deadline=transport.stream_deadline(MAX_KEV_BYTES),
    )
    with contextlib.closing(response):
        if response.status_code == 304 and previous is not None:
            return None
        if response.status_code != 200:
            raise VulnDBError(f"{url} answered HTTP {response.status_code}")
        new_file = _download(response, url, cache, limit=MAX_KEV_BYTES)
    try:
        catalog = parse_kev(new_file.read_bytes(), url)
    except GateError:
        new_file.unlink()
        raise
    etag, modified = response.headers.get("ETag", ""), response.headers.get("Last-Modified", "")
    return KevFetch(catalog, Source(KEV_SOURCE, url, now_utc(), etag, modified), new_file)


def _apply_kev(db_path: Path, kev: KevFetch) -> str:
    """Store a new catalog in the existing database (one transaction); its new digest."""
    assert kev.catalog is not None and kev.source is not None
    db = VulnDB.open_for_writing(db_path)
    try:
        db.put_kev(kev.catalog)
        db.put_source(kev.source)
        db.commit(workers=1)
        return db.digest
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


def _known_sources(db_path: Path) -> dict[str, Source]:
    if not db_path.exists():
        return {}
    with VulnDB.open(db_path) as db:
        return {source.name: source for source in db.sources()}


def _ecosystems_of(known: dict[str, Source]) -> set[str]:
    return {name[len(SOURCE_PREFIX) :] for name in known if name.startswith(SOURCE_PREFIX)}


def _fetch(transport: Any, mirror: str, ecosystem: str, cache: Path, previous: Source | None) -> Fetched:
    url = f"{mirror.rstrip('/')}/{quote(ecosystem)}/all.zip"
    _check_scheme(transport, url)
    path = cache / f"{re.sub(r'[^A-Za-z0-9.]+', '_', ecosystem)}.zip"
    headers = {}
    if previous is not None and path.exists():
        if previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
    response = transport.request(
        "GET",
        url,
        headers=headers,
        limit=MAX_ARCHIVE_BYTES,
        stream=True,
        deadline=transport.stream_deadline(MAX_ARCHIVE_BYTES),
    )
    with contextlib.closing(response):
        if response.status_code == 304 and previous is not None:
            return Fetched(ecosystem, url, path, previous.etag, previous.last_modified)
        if response.status_code != 200:
            raise VulnDBError(f"{url} answered HTTP {response.status_code}; the database was not changed")
        new_file = _download(response, url, cache)
    etag, modified = response.headers.get("ETag", ""), response.headers.get("Last-Modified", "")
    return Fetched(ecosystem, url, path, etag, modified, new_file)


def _check_scheme(transport: Any, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and transport.allows_http(parts.netloc):
        return
    raise VulnDBError(f"refusing {url}: archives are fetched over HTTPS (plain HTTP only from loopback)")


def _download(response: Any, url: str, cache: Path, *, limit: int | None = None) -> Path:
    descriptor, name = tempfile.mkstemp(dir=cache, suffix=".part")
    written = 0
    try:
        with os.fdopen(descriptor, "wb") as handle:
            for chunk in response.iter_content(_CHUNK):
                handle.write(chunk)
                written += len(chunk)
                if limit is not None and written > limit:
                    raise VulnDBError(f"larger than {limit >> 20} MiB")
    except Exception as error:
        os.unlink(name)
        raise VulnDBError(f"download of {url} failed: {error}") from error
    expected = response.headers.get("Content-Length")
    if expected is not None and expected.isdigit() and int(expected) != written:
        os.unlink(name)
        raise VulnDBError(f"download of {url} was cut short ({written} of {expected} bytes)")
    return Path(name)


def _rebuild(db_path: Path, fetched: list[Fetched], kev: KevFetch) -> str:
    descriptor, name = tempfile.mkstemp(dir=db_path.parent, prefix=f".{db_path.name}.", suffix=".new")
    os.close(descriptor)
    temporary = Path(name)
    temporary.unlink()
    try:
        digest = _build(temporary, fetched, kev)
        for item in fetched:
            if item.new_file is not None:
                os.replace(item.new_file, item.path)
                item.new_file = None
        os.replace(temporary, db_path)
    finally:
        temporary.unlink(missing_ok=True)
    return digest


def _build(path: Path, fetched: list[Fetched], kev: KevFetch) -> str:
    db = VulnDB.open_for_writing(path)
    try:
        for item in fetched:
            archive = item.new_file or item.path
            report = import_files(db, load_zip(archive), source=item.url)
            if not any(base_ecosystem(name) == item.ecosystem for name in report.ecosystems):
                raise VulnDBError(
                    f"{item.url} holds no {item.ecosystem} records ({report.seen} files read): "
                    "not an OSV archive for this ecosystem; the database was not changed"
                )
            db.put_source(
                Source(SOURCE_PREFIX + item.ecosystem, item.url, now_utc(), item.etag, item.last_modified)
            )
        if kev.catalog is not None and kev.source is not None:
            db.put_kev(kev.catalog)
            db.put_source(kev.source)
        db.commit(workers=default_workers())
        digest = db.digest
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
    return digest
