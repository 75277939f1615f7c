"""Signing: keys in cosign's format, DSSE envelopes, cosign simple-signing payloads, verification.

    from gate.sign.keys import load_private_key, load_public_key
    key = load_private_key(Path("cosign.key").read_bytes(), password=lambda: b"secret")
    signature = key.sign(payload)
    load_public_key(Path("cosign.pub").read_bytes()).verify(signature, payload)

Keyless signing (sigstore) lives in :mod:`gate.sign.keyless`; publishing what is signed next
to the image in :mod:`gate.publish`.
"""

from gate.errors import KeyError_, SigningError, VerificationError

__all__ = ["KeyError_", "SigningError", "VerificationError"]
