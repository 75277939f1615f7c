"""``gate verify``: may a consumer pull this image? Signed by whom it should be, attested as required.

    from gate.verify import VerifyOptions, verify_image
    from gate.verify.trust import Trust
    result = verify_image("registry.example/app:1.0", Trust(keys=(public_key,)),
                          VerifyOptions(require=parse_required(["sbom,vsa"]), require_vsa_passed=True))
    result.verified, result.reasons, result.to_json()

Checks, in order, each recorded with its outcome (a failed check never stops the others, so the
report lists every reason at once):

1. **signature**: a ``.sig`` layer or a sigstore bundle signature referrer signed by the trust,
   for exactly this digest;
2. **attestations**: for each ``--require`` type, a statement signed by the same trust whose
   subject is this digest (one copied from another image is named as such);
3. **vsa**: with ``require_vsa_passed``, the newest accepted VSA says PASSED, for the policy
   digest asked for, not older than ``max_age``;
4. **policy**: with a policy, the policy re-evaluated on the attested SBOM with today's database
   (:mod:`gate.verify.reevaluate`);
5. **in-toto**: with a layout, in-toto's reference verification over the links, and the gate
   step's link names this image.

Nothing here reads an image layer: only manifests and the small signature/attestation blobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from gate.attest.types import SLSA_VSA_V1
from gate.errors import GateError, VerificationError
from gate.image.layout import OciLayout
from gate.image.manifest import Descriptor
from gate.image.reference import LayoutRef, RegistryRef, parse_reference
from gate.image.registry import RegistryClient
from gate.image.store import Store
from gate.verify.evidence import Evidence, Found, gather, predicate_of
from gate.verify.requirements import Required, VsaSummary, summarise_vsa, vsa_problem
from gate.verify.trust import Trust

ExtraCheck = Callable[["ImageAtRest", Evidence], "Check"]
"""A check added by the caller (policy re-evaluation, in-toto layout), run after the built-in ones."""


@dataclass(frozen=True)
class ImageAtRest:
    """An image where it is stored, pinned to its top-level digest."""

    store: Store
    subject: Descriptor
    name: str  # the repository (registry/ns/app) or the layout path, for messages

    @property
    def digest(self) -> str:
        return self.subject.digest


@dataclass(frozen=True)
class VerifyOptions:
    require: tuple[Required, ...] = ()
    require_vsa_passed: bool = False
    policy_digest: str | None = None
    max_age: timedelta | None = None
    extra_checks: tuple[ExtraCheck, ...] = ()


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verification:
    reference: str
    digest: str
    trust: str
    evidence: Evidence
    checks: tuple[Check, ...]

    @property
    def verified(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [f"{check.name}: {check.detail}" for check in self.checks if not check.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": self.digest,
            "verified": self.verified,
            "trust": self.trust,
            "checks": [
                {
                    "name": c.name,
                    "passed": c.passed,
                    "detail": c.detail,
                    **({"data": c.data} if c.data else {}),
                }
                for c in self.checks
            ],
            "signatures": [_found_json(item) for item in self.evidence.signatures],
            "attestations": [_found_json(item) for item in self.evidence.attestations],
            "reasons": self.reasons,
        }


def open_at_rest(reference: str, *, client: RegistryClient | None = None) -> ImageAtRest:
    """A registry image or an ``oci:`` layout, pinned to the digest its tag names now."""
    ref = parse_reference(reference)
    if isinstance(ref, RegistryRef):
        repository = (client or RegistryClient()).repository(ref)
        return ImageAtRest(repository, _bare(repository.resolve(ref.reference)), ref.name)
    if isinstance(ref, LayoutRef):
        layout = OciLayout.open(ref.path)
        return ImageAtRest(layout, _bare(layout.resolve(ref.digest or ref.tag)), str(ref.path))
    raise GateError(f"{reference}: only registry images and oci: layouts carry signatures to verify")


def verify_image(
    reference: str,
    trust: Trust,
    options: VerifyOptions | None = None,
    *,
    client: RegistryClient | None = None,
) -> Verification:
    """Verify ``reference`` against ``trust``; the result lists every check and every reason."""
    return verify_at_rest(open_at_rest(reference, client=client), trust, options, reference=reference)


def verify_at_rest(
    image: ImageAtRest, trust: Trust, options: VerifyOptions | None = None, *, reference: str | None = None
) -> Verification:
    options = options or VerifyOptions()
    evidence = gather(image.store, image.digest, trust)
    checks = [_signature_check(evidence, trust)]
    checks += [_attestation_check(evidence, required, trust) for required in options.require]
    if options.require_vsa_passed:
        checks.append(_vsa_check(image, evidence, options))
    checks += [extra(image, evidence) for extra in options.extra_checks]
    return Verification(
        reference or f"{image.name}@{image.digest}", image.digest, trust.describe(), evidence, tuple(checks)
    )


def accepted_attestations(evidence: Evidence, predicate_types: tuple[str, ...]) -> list[Found]:
    """Accepted statements of any of ``predicate_types``: ``.att`` layers in tag order, then referrers."""
    return [
        item for item in evidence.attestations if item.accepted and item.predicate_type in predicate_types
    ]


def _signature_check(evidence: Evidence, trust: Trust) -> Check:
    accepted = evidence.accepted_signatures()
    if accepted:
        signers = sorted({item.signer or "" for item in accepted})
        return Check("signature", True, f"signed by {', '.join(signers)}", {"signers": signers})
    if not evidence.signatures:
        return Check("signature", False, f"no signature is attached to {evidence.digest}")
    reasons = "; ".join(f"{item.where} {item.reference}: {item.rejected}" for item in evidence.signatures)
    return Check("signature", False, f"no signature by {trust.describe()} verifies: {reasons}")


def _attestation_check(evidence: Evidence, required: Required, trust: Trust) -> Check:
    name = f"attestation {required.name}"
    accepted = accepted_attestations(evidence, required.predicate_types)
    if accepted:
        item = accepted[-1]
        return Check(
            name,
            True,
            f"{item.predicate_type} signed by {item.signer} ({item.where} {item.reference})",
            {"predicateType": item.predicate_type, "where": item.where, "reference": item.reference},
        )
    candidates = [item for item in evidence.attestations if item.predicate_type in required.predicate_types]
    if not candidates:
        return Check(name, False, f"no {required.name} attestation is attached to {evidence.digest}")
    reasons = "; ".join(f"{item.where} {item.reference}: {item.rejected}" for item in candidates)
    return Check(name, False, f"no {required.name} attestation by {trust.describe()} counts: {reasons}")


def _vsa_check(image: ImageAtRest, evidence: Evidence, options: VerifyOptions) -> Check:
    accepted = accepted_attestations(evidence, (SLSA_VSA_V1,))
    if not accepted:
        rejected = [item.rejected for item in evidence.attestations_of(SLSA_VSA_V1)]
        why = f": {'; '.join(r for r in rejected if r)}" if rejected else ""
        return Check("vsa", False, f"no VSA signed by the trust is attached{why}")
    try:
        summaries = [summarise_vsa(predicate_of(image.store, item)) for item in accepted]
    except VerificationError as error:
        return Check("vsa", False, error.message)
    newest = max(summaries, key=_vsa_time)
    problem = vsa_problem(newest, policy_digest=options.policy_digest, max_age=options.max_age)
    if problem:
        return Check("vsa", False, problem, newest.to_json())
    return Check("vsa", True, f"PASSED for policy {newest.policy_digest}", newest.to_json())


def _vsa_time(summary: VsaSummary) -> float:
    return summary.time_verified.timestamp() if summary.time_verified else 0.0


def _found_json(item: Found) -> dict[str, Any]:
    return {
        "where": item.where,
        "reference": item.reference,
        "predicateType": item.predicate_type,
        "signer": item.signer,
        "accepted": item.accepted,
        "rejected": item.rejected,
    }


def _bare(descriptor: Descriptor) -> Descriptor:
    return Descriptor(descriptor.media_type, descriptor.digest, descriptor.size)


__all__ = [
    "Check",
    "ImageAtRest",
    "Trust",
    "Verification",
    "VerifyOptions",
    "open_at_rest",
    "verify_at_rest",
    "verify_image",
]
