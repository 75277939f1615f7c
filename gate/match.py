"""Packages x OSV records -> findings, exactly as the OSV schema defines "affected".

Whether a version is affected by one ``affected[]`` entry is ``gate.vulndb.ranges`` (the OSV
schema's evaluation); this module decides what to look up and turns hits into findings.

Which name and version are looked up: the source package for Debian and Ubuntu (their
advisories are keyed by it) and Alpine (by origin); ``group:artifact`` for Maven; the package
name otherwise. Language packages owned by an OS package (``owned-by`` metadata) are left to
the OS advisories. One vulnerability in one package is one finding: records whose ids, aliases
and ``upstream`` ids overlap are merged, and the finding cites every record and range that
matched. Distro notices (USN, DSA, DLA) restate the vulnerability records they list in
``upstream``: they are shown as the ``advisories`` of those findings, not as findings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gate.model import Package
from gate.severity import Rating, rate
from gate.vulndb.errors import VulnDBError
from gate.vulndb.kev import KnownExploited
from gate.vulndb.names import ECOSYSTEM_BY_PURL_TYPE, normalise_name
from gate.vulndb.osv import base_ecosystem
from gate.vulndb.ranges import (
    PackageIndex,
    Placed,
    UnverifiableError,
    Verdict,
    compile_package,
    decode_all,
    evaluate,
)
from gate.vulndb.store import VulnDB

__all__ = [
    "Finding",
    "MatchResult",
    "Matcher",
    "Unverified",
    "evaluate",
    "lookup_for",
    "lookups_for",
    "match_packages",
]

OS_PURL_TYPES = frozenset({"deb", "apk", "rpm"})
_CVE_IN_ID = re.compile(r"(?:[A-Z]+-)?(CVE-\d{4}-\d+)")
_BY_SOURCE_PACKAGE = frozenset({"Debian", "Ubuntu", "Alpine"})
_RHEL_REPOSITORIES = ("baseos", "appstream", "crb")


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
    known_exploited: KnownExploited | None = None  # listed in CISA's KEV catalog under one of its CVEs
    advisories: tuple[str, ...] = ()  # notices (USN, DSA, DLA) that restate this vulnerability
    published: str = ""  # the primary record's ``published`` (RFC 3339), "" when unknown

    @property
    def fix_available(self) -> bool:
        return bool(self.fixed_versions)

    @property
    def cve_ids(self) -> tuple[str, ...]:
        """The CVE ids this finding is: its id and aliases, the CVE inside distro ids such as
        ``UBUNTU-CVE-2023-4911``, and for OS packages the CVEs in ``related`` (distro
        advisories such as ALSA and DSA list there the CVEs they fix; for language packages
        ``related`` means a different vulnerability)."""
        names = [self.id, *self.aliases]
        if self.package.type in OS_PURL_TYPES:
            names.extend(self.related)
        found = {match.group(1) for name in names if (match := _CVE_IN_ID.fullmatch(name))}
        return tuple(sorted(found))


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


def lookups_for(package: Package) -> list[Lookup]:
    """Every (ecosystem, name, version) a package's advisories may be filed under.

    Ubuntu files what only an Ubuntu Pro subscription fixes (ESM, universe, and every package of a
    release past standard support) under ``Ubuntu:Pro:<release>:LTS``, beside the release's own
    ``Ubuntu:<release>:LTS``: an LTS image's packages are looked up in both. The FIPS variants
    (``Ubuntu:Pro:FIPS...``) are not: nothing in an image says it runs the FIPS packages.
    Red Hat files advisories per repository of a product stream
    (``Red Hat:enterprise_linux:9::baseos``); an rpm database does not record the repository a
    package came from, so a RHEL package is looked up in the main stream's BaseOS, AppStream and
    CodeReady Builder. Extended-support streams (``rhel_eus:9.2``) need a subscription the image
    does not reveal and are not looked up.
    """
    lookup = lookup_for(package)
    if lookup is None:
        return []
    parts = lookup.ecosystem.split(":")
    if parts[0] == "Ubuntu" and len(parts) == 3 and parts[2] == "LTS":
        return [lookup, Lookup(f"Ubuntu:Pro:{parts[1]}:LTS", lookup.name, lookup.version)]
    if parts[:2] == ["Red Hat", "enterprise_linux"] and len(parts) == 3:
        return [
            Lookup(f"{lookup.ecosystem}::{repository}", lookup.name, lookup.version)
            for repository in _RHEL_REPOSITORIES
        ]
    return [lookup]


def _maven_name(package: Package) -> str:
    if ":" in package.name:
        return package.name
    from packageurl import PackageURL

    purl = PackageURL.from_string(package.purl)
    return f"{purl.namespace}:{purl.name}" if purl.namespace else purl.name


class Matcher:
    """Matches packages against one database, caching what many packages share.

    A batch is matched in passes, each one query per ecosystem or one in all: the compiled
    summaries of every package named (``gate.vulndb.ranges``), which place each version and rule
    most out; the compiled entries of the packages they cannot rule out; then, after evaluation,
    the entries and records that matched, which findings cite.
    """

    def __init__(self, db: VulnDB) -> None:
        self._db = db
        self._recompile = not db.ranks_are_current
        self._packages: dict[tuple[str, str], _Stored | None] = {}  # None: no advisories
        self._entries: dict[int, tuple[str, list[Any], dict[str, Any]]] = {}  # ecosystem, ranges, rest
        self._facts: dict[str, tuple[str, dict[str, Any]]] = {}
        self._ratings: dict[tuple[str, int], Rating] = {}
        self._group_names: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._kev: dict[str, KnownExploited | None] = {}

    def match(self, packages: Iterable[Package]) -> MatchResult:
        findings: list[Finding] = []
        unverified: list[Unverified] = []
        for package_findings, package_unverified in self._match(list(packages)):
            findings.extend(package_findings)
            unverified.extend(package_unverified)
        findings.sort(key=lambda finding: (finding.package.purl, finding.id))
        return MatchResult(tuple(findings), tuple(unverified))

    def match_package(self, package: Package) -> tuple[list[Finding], list[Unverified]]:
        [result] = self._match([package])
        return result

    def _match(self, packages: list[Package]) -> list[tuple[list[Finding], list[Unverified]]]:
        with _collection_paused():
            return self._match_batch(packages)

    def _match_batch(self, packages: list[Package]) -> list[tuple[list[Finding], list[Unverified]]]:
        # (package position, lookup key, version): a package may be filed under several ecosystems.
        lookups = [
            (position, (lookup.ecosystem, normalise_name(lookup.ecosystem, lookup.name)), lookup.version)
            for position, package in enumerate(packages)
            for lookup in lookups_for(package)
        ]
        self._load({key for _, key, _ in lookups})
        # Decoded for this batch only: freed before the garbage collector resumes.
        present = {key: stored for _, key, _ in lookups if (stored := self._packages[key])}
        summaries = decode_all([stored.summary for stored in present.values()])
        indexes = {
            key: PackageIndex(summary, stored.scheme, stored.entries)
            for (key, stored), summary in zip(present.items(), summaries, strict=True)
        }
        placed = [
            (position, key, indexes[key].place(version))
            for position, key, version in lookups
            if key in indexes
        ]
        self._load_entries(
            {key: indexes[key] for _, key, version in placed if indexes[key].needs_entries(version)}
        )
        hits: list[dict[str, list[Hit]]] = [{} for _ in packages]
        unverified: list[list[Unverified]] = [[] for _ in packages]
        versions: list[Placed | None] = [None for _ in packages]
        for position, key, version in placed:
            found, not_compared = self._evaluate(packages[position], indexes[key], version)
            for record_id, group in found.items():
                hits[position].setdefault(record_id, []).extend(group)
            unverified[position].extend(not_compared)
            versions[position] = version
        self._load_details([hit for package_hits in hits for group in package_hits.values() for hit in group])
        findings = [
            self._findings(package, version, package_hits) if package_hits and version else []
            for package, version, package_hits in zip(packages, versions, hits, strict=True)
        ]
        self._load_known_exploited(
            [cve for group in findings for finding in group for cve in finding.cve_ids]
        )
        return [
            ([self._marked(finding) for finding in group], package_unverified)
            for group, package_unverified in zip(findings, unverified, strict=True)
        ]

    def _load_known_exploited(self, cves: list[str]) -> None:
        """Fetch the KEV entries of the CVEs not looked up yet: one query."""
        if wanted := sorted(set(cves) - self._kev.keys()):
            listed = self._db.known_exploited(wanted)
            self._kev.update({cve: listed.get(cve) for cve in wanted})

    def _marked(self, finding: Finding) -> Finding:
        """The finding, marked when the KEV catalog lists it (the entry added first when several
        of its CVEs are listed)."""
        entries = [entry for cve in finding.cve_ids if (entry := self._kev[cve]) is not None]
        if not entries:
            return finding
        return dataclasses.replace(finding, known_exploited=min(entries, key=_added_then_cve))

    def _load(self, keys: set[tuple[str, str]]) -> None:
        """Fetch the summaries of the packages not seen yet, one query per ecosystem."""
        from gate.versions import scheme_for_ecosystem

        wanted: dict[str, list[str]] = {}
        for ecosystem, name in sorted(keys - self._packages.keys()):
            wanted.setdefault(ecosystem, []).append(name)
        for ecosystem, names in wanted.items():
            scheme = scheme_for_ecosystem(ecosystem)
            if self._recompile:  # ranked by other version schemes: compile again, as an import would
                for name, rows in self._db.affected_rows(ecosystem, names).items():
                    compiled = compile_package(rows, scheme)
                    self._packages[(ecosystem, name)] = _Stored(scheme, compiled.summary, compiled.entries)
            else:
                for name, summary in self._db.summaries(ecosystem, names).items():
                    self._packages[(ecosystem, name)] = _Stored(scheme, summary)
            for name in names:
                self._packages.setdefault((ecosystem, name), None)

    def _load_entries(self, needed: dict[tuple[str, str], PackageIndex]) -> None:
        """Fetch the compiled entries of the packages that need them, one query per ecosystem."""
        wanted: dict[str, list[str]] = {}
        for ecosystem, name in sorted(key for key, index in needed.items() if not index.has_entries):
            wanted.setdefault(ecosystem, []).append(name)
        for ecosystem, names in wanted.items():
            for name, entries in self._db.package_entries(ecosystem, names).items():
                stored = self._packages[(ecosystem, name)]
                assert stored is not None
                stored.entries = entries
                needed[(ecosystem, name)].provide(entries)

    def _evaluate(
        self, package: Package, index: PackageIndex, version: Placed
    ) -> tuple[dict[str, list[Hit]], list[Unverified]]:
        hits: dict[str, list[Hit]] = {}
        unverified: list[Unverified] = []
        for entry in index.candidates(version):
            try:
                verdict = index.affects(entry, version)
            except UnverifiableError as error:
                unverified.append(Unverified(package, entry[1], str(error)))
                continue
            if verdict is not None:
                hits.setdefault(entry[1], []).append(Hit(entry, verdict, index.fixed_after(entry, version)))
        return hits, unverified

    def _load_details(self, hits: list[Hit]) -> None:
        """Fetch the matched entries and records not fetched yet: one query each."""
        entry_ids = sorted({hit.affected_id for hit in hits} - self._entries.keys())
        rows = self._db.entries(entry_ids)
        ranges = decode_all([row[1] for row in rows.values()])
        rests = decode_all([row[2] for row in rows.values()])
        for (affected_id, row), entry_ranges, rest in zip(rows.items(), ranges, rests, strict=True):
            self._entries[affected_id] = (row[0], entry_ranges, rest)
        record_ids = sorted({hit.record_id for hit in hits} - self._facts.keys())
        self._facts.update(self._db.facts_of(record_ids))
        if missing := [record_id for record_id in record_ids if record_id not in self._facts]:
            raise VulnDBError(
                f"{self._db.path}: the index names {missing[0]} but the record is missing",
                hint="rebuild the database with `gate db update` or `gate db import`",
            )

    def _rating(self, hit: Hit) -> Rating:
        rest = self._entries[hit.affected_id][2]
        # The record's rating, shared by its entries, unless the entry has severities of its own.
        own = "severity" in rest or "database_specific" in rest or "ecosystem_specific" in rest
        key = (hit.record_id, hit.affected_id if own else -1)
        if key not in self._ratings:
            self._ratings[key] = rate(self._facts[hit.record_id][1], rest)
        return self._ratings[key]

    def _names(self, record_ids: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(aliases, related ids) of a group of records; groups recur across packages (an advisory
        names every subpackage), and the related lists can be long. A notice that stands alone
        (see :func:`_is_notice`) lists what it restates under related: it is not each of them."""
        if record_ids not in self._group_names:
            facts = {record_id: self._facts[record_id][1] for record_id in record_ids}
            names = {name for record_id, item in facts.items() for name in _names_of(record_id, item)}
            related = {value for item in facts.values() for value in item.get("related") or []}
            related |= {
                value
                for record_id, item in facts.items()
                if _is_notice(record_id, item)
                for value in item.get("upstream") or []
            }
            self._group_names[record_ids] = (
                tuple(sorted(names - {record_ids[0]})),
                tuple(sorted(related - names)),
            )
        return self._group_names[record_ids]

    def _findings(self, package: Package, version: Placed, hits: dict[str, list[Hit]]) -> list[Finding]:
        facts = {record_id: self._facts[record_id][1] for record_id in hits}
        notices = (
            {record_id for record_id, item in facts.items() if _is_notice(record_id, item)}
            if package.type in OS_PURL_TYPES  # notices are a distro practice
            else set()
        )
        groups = _group_by_alias({record_id: facts[record_id] for record_id in facts.keys() - notices})
        group_names = [
            {name for record_id in group for name in _names_of(record_id, facts[record_id])}
            for group in groups
        ]
        advisories: list[set[str]] = [set() for _ in groups]
        for notice in sorted(notices):
            restated = set(facts[notice].get("upstream") or [])
            targets = [index for index, names in enumerate(group_names) if names & restated]
            if not targets:  # what it restates did not match (or is not in the database): it stands alone
                groups.append([notice])
                advisories.append(set())
            for index in targets:
                advisories[index].add(notice)
        return [
            self._finding(package, version, group, hits, tuple(sorted(notes)))
            for group, notes in zip(groups, advisories, strict=True)
        ]

    def _finding(
        self,
        package: Package,
        version: Placed,
        record_ids: list[str],
        hits: dict[str, list[Hit]],
        advisories: tuple[str, ...] = (),
    ) -> Finding:
        records = {record_id: self._facts[record_id] for record_id in record_ids}
        primary = record_ids[0]
        aliases, related = self._names(tuple(record_ids))
        evidence, ratings, fixed = [], [], {}
        for record_id in record_ids:
            for hit in hits[record_id]:
                ecosystem, ranges, rest = self._entries[hit.affected_id]
                index = hit.verdict.range_index
                evidence.append(
                    Evidence(
                        record_id,
                        records[record_id][0],
                        ecosystem,
                        str(rest.get("package", {}).get("name", "")),
                        version.text,
                        None if index is None else ranges[index],
                    )
                )
                ratings.append(self._rating(hit))
                fixed.update(hit.fixed)
        return Finding(
            package=package,
            id=primary,
            aliases=aliases,
            related=related,
            summary=str(records[primary][1].get("summary", "")),
            rating=max(ratings, key=lambda rating: (rating.severity, rating.score or 0.0)),
            fixed_versions=tuple(value for value, _position in sorted(fixed.items(), key=_by_position)),
            evidence=tuple(evidence),
            advisories=advisories,
            published=str(records[primary][1].get("published", "")),
        )


