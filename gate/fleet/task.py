"""One image re-evaluated from its attestations, as a worker process runs it.

Everything a task receives is picklable and holds no secret (:class:`RescanSpec`: public keys,
keyless identity, the policy document, where the database is); a worker builds its trust,
policy and read-only database connection from it once (:func:`worker_state`) and keeps them for
every batch it runs. Registry credentials are looked up on the worker, as for any gate command.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.attest.types import COSIGN_VULN, CYCLONEDX, SLSA_VSA_V1, SPDX
from gate.errors import GateError, VerificationError
from gate.image import RegistryClient, Transport
from gate.match import Matcher
from gate.policy import DatabaseIdentity, PolicyInput, evaluate, load_policy
from gate.policy.model import Policy
from gate.sbom import decode
from gate.sign.keys import load_public_key
from gate.verify import ImageAtRest, accepted_attestations, open_at_rest, verify_at_rest
from gate.verify.evidence import Evidence, predicate_of
from gate.verify.requirements import summarise_vsa
from gate.verify.trust import Trust
from gate.vulndb.status import check_fresh
from gate.vulndb.store import VulnDB

PASS, FAIL, UNVERIFIED = "pass", "fail", "unverified"


@dataclass(frozen=True)
class TrustSpec:
    """The trust flags of ``gate verify`` in picklable form (public keys as PEM)."""

    keys: tuple[bytes, ...] = ()
    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    trusted_root: str | None = None

    def build(self) -> Trust:
        return Trust(
            keys=tuple(load_public_key(pem, source="--key") for pem in self.keys),
            identity=self.identity,
            identity_regexp=self.identity_regexp,
            issuer=self.issuer,
            trusted_root=Path(self.trusted_root) if self.trusted_root else None,
        )


@dataclass(frozen=True)
class RescanSpec:
    """What every task of one rescan shares. ``db_path`` is read where the task runs; a cluster
    worker instead pulls ``db_ref`` (``oci://REG/REPO@DIGEST``) once into its own cache."""

    trust: TrustSpec
    policy_name: str
    policy_text: bytes
    db_path: str | None = None
    db_ref: str | None = None
    insecure_hosts: tuple[str, ...] = ()
    max_db_age: str = "5d"
    allow_stale_db: bool = False

    @property
    def key(self) -> str:
        """Identifies the worker state this spec needs (one rescan, one state)."""
        return hashlib.sha256(repr(self).encode()).hexdigest()


@dataclass(frozen=True)
class ImageResult:
    reference: str
    digest: str | None
    verdict: str  # pass, fail or unverified
    reason: str
    signed_verdict: str | None = None  # the VSA's verificationResult at signing, when one is attested
    new_findings: tuple[str, ...] = ()  # ids matched today that the attested scan did not list
    known_exploited: tuple[str, ...] = ()  # CVE ids in CISA's KEV catalog among today's findings
    findings: tuple[str, ...] = ()  # every id and alias matched today (for --cve)
    error: bool = False  # the image could not be read at all (unreachable, malformed line)

    @property
    def affected(self) -> bool:
        return bool(self.new_findings) or self.verdict != PASS

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": self.digest,
            "verdict": self.verdict,
            "reason": self.reason,
            "signedVerdict": self.signed_verdict,
            "newFindings": list(self.new_findings),
            "knownExploited": list(self.known_exploited),
            "error": self.error,
        }


@dataclass
class WorkerState:
    trust: Trust
    policy: Policy
    db: VulnDB
    client: RegistryClient
    matcher: Matcher = field(init=False)

    def __post_init__(self) -> None:
        self.matcher = Matcher(self.db)


_STATES: dict[str, WorkerState] = {}


def worker_state(spec: RescanSpec, db_path: Path) -> WorkerState:
    """This process's state for ``spec``: built on first use, then reused by every batch."""
    if spec.key not in _STATES:
        with tempfile.TemporaryDirectory(prefix="gate-fleet-policy-") as work:
            policy_file = Path(work) / spec.policy_name
            policy_file.write_bytes(spec.policy_text)
            policy = load_policy(policy_file)
        client = RegistryClient(transport=Transport(insecure_hosts=spec.insecure_hosts))
        db = VulnDB.open(db_path)
        check_fresh(db, spec.max_db_age, allow_stale=spec.allow_stale_db)  # a stale DB is no answer
        _STATES[spec.key] = WorkerState(spec.trust.build(), policy, db, client)
    return _STATES[spec.key]


