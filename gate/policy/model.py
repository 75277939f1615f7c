"""What a policy is made of, what it is evaluated over, and what it decides.

A :class:`Policy` is a list of rules (one kind each), waivers and Rego modules, loaded and
validated by :mod:`gate.policy.load`. :func:`gate.policy.evaluate` takes a policy and a
:class:`PolicyInput` and returns a :class:`Decision` (see :mod:`gate.policy.decision`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gate.analyze.model import ConfigFinding, SecretFinding
from gate.image.base import BaseImage
from gate.match import Finding
from gate.model import Catalog
from gate.severity import Severity

Action = Literal["block", "warn"]


@dataclass(frozen=True)
class PackagePattern:
    """``pkg:npm/event-stream``, ``pkg:pypi/*``, optionally with a version range in the type's scheme."""

    text: str  # as written in the policy
    type: str
    namespace: str | None  # a glob; None: any namespace
    name: str  # a glob
    version: str | None  # an exact version from ``@version``
    versions: str | None  # comparators: ">=3.3.6, <3.3.7"
    matches: Callable[[str, str | None, str, str], bool] = field(compare=False, repr=False)
    """``matches(type, namespace, name, version)``, built by :mod:`gate.policy.patterns`."""


@dataclass(frozen=True)
class VulnerabilitiesRule:
    severity: Severity | None = None  # minimum
    unrated: bool = True  # findings no source rates count as at any severity (fail closed)
    fix: Literal["available", "any"] = "any"
    max_cvss: float | None = None  # scores above this match
    known_exploited: bool = False
    older_than_days: int | None = None  # published more than N days ago (unknown date: matches)
    scope: Literal["os", "language", "all"] = "all"
    ecosystems: tuple[str, ...] = ()  # OSV ecosystem names without release, lower-case
    layers: Literal["all", "own", "inherited"] = "all"


@dataclass(frozen=True)
class PackagesRule:
    deny: tuple[PackagePattern, ...] = ()
    allow: tuple[PackagePattern, ...] = ()


@dataclass(frozen=True)
class LicensesRule:
    deny: frozenset[str] = frozenset()  # SPDX ids, lower-case
    allow: frozenset[str] = frozenset()
    unknown: Literal["block", "warn", "ignore"] = "ignore"


@dataclass(frozen=True)
class AnalyzerRule:
    """A ``secrets`` or ``config`` rule: by the analyzers' rule ids and a minimum severity."""

    severity: Severity = Severity.INFO
    rules: frozenset[str] = frozenset()  # empty: every rule


@dataclass(frozen=True)
class BaseImageRule:
    allowed: tuple[str, ...] = ()  # globs over normalised references
    must_be_current: bool = False
    on_unknown: Literal["warn", "block"] = "warn"


@dataclass(frozen=True)
class SbomRule:
    require_os: bool = False
    min_packages: int = 0
    allow_incomplete: frozenset[str] = frozenset()  # cataloger names whose Unknowns are tolerated


RuleCondition = VulnerabilitiesRule | PackagesRule | LicensesRule | AnalyzerRule | BaseImageRule | SbomRule


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str  # "vulnerabilities", "packages", "licenses", "secrets", "config", "base-image", "sbom"
    action: Action
    description: str
    condition: RuleCondition


@dataclass(frozen=True)
class Waiver:
    """Accepts the findings it scopes until it expires; every given scope field must match."""

    reason: str
    owner: str
    expires: datetime.datetime  # aware; the waiver applies while now < expires
    vulnerability: str | None = None  # an id or any alias
    package: PackagePattern | None = None
    path: str | None = None  # a glob over secret paths
    rule: str | None = None  # an analyzer rule id (secrets, config) or a policy rule id
    source: str = ""  # "policy.yaml: waivers[2]"

    @property
    def scope(self) -> dict[str, str]:
        scope = {"vulnerability": self.vulnerability, "path": self.path, "rule": self.rule}
        scope["package"] = self.package.text if self.package else None
        return {key: value for key, value in scope.items() if value}


@dataclass(frozen=True)
class RegoModule:
    path: Path
    source: str


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[Rule, ...]
    waivers: tuple[Waiver, ...]
    rego: tuple[RegoModule, ...]
    digest: str  # "sha256:<hex>" of the canonical JSON form (rules, waivers, Rego sources)
    source: str  # the file it came from, or "--fail-on high"

    @property
    def needs_base_freshness(self) -> bool:
        """Whether evaluating it needs the base image's tag resolved now (network)."""
        return any(
            isinstance(rule.condition, BaseImageRule) and rule.condition.must_be_current
            for rule in self.rules
        )


@dataclass(frozen=True)
class VexStatement:
    """One VEX statement, from OpenVEX or CycloneDX, normalised."""

    vulnerability: str
    aliases: tuple[str, ...]
    products: tuple[str, ...]  # purls (pkg:oci/...@sha256%3A..., package purls) or digests
    subcomponents: tuple[str, ...]  # package purls inside a product
    status: str  # OpenVEX vocabulary: not_affected, fixed, affected, under_investigation
    justification: str = ""
    impact_statement: str = ""
    timestamp: datetime.datetime | None = None
    source: str = ""  # "vex.json: statements[0]"

    @property
    def suppresses(self) -> bool:
        return self.status in ("not_affected", "fixed")


@dataclass(frozen=True)
class BaseFreshness:
    """Whether the base image's recorded tag still points at the digest the image was built on."""

    status: Literal["current", "outdated", "unknown"]
    detail: str  # "debian:bookworm-slim moved 41 days ago", "offline", ...


@dataclass(frozen=True)
class DatabaseIdentity:
    digest: str
    built_at: str


@dataclass(frozen=True)
class PolicyInput:
    """Everything a policy is evaluated over. ``None`` for a section means it was not scanned:
    the rules that need it are reported as skipped, never as passed."""

    catalog: Catalog
    vulnerabilities: tuple[Finding, ...] | None = None
    secrets: tuple[SecretFinding, ...] | None = None
    config: tuple[ConfigFinding, ...] | None = None
    analysis_problems: tuple[str, ...] = ()  # files the analyzers could not read: fail closed
    reference: str | None = None  # the pinned image reference; None for SBOM-only input
    digest: str | None = None
    base: BaseImage | None = None
    base_freshness: BaseFreshness | None = None
    database: DatabaseIdentity | None = None
    packages_listed: bool = True  # False: only the packages with findings are known (a scan report)
