"""The vulnerability database: one SQLite file of OSV records indexed by package.

Tables: ``records`` keeps every record's JSON as published (canonical JSON for YAML sources;
zlib-compressed) so a finding can cite its source, plus the few fields a finding shows
(``facts``); ``affected`` holds one row per ``affected[]`` entry keyed by (ecosystem,
normalised name); ``packages`` holds each package's entries compiled for matching (see
``gate.vulndb.ranges``), one row per (ecosystem, normalised name), rebuilt for the packages an
import touched; ``meta`` carries the schema version, build time, the content digest, the
fingerprint of the version schemes that ranked the compiled versions and the KEV catalog's
version; ``sources`` what was imported from where (and the HTTP validators of downloaded
archives); ``kev`` the CISA Known Exploited Vulnerabilities catalog, by CVE id. Withdrawn records stay as
tombstones without ``affected`` rows, so an older copy imported later cannot bring them back.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gate.vulndb.errors import VulnDBError
from gate.vulndb.kev import KevCatalog, KnownExploited
from gate.vulndb.names import normalise_name
from gate.vulndb.osv import Record

SCHEMA_VERSION = 3  # 2: compiled ``packages`` table; 3: ``kev`` table, ``upstream`` in facts
# Created after the rows of a fresh database are in (a bulk insert into indexed tables is slower).
_INDEXES = """
CREATE INDEX IF NOT EXISTS affected_by_package ON affected (ecosystem, name);
CREATE INDEX IF NOT EXISTS affected_by_record ON affected (record_id);
"""
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE records (
    id TEXT PRIMARY KEY, modified TEXT NOT NULL, withdrawn INTEGER NOT NULL,
    source TEXT NOT NULL, sha256 TEXT NOT NULL, raw BLOB NOT NULL, facts TEXT NOT NULL);
CREATE TABLE affected (
    id INTEGER PRIMARY KEY, record_id TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL,
    ranges TEXT NOT NULL, versions TEXT NOT NULL, entry TEXT NOT NULL);
CREATE TABLE packages (
    ecosystem TEXT NOT NULL, name TEXT NOT NULL, summary TEXT NOT NULL, entries TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name)) WITHOUT ROWID;
CREATE TABLE sources (
    name TEXT PRIMARY KEY, location TEXT NOT NULL, imported_at TEXT NOT NULL,
    etag TEXT NOT NULL DEFAULT '', last_modified TEXT NOT NULL DEFAULT '');
CREATE TABLE kev (
    cve TEXT PRIMARY KEY, date_added TEXT NOT NULL, due_date TEXT NOT NULL, ransomware TEXT NOT NULL,
    name TEXT NOT NULL) WITHOUT ROWID;
"""
_KEV_TABLE = _SCHEMA[_SCHEMA.index("CREATE TABLE kev") :]


@dataclass(frozen=True, slots=True)
class Candidate:
    """An ``affected[]`` entry naming a package, split the way the matcher reads it.

    ``ranges`` is the entry's ranges as JSON text, ``versions`` its ``versions`` list joined by
    newlines, ``rest`` the remaining fields as JSON. Matching reads the compiled ``packages``
    table instead and fetches these only for the entries that matched.
    """

    record_id: str
    ecosystem: str
    ranges: str
    versions: str
    rest: str

    @property
    def entry(self) -> dict[str, Any]:
        """The ``affected[]`` entry as published."""
        entry = json.loads(self.rest)
        entry["ranges"] = json.loads(self.ranges)
        if self.versions:
            entry["versions"] = self.versions.split("\n")
        return entry


@dataclass(frozen=True, slots=True)
class StoredRecord:
    id: str
    modified: str
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    location: str
    imported_at: str
    etag: str = ""
    last_modified: str = ""


def recover_hot_journal(path: Path) -> None:
    """Roll back a transaction a killed writer left in ``<db>-journal`` (an older gate's import):
    a read-only connection cannot, and would fail on every query. Best effort: a reader that may
    not write the database's directory still gets the read-only open's own error."""
    if not Path(f"{path}-journal").exists():
        return
    with contextlib.suppress(sqlite3.Error, OSError):
        connection = sqlite3.connect(path)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            connection.close()


