"""Predicate type URIs and the short names ``cosign attest --type`` accepts for them."""

from __future__ import annotations

from urllib.parse import urlsplit

from gate.errors import GateError

CYCLONEDX = "https://cyclonedx.org/bom"
SPDX = "https://spdx.dev/Document"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
SLSA_PROVENANCE_V02 = "https://slsa.dev/provenance/v0.2"
COSIGN_VULN = "https://cosign.sigstore.dev/attestation/vuln/v1"
OPENVEX = "https://openvex.dev/ns"
SLSA_VSA_V1 = "https://slsa.dev/verification_summary/v1"
COSIGN_SIGN_V1 = "https://sigstore.dev/cosign/sign/v1"
GATE_PROMOTION_V1 = "https://gate.invalid/attestation/promotion/v1"
"""gate's own: an image was verified and copied from one repository to another (docs/verify.md)."""

# cosign's names (cmd/cosign/cli/options/predicate.go) plus "vsa"; "slsaprovenance" is v0.2 there too
SHORT_NAMES = {
    "cyclonedx": CYCLONEDX,
    "spdx": SPDX,
    "spdxjson": SPDX,
    "slsaprovenance1": SLSA_PROVENANCE_V1,
    "slsaprovenance02": SLSA_PROVENANCE_V02,
    "slsaprovenance": SLSA_PROVENANCE_V02,
    "vuln": COSIGN_VULN,
    "openvex": OPENVEX,
    "vsa": SLSA_VSA_V1,
}


def resolve_predicate_type(name: str) -> str:
    """A short name's URI, or ``name`` itself when it is an absolute http(s) URI."""
    if name in SHORT_NAMES:
        return SHORT_NAMES[name]
    parts = urlsplit(name)
    if parts.scheme in ("http", "https") and parts.netloc:
        return name
    choices = ", ".join(SHORT_NAMES)
    raise GateError(f"unknown predicate type {name!r}: use one of {choices} or an https:// URI")
