"""Import OSV records into the store: validate, keep the latest ``modified``, report the rest.

One import is one SQLite transaction: a source that cannot be read (a truncated zip) rolls the
whole import back, while a single bad record is reported, counted and skipped. The import writes
into a copy of the database next to it and renames the copy over the original only once it is
committed, so an import that is killed halfway leaves the old database exactly as it was.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import os
import stat
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.vulndb.errors import VulnDBError
from gate.vulndb.kev import KevCatalog, load_kev
from gate.vulndb.osv import InvalidRecord, Record, parse_record
from gate.vulndb.sources import RawFile, load_sources, parse_content
from gate.vulndb.store import PreparedRecord, Source, VulnDB, copy_db, now_utc, prepare

_BATCH = 256
NEW_DB_MODE = 0o644
KEV_SOURCE = "kev"
Prepared = PreparedRecord | tuple[str, str]


@dataclass
class ImportReport:
    """What an import did, per record."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0  # an equal or newer copy was already stored
    withdrawn: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (record id, lint finding)
    ecosystems: Counter[str] = field(default_factory=Counter)
    kev_version: str = ""  # the KEV catalog imported, if one was
    kev_entries: int = 0

    @property
    def seen(self) -> int:
        return self.added + self.updated + self.unchanged + len(self.invalid)

    def merge(self, other: ImportReport) -> None:
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.withdrawn += other.withdrawn
        self.invalid.extend(other.invalid)
        self.warnings.extend(other.warnings)
        self.ecosystems.update(other.ecosystems)


def import_paths(
    db_path: Path, paths: list[Path], *, kev: Path | None = None, workers: int | None = None
) -> ImportReport:
    """``gate db import``: add records from files, directories and zips to ``db_path``, and
    replace its KEV catalog with the file ``kev`` (validated before the database is opened)."""
    require_sources(paths)
    catalog = load_kev(kev) if kev is not None else None
    report = ImportReport()
    with replacement_for(db_path) as working:
        _import_into(working, paths, catalog, kev, report, workers)
    return report


def _import_into(
    db_path: Path,
    paths: list[Path],
    catalog: KevCatalog | None,
    kev: Path | None,
    report: ImportReport,
    workers: int | None,
) -> None:
    db = VulnDB.open_for_writing(db_path)
    try:
        for path in paths:
            report.merge(import_files(db, load_sources([path]), source=str(path), workers=workers))
            db.put_source(Source(f"file:{path.resolve()}", str(path.resolve()), now_utc()))
        if catalog is not None and kev is not None:
            db.put_kev(catalog)
            db.put_source(Source(KEV_SOURCE, str(kev.resolve()), now_utc()))
            report.kev_version, report.kev_entries = catalog.version, len(catalog.entries)
        db.commit(workers=workers or default_workers())
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


@contextlib.contextmanager
def replacement_for(db_path: Path) -> Iterator[Path]:
    """A private copy of ``db_path`` (an empty path if there is none yet) that replaces it when the
    block succeeds; on any error, or if the process dies, ``db_path`` is untouched."""
    descriptor, name = tempfile.mkstemp(dir=db_path.parent, prefix=f".{db_path.name}.", suffix=".new")
    os.close(descriptor)
    working = Path(name)
    try:
        mode = stat.S_IMODE(db_path.stat().st_mode) if db_path.exists() else NEW_DB_MODE
        if db_path.exists():
            copy_db(db_path, working)
        else:
            working.unlink()
        yield working
        working.chmod(mode)  # mkstemp's copy is private; keep the database's own mode
        os.replace(working, db_path)
    finally:
        working.unlink(missing_ok=True)
        Path(f"{working}-journal").unlink(missing_ok=True)


