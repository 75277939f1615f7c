"""SARIF 2.1.0 (``gate.sarif``) for code-scanning dashboards such as GitHub's.

One run per platform. Rules: one per vulnerability id, one per secret and configuration
analyzer rule, one per policy rule (``policy/<id>``). Results: every vulnerability, secret and
configuration finding, plus one result per policy rule that blocked or warned. Each result
carries ``security-severity`` (the CVSS score when there is one, else the middle of its band),
logical locations (image, layer, path) and a ``partialFingerprints`` entry derived from what
stays the same across builds (repository, platform, rule, package or path: never a digest), so
the same finding in the next build is the same alert.
"""

from __future__ import annotations

from typing import Any

from gate import __version__
from gate.analyze.model import ConfigFinding, SecretFinding
from gate.match import Finding
from gate.policy.decision import RuleOutcome
from gate.report.model import (
    PlatformReport,
    RunReport,
    finding_order,
    layer_of,
    package_path,
    stable_id,
)
from gate.severity import Severity

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/gate-project/gate"
MAX_RESULTS_PER_RUN = 25_000  # GitHub code scanning refuses runs with more
FINGERPRINT = "gate/v1"

# GitHub's bands: critical > 9.0, high 7.0-8.9, medium 4.0-6.9, low 0.1-3.9. An unrated finding
# is scored as high: the gate treats what it cannot rate as failing.
_BAND_SCORE = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
    Severity.INFO: 0.0,
    Severity.UNKNOWN: 8.0,
}
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.UNKNOWN: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def sarif_report(report: RunReport) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [_run(report, platform) for platform in report.platforms],
    }


def security_severity(severity: Severity, score: float | None = None) -> str:
    return f"{score if score is not None else _BAND_SCORE[severity]:.1f}"


def _run(report: RunReport, platform: PlatformReport) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for finding in sorted(platform.findings, key=finding_order):
        rules.setdefault(finding.id, _vulnerability_rule(finding))
        results.append(_vulnerability_result(report, platform, finding))
    for secret in platform.secrets:
        rules.setdefault(f"secret/{secret.rule_id}", _analyzer_rule("secret", secret))
        results.append(_secret_result(report, platform, secret))
    for check in platform.config:
        rules.setdefault(f"config/{check.rule_id}", _analyzer_rule("config", check))
        results.append(_config_result(report, platform, check))
    if platform.decision is not None:
        for outcome in platform.decision.outcomes:
            rules[f"policy/{outcome.rule_id}"] = _policy_rule(outcome)
            if outcome.status in ("failed", "warned"):
                results.append(_policy_result(report, platform, outcome))
    ids = list(rules)
    for result in results:
        result["ruleIndex"] = ids.index(result["ruleId"])
    notes = []
    if len(results) > MAX_RESULTS_PER_RUN:
        notes.append(
            {
                "level": "warning",
                "message": {"text": f"{len(results) - MAX_RESULTS_PER_RUN} more results left out"},
            }
        )
        results = _keep_policy_results(results)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "gate",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": list(rules.values()),
            }
        },
        "automationDetails": {"id": f"gate/{report.repository}/{platform.platform or 'image'}/"},
        "invocations": [
            {
                "executionSuccessful": True,
                "startTimeUtc": report.started,
                "endTimeUtc": report.finished,
                "toolExecutionNotifications": notes,
            }
        ],
        "results": results,
        "properties": {
            "image": report.reference,
            "digest": platform.digest,
            "platform": platform.platform,
            "verdict": platform.decision.verdict if platform.decision else "none",
        },
    }
    return run


