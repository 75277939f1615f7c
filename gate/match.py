"""Packages x OSV records -> findings, exactly as the OSV schema defines "affected".

A package's version is affected by an ``affected[]`` entry when it is listed in ``versions``
or falls in one of its ECOSYSTEM or SEMVER ranges. A range is evaluated as the schema's
algorithm says: events sorted by version (``introduced: "0"`` first; equal versions keep the
record's order), an ``introduced`` at or below the version opens it, a ``fixed`` at or below
closes it, a ``last_affected`` below closes it, and nothing at or above a ``limit`` is in it.
GIT ranges are never evaluated (commits are not versions); records that only have them match
through their ``versions`` list.

Which name and version are looked up: the source package for Debian and Ubuntu (their
advisories are keyed by it) and Alpine (by origin); ``group:artifact`` for Maven; the package
name otherwise. Language packages owned by an OS package (``owned-by`` metadata) are left to
the OS advisories. One vulnerability in one package is one finding: records whose ids and
aliases overlap are merged, and the finding cites every record and range that matched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gate.model import Package
from gate.severity import Rating, rate
from gate.vulndb.names import ECOSYSTEM_BY_PURL_TYPE
from gate.vulndb.osv import base_ecosystem
from gate.vulndb.store import Candidate, StoredRecord, VulnDB

OS_PURL_TYPES = frozenset({"deb", "apk", "rpm"})
_BY_SOURCE_PACKAGE = frozenset({"Debian", "Ubuntu", "Alpine"})
_EVALUATED_RANGES = frozenset({"ECOSYSTEM", "SEMVER"})


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
        self._records: dict[str, StoredRecord] = {}
        self._ratings: dict[tuple[str, int], Rating] = {}

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
                (candidate, Entry.compile(candidate.entry, scheme)) for candidate in self._db.candidates(*key)
            ]
        return self._entries[key]

    def _record(self, record_id: str) -> StoredRecord:
        if record_id not in self._records:
            stored = self._db.record(record_id)
            assert stored is not None, f"index names {record_id} but the record is missing"
            self._records[record_id] = stored
        return self._records[record_id]

    def _rating(self, hit: Hit) -> Rating:
        key = (hit.candidate.record_id, id(hit.candidate.entry))
        if key not in self._ratings:
            self._ratings[key] = rate(self._record(hit.candidate.record_id).raw, hit.candidate.entry)
        return self._ratings[key]

    def _findings(self, package: Package, version: Version, hits: dict[str, list[Hit]]) -> list[Finding]:
        groups = _group_by_alias({record_id: self._record(record_id).raw for record_id in hits})
        return [self._finding(package, version, group, hits) for group in groups]

    def _finding(
        self, package: Package, version: Version, record_ids: list[str], hits: dict[str, list[Hit]]
    ) -> Finding:
        records = {record_id: self._record(record_id) for record_id in record_ids}
        names = set(record_ids) | {
            alias for stored in records.values() for alias in stored.raw.get("aliases") or []
        }
        primary = record_ids[0]
        evidence, ratings, fixed = [], [], {}
        for record_id in record_ids:
            for hit in hits[record_id]:
                evidence.append(
                    Evidence(
                        record_id,
                        records[record_id].modified,
                        hit.candidate.ecosystem,
                        str(hit.candidate.entry.get("package", {}).get("name", "")),
                        version.text,
                        hit.verdict.range,
                    )
                )
                ratings.append(self._rating(hit))
                fixed.update(hit.entry.fixed_after(version))
        related = {item for stored in records.values() for item in stored.raw.get("related") or []} - names
        return Finding(
            package=package,
            id=primary,
            aliases=tuple(sorted(names - {primary})),
            related=tuple(sorted(related)),
            summary=str(records[primary].raw.get("summary", "")),
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


# -- evaluation of one affected[] entry ---------------------------------------------------------


class UnverifiableError(Exception):
    """The entry's ranges cannot be compared with the package's version."""


@dataclass(frozen=True, slots=True)
class Verdict:
    range: dict[str, Any] | None  # None: matched through the versions list


@dataclass(frozen=True, slots=True)
class Version:
    """A package version and its sort key (None with the reason when the scheme cannot read it)."""

    text: str
    key: Any
    error: str = ""

    @classmethod
    def of(cls, text: str, scheme: Any) -> Version:
        if scheme is None:
            return cls(text, None, "no version scheme for this ecosystem")
        from gate.versions import InvalidVersion

        try:
            return cls(text, scheme.key(text))
        except InvalidVersion as error:
            return cls(text, None, str(error))


@dataclass(frozen=True, slots=True)
class Range:
    """An ECOSYSTEM/SEMVER range with its events sorted as the schema says, or why it cannot be."""

    raw: dict[str, Any]
    events: tuple[tuple[str, Any], ...]  # (kind, key); key None for introduced "0" / limit "*"
    error: str = ""

    def contains(self, key: Any) -> bool:
        """The OSV schema's range evaluation for a version whose sort key is ``key``."""
        affected = False
        for kind, event_key in self.events:
            if kind == "introduced":
                if event_key is None or key >= event_key:
                    affected = True
            elif kind == "fixed":
                if key >= event_key:
                    affected = False
            elif kind == "last_affected":
                if key > event_key:
                    affected = False
            elif kind == "limit" and event_key is not None and key >= event_key:
                return False
        return affected


