"""Who signed an attachment, read without verifying it (for listings such as `gate tree`).

A listing says who *claims* to have signed; only `gate verify` says whether that is true.
"""

from __future__ import annotations

import base64
from typing import Any

from gate import safejson
from gate.sign.bundle import certificate_identity, certificate_issuer


def signer_of_certificate_pem(pem: str) -> str:
    """``identity (issuer)`` of a Fulcio certificate in PEM, or ``certificate`` if unreadable."""
    from cryptography import x509

    try:
        return _describe(x509.load_pem_x509_certificate(pem.encode()))
    except ValueError:
        return "certificate (unreadable)"


def signer_of_bundle(data: bytes) -> str:
    """``key <hint>`` for a key-signed bundle, the certificate identity for a keyless one.

    The bundle is unverified and may have any shape: every field is checked before it is used.
    """
    from cryptography import x509

    try:
        document = safejson.loads(data)
    except ValueError:
        return "unknown (bundle is not JSON)"
    material = _object(_object(document).get("verificationMaterial"))
    public_key = material.get("publicKey")
    if isinstance(public_key, dict):
        hint = public_key.get("hint")
        return f"key {hint if isinstance(hint, str) and hint else '(no hint)'}"
    raw = _object(material.get("certificate")).get("rawBytes")
    if raw is None:
        chain = _object(material.get("x509CertificateChain")).get("certificates")
        raw = _object(chain[0] if isinstance(chain, list) and chain else None).get("rawBytes")
    if not isinstance(raw, str) or not raw:
        return "unknown"
    try:
        return _describe(x509.load_der_x509_certificate(base64.b64decode(raw)))
    except ValueError:
        return "certificate (unreadable)"


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _describe(certificate: Any) -> str:
    identity = certificate_identity(certificate) or "(no identity)"
    issuer = certificate_issuer(certificate)
    return f"{identity} ({issuer})" if issuer else identity
