"""SLSA Verification Summary v1 (``https://slsa.dev/verification_summary/v1``): the gate's verdict.

Fields from slsa.dev/spec/v1.0/verification_summary: verifier, timeVerified, resourceUri,
policy (uri + digest), inputAttestations (uri + digest), verificationResult, verifiedLevels,
slsaVersion; and ``gate.database``, gate's own field naming the vulnerability database the
verdict was reached with (digest, build time, schema), so a verifier can tell how fresh it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gate.attest._time import now_rfc3339

DATABASE_KEY = "gate.database"


@dataclass(frozen=True)
class InputAttestation:
    uri: str
    digest: dict[str, str]


@dataclass(frozen=True)
class Verdict:
    verifier_id: str
    verifier_version: str
    resource_uri: str  # e.g. "registry.example/app@sha256:..."
    policy_uri: str
    policy_digest: dict[str, str]
    passed: bool
    inputs: tuple[InputAttestation, ...] = ()
    verified_levels: tuple[str, ...] = ()
    dependency_levels: dict[str, int] = field(default_factory=dict)
    time_verified: str | None = None
    database: dict[str, Any] | None = None  # the vulnerability DB's digest, built_at, schema_version


def vsa_predicate(verdict: Verdict) -> dict[str, Any]:
    predicate: dict[str, Any] = {
        "verifier": {"id": verdict.verifier_id, "version": {"gate": verdict.verifier_version}},
        "timeVerified": verdict.time_verified or now_rfc3339(),
        "resourceUri": verdict.resource_uri,
        "policy": {"uri": verdict.policy_uri, "digest": dict(verdict.policy_digest)},
        "inputAttestations": [{"uri": i.uri, "digest": dict(i.digest)} for i in verdict.inputs],
        "verificationResult": "PASSED" if verdict.passed else "FAILED",
        "verifiedLevels": list(verdict.verified_levels),
        "slsaVersion": "1.0",
    }
    if verdict.database:
        predicate[DATABASE_KEY] = dict(verdict.database)
    if verdict.dependency_levels:
        predicate["dependencyLevels"] = dict(verdict.dependency_levels)
    return predicate
