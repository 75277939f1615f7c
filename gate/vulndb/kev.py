"""CISA's Known Exploited Vulnerabilities (KEV) catalog: its shape, and what a finding carries.

The catalog is one JSON document (``{"catalogVersion", "dateReleased", "count",
"vulnerabilities": [...]}``) keyed by CVE id only; findings join it through their CVE names.
The checks follow CISA's published JSON schema for every field gate reads; a document of
another shape is refused whole (one message naming the file and the key path), never half
imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from gate import safejson
from gate.vulndb.errors import VulnDBError

KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
MAX_KEV_BYTES = 64 << 20  # the 2025 catalog is 1.3 MB
_CVE = re.compile(r"CVE-[0-9]{4}-[0-9]{4,19}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class InvalidKev(VulnDBError):
    """A file or download that is not a KEV catalog."""


@dataclass(frozen=True, slots=True)
class KnownExploited:
    """A catalog entry, as a finding shows it."""

    cve: str
    date_added: str  # YYYY-MM-DD
    due_date: str  # YYYY-MM-DD: the remediation deadline CISA set for US federal agencies
    ransomware: str  # "Known" or "Unknown", as the catalog says (Unknown is not "no")
    vulnerability_name: str

    @property
    def ransomware_known(self) -> bool:
        return self.ransomware == "Known"

    def to_json(self) -> dict[str, Any]:
        return {
            "cve": self.cve,
            "date_added": self.date_added,
            "due_date": self.due_date,
            "ransomware": self.ransomware,
            "vulnerability_name": self.vulnerability_name,
        }


@dataclass(frozen=True, slots=True)
class KevCatalog:
    version: str
    released: str
    entries: tuple[KnownExploited, ...]


def load_kev(path: Path) -> KevCatalog:
    """Read and validate a catalog file."""
    try:
        with path.open("rb") as handle:
            content = handle.read(MAX_KEV_BYTES + 1)
    except OSError as error:
        raise VulnDBError(f"cannot read KEV catalog {path}: {error.strerror or error}") from error
    return parse_kev(content, str(path))


def parse_kev(content: bytes, origin: str) -> KevCatalog:
    """Validate ``content`` as a KEV catalog; :class:`InvalidKev` names ``origin`` and the key path."""
    if len(content) > MAX_KEV_BYTES:
        raise InvalidKev(f"{origin}: larger than {MAX_KEV_BYTES >> 20} MiB, not a KEV catalog")
    try:
        data = safejson.loads(content)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidKev(f"{origin}: not a KEV catalog: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise InvalidKev(f"{origin}: not a KEV catalog: the top level is not an object")
    version = _string(data, "catalogVersion", origin, "")
    released = _string(data, "dateReleased", origin, "")
    vulnerabilities = data.get("vulnerabilities")
    if not isinstance(vulnerabilities, list):
        raise InvalidKev(f"{origin}: not a KEV catalog: vulnerabilities is missing or not a list")
    entries = tuple(
        _entry(item, origin, f"vulnerabilities[{index}]") for index, item in enumerate(vulnerabilities)
    )
    count = data.get("count")
    if not isinstance(count, int) or count != len(entries):
        raise InvalidKev(
            f"{origin}: count: {count!r} does not match the {len(entries)} vulnerabilities listed"
        )
    return KevCatalog(version, released, entries)


def _entry(item: object, origin: str, where: str) -> KnownExploited:
    if not isinstance(item, dict):
        raise InvalidKev(f"{origin}: {where}: not an object")
    cve = _string(item, "cveID", origin, where)
    if not _CVE.fullmatch(cve):
        raise InvalidKev(f"{origin}: {where}.cveID: {cve[:40]!r} is not a CVE id")
    ransomware = item.get("knownRansomwareCampaignUse", "Unknown")
    if not isinstance(ransomware, str):
        raise InvalidKev(f"{origin}: {where}.knownRansomwareCampaignUse: not a string")
    return KnownExploited(
        cve=cve,
        date_added=_date(item, "dateAdded", origin, where),
        due_date=_date(item, "dueDate", origin, where),
        ransomware=ransomware,
        vulnerability_name=_string(item, "vulnerabilityName", origin, where),
    )


def _string(data: dict[str, Any], key: str, origin: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        path = f"{where}.{key}" if where else key
        raise InvalidKev(f"{origin}: {path}: {'missing' if value is None else 'not a string'}")
    return value


def _date(data: dict[str, Any], key: str, origin: str, where: str) -> str:
    value = _string(data, key, origin, where)
    try:
        valid = bool(_DATE.fullmatch(value)) and bool(date.fromisoformat(value))
    except ValueError:
        valid = False
    if not valid:
        raise InvalidKev(f"{origin}: {where}.{key}: {value[:40]!r} is not a YYYY-MM-DD date")
    return value
