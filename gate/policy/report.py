"""A policy input from a saved scan report (``gate scan --format json``), for
``gate policy check --report SCAN.json``: decide again without reading the image.

A report holds findings, not the package list: rules over every package (``packages``,
``licenses``, ``sbom``) are skipped, and the Rego input's ``packages`` are the packages that have
findings. Layer attribution is not in the report (``layers`` counts every package as both).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gate import safejson
from gate.analyze.model import ConfigFinding, SecretFinding
from gate.errors import PolicyError
from gate.match import Finding
from gate.model import Catalog, Package
from gate.policy.model import DatabaseIdentity, PolicyInput
from gate.severity import Rating, Severity
from gate.vulndb.kev import KnownExploited

MAX_REPORT_BYTES = 256 * 1024 * 1024


def input_from_report(path: Path) -> PolicyInput:
    """Read a gate scan report (schema_version 1); a file of another shape is a PolicyError."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_REPORT_BYTES + 1)
    except OSError as error:
        raise PolicyError(f"cannot read scan report {path}: {error.strerror}") from None
    if len(data) > MAX_REPORT_BYTES:
        raise PolicyError(f"{path}: scan report larger than {MAX_REPORT_BYTES} bytes")
    try:
        report = safejson.loads(data)
        if not isinstance(report, dict) or report.get("schema_version") != "1" or "findings" not in report:
            raise PolicyError(f"{path}: not a gate scan report (schema_version 1)")
        return _input(report)
    except PolicyError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise PolicyError(f"{path}: not a gate scan report: {type(error).__name__}: {error}") from None


def _input(report: dict[str, Any]) -> PolicyInput:
    findings = tuple(_finding(item) for item in report["findings"])
    packages = tuple({finding.package.purl: finding.package for finding in findings}.values())
    target = report["target"]
    database = report.get("database")
    analysis = report.get("analysis") or {}
    image = target.get("kind") == "image"
    return PolicyInput(
        catalog=Catalog(
            packages, None, source={"report": str(target.get("reference") or target.get("path"))}
        ),
        vulnerabilities=findings if database else None,
        secrets=tuple(_secret(item) for item in report["secrets"]) if "secrets" in report else None,
        config=tuple(_config(item) for item in report["config"]) if "config" in report else None,
        analysis_problems=tuple(str(problem) for problem in analysis.get("problems", ())),
        reference=str(target["reference"]) if image else None,
        digest=str(target["digest"]) if image else None,
        database=DatabaseIdentity(str(database["digest"]), str(database["built_at"])) if database else None,
        packages_listed=False,
    )


def _finding(item: dict[str, Any]) -> Finding:
    package = item["package"]
    severity = item["severity"]
    kev = item.get("known_exploited")
    return Finding(
        package=Package(
            str(package["name"]),
            str(package["version"]),
            str(package["type"]),
            str(package["purl"]),
            "scan-report",
            (),
            ecosystem=str(package.get("ecosystem", "")),
        ),
        id=str(item["id"]),
        aliases=tuple(str(alias) for alias in item["aliases"]),
        related=tuple(str(value) for value in item.get("related", ())),
        summary=str(item.get("summary", "")),
        rating=Rating(
            Severity[str(severity["level"]).upper()],
            float(severity["score"]) if severity.get("score") is not None else None,
            str(severity.get("vector", "")),
            str(severity.get("source", "")),
        ),
        fixed_versions=tuple(str(version) for version in item["fixed_versions"]),
        evidence=(),
        known_exploited=KnownExploited(**{key: str(kev[key]) for key in _KEV_FIELDS}) if kev else None,
        published=str(item.get("published", "")),
    )


_KEV_FIELDS = ("cve", "date_added", "due_date", "ransomware", "vulnerability_name")


def _secret(item: dict[str, Any]) -> SecretFinding:
    return SecretFinding(
        rule_id=str(item["ruleId"]),
        title=str(item["title"]),
        severity=Severity.parse(str(item["severity"])),
        path=str(item["path"]),
        redacted=str(item["match"]),
        line=item.get("line"),
        layer_index=item.get("layerIndex"),
        layer_digest=item.get("layerDigest"),
        visible=bool(item.get("visible", True)),
        note=str(item.get("note", "")),
    )


def _config(item: dict[str, Any]) -> ConfigFinding:
    return ConfigFinding(
        rule_id=str(item["ruleId"]),
        title=str(item["title"]),
        severity=Severity.parse(str(item["severity"])),
        explanation=str(item.get("explanation", "")),
        evidence=tuple(str(line) for line in item.get("evidence", ())),
        layer_digest=item.get("layerDigest"),
    )