@dataclass(frozen=True, slots=True)
class Entry:
    """An ``affected[]`` entry compiled for one version scheme."""

    scheme: Any
    listed: frozenset[str]
    listed_keys: frozenset[Any]
    ranges: tuple[Range, ...]
    fixed: tuple[tuple[str, Any], ...]  # (version, key) of every parsable fixed event

    @classmethod
    def compile(cls, entry: dict[str, Any], scheme: Any) -> Entry:
        listed = frozenset(entry.get("versions") or [])
        raw_ranges = [r for r in entry.get("ranges") or [] if r.get("type") in _EVALUATED_RANGES]
        if scheme is None:
            ranges = tuple(Range(r, (), "no version scheme for this ecosystem") for r in raw_ranges)
            return cls(None, listed, frozenset(), ranges, ())
        ranges = tuple(_compile_range(r, scheme) for r in raw_ranges)
        fixed = tuple(
            (value, key)
            for range_ in raw_ranges
            for event in range_["events"]
            if (value := event.get("fixed")) is not None and (key := _key_or_none(scheme, value)) is not None
        )
        listed_keys = frozenset(key for item in listed if (key := _key_or_none(scheme, item)) is not None)
        return cls(scheme, listed, listed_keys, ranges, fixed)

    def affects(self, version: Version) -> Verdict | None:
        """Whether ``version`` is affected; raises UnverifiableError when that cannot be decided.

        Ranges are tried first so a finding cites the range; the list decides the rest.
        """
        if version.key is not None:
            for range_ in self.ranges:
                if not range_.error and range_.contains(version.key):
                    return Verdict(range_.raw)
        if version.text in self.listed:
            return Verdict(None)
        if version.key is None:
            if self.ranges:
                raise UnverifiableError(version.error)
            return None
        if errors := [range_.error for range_ in self.ranges if range_.error]:
            raise UnverifiableError(errors[0])
        if version.key in self.listed_keys:
            return Verdict(None)  # listed in another spelling ("1.0" for "1.0.0" in PEP 440)
        return None

    def fixed_after(self, version: Version) -> dict[str, Any]:
        """``fixed`` versions newer than ``version``, with their keys."""
        if version.key is None:
            return {}
        return {value: key for value, key in self.fixed if key > version.key}


@dataclass(frozen=True, slots=True)
class Hit:
    candidate: Candidate
    entry: Entry
    verdict: Verdict


def evaluate(entry: dict[str, Any], ecosystem: str, version: str) -> Verdict | None:
    """Whether ``version`` is affected by ``entry`` (one-off form of what :class:`Matcher` does)."""
    from gate.versions import scheme_for_ecosystem

    scheme = scheme_for_ecosystem(ecosystem)
    return Entry.compile(entry, scheme).affects(Version.of(version, scheme))


def _compile_range(raw: dict[str, Any], scheme: Any) -> Range:
    from gate.versions import InvalidVersion

    keyed = []
    for event in raw["events"]:
        ((kind, value),) = event.items()
        if (kind, value) in (("introduced", "0"), ("limit", "*")):
            keyed.append((kind, None))
            continue
        try:
            keyed.append((kind, scheme.key(value)))
        except InvalidVersion as error:
            return Range(raw, (), f"{kind} bound of a range: {error}")
    # "0" sorts first and "*" last; Python's sort is stable, so ties keep the record's order.
    return Range(raw, tuple(sorted(keyed, key=_event_rank)))


def _event_rank(item: tuple[str, Any]) -> tuple[int, Any]:
    kind, key = item
    if key is None:
        return (0, 0) if kind == "introduced" else (2, 0)
    return (1, key)


def _key_or_none(scheme: Any, value: str) -> Any:
    from gate.versions import InvalidVersion

    try:
        return scheme.key(value)
    except InvalidVersion:
        return None
