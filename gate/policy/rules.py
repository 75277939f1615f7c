"""One function per rule kind: the violations a rule finds in the input.

Each returns ``(violations, unknown)``: ``unknown`` is why the rule could not be decided (a base
image nobody declared, a tag that could not be resolved offline), "" when it could.
"""

from __future__ import annotations

import datetime
import fnmatch
from collections.abc import Iterable

from gate.match import OS_PURL_TYPES, Finding
from gate.model import Package
from gate.policy.decision import Violation
from gate.policy.licenses import denied, licensed, not_allowed
from gate.policy.model import (
    AnalyzerRule,
    BaseImageRule,
    LicensesRule,
    PackagesRule,
    PolicyInput,
    SbomRule,
    VulnerabilitiesRule,
)
from gate.policy.patterns import normalise_reference, package_matches, reference_matches
from gate.severity import Severity
from gate.versions import InvalidVersion
from gate.vulndb.osv import base_ecosystem

Result = tuple[list[Violation], str]


def vulnerability_violation(finding: Finding) -> Violation:
    package = finding.package
    fixed = f", fixed in {', '.join(finding.fixed_versions)}" if finding.fixed_versions else ", no fix"
    return Violation(
        kind="vulnerability",
        id=finding.id,
        message=f"{finding.id} in {package.name} {package.version} ({finding.rating.severity.label}{fixed})",
        severity=finding.rating.severity,
        aliases=finding.aliases,
        purl=package.purl,
    )


def vulnerabilities(
    rule: VulnerabilitiesRule, findings: Iterable[Finding], now: datetime.datetime
) -> list[Finding]:
    """The findings ``rule`` matches (every condition given must hold)."""
    return [finding for finding in findings if _vulnerability_matches(rule, finding, now)]


def _vulnerability_matches(rule: VulnerabilitiesRule, finding: Finding, now: datetime.datetime) -> bool:
    rating = finding.rating
    if rule.severity is not None and not (
        rule.unrated if rating.severity is Severity.UNKNOWN else rating.severity >= rule.severity
    ):
        return False
    if rule.max_cvss is not None and not (
        rule.unrated if rating.score is None else rating.score > rule.max_cvss
    ):
        return False
    if rule.fix == "available" and not finding.fix_available:
        return False
    if rule.known_exploited and finding.known_exploited is None:
        return False
    if rule.older_than_days is not None and not _older_than(finding.published, rule.older_than_days, now):
        return False
    package = finding.package
    is_os = package.type in OS_PURL_TYPES
    if (rule.scope == "os" and not is_os) or (rule.scope == "language" and is_os):
        return False
    if rule.ecosystems and base_ecosystem(package.ecosystem).lower() not in rule.ecosystems:
        return False
    return _in_layers(rule.layers, package)


def _older_than(published: str, days: int, now: datetime.datetime) -> bool:
    """Published more than ``days`` ago; an unknown date counts as old (fail closed)."""
    try:
        moment = datetime.datetime.fromisoformat(published)
    except ValueError:
        return True
    moment = moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
    return now - moment > datetime.timedelta(days=days)


def inherited(package: Package) -> bool | None:
    """Whether the package came from the base image: None when attribution is unknown."""
    flags = {location.in_base_image for location in package.locations}
    if not flags or None in flags:
        return None
    return all(flags)


def _in_layers(layers: str, package: Package) -> bool:
    """``own``/``inherited``; a package whose layer is unknown counts as both (a rule never misses
    a finding because the base image was not declared)."""
    if layers == "all":
        return True
    from_base = inherited(package)
    return from_base is None or from_base == (layers == "inherited")


def packages(rule: PackagesRule, catalog_packages: Iterable[Package]) -> Result:
    violations = []
    allowed_types = {pattern.type for pattern in rule.allow}
    for package in catalog_packages:
        try:
            if rule.deny:
                hits = [pattern.text for pattern in rule.deny if package_matches(pattern, package.purl)]
                if hits:
                    violations.append(_package_violation(package, f"denied by {hits[0]}"))
            elif package.type in allowed_types and not any(
                package_matches(pattern, package.purl) for pattern in rule.allow
            ):
                violations.append(_package_violation(package, "not on the allow list"))
        except InvalidVersion as error:
            violations.append(_package_violation(package, f"version cannot be compared: {error.reason}"))
    return violations, ""


def _package_violation(package: Package, why: str) -> Violation:
    return Violation(
        kind="package", id=package.purl, message=f"{package.name} {package.version}: {why}", purl=package.purl
    )


