"""The OSV vulnerability database: import, store, status, update from a mirror or an OCI registry.

    from gate.vulndb import VulnDB, default_db_path, import_paths
    report = import_paths(Path("vulns.db"), [Path("PyPI-all.zip")])
    with VulnDB.open(Path("vulns.db")) as db:
        db.candidates("PyPI", "Jinja2")    # affected[] entries for the package, name normalised

Submodules: ``osv`` (record validation), ``sources`` (files, directories, zips), ``store``
(SQLite), ``importer``, ``status``, ``update`` (HTTPS archives), ``oci`` (DB as an OCI artifact).
"""

from __future__ import annotations

import os
from pathlib import Path

from gate.vulndb.errors import StaleDBError, VulnDBError
from gate.vulndb.importer import ImportReport, import_paths
from gate.vulndb.store import SCHEMA_VERSION, Candidate, StoredRecord, VulnDB

DB_ENV = "GATE_DB"

__all__ = [
    "DB_ENV",
    "SCHEMA_VERSION",
    "Candidate",
    "ImportReport",
    "StaleDBError",
    "StoredRecord",
    "VulnDB",
    "VulnDBError",
    "default_db_path",
    "import_paths",
    "resolve_db_path",
]


def default_db_path() -> Path:
    """``<user cache dir>/gate/vulndb.sqlite`` (platformdirs)."""
    from platformdirs import user_cache_path

    return user_cache_path("gate", appauthor=False) / "vulndb.sqlite"


def resolve_db_path(option: Path | None) -> Path:
    """``--db PATH``, else ``$GATE_DB``, else the default."""
    if option is not None:
        return option
    if env := os.environ.get(DB_ENV):
        return Path(env)
    return default_db_path()
