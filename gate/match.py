"""Packages x OSV records -> findings, exactly as the OSV schema defines "affected".

Whether a version is affected by one ``affected[]`` entry is ``gate.vulndb.ranges`` (the OSV
schema's evaluation); this module decides what to look up and turns hits into findings.

Which name and version are looked up: the source package for Debian and Ubuntu (their
advisories are keyed by it) and Alpine (by origin); ``group:artifact`` for Maven; the package
name otherwise. Language packages owned by an OS package (``owned-by`` metadata) are left to
the OS advisories. One vulnerability in one package is one finding: records whose ids and
aliases overlap are merged, and the finding cites every record and range that matched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gate.model import Package
from gate.severity import Rating, rate
from gate.vulndb.names import ECOSYSTEM_BY_PURL_TYPE
from gate.vulndb.osv import base_ecosystem
from gate.vulndb.ranges import Entry, UnverifiableError, Verdict, Version, compile_ranges, evaluate
from gate.vulndb.store import Candidate, VulnDB

__all__ = ["Finding", "MatchResult", "Matcher", "Unverified", "evaluate", "lookup_for", "match_packages"]

OS_PURL_TYPES = frozenset({"deb", "apk", "rpm"})
_BY_SOURCE_PACKAGE = frozenset({"Debian", "Ubuntu", "Alpine"})


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a record matched: the record, the entry's package, and the range or list."""

    record_id: str
    modified: str
    ecosystem: str
    name: str
    version: str  # the version that was compared (the source version for Debian)
    range: dict[str, Any] | None  # the matching ECOSYSTEM/SEMVER range, None for a list match

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "record": self.record_id,
            "modified": self.modified,
            "ecosystem": self.ecosystem,
            "name": self.name,
            "version": self.version,
        }
        data["matched"] = {"range": self.range} if self.range else {"versions": [self.version]}
        return data


@dataclass(frozen=True)
class Finding:
    """One vulnerability in one package."""

    package: Package
    id: str
    aliases: tuple[str, ...]
    related: tuple[str, ...]
    summary: str
    rating: Rating
    fixed_versions: tuple[str, ...]
    evidence: tuple[Evidence, ...]

    @property
    def fix_available(self) -> bool:
        return bool(self.fixed_versions)


@dataclass(frozen=True, slots=True)
class Unverified:
    """A record names the package but its version could not be compared: reported, not dropped."""

    package: Package
    record_id: str
    reason: str


@dataclass(frozen=True)
class MatchResult:
    findings: tuple[Finding, ...]
    unverified: tuple[Unverified, ...]


@dataclass(frozen=True, slots=True)
class Lookup:
    """What to look up for a package."""

    ecosystem: str
    name: str
    version: str


def lookup_for(package: Package) -> Lookup | None:
    """The (ecosystem, name, version) a package's advisories are filed under; None: none exist."""
    if package.type not in OS_PURL_TYPES and package.metadata_dict.get("owned-by"):
        return None
    ecosystem = package.ecosystem or ECOSYSTEM_BY_PURL_TYPE.get(package.type, "")
    if not ecosystem or not package.version:
        return None
    base = base_ecosystem(ecosystem)
    if base in _BY_SOURCE_PACKAGE and package.source_name:
        return Lookup(ecosystem, package.source_name, package.source_version or package.version)
    if base == "Maven":
        return Lookup(ecosystem, _maven_name(package), package.version)
    return Lookup(ecosystem, package.name, package.version)


def _maven_name(package: Package) -> str:
    if ":" in package.name:
        return package.name
    from packageurl import PackageURL

    purl = PackageURL.from_string(package.purl)
    return f"{purl.namespace}:{purl.name}" if purl.namespace else purl.name