def _keep_policy_results(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first results up to the cap, always keeping the policy's own (they carry the verdict)."""
    policy = [r for r in results if r["ruleId"].startswith("policy/")]
    others = [r for r in results if not r["ruleId"].startswith("policy/")]
    return others[: MAX_RESULTS_PER_RUN - len(policy)] + policy


def _vulnerability_rule(finding: Finding) -> dict[str, Any]:
    summary = finding.summary or finding.id
    return {
        "id": finding.id,
        "name": "Vulnerability",
        "shortDescription": {"text": _line(summary)},
        "fullDescription": {"text": summary},
        "help": {
            "text": f"{finding.id}: {summary}. Fixed in: {', '.join(finding.fixed_versions) or 'none'}."
        },
        "defaultConfiguration": {"level": _LEVEL[finding.rating.severity]},
        "properties": {
            "security-severity": security_severity(finding.rating.severity, finding.rating.score),
            "tags": ["security", "vulnerability", finding.rating.severity.label],
            "aliases": list(finding.aliases),
        },
    }


def _analyzer_rule(kind: str, finding: SecretFinding | ConfigFinding) -> dict[str, Any]:
    return {
        "id": f"{kind}/{finding.rule_id}",
        "name": "Secret" if kind == "secret" else "Configuration",
        "shortDescription": {"text": _line(finding.title)},
        "defaultConfiguration": {"level": _LEVEL[finding.severity]},
        "properties": {
            "security-severity": security_severity(finding.severity),
            "tags": ["security", kind, finding.severity.label],
        },
    }


def _policy_rule(outcome: RuleOutcome) -> dict[str, Any]:
    worst = max((v.severity or Severity.UNKNOWN for v in outcome.violations), default=Severity.HIGH)
    return {
        "id": f"policy/{outcome.rule_id}",
        "name": "PolicyRule",
        "shortDescription": {"text": _line(outcome.description or outcome.rule_id)},
        "defaultConfiguration": {"level": "error" if outcome.action == "block" else "warning"},
        "properties": {
            "security-severity": security_severity(worst),
            "tags": ["policy", outcome.kind, outcome.action],
        },
    }


def _vulnerability_result(report: RunReport, platform: PlatformReport, finding: Finding) -> dict[str, Any]:
    package = finding.package
    fixed = ", ".join(finding.fixed_versions) or "no fixed version"
    return {
        "ruleId": finding.id,
        "level": _LEVEL[finding.rating.severity],
        "message": {
            "text": f"{finding.id} in {package.name} {package.version} ({package.type}); fixed in: {fixed}"
        },
        "locations": [_location(report, platform, package_path(package), layer_of(package))],
        "partialFingerprints": {
            FINGERPRINT: _fingerprint(report, platform, finding.id, package.purl, package_path(package))
        },
        "properties": {
            "security-severity": security_severity(finding.rating.severity, finding.rating.score),
            "package": {"name": package.name, "version": package.version, "purl": package.purl},
            "fixedVersions": list(finding.fixed_versions),
            "knownExploited": finding.known_exploited is not None,
        },
    }


def _secret_result(report: RunReport, platform: PlatformReport, secret: SecretFinding) -> dict[str, Any]:
    where = secret.path + (f":{secret.line}" if secret.line else "")
    hidden = "" if secret.visible else " (deleted or overwritten by a later layer, still in the image)"
    return {
        "ruleId": f"secret/{secret.rule_id}",
        "level": _LEVEL[secret.severity],
        "message": {"text": f"{secret.title} at {where}: {secret.redacted}{hidden}"},
        "locations": [_location(report, platform, secret.path, secret.layer_index, secret.line)],
        "partialFingerprints": {
            FINGERPRINT: _fingerprint(report, platform, secret.rule_id, secret.path, secret.redacted)
        },
        "properties": {"security-severity": security_severity(secret.severity)},
    }


def _config_result(report: RunReport, platform: PlatformReport, check: ConfigFinding) -> dict[str, Any]:
    return {
        "ruleId": f"config/{check.rule_id}",
        "level": _LEVEL[check.severity],
        "message": {"text": f"{check.title}: {check.explanation}"},
        "locations": [_location(report, platform, "", None)],
        "partialFingerprints": {FINGERPRINT: _fingerprint(report, platform, check.rule_id, *check.evidence)},
        "properties": {
            "security-severity": security_severity(check.severity),
            "evidence": list(check.evidence),
        },
    }


def _policy_result(report: RunReport, platform: PlatformReport, outcome: RuleOutcome) -> dict[str, Any]:
    verb = "blocked" if outcome.status == "failed" else "warned"
    named = ", ".join(v.id for v in outcome.violations[:10])
    more = f" and {len(outcome.violations) - 10} more" if len(outcome.violations) > 10 else ""
    detail = f"{len(outcome.violations)} finding(s): {named}{more}" if outcome.violations else outcome.reason
    return {
        "ruleId": f"policy/{outcome.rule_id}",
        "level": "error" if outcome.status == "failed" else "warning",
        "message": {"text": f"policy rule {outcome.rule_id} {verb}: {detail}"},
        "locations": [_location(report, platform, "", None)],
        "partialFingerprints": {FINGERPRINT: _fingerprint(report, platform, "policy", outcome.rule_id)},
    }


def _fingerprint(report: RunReport, platform: PlatformReport, *parts: str) -> str:
    return stable_id(report.repository, platform.platform, *parts)


def _location(
    report: RunReport, platform: PlatformReport, path: str, layer: int | None, line: int | None = None
) -> dict[str, Any]:
    """The file in the image as a physical location (code-scanning UIs need one), and the image,
    layer and path as logical locations."""
    image = f"{report.repository}@{platform.digest}"
    logical: list[dict[str, Any]] = [
        {"name": report.repository, "fullyQualifiedName": image, "kind": "module"}
    ]
    if layer is not None:
        logical.append(
            {"name": f"layer {layer}", "fullyQualifiedName": f"{image}#layer{layer}", "kind": "namespace"}
        )
    if path:
        logical.append({"name": path, "fullyQualifiedName": f"{image}:{path}", "kind": "resource"})
    region = {"startLine": line or 1}
    uri = path.lstrip("/") or report.repository
    return {
        "physicalLocation": {"artifactLocation": {"uri": uri, "uriBaseId": "IMAGE"}, "region": region},
        "logicalLocations": logical,
    }


def _line(text: str) -> str:
    """The first line, at most 200 characters (short descriptions are one line)."""
    first = text.strip().splitlines()[0] if text.strip() else text
    return first[:200]
