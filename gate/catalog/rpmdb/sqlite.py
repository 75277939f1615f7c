"""The SQLite rpm database (``rpmdb.sqlite``): table ``Packages(hnum INTEGER, blob BLOB)``.

The bytes are written to a private temporary file (the image's file is never opened in
place) and read with the standard library's sqlite3, read-only and ``immutable`` so SQLite
neither writes journals nor looks for ``-wal``/``-shm`` companions.

A hostile database can make its blob column as large as it likes (a generated column of
``zeroblob(n)`` fits in a few kilobytes), so the length of each blob is asked of SQLite before
the blob is fetched: one may not exceed :data:`MAX_HEADER_BLOB`, and all of them together may
not exceed the size of the file, which holds every stored blob.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from gate.catalog.rpmdb import RpmDbError

MAX_HEADER_BLOB = 64 * 1024 * 1024  # real headers are kilobytes; rpm itself caps the data store at 256 MiB


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
            return _query(connection, total_limit=len(data))
        except (sqlite3.Error, UnicodeDecodeError) as error:  # text that is not UTF-8: a damaged schema
            raise RpmDbError(f"cannot read the rpm sqlite database: {error}") from error
        finally:
            connection.close()


def _query(connection: sqlite3.Connection, *, total_limit: int) -> list[bytes]:
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "Packages" not in tables:
        raise RpmDbError("rpm sqlite database has no Packages table")
    blobs: list[bytes] = []
    total = 0
    rows = connection.execute(
        "SELECT hnum, length(blob), CASE WHEN length(blob) <= ? THEN blob END FROM Packages ORDER BY hnum",
        (MAX_HEADER_BLOB,),
    )
    for hnum, length, blob in rows:
        if isinstance(length, int) and length > MAX_HEADER_BLOB:
            raise RpmDbError(
                f"rpm sqlite database: package {hnum} has a {length}-byte header "
                f"(the limit is {MAX_HEADER_BLOB})"
            )
        if not isinstance(blob, bytes):
            raise RpmDbError(f"rpm sqlite database: package {hnum} has no header blob")
        total += len(blob)
        if total > total_limit:
            raise RpmDbError(
                f"rpm sqlite database: its header blobs add up to more than the file's {total_limit} bytes"
            )
        blobs.append(blob)
    return blobs
