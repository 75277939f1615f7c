"""What a database holds and whether it is fresh enough to decide with."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gate.vulndb.errors import StaleDBError, VulnDBError
from gate.vulndb.store import SCHEMA_VERSION, Source, VulnDB

DEFAULT_MAX_AGE = "5d"
_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 86400}


@dataclass(frozen=True)
class DBStatus:
    path: str
    schema_version: int
    built_at: str
    digest: str
    records: int
    withdrawn: int
    ecosystems: dict[str, int]
    sources: tuple[Source, ...]
    kev_version: str  # empty: no KEV catalog imported
    kev_entries: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = [asdict(source) for source in self.sources]
        return data


def db_status(db: VulnDB) -> DBStatus:
    records, withdrawn = db.record_counts()
    kev_version, kev_entries = db.kev_summary()
    return DBStatus(
        path=str(db.path),
        schema_version=SCHEMA_VERSION,
        built_at=db.built_at,
        digest=db.digest,
        records=records,
        withdrawn=withdrawn,
        ecosystems=db.counts_by_ecosystem(),
        sources=tuple(db.sources()),
        kev_version=kev_version,
        kev_entries=kev_entries,
    )


def parse_age(text: str) -> timedelta:
    """``5d``, ``12h``, ``90m``, ``2w``, ``3600s``; a bare number is days."""
    match = _AGE.fullmatch(text.strip())
    if not match:
        raise VulnDBError(f"cannot read age {text!r}", hint="use a number with s, m, h, d or w, e.g. 5d")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def check_fresh(db: VulnDB, max_age: str, *, allow_stale: bool, now: datetime | None = None) -> None:
    """Raise StaleDBError when the DB was built longer than ``max_age`` ago (unless allowed)."""
    limit = parse_age(max_age)
    built = _built_at(db)
    age = (now or datetime.now(UTC)) - built
    if age > limit and not allow_stale:
        raise StaleDBError(
            f"vulnerability database {db.path} was built {_human(age)} ago ({db.built_at}), "
            f"more than --max-db-age {max_age}",
            hint="run `gate db update`, or pass --allow-stale-db to decide with it anyway",
        )


def _built_at(db: VulnDB) -> datetime:
    try:
        return datetime.fromisoformat(db.built_at.replace("Z", "+00:00"))
    except ValueError as error:
        raise VulnDBError(f"{db.path} has no valid build time: {db.built_at!r}") from error


def _human(age: timedelta) -> str:
    days = age.total_seconds() / 86400
    return f"{days:.1f} days" if days >= 1 else f"{age.total_seconds() / 3600:.1f} hours"
