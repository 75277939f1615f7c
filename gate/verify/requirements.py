"""What a consumer requires beyond a signature: attestation types, and a VSA that says PASSED.

required = parse_required("sbom,vuln,provenance")         # names or predicate type URIs
check_vsa(predicate, policy_digest="sha256:…", max_age=timedelta(days=7))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gate.attest import types
from gate.errors import GateError, VerificationError

REQUIREMENT_NAMES: dict[str, tuple[str, ...]] = {
    "sbom": (types.CYCLONEDX, types.SPDX),
    "vuln": (types.COSIGN_VULN,),
    "provenance": (types.SLSA_PROVENANCE_V1, types.SLSA_PROVENANCE_V02),
    "vsa": (types.SLSA_VSA_V1,),
    "openvex": (types.OPENVEX,),
}
_AGE = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Required:
    """One required attestation: the name the user gave and the predicate types that satisfy it."""

    name: str
    predicate_types: tuple[str, ...]


def parse_required(values: list[str]) -> tuple[Required, ...]:
    """``--require sbom,vuln --require https://…`` → the required attestations, in order, once each."""
    found: dict[str, Required] = {}
    for value in values:
        for name in filter(None, (part.strip() for part in value.split(","))):
            if name in REQUIREMENT_NAMES:
                found[name] = Required(name, REQUIREMENT_NAMES[name])
            elif name.startswith("https://") or name.startswith("http://"):
                found[name] = Required(name, (name,))
            else:
                known = ", ".join(REQUIREMENT_NAMES)
                raise GateError(f"--require {name!r}: use {known} or a predicate type URI")
    return tuple(found.values())


def parse_max_age(text: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w`` (or combinations such as ``1d12h``)."""
    parts = _AGE.findall(text.strip())
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text.strip():
        raise GateError(f"--max-age {text!r}: use a duration such as 90s, 30m, 24h, 7d or 2w")
    return sum((timedelta(**{_UNITS[unit]: int(n)}) for n, unit in parts), timedelta())


def normalise_policy_digest(text: str) -> str:
    """``sha256:<hex>`` or bare hex → ``sha256:<hex>``."""
    value = text.strip().lower()
    if ":" not in value:
        value = f"sha256:{value}"
    algorithm, _, encoded = value.partition(":")
    if algorithm != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", encoded):
        raise GateError(f"--policy-digest {text!r} is not a sha256 digest")
    return value


@dataclass(frozen=True)
class VsaSummary:
    result: str
    policy_digest: str | None
    time_verified: datetime | None
    verifier: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "policyDigest": self.policy_digest,
            "timeVerified": self.time_verified.isoformat() if self.time_verified else None,
            "verifier": self.verifier,
        }


def summarise_vsa(predicate: Any) -> VsaSummary:
    """The fields of a SLSA VSA v1 predicate gate checks; a malformed one is a verification error."""
    if not isinstance(predicate, dict):
        raise VerificationError("the VSA predicate is not a JSON object")
    result = predicate.get("verificationResult")
    if result not in ("PASSED", "FAILED"):
        raise VerificationError(f"the VSA's verificationResult is {result!r}, neither PASSED nor FAILED")
    sha256 = _object(_object(predicate.get("policy")).get("digest")).get("sha256")
    verifier = _object(predicate.get("verifier"))
    return VsaSummary(
        result=result,
        policy_digest=f"sha256:{sha256}" if isinstance(sha256, str) else None,
        time_verified=_timestamp(predicate.get("timeVerified")),
        verifier=verifier.get("id") if isinstance(verifier.get("id"), str) else None,
    )


def vsa_problem(
    vsa: VsaSummary, *, policy_digest: str | None, max_age: timedelta | None, now: datetime | None = None
) -> str | None:
    """Why this VSA does not satisfy ``--require-vsa-passed``, or ``None`` when it does."""
    if vsa.result != "PASSED":
        return f"the VSA says {vsa.result} (policy {vsa.policy_digest or 'unknown'})"
    if policy_digest is not None and vsa.policy_digest != policy_digest:
        return f"the VSA is for policy {vsa.policy_digest or '(none named)'}, not {policy_digest}"
    if max_age is not None:
        if vsa.time_verified is None:
            return "the VSA has no timeVerified, so its age cannot be checked against --max-age"
        age = (now or datetime.now(UTC)) - vsa.time_verified
        if age > max_age:
            return f"the VSA is from {vsa.time_verified.isoformat()}, older than --max-age {max_age}"
    return None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