def match_packages(db: VulnDB, packages: Iterable[Package]) -> MatchResult:
    """Findings for ``packages`` against ``db``."""
    return Matcher(db).match(packages)


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a batch allocates hundreds of thousands of small lists
    (decoded entries) and creates no cycles, and the collector's full passes over them were a
    quarter of the matching time. Refcounting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _added_then_cve(entry: KnownExploited) -> tuple[str, str]:
    return entry.date_added, entry.cve


def _by_position(item: tuple[str, int]) -> int:
    return item[1]


def _is_notice(record_id: str, facts: dict[str, Any]) -> bool:
    """A distro notice (USN, DSA, DLA): it names, in ``upstream``, the vulnerabilities it fixes,
    and is not itself one (its id names no CVE). It restates those records' findings."""
    return bool(facts.get("upstream")) and not _CVE_IN_ID.fullmatch(record_id)


def _names_of(record_id: str, facts: dict[str, Any]) -> list[str]:
    """The ids a vulnerability record is known by: its id, aliases, ``upstream`` (OSV 1.7: the CVE
    of UBUNTU-CVE-... and DEBIAN-CVE-... records) and the CVE its id names (Ubuntu's schema 1.6
    records, which put it under related)."""
    names = [record_id, *(facts.get("aliases") or [])]
    if not _is_notice(record_id, facts):
        names.extend(facts.get("upstream") or [])
    if (match := _CVE_IN_ID.fullmatch(record_id)) and match.group(1) != record_id:
        names.append(match.group(1))
    return names


def _group_by_alias(records: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Record ids whose names (:func:`_names_of`) overlap, transitively; each group sorted."""
    parent = {record_id: record_id for record_id in records}

    def find(item: str) -> str:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    owner: dict[str, str] = {}
    for record_id in sorted(records):
        for name in _names_of(record_id, records[record_id]):
            if name in owner:
                parent[find(record_id)] = find(owner[name])
            else:
                owner[name] = record_id
    groups: dict[str, list[str]] = {}
    for record_id in sorted(records):
        groups.setdefault(find(record_id), []).append(record_id)
    return sorted(groups.values())


@dataclass(slots=True)
class _Stored:
    """A package's compiled form as fetched (``entries`` once a version needed them)."""

    scheme: Any
    summary: str
    entries: str | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    entry: list[Any]  # compiled, see gate.vulndb.ranges.PackageIndex
    verdict: Verdict
    fixed: dict[str, int]  # fixed versions newer than the package's, with their positions

    @property
    def affected_id(self) -> int:
        return int(self.entry[0])

    @property
    def record_id(self) -> str:
        return str(self.entry[1])