class Matcher:
    """Matches packages against one database, caching what many packages share."""

    def __init__(self, db: VulnDB) -> None:
        self._db = db
        self._entries: dict[tuple[str, str], list[tuple[Candidate, Entry]]] = {}
        self._compiled: dict[tuple[str, str, str], Entry] = {}
        self._facts: dict[str, tuple[str, dict[str, Any]]] = {}
        self._ratings: dict[tuple[str, str], Rating] = {}
        self._rests: dict[int, dict[str, Any]] = {}

    def match(self, packages: Iterable[Package]) -> MatchResult:
        findings: list[Finding] = []
        unverified: list[Unverified] = []
        for package in packages:
            package_findings, package_unverified = self.match_package(package)
            findings.extend(package_findings)
            unverified.extend(package_unverified)
        findings.sort(key=lambda finding: (finding.package.purl, finding.id))
        return MatchResult(tuple(findings), tuple(unverified))

    def match_package(self, package: Package) -> tuple[list[Finding], list[Unverified]]:
        lookup = lookup_for(package)
        if lookup is None:
            return [], []
        entries = self._lookup(lookup)
        if not entries:
            return [], []
        version = Version.of(lookup.version, entries[0][1].scheme)
        hits: dict[str, list[Hit]] = {}
        unverified: list[Unverified] = []
        for candidate, entry in entries:
            try:
                verdict = entry.affects(version)
            except UnverifiableError as error:
                unverified.append(Unverified(package, candidate.record_id, str(error)))
                continue
            if verdict is not None:
                hits.setdefault(candidate.record_id, []).append(Hit(candidate, entry, verdict))
        return self._findings(package, version, hits), unverified

    def _lookup(self, lookup: Lookup) -> list[tuple[Candidate, Entry]]:
        key = (lookup.ecosystem, lookup.name)
        if key not in self._entries:
            from gate.versions import scheme_for_ecosystem

            scheme = scheme_for_ecosystem(lookup.ecosystem)
            self._entries[key] = [
                (candidate, self._entry(candidate, scheme)) for candidate in self._db.candidates(*key)
            ]
        return self._entries[key]

    def _entry(self, candidate: Candidate, scheme: Any) -> Entry:
        # Entries repeat (an AlmaLinux advisory gives every subpackage the same range): share them.
        key = (getattr(scheme, "name", ""), candidate.ranges, candidate.versions)
        if key not in self._compiled:
            ranges, fixed = compile_ranges(json.loads(candidate.ranges), scheme)
            self._compiled[key] = Entry(scheme, candidate.versions, ranges, fixed)
        return self._compiled[key]

    def _record(self, record_id: str) -> tuple[str, dict[str, Any]]:
        if record_id not in self._facts:
            facts = self._db.facts(record_id)
            assert facts is not None, f"index names {record_id} but the record is missing"
            self._facts[record_id] = facts
        return self._facts[record_id]

    def _rest(self, candidate: Candidate) -> dict[str, Any]:
        """The entry's fields besides ranges and versions (package, severity, ...), decoded once."""
        if id(candidate) not in self._rests:
            self._rests[id(candidate)] = json.loads(candidate.rest)
        return self._rests[id(candidate)]

    def _rating(self, hit: Hit) -> Rating:
        rest = self._rest(hit.candidate)
        own = json.dumps([rest.get("severity"), rest.get("database_specific")], sort_keys=True)
        key = (hit.candidate.record_id, own)  # the record's rating unless the entry has its own
        if key not in self._ratings:
            self._ratings[key] = rate(self._record(hit.candidate.record_id)[1], rest)
        return self._ratings[key]

    def _findings(self, package: Package, version: Version, hits: dict[str, list[Hit]]) -> list[Finding]:
        groups = _group_by_alias({record_id: self._record(record_id)[1] for record_id in hits})
        return [self._finding(package, version, group, hits) for group in groups]

    def _finding(
        self, package: Package, version: Version, record_ids: list[str], hits: dict[str, list[Hit]]
    ) -> Finding:
        records = {record_id: self._record(record_id) for record_id in record_ids}
        names = set(record_ids) | {
            alias for _, facts in records.values() for alias in facts.get("aliases") or []
        }
        primary = record_ids[0]
        evidence, ratings, fixed = [], [], {}
        for record_id in record_ids:
            for hit in hits[record_id]:
                package_name = self._rest(hit.candidate).get("package", {}).get("name", "")
                evidence.append(
                    Evidence(
                        record_id,
                        records[record_id][0],
                        hit.candidate.ecosystem,
                        str(package_name),
                        version.text,
                        hit.verdict.range,
                    )
                )
                ratings.append(self._rating(hit))
                fixed.update(hit.entry.fixed_after(version))
        related = {item for _, facts in records.values() for item in facts.get("related") or []} - names
        return Finding(
            package=package,
            id=primary,
            aliases=tuple(sorted(names - {primary})),
            related=tuple(sorted(related)),
            summary=str(records[primary][1].get("summary", "")),
            rating=max(ratings, key=lambda rating: (rating.severity, rating.score or 0.0)),
            fixed_versions=tuple(value for value, _key in sorted(fixed.items(), key=_by_key)),
            evidence=tuple(evidence),
        )


def match_packages(db: VulnDB, packages: Iterable[Package]) -> MatchResult:
    """Findings for ``packages`` against ``db``."""
    return Matcher(db).match(packages)


def _by_key(item: tuple[str, Any]) -> Any:
    return item[1]


def _group_by_alias(records: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Record ids whose id/alias sets overlap, transitively; each group sorted."""
    parent = {record_id: record_id for record_id in records}

    def find(item: str) -> str:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    owner: dict[str, str] = {}
    for record_id in sorted(records):
        for name in [record_id, *(records[record_id].get("aliases") or [])]:
            if name in owner:
                parent[find(record_id)] = find(owner[name])
            else:
                owner[name] = record_id
    groups: dict[str, list[str]] = {}
    for record_id in sorted(records):
        groups.setdefault(find(record_id), []).append(record_id)
    return sorted(groups.values())


@dataclass(frozen=True, slots=True)
class Hit:
    candidate: Candidate
    entry: Entry
    verdict: Verdict
