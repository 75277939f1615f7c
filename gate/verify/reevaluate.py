"""Re-evaluate a policy on the image's attested SBOM with today's vulnerability database.

    check = policy_check(Path("policies/default.yaml"), ScanOptions(db_path=Path("vulns.db")))
    VerifyOptions(extra_checks=(check,))

The SBOM is the one the trust signed (the newest accepted CycloneDX or SPDX attestation about
this digest, fetched through its detached-predicate referrer when a keyless attestation stored
it apart). It is decoded, matched against the database as it is today and the policy decides.
No image layer is read: a vulnerability disclosed after the image was signed closes the gate.
The SBOM holds no files, so secrets and configuration rules are reported as skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

from gate.attest.types import CYCLONEDX, SPDX
from gate.errors import GateError
from gate.pipeline import ScanOptions, scan_catalog
from gate.policy import DatabaseIdentity, Decision, PolicyInput, evaluate, load_policy
from gate.sbom import decode
from gate.verify import Check, ExtraCheck, ImageAtRest, accepted_attestations
from gate.verify.evidence import Evidence, predicate_of

CHECK_NAME = "policy"
MAX_REASONS = 5


def policy_check(policy_path: Path, scan: ScanOptions | None = None) -> ExtraCheck:
    """A check for :class:`~gate.verify.VerifyOptions` ``extra_checks``; the policy is loaded now."""
    policy = load_policy(policy_path)

    def reevaluate(image: ImageAtRest, evidence: Evidence) -> Check:
        sboms = accepted_attestations(evidence, (CYCLONEDX, SPDX))
        if not sboms:
            return Check(CHECK_NAME, False, "no SBOM attestation signed by the trust to re-evaluate")
        try:
            catalog = decode(json.dumps(predicate_of(image.store, sboms[-1])).encode())
        except GateError as error:  # a detached SBOM that is missing or altered, or no SBOM at all
            return Check(CHECK_NAME, False, f"the attested SBOM cannot be read: {error.message}")
        target = {"kind": "image", "reference": f"{image.name}@{image.digest}", "digest": image.digest}
        found = scan_catalog(catalog, target, scan)
        database = found.database
        decision = evaluate(
            policy,
            PolicyInput(
                catalog,
                vulnerabilities=tuple(found.matches.findings),
                reference=target["reference"],
                digest=image.digest,
                database=DatabaseIdentity(database.digest, database.built_at) if database else None,
            ),
        )
        return _check(decision, len(catalog.packages))

    return reevaluate


def _check(decision: Decision, packages: int) -> Check:
    data = {
        "policy": decision.policy_name,
        "policyDigest": decision.policy_digest,
        "decision": decision.to_json(),
    }
    database = f" and database {decision.database.digest}" if decision.database else ""
    if decision.passed:
        return Check(
            CHECK_NAME,
            True,
            f"policy {decision.policy_name} passes on the attested SBOM ({packages} packages){database}",
            data,
        )
    reasons = [
        f"{outcome.rule_id}: {', '.join(v.id for v in outcome.violations[:MAX_REASONS]) or outcome.reason}"
        for outcome in decision.blocking
    ]
    return Check(
        CHECK_NAME,
        False,
        f"policy {decision.policy_name} fails on the attested SBOM today{database}: {'; '.join(reasons)}",
        data,
    )
