"""Who signed an attachment, read without verifying it (for listings such as `gate tree`).

A listing says who *claims* to have signed; only `gate verify` says whether that is true.
"""

from __future__ import annotations

import base64
from typing import Any

from gate import safejson
from gate.sign.bundle import certificate_identity, certificate_issuer

CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"


def signer_of_certificate_pem(pem: str) -> str:
    """``identity (issuer)`` of a Fulcio certificate in PEM, or ``certificate`` if unreadable."""
    from cryptography import x509

    try:
        return _describe(x509.load_pem_x509_certificate(pem.encode()))
    except ValueError:
        return "certificate (unreadable)"


def signer_of_bundle(data: bytes) -> str:
    """``key <hint>`` for a key-signed bundle, the certificate identity for a keyless one."""
    from cryptography import x509

    try:
        material: Any = safejson.loads(data).get("verificationMaterial") or {}
    except (ValueError, AttributeError):
        return "unknown (bundle is not JSON)"
    if isinstance(material.get("publicKey"), dict):
        return f"key {material['publicKey'].get('hint') or '(no hint)'}"
    no_certificate: dict[str, Any] = {}
    raw = (material.get("certificate") or {}).get("rawBytes") or next(
        iter((material.get("x509CertificateChain") or {}).get("certificates") or []), no_certificate
    ).get("rawBytes")
    if not raw:
        return "unknown"
    try:
        return _describe(x509.load_der_x509_certificate(base64.b64decode(raw)))
    except ValueError:
        return "certificate (unreadable)"


def _describe(certificate: Any) -> str:
    identity = certificate_identity(certificate) or "(no identity)"
    issuer = certificate_issuer(certificate)
    return f"{identity} ({issuer})" if issuer else identity