def copy_db(source: Path, target: Path) -> None:
    """A consistent copy of the database ``source`` (a hot journal is rolled back first)."""
    try:
        with (
            contextlib.closing(sqlite3.connect(source)) as origin,
            contextlib.closing(sqlite3.connect(target)) as copy,
        ):
            origin.backup(copy)
    except sqlite3.Error as error:
        raise VulnDBError(f"cannot copy {source} to update it: {error}") from error


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_json(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class VulnDB:
    """An open database file. Use :meth:`open` to read and :meth:`create` for a new file."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._touched: set[tuple[str, str]] = set()  # packages whose compiled row an import must rebuild

    @classmethod
    def open(cls, path: Path) -> VulnDB:
        """Open an existing database read-only; refuse other schema versions."""
        if not path.is_file():
            raise VulnDBError(
                f"no vulnerability database at {path}", hint="run `gate db update` or `gate db import`"
            )
        recover_hot_journal(path)
        try:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            connection.execute("PRAGMA query_only=1")
            connection.execute("PRAGMA mmap_size=268435456")
            db = cls(connection, path)
            version = db.meta("schema_version")
        except sqlite3.DatabaseError as error:
            raise VulnDBError(f"{path} is not a gate vulnerability database: {error}") from error
        if version != str(SCHEMA_VERSION):
            connection.close()
            raise VulnDBError(
                f"{path} has database schema version {version or 'none'}, this gate reads {SCHEMA_VERSION}",
                hint="`gate db update` rebuilds it; `gate db import` upgrades a version 2 database in place"
                if version == "2"
                else "rebuild it with `gate db update` or `gate db import` into a new file",
            )
        return db

    @classmethod
    def open_for_writing(cls, path: Path) -> VulnDB:
        """Open (creating when absent) a database for an import; one transaction until commit."""
        exists = path.exists()
        if exists:
            upgrade(path)
            cls.open(path).close()  # same checks as for reading
        try:
            connection = sqlite3.connect(path, isolation_level=None)
            connection.execute("PRAGMA journal_mode=DELETE")
            connection.execute("PRAGMA cache_size=-131072")  # 128 MiB: index pages stay in memory
            connection.execute("BEGIN")
            db = cls(connection, path)
            if not exists:
                db._create_schema()
        except sqlite3.DatabaseError as error:
            raise VulnDBError(f"cannot write {path}: {error}") from error
        return db

    def _create_schema(self) -> None:
        for statement in filter(str.strip, _SCHEMA.split(";")):
            self._db.execute(statement)
        self.set_meta("schema_version", str(SCHEMA_VERSION))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> VulnDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------

    def commit(self, *, workers: int = 1) -> None:
        """Index, compile the touched packages (in ``workers`` processes) and commit."""
        for statement in filter(str.strip, _INDEXES.split(";")):
            self._db.execute(statement)
        self._compile_packages(workers)
        self.set_meta("digest", self.compute_digest())
        self.set_meta("built_at", now_utc())
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def stored_modified(self, record_id: str) -> str | None:
        row = self._db.execute("SELECT modified FROM records WHERE id = ?", (record_id,)).fetchone()
        return row[0] if row else None

    def put(self, record: PreparedRecord, source: str, *, replaces: bool) -> None:
        """Insert ``record``, or replace the stored copy (the caller decided it is newer)."""
        if replaces:
            self._touched.update(
                self._db.execute("SELECT ecosystem, name FROM affected WHERE record_id = ?", (record.id,))
            )
            self._db.execute("DELETE FROM affected WHERE record_id = ?", (record.id,))
        self._touched.update((ecosystem, name) for ecosystem, name, *_ in record.rows)
        self._db.execute(
            "INSERT OR REPLACE INTO records (id, modified, withdrawn, source, sha256, raw, facts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.modified,
                int(record.withdrawn),
                source,
                record.sha256,
                record.compressed,
                record.facts,
            ),
        )
        self._db.executemany(
            "INSERT INTO affected (record_id, ecosystem, name, ranges, versions, entry) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(record.id, *row) for row in record.rows],
        )

    def _compile_packages(self, workers: int) -> None:
        """Rebuild the compiled rows of the packages this import touched (all of them when the
        stored ranks came from other version schemes, so that no row mixes two orders)."""
        from gate.vulndb.ranges import scheme_fingerprint

        fingerprint = scheme_fingerprint()
        if self.meta("scheme_fingerprint") != fingerprint:
            self._touched.update(self._db.execute("SELECT ecosystem, name FROM packages"))
        self._db.execute(
            "CREATE TEMP TABLE touched (ecosystem TEXT, name TEXT, PRIMARY KEY (ecosystem, name))"
        )
        self._db.executemany("INSERT INTO touched VALUES (?, ?)", sorted(self._touched))
        self._db.execute(
            "DELETE FROM packages WHERE (ecosystem, name) IN (SELECT ecosystem, name FROM touched)"
        )
        rows = self._db.execute(
            "SELECT a.ecosystem, a.name, a.id, a.record_id, a.ranges, a.versions "
            "FROM touched AS t JOIN affected AS a ON a.ecosystem = t.ecosystem AND a.name = t.name "
            "ORDER BY a.ecosystem, a.name, a.id"
        )
        groups = [
            (ecosystem, name, [tuple(row[2:]) for row in package_rows])
            for (ecosystem, name), package_rows in itertools.groupby(rows, key=lambda row: (row[0], row[1]))
        ]
        self._db.executemany(
            "INSERT INTO packages (ecosystem, name, summary, entries) VALUES (?, ?, ?, ?)",
            _compiled_groups(groups, workers),
        )
        self._db.execute("DROP TABLE touched")
        self._touched.clear()
        self.set_meta("scheme_fingerprint", fingerprint)

    def put_source(self, source: Source) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO sources (name, location, imported_at, etag, last_modified) "
            "VALUES (?, ?, ?, ?, ?)",
            (source.name, source.location, source.imported_at, source.etag, source.last_modified),
        )

    def compute_digest(self) -> str:
        """sha256 over (id, record digest) of every live record: independent of import order."""
        digest = hashlib.sha256(f"gate-vulndb/{SCHEMA_VERSION}\n".encode())
        for record_id, sha in self._db.execute(
            "SELECT id, sha256 FROM records WHERE withdrawn = 0 ORDER BY id"
        ):
            digest.update(f"{record_id}\t{sha}\n".encode())
        # The KEV catalog decides verdicts too, so it is part of the database's identity.
        for row in self._db.execute(
            "SELECT cve, date_added, due_date, ransomware, name FROM kev ORDER BY cve"
        ):
            digest.update(("kev\t" + "\t".join(row) + "\n").encode())
        return f"sha256:{digest.hexdigest()}"

    def put_kev(self, catalog: KevCatalog) -> None:
        """Replace the stored KEV catalog with ``catalog`` (a catalog is always complete)."""
        self._db.execute("DELETE FROM kev")
        self._db.executemany(
            "INSERT OR REPLACE INTO kev (cve, date_added, due_date, ransomware, name) VALUES (?, ?, ?, ?, ?)",
            [
                (entry.cve, entry.date_added, entry.due_date, entry.ransomware, entry.vulnerability_name)
                for entry in catalog.entries
            ],
        )
        self.set_meta("kev_version", catalog.version)
        self.set_meta("kev_released", catalog.released)

    # -- reading -------------------------------------------------------------------------------

    def meta(self, key: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""

    @property
    def digest(self) -> str:
        return self.meta("digest")

    @property
    def built_at(self) -> str:
        return self.meta("built_at")

    def candidates(self, ecosystem: str, name: str) -> list[Candidate]:
        """Entries filed under ``ecosystem`` (exact, release included) and ``name``."""
        rows = self._db.execute(
            "SELECT record_id, ecosystem, ranges, versions, entry FROM affected "
            "WHERE ecosystem = ? AND name = ?",
            (ecosystem, normalise_name(ecosystem, name)),
        )
        return [Candidate(*row) for row in rows]

    def summaries(self, ecosystem: str, names: list[str]) -> dict[str, str]:
        """Normalised name -> compiled summary (``gate.vulndb.ranges.PackageIndex``) of the named
        packages in ``ecosystem`` that have entries; one query for all of them."""
        rows = self._db.execute(
            "SELECT name, summary FROM packages "
            "WHERE ecosystem = ? AND name IN (SELECT value FROM json_each(?))",
            (ecosystem, json.dumps(names)),
        )
        return dict(rows.fetchall())

    def package_entries(self, ecosystem: str, names: list[str]) -> dict[str, str]:
        """Normalised name -> compiled entries of the named packages in ``ecosystem``."""
        rows = self._db.execute(
            "SELECT name, entries FROM packages "
            "WHERE ecosystem = ? AND name IN (SELECT value FROM json_each(?))",
            (ecosystem, json.dumps(names)),
        )
        return dict(rows.fetchall())

    def affected_rows(self, ecosystem: str, names: list[str]) -> dict[str, list[tuple[int, str, str, str]]]:
        """Normalised name -> its entries as :func:`gate.vulndb.ranges.compile_package` reads them."""
        rows = self._db.execute(
            "SELECT name, id, record_id, ranges, versions FROM affected "
            "WHERE ecosystem = ? AND name IN (SELECT value FROM json_each(?)) ORDER BY id",
            (ecosystem, json.dumps(names)),
        )
        found: dict[str, list[tuple[int, str, str, str]]] = {}
        for name, *entry in rows:
            found.setdefault(name, []).append(tuple(entry))
        return found

    @property
    def ranks_are_current(self) -> bool:
        """Whether the compiled ranks came from this gate's version schemes."""
        from gate.vulndb.ranges import scheme_fingerprint

        return self.meta("scheme_fingerprint") == scheme_fingerprint()

    def entries(self, affected_ids: list[int]) -> dict[int, tuple[str, str, str]]:
        """Affected id -> (ecosystem, ranges JSON, the entry's other fields as JSON)."""
        rows = self._db.execute(
            "SELECT id, ecosystem, ranges, entry FROM affected WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(affected_ids),),
        )
        return {row[0]: row[1:] for row in rows}

    def facts_of(self, record_ids: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Record id -> (modified, the fields a finding needs: aliases, related, summary, severity)
        of the live records among ``record_ids``."""
        rows = self._db.execute(
            "SELECT id, modified, facts FROM records WHERE withdrawn = 0 "
            "AND id IN (SELECT value FROM json_each(?))",
            (json.dumps(record_ids),),
        )
        found = rows.fetchall()
        from gate.vulndb.ranges import decode_all

        decoded = decode_all([facts for _, _, facts in found])
        return {
            record_id: (modified, facts)
            for (record_id, modified, _), facts in zip(found, decoded, strict=True)
        }

    def record(self, record_id: str) -> StoredRecord | None:
        row = self._db.execute(
            "SELECT id, modified, raw FROM records WHERE id = ? AND withdrawn = 0", (record_id,)
        ).fetchone()
        if row is None:
            return None
        return StoredRecord(row[0], row[1], json.loads(zlib.decompress(row[2])))

    def known_exploited(self, cves: list[str]) -> dict[str, KnownExploited]:
        """CVE id -> its KEV entry, for the ``cves`` that the stored catalog lists."""
        rows = self._db.execute(
            "SELECT cve, date_added, due_date, ransomware, name FROM kev "
            "WHERE cve IN (SELECT value FROM json_each(?))",
            (json.dumps(cves),),
        )
        return {row[0]: KnownExploited(*row) for row in rows}

    def kev_summary(self) -> tuple[str, int]:
        """(catalog version, entries) of the stored KEV catalog; ("", 0) when none was imported."""
        (count,) = self._db.execute("SELECT COUNT(*) FROM kev").fetchone()
        return self.meta("kev_version"), int(count)

    def sources(self) -> list[Source]:
        rows = self._db.execute(
            "SELECT name, location, imported_at, etag, last_modified FROM sources ORDER BY name"
        )
        return [Source(*row) for row in rows]

    def counts_by_ecosystem(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT ecosystem, COUNT(DISTINCT record_id) FROM affected GROUP BY ecosystem ORDER BY ecosystem"
        )
        return dict(rows.fetchall())

    def record_counts(self) -> tuple[int, int]:
        """(live records, withdrawn tombstones)."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(withdrawn = 0), 0), COALESCE(SUM(withdrawn), 0) FROM records"
        ).fetchone()
        return int(row[0]), int(row[1])


_POOL_MINIMUM = 2048  # packages: fewer compile faster than a process pool starts


def _compiled_groups(
    groups: list[tuple[str, str, list[tuple[int, str, str, str]]]], workers: int
) -> Iterator[tuple[str, str, str, str]]:
    if workers <= 1 or len(groups) < _POOL_MINIMUM:
        yield from map(compile_group, groups)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(compile_group, groups, chunksize=256)


def compile_group(group: tuple[str, str, list[tuple[int, str, str, str]]]) -> tuple[str, str, str, str]:
    """(ecosystem, name, summary, entries) of one package (runs in a worker process)."""
    from gate.versions import scheme_for_ecosystem
    from gate.vulndb.ranges import compile_package

    ecosystem, name, rows = group
    compiled = compile_package(rows, scheme_for_ecosystem(ecosystem))
    return ecosystem, name, compiled.summary, compiled.entries


@dataclass(frozen=True, slots=True)
class PreparedRecord:
    """A validated record in the form the store writes (built in a worker process)."""

    id: str
    modified: str
    withdrawn: bool
    ecosystems: frozenset[str]
    sha256: str
    compressed: bytes  # zlib(canonical JSON)
    facts: str  # JSON of the fields findings need (see VulnDB.facts)
    rows: tuple[tuple[str, str, str, str, str], ...]  # (ecosystem, normalised name, ranges, versions, rest)
    warnings: tuple[str, ...] = ()


def prepare(record: Record, original: bytes | None = None) -> PreparedRecord:
    """The record's JSON (``original`` bytes when the source was JSON, canonical JSON for YAML),
    its digest, and its index rows (none when withdrawn)."""
    body = original if original is not None else canonical_json(record.raw)
    affected = record.raw.get("affected") or []
    rows = (
        ()
        if record.withdrawn
        else tuple(
            (key.ecosystem, normalise_name(key.ecosystem, key.name), *_split_entry(affected[key.index]))
            for key in record.affected
        )
    )
    return PreparedRecord(
        record.id,
        record.modified,
        record.withdrawn,
        frozenset(key.ecosystem for key in record.affected),
        hashlib.sha256(body).hexdigest(),
        zlib.compress(body, 1),
        _facts(record.raw),
        rows,
        record.warnings,
    )


_FACT_FIELDS = ("aliases", "upstream", "related", "summary", "severity", "published")


def _facts(raw: dict[str, Any]) -> str:
    facts = {field: raw[field] for field in _FACT_FIELDS if raw.get(field)}
    specific = raw.get("database_specific")
    if isinstance(specific, dict) and "severity" in specific:
        facts["database_specific"] = {"severity": specific["severity"]}
    return _compact(facts)


def _split_entry(entry: dict[str, Any]) -> tuple[str, str, str]:
    rest = {key: value for key, value in entry.items() if key not in ("ranges", "versions")}
    return _compact(entry.get("ranges") or []), "\n".join(entry.get("versions") or []), _compact(rest)


def _compact(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def upgrade(path: Path) -> None:
    """Bring a schema 2 database to schema 3 in place, in one transaction: add the ``kev`` table
    and the ``upstream`` ids (OSV schema 1.7) to the facts of the records that have them."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError:
        row = None  # not a gate database: opening it says so
    try:
        if row is None or row[0] != "2":
            return
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(_KEV_TABLE)
        rows = connection.execute("SELECT id, raw FROM records WHERE withdrawn = 0").fetchall()
        for record_id, raw in rows:
            body = zlib.decompress(raw)
            if b'"upstream"' in body:
                connection.execute(
                    "UPDATE records SET facts = ? WHERE id = ?", (_facts(json.loads(body)), record_id)
                )
        upgraded = VulnDB(connection, path)
        upgraded.set_meta("schema_version", str(SCHEMA_VERSION))
        upgraded.set_meta("digest", upgraded.compute_digest())
        connection.execute("COMMIT")
    except sqlite3.DatabaseError as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise VulnDBError(f"cannot upgrade {path} to database schema {SCHEMA_VERSION}: {error}") from error
    finally:
        connection.close()
