"""Pure-Python readers for the three rpm database formats and the header blobs they store.

An rpm database is a key/value store of *header blobs* (one per installed package, keyed
by an instance number). Only the container differs between distributions:

* ``rpmdb.sqlite`` (RHEL 9, Fedora 33+, CBL-Mariner): SQLite, table ``Packages(hnum, blob)``
  -- :mod:`gate.catalog.rpmdb.sqlite`;
* ``Packages`` (RHEL 7/8, CentOS, Amazon Linux 2): a BerkeleyDB hash database --
  :mod:`gate.catalog.rpmdb.bdb`;
* ``Packages.db`` (SUSE 15+): rpm's own "NDB" slot/blob file -- :mod:`gate.catalog.rpmdb.ndb`.

:func:`read_blobs` sniffs the container from its magic bytes and returns the blobs;
:func:`gate.catalog.rpmdb.header.parse_header` decodes one blob. Every reader bounds-checks
what it reads and raises :class:`RpmDbError` (a :class:`~gate.errors.GateError` and a
:class:`ValueError`) on anything malformed, never an IndexError or a huge allocation.
"""

from __future__ import annotations

from gate.errors import GateError


class RpmDbError(GateError, ValueError):
    """A malformed, truncated or hostile rpm database or header blob."""


SQLITE_MAGIC = b"SQLite format 3\x00"
NDB_MAGIC = b"RpmP"


def read_blobs(data: bytes) -> list[bytes]:
    """The header blobs stored in an rpm database, whatever its container format."""
    from gate.catalog.rpmdb import bdb, ndb, sqlite

    if data.startswith(SQLITE_MAGIC):
        return sqlite.read_blobs(data)
    if data.startswith(NDB_MAGIC):
        return ndb.read_blobs(data)
    if bdb.is_hash_db(data):
        return bdb.read_blobs(data)
    if not data:
        raise RpmDbError("empty file, not an rpm database")
    raise RpmDbError("not an rpm database (neither SQLite, BerkeleyDB hash nor NDB)")


__all__ = ["RpmDbError", "read_blobs"]
