"""Findings -> decision: VEX first, then every rule, then waivers, then Rego.

1. VEX statements that apply to a vulnerability finding (:mod:`gate.policy.vex`) and say
   ``not_affected`` or ``fixed`` remove it before any rule sees it.
2. Each rule lists its violations (:mod:`gate.policy.rules`).
3. Live waivers take the violations they cover out of the verdict; expired ones are reported
   with what they would have covered; live ones that covered nothing are reported as unused.
4. Rego modules see the input document (:func:`rego_input`) with VEX applied: ``deny`` blocks,
   ``warn`` warns.

A rule blocks when it has a violation left and its action is ``block``; the decision passes
when no rule blocks. A rule whose input was not scanned is "skipped" (reported, not passed);
one that cannot be decided is "unknown" (blocking only with ``on-unknown: block``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any

from gate.analyze.model import ConfigFinding, SecretFinding
from gate.match import Finding
from gate.model import Package
from gate.policy import rules as kinds
from gate.policy.decision import Decision, RuleOutcome, Status, VexApplied, Violation, Waived, WaiverUse
from gate.policy.model import (
    Action,
    AnalyzerRule,
    BaseImageRule,
    LicensesRule,
    PackagesRule,
    Policy,
    PolicyInput,
    Rule,
    SbomRule,
    VexStatement,
    VulnerabilitiesRule,
    Waiver,
)
from gate.policy.rego import evaluate_rego, referenced_sections
from gate.policy.vex import statement_applies
from gate.policy.waivers import split_by_expiry, waiver_covers


def evaluate(
    policy: Policy,
    inputs: PolicyInput,
    *,
    waivers: Sequence[Waiver] = (),
    vex: Sequence[VexStatement] = (),
    now: datetime.datetime | None = None,
) -> Decision:
    """Decide ``inputs`` under ``policy`` (plus extra waivers and VEX statements)."""
    now = now or datetime.datetime.now(datetime.UTC)
    findings, vex_applied = apply_vex(inputs.vulnerabilities, vex, inputs.digest)
    raw = [outcome for rule in policy.rules for outcome in _rule_outcomes(rule, inputs, findings, now)]
    raw += _rego_outcomes(policy, inputs, findings)
    live, expired = split_by_expiry((*policy.waivers, *waivers), now)
    outcomes, applied = _apply_waivers(raw, live)
    return Decision(
        outcomes=tuple(outcomes),
        policy_name=policy.name,
        policy_digest=policy.digest,
        policy_source=policy.source,
        target=_target(inputs),
        database=inputs.database,
        evaluated_at=now,
        waivers_applied=tuple(WaiverUse(w, tuple(applied[i])) for i, w in enumerate(live) if applied[i]),
        waivers_expired=tuple(WaiverUse(w, tuple(_would_cover(w, raw))) for w in expired),
        waivers_unused=tuple(w for i, w in enumerate(live) if not applied[i]),
        vex_applied=tuple(vex_applied),
    )


def apply_vex(
    findings: tuple[Finding, ...] | None, statements: Sequence[VexStatement], image_digest: str | None
) -> tuple[tuple[Finding, ...] | None, list[VexApplied]]:
    """The findings no applicable VEX statement suppresses, and which statements suppressed what.

    Of the statements that apply to a finding, the newest decides (ties: the later one given)."""
    if findings is None or not statements:
        return findings, []
    ordered = sorted(
        enumerate(statements),
        key=lambda item: (item[1].timestamp or datetime.datetime.min.replace(tzinfo=datetime.UTC), item[0]),
    )
    kept: list[Finding] = []
    suppressed: dict[int, list[Violation]] = {}
    for finding in findings:
        names = frozenset((finding.id, *finding.aliases))
        deciding = None
        for index, statement in ordered:
            if statement_applies(statement, names, finding.package.purl, image_digest):
                deciding = index
        if deciding is not None and statements[deciding].suppresses:
            suppressed.setdefault(deciding, []).append(kinds.vulnerability_violation(finding))
        else:
            kept.append(finding)
    applied = [VexApplied(statements[index], tuple(items)) for index, items in sorted(suppressed.items())]
    return tuple(kept), applied


def _rule_outcomes(
    rule: Rule, inputs: PolicyInput, findings: tuple[Finding, ...] | None, now: datetime.datetime
) -> list[RuleOutcome]:
    if rule.kind in ("packages", "licenses", "sbom") and not inputs.packages_listed:
        return [_skipped(rule, "no package list in the input (a scan report lists findings only)")]
    if isinstance(rule.condition, LicensesRule):
        return _license_outcomes(rule, rule.condition, inputs)
    return [_rule_outcome(rule, inputs, findings, now)]


def _rule_outcome(
    rule: Rule, inputs: PolicyInput, findings: tuple[Finding, ...] | None, now: datetime.datetime
) -> RuleOutcome:
    condition = rule.condition
    violations: list[Violation] = []
    unknown = ""
    if isinstance(condition, VulnerabilitiesRule):
        if findings is None:
            return _skipped(rule, "no vulnerability scan in the input")
        violations = [
            kinds.vulnerability_violation(f) for f in kinds.vulnerabilities(condition, findings, now)
        ]
    elif isinstance(condition, PackagesRule):
        violations, unknown = kinds.packages(condition, inputs.catalog.packages)
    elif isinstance(condition, AnalyzerRule):
        scanned = inputs.secrets if rule.kind == "secrets" else inputs.config
        if scanned is None:
            return _skipped(
                rule, f"no {'secret' if rule.kind == 'secrets' else 'configuration'} scan in the input"
            )
        check = kinds.secrets if rule.kind == "secrets" else kinds.config
        violations, unknown = check(condition, inputs)
    elif isinstance(condition, BaseImageRule):
        violations, unknown = kinds.base_image(condition, inputs)
        if unknown and not violations:
            blocking = condition.on_unknown == "block"
            return _outcome(rule, "failed" if blocking else "unknown", (), unknown)
    elif isinstance(condition, SbomRule):
        violations, unknown = kinds.sbom(condition, inputs)
    return _outcome(rule, _status(rule.action, violations), tuple(violations), unknown)


def _license_outcomes(rule: Rule, condition: LicensesRule, inputs: PolicyInput) -> list[RuleOutcome]:
    """The deny/allow list under the rule's action; unknown licenses, when not ignored, as an
    outcome of their own with the action ``unknown:`` names (``<id>.unknown`` beside a list)."""
    listed, unknown = kinds.licenses(condition, inputs.catalog.packages)
    outcomes = []
    has_list = bool(condition.deny or condition.allow)
    if has_list:
        outcomes.append(_outcome(rule, _status(rule.action, listed), tuple(listed), ""))
    if condition.unknown != "ignore":
        action: Action = "block" if condition.unknown == "block" else "warn"
        outcomes.append(
            RuleOutcome(
                f"{rule.id}.unknown" if has_list else rule.id,
                rule.kind,
                action,
                "packages whose license is unknown" if has_list else rule.description,
                _status(action, unknown),
                tuple(unknown),
            )
        )
    return outcomes


def _status(action: Action, violations: Sequence[Violation]) -> Status:
    if not violations:
        return "passed"
    return "failed" if action == "block" else "warned"


def _outcome(rule: Rule, status: Status, violations: tuple[Violation, ...], reason: str) -> RuleOutcome:
    return RuleOutcome(rule.id, rule.kind, rule.action, rule.description, status, violations, (), reason)


def _skipped(rule: Rule, reason: str) -> RuleOutcome:
    return _outcome(rule, "skipped", (), reason)


def _rego_outcomes(
    policy: Policy, inputs: PolicyInput, findings: tuple[Finding, ...] | None
) -> list[RuleOutcome]:
    if not policy.rego:
        return []
    document = rego_input(inputs, findings, referenced_sections(policy.rego))
    result = evaluate_rego(policy.rego, document)
    outcomes = []
    for name, action, messages in (("deny", "block", result.deny), ("warn", "warn", result.warn)):
        violations = tuple(Violation(kind="rego", id=name, message=message) for message in messages)
        outcomes.append(
            RuleOutcome(
                f"rego.{name}",
                "rego",
                "block" if action == "block" else "warn",
                f"Rego data.gate.{name} ({', '.join(str(m.path) for m in policy.rego)})",
                _status("block" if action == "block" else "warn", violations),
                violations,
            )
        )
    return outcomes


def _apply_waivers(
    outcomes: list[RuleOutcome], live: tuple[Waiver, ...]
) -> tuple[list[RuleOutcome], list[list[Violation]]]:
    applied: list[list[Violation]] = [[] for _ in live]
    result = []
    for outcome in outcomes:
        kept, waived = [], []
        for violation in outcome.violations:
            index = next(
                (i for i, w in enumerate(live) if waiver_covers(w, violation, outcome.rule_id)), None
            )
            if index is None:
                kept.append(violation)
            else:
                waived.append(Waived(violation, live[index]))
                if violation not in applied[index]:  # one finding can break several rules
                    applied[index].append(violation)
        status = (
            outcome.status
            if outcome.status in ("skipped", "unknown") or not outcome.violations
            else (_status(outcome.action, kept))
        )
        result.append(
            RuleOutcome(
                outcome.rule_id,
                outcome.kind,
                outcome.action,
                outcome.description,
                status,
                tuple(kept),
                tuple(waived),
                outcome.reason,
            )
        )
    return result, applied


def _would_cover(waiver: Waiver, outcomes: Iterable[RuleOutcome]) -> list[Violation]:
    return [
        v for outcome in outcomes for v in outcome.violations if waiver_covers(waiver, v, outcome.rule_id)
    ]


def _target(inputs: PolicyInput) -> dict[str, str]:
    if inputs.reference:
        return {"kind": "image", "reference": inputs.reference, "digest": inputs.digest or ""}
    return {
        "kind": "sbom",
        **{key: value for key, value in inputs.catalog.source.items() if isinstance(value, str)},
    }


def rego_input(
    inputs: PolicyInput, findings: tuple[Finding, ...] | None, sections: frozenset[str]
) -> dict[str, Any]:
    """The document Rego sees as ``input`` (docs/rego-input.schema.json); only the sections the
    modules read are built (a module that reads ``input`` whole gets all of them)."""
    catalog = inputs.catalog
    builders = {
        "image": lambda: {"reference": inputs.reference, "digest": inputs.digest},
        "packages": lambda: [_package_json(package) for package in catalog.packages],
        "findings": lambda: [_finding_json(finding) for finding in findings or ()],
        "secrets": lambda: [_analyzer_json(item) for item in inputs.secrets or ()],
        "config": lambda: [_analyzer_json(item) for item in inputs.config or ()],
        "base_image": lambda: (
            {"reference": inputs.base.reference, "layers": inputs.base.layer_count} if inputs.base else None
        ),
        "sbom": lambda: {
            "os": {"id": catalog.distro.id, "version": catalog.distro.version_id} if catalog.distro else None,
            "packages": len(catalog.packages),
            "unknowns": [
                {"path": u.path, "cataloger": u.found_by, "reason": u.reason} for u in catalog.unknowns
            ],
        },
    }
    return {name: build() for name, build in builders.items() if name in sections}


def _package_json(package: Package) -> dict[str, Any]:
    from_base = kinds.inherited(package)
    return {
        "name": package.name,
        "version": package.version,
        "type": package.type,
        "purl": package.purl,
        "licenses": list(package.licenses),
        "layer": "unknown" if from_base is None else "inherited" if from_base else "own",
    }


def _finding_json(finding: Finding) -> dict[str, Any]:
    from_base = kinds.inherited(finding.package)
    kev = finding.known_exploited
    return {
        "id": finding.id,
        "aliases": list(finding.aliases),
        "severity": finding.rating.severity.label,
        "score": finding.rating.score,
        "fix_available": finding.fix_available,
        "fixed_versions": list(finding.fixed_versions),
        "purl": finding.package.purl,
        "layer": "unknown" if from_base is None else "inherited" if from_base else "own",
        "known_exploited": {"date_added": kev.date_added, "ransomware": kev.ransomware} if kev else None,
    }


def _analyzer_json(item: SecretFinding | ConfigFinding) -> dict[str, Any]:
    data = {"rule": item.rule_id, "severity": item.severity.label, "title": item.title}
    if isinstance(item, SecretFinding):
        data["path"] = item.path
    return data
