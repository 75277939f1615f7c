"""`gate db update`: download OSV's per-ecosystem archives and swap in a new database.

Each ecosystem's ``<mirror>/<ecosystem>/all.zip`` is fetched with the validators of the last
download (``If-None-Match`` / ``If-Modified-Since``); archives are kept beside the DB
(``<db>.archives/``) so a 304 costs nothing. When anything changed, a new database is built
from all archives into a temporary file next to the old one and renamed over it: a failed,
partial or wrong download raises before the rename and leaves the old DB as it was.
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

from gate.vulndb.errors import VulnDBError
from gate.vulndb.importer import default_workers, import_files
from gate.vulndb.osv import base_ecosystem
from gate.vulndb.sources import load_zip
from gate.vulndb.store import Source, VulnDB, now_utc

DEFAULT_MIRROR = "https://osv-vulnerabilities.storage.googleapis.com"
DEFAULT_ECOSYSTEMS = (
    "AlmaLinux", "Alpine", "Bitnami", "Debian", "Go", "Maven", "NuGet", "Packagist", "PyPI",
    "Rocky Linux", "RubyGems", "Ubuntu", "crates.io", "npm",
)  # fmt: skip
SOURCE_PREFIX = "osv:"
_CHUNK = 1 << 20


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


def archive_dir(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".archives")


def update_db(
    db_path: Path, *, mirror: str = DEFAULT_MIRROR, ecosystems: list[str] | None = None, transport: Any = None
) -> UpdateOutcome:
    """Fetch what changed and rebuild ``db_path`` atomically; see the module docstring."""
    if transport is None:
        from gate.image.transport import Transport

        transport = Transport()
    known = _known_sources(db_path)
    names = ecosystems or sorted(
        name[len(SOURCE_PREFIX) :] for name in known if name.startswith(SOURCE_PREFIX)
    )
    names = names or list(DEFAULT_ECOSYSTEMS)
    cache = archive_dir(db_path)
    cache.mkdir(parents=True, exist_ok=True)
    outcome = UpdateOutcome()
    fetched: list[Fetched] = []
    try:
        for name in names:
            item = _fetch(transport, mirror, name, cache, known.get(SOURCE_PREFIX + name))
            fetched.append(item)
            (outcome.downloaded if item.new_file else outcome.unchanged).append(name)
        if not outcome.downloaded and db_path.exists() and set(names) == _ecosystems_of(known):
            with VulnDB.open(db_path) as db:
                outcome.digest = db.digest
            return outcome
        outcome.digest = _rebuild(db_path, fetched)
        outcome.rebuilt = True
    finally:
        for item in fetched:
            if item.new_file is not None:
                item.new_file.unlink(missing_ok=True)
    return outcome


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
    response = transport.request("GET", url, headers=headers, stream=True)
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


def _download(response: Any, url: str, cache: Path) -> Path:
    descriptor, name = tempfile.mkstemp(dir=cache, suffix=".part")
    written = 0
    try:
        with os.fdopen(descriptor, "wb") as handle:
            for chunk in response.iter_content(_CHUNK):
                handle.write(chunk)
                written += len(chunk)
    except Exception as error:
        os.unlink(name)
        raise VulnDBError(f"download of {url} failed: {error}") from error
    expected = response.headers.get("Content-Length")
    if expected is not None and expected.isdigit() and int(expected) != written:
        os.unlink(name)
        raise VulnDBError(f"download of {url} was cut short ({written} of {expected} bytes)")
    return Path(name)


def _rebuild(db_path: Path, fetched: list[Fetched]) -> str:
    descriptor, name = tempfile.mkstemp(dir=db_path.parent, prefix=f".{db_path.name}.", suffix=".new")
    os.close(descriptor)
    temporary = Path(name)
    temporary.unlink()
    try:
        digest = _build(temporary, fetched)
        for item in fetched:
            if item.new_file is not None:
                os.replace(item.new_file, item.path)
                item.new_file = None
        os.replace(temporary, db_path)
    finally:
        temporary.unlink(missing_ok=True)
    return digest


def _build(path: Path, fetched: list[Fetched]) -> str:
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