def licenses(
    rule: LicensesRule, catalog_packages: Iterable[Package]
) -> tuple[list[Violation], list[Violation]]:
    """(violations of the deny/allow list, packages whose license is unknown)."""
    listed, unknown = [], []
    for package in catalog_packages:
        licensing = licensed(package.licenses)
        if licensing.unknown:
            unknown.append(_license_violation(package, "unknown", f"license unknown: {licensing.unknown}"))
            continue
        if rule.deny and (hits := denied(licensing, rule.deny)):
            listed.append(_license_violation(package, licensing.text, f"{licensing.text} needs {_ids(hits)}"))
        elif rule.allow and (outside := not_allowed(licensing, rule.allow)):
            listed.append(
                _license_violation(package, licensing.text, f"{licensing.text}: {_ids(outside)} not allowed")
            )
    return listed, unknown


def _ids(ids: frozenset[str]) -> str:
    return ", ".join(sorted(ids))


def _license_violation(package: Package, license_id: str, why: str) -> Violation:
    return Violation(
        kind="license", id=license_id, message=f"{package.name} {package.version}: {why}", purl=package.purl
    )


def secrets(rule: AnalyzerRule, inputs: PolicyInput) -> Result:
    violations = [
        Violation(
            kind="secret",
            id=finding.rule_id,
            message=f"{finding.title} at {finding.path}{f':{finding.line}' if finding.line else ''}"
            f" ({finding.redacted})" + ("" if finding.visible else ", in a deleted or overwritten file"),
            severity=finding.severity,
            path=finding.path,
            rule=finding.rule_id,
        )
        for finding in inputs.secrets or ()
        if _analyzer_matches(rule, finding.rule_id, finding.severity)
    ]
    return violations + _problems(inputs, "secret"), ""


def config(rule: AnalyzerRule, inputs: PolicyInput) -> Result:
    violations = [
        Violation(
            kind="config",
            id=finding.rule_id,
            message=f"{finding.title}" + (f": {finding.evidence[0]}" if finding.evidence else ""),
            severity=finding.severity,
            rule=finding.rule_id,
        )
        for finding in inputs.config or ()
        if _analyzer_matches(rule, finding.rule_id, finding.severity)
    ]
    return violations + _problems(inputs, "config"), ""


def _analyzer_matches(rule: AnalyzerRule, rule_id: str, severity: Severity) -> bool:
    return severity >= rule.severity and (not rule.rules or rule_id in rule.rules)


def _problems(inputs: PolicyInput, kind: str) -> list[Violation]:
    """Files the analyzers could not read: what they hold is unknown, so the rule objects."""
    return [
        Violation(kind=kind, id="not-analysed", message=f"could not be analysed: {problem}")
        for problem in inputs.analysis_problems
    ]


def base_image(rule: BaseImageRule, inputs: PolicyInput) -> Result:
    recorded = inputs.base.reference if inputs.base else inputs.catalog.source.get("baseImage")
    if not recorded:
        return [], "no base image recorded (declare org.opencontainers.image.base.name or give --base-image)"
    violations, unknown = [], ""
    if rule.allowed and not any(reference_matches(glob, recorded) for glob in rule.allowed):
        violations.append(
            Violation(
                kind="base-image",
                id=normalise_reference(recorded),
                message=f"base image {normalise_reference(recorded)} is not one of {', '.join(rule.allowed)}",
            )
        )
    if rule.must_be_current:
        freshness = inputs.base_freshness
        if freshness is None or freshness.status == "unknown":
            detail = freshness.detail if freshness else "not checked"
            unknown = f"whether the base image is current is unknown: {detail}"
        elif freshness.status == "outdated":
            violations.append(
                Violation(
                    kind="base-image",
                    id=normalise_reference(recorded),
                    message=f"outdated base image: {freshness.detail}",
                )
            )
    return violations, unknown


def sbom(rule: SbomRule, inputs: PolicyInput) -> Result:
    catalog = inputs.catalog
    violations = []
    if rule.require_os and catalog.distro is None:
        violations.append(Violation(kind="sbom", id="no-os", message="no operating system detected"))
    if len(catalog.packages) < rule.min_packages:
        violations.append(
            Violation(
                kind="sbom",
                id="too-few-packages",
                message=f"{len(catalog.packages)} package(s), fewer than {rule.min_packages}: "
                "an empty SBOM of a real image is a broken scan",
            )
        )
    for unknown in catalog.unknowns:
        if unknown.found_by not in rule.allow_incomplete:
            violations.append(
                Violation(
                    kind="sbom",
                    id="incomplete",
                    message=f"{unknown.found_by} could not read {unknown.path}: {unknown.reason}",
                    path=unknown.path,
                    rule=unknown.found_by,
                )
            )
    return violations, ""


def glob_matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)