def import_files(
    db: VulnDB, files: Iterable[RawFile], *, source: str, workers: int | None = None
) -> ImportReport:
    """Parse, validate and store each file's record; the caller commits.

    Parsing and validation run in worker processes (they are most of the cost); the
    workers see batches in order and results come back in order, so later-wins is
    decided exactly as in a serial import.
    """
    report = ImportReport()
    for results in _prepared_batches(files, workers or default_workers()):
        for result in results:
            if isinstance(result, PreparedRecord):
                report.warnings.extend((result.id, warning) for warning in result.warnings)
                _store(db, result, source, report)
            else:
                report.invalid.append(result)
    return report


def _prepared_batches(files: Iterable[RawFile], workers: int) -> Iterator[list[Prepared]]:
    batches = _batches(files, _BATCH)
    first = next(batches, [])
    if workers <= 1 or len(first) < _BATCH:  # a small import is over before a pool would start
        yield prepare_batch(first)
        yield from map(prepare_batch, batches)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        pending: collections.deque[Future[list[Prepared]]] = collections.deque()
        for batch in itertools.chain([first], batches):
            pending.append(pool.submit(prepare_batch, batch))
            if len(pending) > workers * 2:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _batches(items: Iterable[RawFile], size: int) -> Iterator[list[RawFile]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def default_workers() -> int:
    return min(4, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else 1


def prepare_batch(files: Iterable[RawFile]) -> list[Prepared]:
    """Worker body: each file to a stored form, or (origin, reason) when it is invalid."""
    checker = VersionChecker()
    results: list[Prepared] = []
    for item in files:
        loaded = parse_content(item.origin, item.content)
        if loaded.error:
            results.append((item.origin, loaded.error))
            continue
        try:
            record = parse_record(loaded.data)
        except InvalidRecord as error:
            results.append((item.origin, str(error)))
            continue
        if unparsable := checker.check(record):
            record = dataclasses.replace(record, warnings=record.warnings + unparsable)
        results.append(prepare(record, item.content if item.origin.endswith(".json") else None))
    return results


def _store(db: VulnDB, record: PreparedRecord, source: str, report: ImportReport) -> None:
    stored = db.stored_modified(record.id)
    if stored is not None and stored >= record.modified:
        report.unchanged += 1
        return
    db.put(record, source, replaces=stored is not None)
    if record.withdrawn:
        report.withdrawn += 1
        return
    if stored is None:
        report.added += 1
    else:
        report.updated += 1
    report.ecosystems.update(record.ecosystems)


class VersionChecker:
    """Finds range events the ecosystem's version scheme cannot parse.

    Such a record is kept and reported: the matcher reports the packages it names as
    unverified instead of passing them, which dropping the record would do silently.
    """

    def __init__(self) -> None:
        self._schemes: dict[str, Any] = {}

    def check(self, record: Record) -> tuple[str, ...]:
        affected = record.raw.get("affected") or []
        problems: list[str] = []
        for key in record.affected:
            scheme = self._scheme(key.ecosystem)
            if scheme is None:
                continue
            for range_ in affected[key.index].get("ranges") or []:
                if range_["type"] != "GIT":
                    problems.extend(self._unparsable(scheme, range_["events"], key.ecosystem))
        return tuple(problems)

    def _scheme(self, ecosystem: str) -> Any:
        if ecosystem not in self._schemes:
            from gate.versions import scheme_for_ecosystem

            self._schemes[ecosystem] = scheme_for_ecosystem(ecosystem)
        return self._schemes[ecosystem]

    @staticmethod
    def _unparsable(scheme: Any, events: list[dict[str, str]], ecosystem: str) -> Iterator[str]:
        from gate.versions import InvalidVersion

        for event in events:
            ((kind, value),) = event.items()
            if (kind, value) in (("introduced", "0"), ("limit", "*")):
                continue
            try:
                scheme.key(value)
            except InvalidVersion:
                yield f"{kind} version {value!r} is not a valid {ecosystem} version"


def require_sources(paths: list[Path]) -> None:
    """Fail before opening the DB when a named source does not exist."""
    for path in paths:
        if not path.exists():
            raise VulnDBError(f"no such file or directory: {path}")
