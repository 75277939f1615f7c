"""The outcome of a policy: a verdict, every rule's outcome with the findings behind it, and the
waivers and VEX statements that changed it. ``Decision.to_json()`` is the versioned document
described by docs/decision.schema.json.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Literal

from gate import __version__
from gate.policy.model import Action, DatabaseIdentity, VexStatement, Waiver
from gate.severity import Severity

SCHEMA_VERSION = "1"

Status = Literal["passed", "failed", "warned", "skipped", "unknown"]


@dataclass(frozen=True)
class Violation:
    """One thing a rule objects to: a vulnerability in a package, a secret, a license, ..."""

    kind: str  # vulnerability, secret, config, package, license, base-image, sbom, rego
    id: str  # the vulnerability id, analyzer rule id, purl, license, ...
    message: str
    severity: Severity | None = None
    aliases: tuple[str, ...] = ()
    purl: str = ""
    path: str = ""
    rule: str = ""  # the analyzer rule (secrets, config)

    @property
    def names(self) -> frozenset[str]:
        """The vulnerability's id and aliases (empty for other kinds)."""
        return frozenset((self.id, *self.aliases)) if self.kind == "vulnerability" else frozenset()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "id": self.id, "message": self.message}
        optional = {
            "severity": self.severity.label if self.severity is not None else None,
            "aliases": list(self.aliases),
            "purl": self.purl,
            "path": self.path,
            "rule": self.rule,
        }
        data.update({key: value for key, value in optional.items() if value})
        return data


@dataclass(frozen=True)
class Waived:
    violation: Violation
    waiver: Waiver


@dataclass(frozen=True)
class RuleOutcome:
    rule_id: str
    kind: str
    action: Action
    description: str
    status: Status
    violations: tuple[Violation, ...] = ()
    waived: tuple[Waived, ...] = ()
    reason: str = ""  # why skipped or unknown

    @property
    def blocking(self) -> bool:
        return self.status == "failed"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.rule_id,
            "kind": self.kind,
            "action": self.action,
            "description": self.description,
            "status": self.status,
            "violations": [violation.to_json() for violation in self.violations],
            "waived": [
                {"violation": item.violation.to_json(), "waiver": waiver_json(item.waiver)}
                for item in self.waived
            ],
        }
        if self.reason:
            data["reason"] = self.reason
        return data


@dataclass(frozen=True)
class WaiverUse:
    waiver: Waiver
    violations: tuple[Violation, ...]  # what it covered (or, expired, would have covered)


@dataclass(frozen=True)
class VexApplied:
    statement: VexStatement
    violations: tuple[Violation, ...]  # the findings it suppressed


@dataclass(frozen=True)
class Decision:
    outcomes: tuple[RuleOutcome, ...]
    policy_name: str
    policy_digest: str
    policy_source: str
    target: dict[str, str]
    database: DatabaseIdentity | None
    evaluated_at: datetime.datetime
    waivers_applied: tuple[WaiverUse, ...] = ()
    waivers_expired: tuple[WaiverUse, ...] = ()
    waivers_unused: tuple[Waiver, ...] = ()
    vex_applied: tuple[VexApplied, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return not any(outcome.blocking for outcome in self.outcomes)

    @property
    def verdict(self) -> Literal["pass", "fail"]:
        return "pass" if self.passed else "fail"

    @property
    def blocking(self) -> tuple[RuleOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if outcome.blocking)

    def reason(self) -> str:
        """One line for a closed gate: which rules blocked, with how many findings."""
        parts = [
            f"{outcome.rule_id} ({len(outcome.violations) or outcome.reason})" for outcome in self.blocking
        ]
        return "policy " + self.policy_name + " blocked by " + ", ".join(parts) if parts else "passed"

    def to_json(self) -> dict[str, Any]:
        def uses(items: tuple[WaiverUse, ...]) -> list[dict[str, Any]]:
            return [
                {"waiver": waiver_json(use.waiver), "violations": [v.to_json() for v in use.violations]}
                for use in items
            ]

        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "gate", "version": __version__},
            "verdict": self.verdict,
            "evaluated_at": self.evaluated_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "target": self.target,
            "policy": {"name": self.policy_name, "digest": self.policy_digest, "source": self.policy_source},
            "database": {"digest": self.database.digest, "built_at": self.database.built_at}
            if self.database
            else None,
            "summary": {
                "blocking": sum(len(o.violations) or 1 for o in self.outcomes if o.blocking),
                "warnings": sum(len(o.violations) for o in self.outcomes if o.status == "warned"),
                "waived": sum(len(o.waived) for o in self.outcomes),
                "suppressed_by_vex": sum(len(item.violations) for item in self.vex_applied),
            },
            "rules": [outcome.to_json() for outcome in self.outcomes],
            "waivers": {
                "applied": uses(self.waivers_applied),
                "expired": uses(self.waivers_expired),
                "unused": [waiver_json(waiver) for waiver in self.waivers_unused],
            },
            "vex": {
                "applied": [
                    {
                        "statement": vex_json(item.statement),
                        "violations": [v.to_json() for v in item.violations],
                    }
                    for item in self.vex_applied
                ]
            },
            "notes": list(self.notes),
        }


def waiver_json(waiver: Waiver) -> dict[str, Any]:
    return {
        "scope": waiver.scope,
        "reason": waiver.reason,
        "owner": waiver.owner,
        "expires": waiver.expires.isoformat(),
        "source": waiver.source,
    }


def vex_json(statement: VexStatement) -> dict[str, Any]:
    data: dict[str, Any] = {
        "vulnerability": statement.vulnerability,
        "status": statement.status,
        "products": list(statement.products),
        "source": statement.source,
    }
    if statement.subcomponents:
        data["subcomponents"] = list(statement.subcomponents)
    if statement.justification:
        data["justification"] = statement.justification
    if statement.impact_statement:
        data["impact_statement"] = statement.impact_statement
    return data
