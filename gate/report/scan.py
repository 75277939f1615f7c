"""The native JSON scan report (documented in docs/scan.md, schema docs/scan-report.schema.json).

Deterministic: findings are sorted by package purl then id, and nothing time-dependent is
written except the database's own build time, so one image and one DB give one report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gate import __version__
from gate.match import Finding, MatchResult, Unverified
from gate.model import Package
from gate.severity import Severity
from gate.vulndb.store import SCHEMA_VERSION as VULNDB_SCHEMA_VERSION
from gate.vulndb.store import VulnDB

if TYPE_CHECKING:
    from gate.analyze import AnalysisResult, ConfigFinding, SecretFinding

SCHEMA_VERSION = "1"


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    digest: str
    built_at: str
    schema_version: int
    kev_version: str = ""  # the KEV catalog's version; empty: none imported, no finding can be marked

    @classmethod
    def of(cls, db: VulnDB) -> DatabaseInfo:
        return cls(db.digest, db.built_at, VULNDB_SCHEMA_VERSION, db.kev_summary()[0])


def scan_report(
    result: MatchResult, *, packages: int, database: DatabaseInfo | None, target: dict[str, str]
) -> dict[str, Any]:
    """The report as JSON-ready data."""
    counts = Counter(finding.rating.severity.label for finding in result.findings)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "gate", "version": __version__},
        "target": target,
        "database": {
            "digest": database.digest,
            "built_at": database.built_at,
            "schema_version": database.schema_version,
            "kev_version": database.kev_version or None,
        }
        if database
        else None,
        "summary": {
            "packages": packages,
            "findings": len(result.findings),
            "by_severity": {level.label: counts.get(level.label, 0) for level in reversed(Severity)},
            "fix_available": sum(finding.fix_available for finding in result.findings),
            "known_exploited": sum(finding.known_exploited is not None for finding in result.findings),
            "unverified": len(result.unverified),
        },
        "findings": [finding_json(finding) for finding in result.findings],
        "unverified": [unverified_json(item) for item in result.unverified],
    }


def finding_json(finding: Finding) -> dict[str, Any]:
    data = {
        "id": finding.id,
        "aliases": list(finding.aliases),
        "related": list(finding.related),
        "advisories": list(finding.advisories),
        "summary": finding.summary,
        "severity": finding.rating.to_json(),
        "fixed_versions": list(finding.fixed_versions),
        "fix_available": finding.fix_available,
        "package": package_json(finding.package),
        "matches": [evidence.to_json() for evidence in finding.evidence],
        "known_exploited": finding.known_exploited.to_json() if finding.known_exploited else None,
    }
    if finding.published:
        data["published"] = finding.published
    return data


def package_json(package: Package) -> dict[str, Any]:
    data = {"name": package.name, "version": package.version, "type": package.type, "purl": package.purl}
    optional = {
        "ecosystem": package.ecosystem,
        "source_name": package.source_name,
        "source_version": package.source_version,
    }
    data.update({key: value for key, value in optional.items() if value})
    return data


def unverified_json(item: Unverified) -> dict[str, Any]:
    return {"package": package_json(item.package), "record": item.record_id, "reason": item.reason}


def at_or_above(result: MatchResult, threshold: Severity) -> list[Finding]:
    """Findings at ``threshold`` or worse, and unrated ones: a gate fails closed on what it cannot rate."""
    return [
        finding
        for finding in result.findings
        if finding.rating.severity >= threshold or finding.rating.severity is Severity.UNKNOWN
    ]


def analysis_json(analysis: AnalysisResult, *, secrets: bool, config: bool) -> dict[str, Any]:
    """The secret and/or configuration findings, as extra sections of the scan report."""
    sections: dict[str, Any] = {}
    if secrets:
        sections["secrets"] = [finding.to_dict() for finding in analysis.secrets]
    if config:
        sections["config"] = [finding.to_dict() for finding in analysis.config]
    sections["analysis"] = {"problems": list(analysis.problems), "notes": list(analysis.notes)}
    return sections


def analysis_at_or_above(
    analysis: AnalysisResult, threshold: Severity
) -> list[SecretFinding | ConfigFinding]:
    """Secret and config findings at or above ``threshold``."""
    findings: list[SecretFinding | ConfigFinding] = [*analysis.secrets, *analysis.config]
    return [f for f in findings if f.severity >= threshold]
