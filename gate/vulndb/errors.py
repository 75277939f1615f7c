"""Errors of the vulnerability database."""

from __future__ import annotations

from gate.errors import GateError


class VulnDBError(GateError):
    """A database, source archive or update that cannot be used; the existing DB is untouched."""


class StaleDBError(VulnDBError):
    """The database is older than the allowed age."""