def rescan_batch(references: list[str], spec: RescanSpec, db_path: Path) -> list[ImageResult]:
    state = worker_state(spec, db_path)
    return [rescan_image(reference, state) for reference in references]


def rescan_image(reference: str, state: WorkerState) -> ImageResult:
    """Pin, verify, re-match the attested SBOM and decide; a registry problem is this image's row."""
    try:
        image = open_at_rest(reference, client=state.client)
        verification = verify_at_rest(image, state.trust, reference=reference)
        if not verification.verified:
            return ImageResult(reference, image.digest, UNVERIFIED, "; ".join(verification.reasons))
        return _reevaluate(reference, image, verification.evidence, state)
    except GateError as error:
        return ImageResult(reference, None, UNVERIFIED, f"error: {error.message}", error=True)


def _reevaluate(reference: str, image: ImageAtRest, evidence: Evidence, state: WorkerState) -> ImageResult:
    digest = image.digest
    sboms = accepted_attestations(evidence, (CYCLONEDX, SPDX))
    if not sboms:
        return ImageResult(reference, digest, UNVERIFIED, _no_sbom_reason(evidence))
    try:
        catalog = decode(json.dumps(predicate_of(image.store, sboms[-1])).encode())
    except GateError as error:
        reason = f"the attested SBOM cannot be read: {error.message}"
        return ImageResult(reference, digest, UNVERIFIED, reason)
    findings = tuple(state.matcher.match(catalog.packages).findings)
    decision = evaluate(
        state.policy,
        PolicyInput(
            catalog,
            vulnerabilities=findings,
            reference=f"{image.name}@{digest}",
            digest=digest,
            database=DatabaseIdentity(state.db.digest, state.db.built_at),
        ),
    )
    attested = _attested_ids(image, evidence)
    new = sorted({f.id for f in findings if not ({f.id, *f.aliases} & attested)})
    exploited = sorted({cve for f in findings if f.known_exploited for cve in f.cve_ids})
    every = sorted({name for f in findings for name in (f.id, *f.aliases, *f.cve_ids)})
    if decision.passed:
        verdict, reason = PASS, f"policy {decision.policy_name} passes ({len(findings)} findings)"
    else:
        blocking = "; ".join(
            f"{o.rule_id}: {', '.join(v.id for v in o.violations[:5]) or o.reason}" for o in decision.blocking
        )
        verdict, reason = FAIL, f"policy {decision.policy_name} fails: {blocking}"
    return ImageResult(
        reference,
        digest,
        verdict,
        reason,
        signed_verdict=_signed_verdict(image, evidence),
        new_findings=tuple(new),
        known_exploited=tuple(exploited),
        findings=tuple(every),
    )


def _no_sbom_reason(evidence: Evidence) -> str:
    """Why no SBOM counts, naming the rejected SBOM attestation (a tampered one) when there is one."""
    rejected = [f for f in evidence.attestations if not f.accepted and f.predicate_type in (CYCLONEDX, SPDX)]
    reason = "no SBOM attestation signed by the trust"
    if rejected:
        reason += f": {rejected[-1].where} {rejected[-1].reference} {rejected[-1].rejected}"
    return reason


def _attested_ids(image: ImageAtRest, evidence: Evidence) -> set[str]:
    """The ids (and aliases) the newest attested vulnerability scan listed; none without one."""
    scans = accepted_attestations(evidence, (COSIGN_VULN,))
    if not scans:
        return set()
    with contextlib.suppress(GateError):
        result = predicate_of(image.store, scans[-1]).get("scanner", {}).get("result") or {}
        items = result.get("findings") if isinstance(result, dict) else None
        return {
            name
            for item in items or []
            if isinstance(item, dict)
            for name in (item.get("id"), *(item.get("aliases") or []))
            if isinstance(name, str)
        }
    return set()


def _signed_verdict(image: ImageAtRest, evidence: Evidence) -> str | None:
    vsas = accepted_attestations(evidence, (SLSA_VSA_V1,))
    if not vsas:
        return None
    try:
        return summarise_vsa(predicate_of(image.store, vsas[-1])).result
    except (GateError, VerificationError):
        return None


__all__ = ["ImageResult", "RescanSpec", "TrustSpec", "rescan_batch", "rescan_image"]
