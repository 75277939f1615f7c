"""What every report format is built from: one run's decisions and findings, per platform.

The formats (``sarif``, ``gitlab``, ``junit``, ``markdown``, ``html``, ``dotenv``) are pure
functions of a :class:`RunReport`; ``gate run`` builds one from its result and ``gate scan`` /
``gate policy check`` from their single scan, so every command's reports agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from gate.analyze.model import AnalysisResult, ConfigFinding, SecretFinding
from gate.image.base import BaseImage
from gate.match import Finding
from gate.model import Catalog, Package
from gate.policy.decision import Decision, RuleOutcome, Violation
from gate.report.scan import DatabaseInfo
from gate.severity import Severity

_TRANSPORTS = ("oci:", "docker-archive:", "dir:")
Verdict = Literal["pass", "fail", "none"]  # none: no policy was evaluated (a plain scan)


@dataclass(frozen=True)
class Signed:
    """One thing a passing run published: a signature, an attestation or a referrer."""

    kind: str  # "sig", "att" or "referrer"
    reference: str
    digest: str


@dataclass(frozen=True)
class PlatformReport:
    """One platform's evidence and decision (an image that is no index has one, ``platform=""``)."""

    platform: str
    digest: str  # the platform manifest's digest
    catalog: Catalog
    findings: tuple[Finding, ...]
    analysis: AnalysisResult | None  # None: neither secrets nor config were scanned
    database: DatabaseInfo | None  # None: vulnerabilities were not scanned
    base: BaseImage | None
    decision: Decision | None  # None: no policy was evaluated

    @property
    def secrets(self) -> tuple[SecretFinding, ...]:
        return tuple(self.analysis.secrets) if self.analysis is not None else ()

    @property
    def config(self) -> tuple[ConfigFinding, ...]:
        return tuple(self.analysis.config) if self.analysis is not None else ()

    @property
    def label(self) -> str:
        return self.platform or "image"


@dataclass(frozen=True)
class RunReport:
    reference: str  # pinned
    digest: str  # the top-level manifest or index
    platforms: tuple[PlatformReport, ...]
    started: str  # RFC 3339, UTC
    finished: str
    missing_platforms: tuple[str, ...] = ()
    signed: tuple[Signed, ...] = ()
    would_sign: tuple[str, ...] = ()  # --dry-run: what a real run would attest and sign
    signing: str = ""  # what happened about signing, one phrase ("signed", "dry run: nothing signed", ...)

    @property
    def decided(self) -> bool:
        return any(platform.decision is not None for platform in self.platforms)

    @property
    def verdict(self) -> Verdict:
        if not self.decided:
            return "none"
        passed = all(p.decision is not None and p.decision.passed for p in self.platforms)
        return "pass" if passed and self.platforms and not self.missing_platforms else "fail"

    @property
    def repository(self) -> str:
        """The reference without its digest or tag (stable across builds, for fingerprints)."""
        name = self.reference.split("@", 1)[0]
        transport = next((t for t in _TRANSPORTS if name.startswith(t)), "")
        rest = name[len(transport) :]
        colon = rest.rfind(":")
        return transport + (rest[:colon] if colon > rest.rfind("/") else rest)


def decision_report(decision: Decision, *, started: str, finished: str) -> RunReport:
    """A decision taken on a saved scan report: the findings themselves are not at hand."""
    platform = PlatformReport(
        platform="",
        digest=decision.target.get("digest", ""),
        catalog=Catalog((), None),
        findings=(),
        analysis=None,
        database=None,
        base=None,
        decision=decision,
    )
    reference = decision.target.get("reference") or decision.target.get("report", "")
    return RunReport(reference, platform.digest, (platform,), started, finished, signing="not signed")


def severity_label(severity: Severity | None) -> str:
    return (severity or Severity.UNKNOWN).label


def in_base_image(package: Package) -> bool | None:
    """Whether the package's record sits in a base-image layer (None: unknown)."""
    return package.locations[0].in_base_image if package.locations else None


def layer_of(package: Package) -> int | None:
    return package.locations[0].layer_index if package.locations else None


def package_path(package: Package) -> str:
    return package.locations[0].path if package.locations else ""


def secret_in_base(secret: SecretFinding, base: BaseImage | None) -> bool | None:
    if base is None or secret.layer_index is None:
        return None
    return secret.layer_index < base.layer_count


def blocking_violations(decision: Decision) -> list[tuple[RuleOutcome, Violation]]:
    """Every violation of a failed rule, worst first (a rule that failed without one yields none)."""
    found = [(outcome, violation) for outcome in decision.blocking for violation in outcome.violations]
    return sorted(
        found, key=lambda item: (-(item[1].severity or Severity.UNKNOWN), item[0].rule_id, item[1].id)
    )


def stable_id(*parts: str) -> str:
    """A digest of ``parts`` that is the same on every run of the same finding."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def rank(severity: Severity | None) -> float:
    """How bad a severity is for ordering: an unrated finding fails a gate as a high one does."""
    level = severity or Severity.UNKNOWN
    return Severity.HIGH - 0.5 if level is Severity.UNKNOWN else float(level)


def finding_order(finding: Finding) -> tuple[float, str, str]:
    """Worst first, then by id and package, so reports list findings in one stable order."""
    return (-rank(finding.rating.severity), finding.id, finding.package.purl)
