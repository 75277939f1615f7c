"""OSV records: structural validation and the facts the store indexes.

The checks follow the OSV JSON schema (ossf/osv-schema ``validation/schema.json``) for every
field gate reads, plus the linter's "distinct events" rule; the full JSON-schema validator is
about 50x slower than this and would put a 20,000-record import over its time budget. The test
suite checks that both agree on the real data and on the schema's broken fixtures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# ossf/osv-schema ecosystems.json (the base names; a ":<release>" suffix may follow).
KNOWN_ECOSYSTEMS = frozenset(
    {
        "AlmaLinux", "Alpaquita", "Alpine", "Android", "Azure Linux", "BellSoft Hardened Containers",
        "Bioconductor", "Bitnami", "CRAN", "Chainguard", "CleanStart", "ConanCenter", "Debian",
        "Docker Hardened Images", "Echo", "FreeBSD", "GHC", "GitHub Actions", "Go", "Hackage", "Hex",
        "Julia", "Kubernetes", "Linux", "Mageia", "Maven", "MinimOS", "NuGet", "OSS-Fuzz", "Packagist",
        "Photon OS", "Pub", "PyPI", "Red Hat", "Rocky Linux", "Root", "RubyGems", "SUSE", "SwiftURL",
        "TuxCare", "Ubuntu", "VSCode", "Wolfi", "crates.io", "npm", "opam", "openEuler", "openSUSE",
    }
)  # fmt: skip
RANGE_TYPES = frozenset({"ECOSYSTEM", "SEMVER", "GIT"})
EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_GIT_COMMIT = re.compile(r"0|[a-f0-9]{40}|[a-f0-9]{64}")


class InvalidRecord(ValueError):
    """A record that does not follow the OSV schema; the message names the first problem."""


@dataclass(frozen=True, slots=True)
class AffectedKey:
    """One ``affected[]`` entry's index key and its JSON, as the matcher needs it."""

    ecosystem: str  # full string, release included: "Debian:12", "PyPI"
    name: str  # as published; the store normalises it per ecosystem
    index: int  # position in ``affected``


@dataclass(frozen=True, slots=True)
class Record:
    """A validated OSV record."""

    id: str
    modified: str  # normalised UTC timestamp, so later-wins is a string comparison
    withdrawn: bool
    aliases: tuple[str, ...]
    affected: tuple[AffectedKey, ...]
    raw: dict[str, Any]
    warnings: tuple[str, ...] = ()  # lint findings that do not change what gate matches


def base_ecosystem(ecosystem: str) -> str:
    """``Debian:12`` -> ``Debian``; ``Ubuntu:22.04:LTS`` -> ``Ubuntu``; ``PyPI`` -> ``PyPI``."""
    return ecosystem.split(":", 1)[0]


