"""The SQLite rpm database (``rpmdb.sqlite``): table ``Packages(hnum INTEGER, blob BLOB)``.

The bytes are written to a private temporary file (the image's file is never opened in
place) and read with the standard library's sqlite3, read-only and ``immutable`` so SQLite
neither writes journals nor looks for ``-wal``/``-shm`` companions.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from gate.catalog.rpmdb import RpmDbError


def read_blobs(data: bytes) -> list[bytes]:
    """Every header blob of the ``Packages`` table, in instance-number order."""
    with tempfile.TemporaryDirectory(prefix="gate-rpmdb-") as directory:
        path = Path(directory) / "rpmdb.sqlite"
        path.write_bytes(data)
        try:
            connection = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
        except sqlite3.Error as error:
            raise RpmDbError(f"cannot open the rpm sqlite database: {error}") from error
        try:
            return _query(connection)
        except sqlite3.Error as error:
            raise RpmDbError(f"cannot read the rpm sqlite database: {error}") from error
        finally:
            connection.close()


def _query(connection: sqlite3.Connection) -> list[bytes]:
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "Packages" not in tables:
        raise RpmDbError("rpm sqlite database has no Packages table")
    blobs: list[bytes] = []
    for hnum, blob in connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum"):
        if not isinstance(blob, bytes):
            raise RpmDbError(f"rpm sqlite database: package {hnum} has no header blob")
        blobs.append(blob)
    return blobs
