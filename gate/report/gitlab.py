"""GitLab's container-scanning report (``gl-container-scanning-report.json``, schema 15.2.4).

GitLab tracks a vulnerability across pipelines by its ``id`` and primary identifier, so the id
is a UUID derived from the repository, platform, vulnerability and package, never from a
digest or a time. The scan's ``status`` is ``success`` whenever gate finished scanning: the
verdict is the job's exit code and a ``messages`` entry, as GitLab's own analyzers do.
Container scanning has no place for secrets or configuration findings; SARIF, JUnit and the
HTML report carry those.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

from gate import __version__
from gate.match import Finding
from gate.report.model import PlatformReport, RunReport, finding_order, stable_id

SCHEMA_VERSION = "15.2.4"
SCHEMA = (
    "https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/"
    f"v{SCHEMA_VERSION}/dist/container-scanning-report-format.json"
)
MAX_IDENTIFIERS = 20  # GitLab keeps no more
_VENDOR = {"name": "gate"}
_IDENTIFIER_TYPES = (
    (re.compile(r"CVE-\d{4}-\d+"), "cve"),
    (re.compile(r"GHSA(-[23456789cfghjmpqrvwx]{4}){3}"), "ghsa"),
)


def gitlab_report(report: RunReport) -> dict[str, Any]:
    tool = {"id": "gate", "name": "gate", "version": __version__, "vendor": _VENDOR}
    return {
        "version": SCHEMA_VERSION,
        "schema": SCHEMA,
        "scan": {
            "analyzer": tool,
            "scanner": tool,
            "type": "container_scanning",
            "start_time": _gitlab_time(report.started),
            "end_time": _gitlab_time(report.finished),
            "status": "success",
            "messages": [{"level": "info", "value": _verdict_message(report)}],
        },
        "vulnerabilities": [
            _vulnerability(report, platform, finding)
            for platform in report.platforms
            for finding in sorted(platform.findings, key=finding_order)
        ],
    }


def vulnerability_uuid(report: RunReport, platform: PlatformReport, finding: Finding) -> str:
    digest = stable_id("gitlab", report.repository, platform.platform, finding.id, finding.package.purl)
    return str(uuid.UUID(hex=digest[:32]))


def _vulnerability(report: RunReport, platform: PlatformReport, finding: Finding) -> dict[str, Any]:
    package = finding.package
    names = [finding.id, *(alias for alias in finding.aliases if alias != finding.id)]
    data: dict[str, Any] = {
        "id": vulnerability_uuid(report, platform, finding),
        "name": (f"{finding.id} in {package.name}")[:255],
        "description": finding.summary or finding.id,
        "severity": finding.rating.severity.label.capitalize(),
        "identifiers": [_identifier(name) for name in names[:MAX_IDENTIFIERS]],
        "links": [{"url": _osv_url(finding.id)}],
        "location": {
            "dependency": {"package": {"name": package.name}, "version": package.version},
            "operating_system": _operating_system(platform),
            "image": f"{report.repository}@{platform.digest}",
        },
    }
    if finding.fixed_versions:
        data["solution"] = f"Upgrade {package.name} to {' or '.join(finding.fixed_versions)}"[:7000]
    return data


def _identifier(name: str) -> dict[str, str]:
    kind = next((kind for pattern, kind in _IDENTIFIER_TYPES if pattern.fullmatch(name)), "osv")
    return {"type": kind, "name": name, "value": name, "url": _osv_url(name)}


def _osv_url(name: str) -> str:
    return "https://osv.dev/vulnerability/" + quote(name, safe="")


def _operating_system(platform: PlatformReport) -> str:
    distro = platform.catalog.distro
    if distro is None:
        return "unknown"
    return distro.pretty_name or f"{distro.id} {distro.version_id}".strip() or "unknown"


def _gitlab_time(rfc3339: str) -> str:
    """``2026-01-28T03:26:02Z`` -> ``2026-01-28T03:26:02`` (GitLab's pattern allows no zone)."""
    return rfc3339[:19]


def _verdict_message(report: RunReport) -> str:
    if report.verdict == "none":
        return f"gate {__version__}: scanned {report.reference} (no policy evaluated)"
    reasons = [
        p.decision.reason() for p in report.platforms if p.decision is not None and not p.decision.passed
    ]
    detail = f": {'; '.join(reasons)}" if reasons else ""
    return f"gate {__version__}: verdict {report.verdict} for {report.reference}{detail}"