def normalise_timestamp(value: object, field: str) -> str:
    """An RFC 3339 timestamp as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC."""
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise InvalidRecord(f"{field} is not an RFC 3339 timestamp: {str(value)[:40]!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:  # shaped like a timestamp, but month 13 or second 61
        raise InvalidRecord(f"{field} is not a valid timestamp: {value[:40]!r} ({error})") from None
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_record(data: object) -> Record:
    """Validate ``data`` as an OSV record; raise :class:`InvalidRecord` naming what is wrong."""
    if not isinstance(data, dict):
        raise InvalidRecord("not a JSON object")
    record_id = data.get("id")
    if not isinstance(record_id, str) or not record_id.strip():
        raise InvalidRecord("missing or empty id")
    modified = normalise_timestamp(data.get("modified"), "modified")
    withdrawn = data.get("withdrawn")
    if withdrawn is not None:
        normalise_timestamp(withdrawn, "withdrawn")
    aliases = _string_list(data, "aliases")
    _string_list(data, "related")
    _string_list(data, "upstream")
    _check_severity(data.get("severity"), "severity")
    affected = data.get("affected") or []
    if not isinstance(affected, list):
        raise InvalidRecord("affected is not a list")
    warnings: list[str] = []
    keys = tuple(
        key for index, entry in enumerate(affected) if (key := _check_affected(entry, index, warnings))
    )
    return Record(record_id, modified, withdrawn is not None, aliases, keys, data, tuple(warnings))


def _string_list(data: dict[str, Any], field: str) -> tuple[str, ...]:
    value = data.get(field) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidRecord(f"{field} is not a list of strings")
    return tuple(value)


def _check_severity(value: object, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise InvalidRecord(f"{where} is not a list")
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise InvalidRecord(f"{where} entry without a type")
        if not isinstance(item.get("score"), str):
            raise InvalidRecord(f"{where} entry {item['type']} without a score string")


def _check_affected(entry: object, index: int, warnings: list[str]) -> AffectedKey | None:
    where = f"affected[{index}]"
    if not isinstance(entry, dict):
        raise InvalidRecord(f"{where} is not an object")
    _check_severity(entry.get("severity"), f"{where}.severity")
    versions = entry.get("versions")
    if versions is not None and (
        not isinstance(versions, list) or not all(isinstance(v, str) for v in versions)
    ):
        raise InvalidRecord(f"{where}.versions is not a list of strings")
    ranges = entry.get("ranges") or []
    if not isinstance(ranges, list):
        raise InvalidRecord(f"{where}.ranges is not a list")
    for range_index, range_ in enumerate(ranges):
        _check_range(range_, f"{where}.ranges[{range_index}]", warnings)
    package = entry.get("package")
    if package is None:
        return None  # e.g. CPython's GIT-only records: valid, but nothing to match by name
    if not isinstance(package, dict):
        raise InvalidRecord(f"{where}.package is not an object")
    ecosystem, name = package.get("ecosystem"), package.get("name")
    if not isinstance(ecosystem, str) or not isinstance(name, str) or not name:
        raise InvalidRecord(f"{where}.package needs an ecosystem and a name")
    if base_ecosystem(ecosystem) not in KNOWN_ECOSYSTEMS:
        raise InvalidRecord(f"{where}: unknown ecosystem {ecosystem!r}")
    return AffectedKey(ecosystem, name, index)


def _check_range(range_: object, where: str, warnings: list[str]) -> None:
    if not isinstance(range_, dict):
        raise InvalidRecord(f"{where} is not an object")
    kind = range_.get("type")
    if not isinstance(kind, str) or kind not in RANGE_TYPES:
        raise InvalidRecord(f"{where} has unknown type {str(kind)[:20]!r}")
    if kind == "GIT" and not isinstance(range_.get("repo"), str):
        raise InvalidRecord(f"{where}: a GIT range needs a repo")
    events = range_.get("events")
    if not isinstance(events, list) or not events:
        raise InvalidRecord(f"{where} has no events")
    values: dict[str, list[str]] = {kind_: [] for kind_ in EVENT_KINDS}
    for event in events:
        if not isinstance(event, dict) or len(event) != 1:
            raise InvalidRecord(f"{where}: each event has exactly one of {', '.join(EVENT_KINDS)}")
        ((event_kind, value),) = event.items()
        if event_kind not in values or not isinstance(value, str):
            raise InvalidRecord(f"{where}: bad event {str(event)[:60]}")
        if kind == "GIT" and not _GIT_COMMIT.fullmatch(value):
            # The schema wants full hashes; gate never evaluates GIT ranges, so the record's
            # other ranges stay usable and rejecting it would drop real vulnerability data.
            warnings.append(f"{where}: GIT event {value[:20]!r} is not a full commit hash")
        values[event_kind].append(value)
    _check_events(values, where, warnings)


def _check_events(values: dict[str, list[str]], where: str, warnings: list[str]) -> None:
    if not values["introduced"]:
        raise InvalidRecord(f"{where} has no introduced event")
    if values["fixed"] and values["last_affected"]:
        raise InvalidRecord(f"{where} mixes fixed and last_affected events")
    ends = set(values["fixed"]) | set(values["limit"])  # introduced == last_affected: one version
    if same := set(values["introduced"]) & ends:
        # osv-linter's "distinct events" rule. Published records use "fixed X, introduced X"
        # for adjacent ranges (Bitnami, RustSec); evaluation in record order keeps their meaning.
        warnings.append(f"{where}: {sorted(same)[0][:40]!r} both introduces and ends a range")
