"""DSSE envelopes (secure-systems-lab/dsse v1), signed and verified with a key.

    envelope = sign_envelope(key, statement_bytes)          # payloadType in-toto by default
    payload = verify_envelope(envelope, public_key)          # the statement bytes, or raise

The signature covers PAE: ``"DSSEv1" SP len(type) SP type SP len(payload) SP payload``.
The JSON is written with cosign's field order (payloadType, payload, signatures; keyid, sig)
and an empty ``keyid``, as ``cosign attest --key`` writes it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from gate import safejson
from gate.errors import VerificationError
from gate.sign.keys import PublicKey, SigningKey

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
ENVELOPE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def to_json(self) -> bytes:
        document = {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode(),
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in self.signatures
            ],
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Envelope:
        try:
            document = safejson.loads(raw)
            signatures = tuple(
                Signature(str(item.get("keyid") or ""), _b64decode(item["sig"]))
                for item in document["signatures"]
            )
            return cls(str(document["payloadType"]), _b64decode(document["payload"]), signatures)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise VerificationError("attestation is not a DSSE envelope") from error


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    encoded_type = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(encoded_type), encoded_type, len(payload), payload)


def sign_envelope(key: SigningKey, payload: bytes, payload_type: str = IN_TOTO_PAYLOAD_TYPE) -> Envelope:
    return Envelope(payload_type, payload, (Signature("", key.sign(pae(payload_type, payload))),))


def verify_envelope(envelope: Envelope, key: PublicKey) -> bytes:
    """The payload if any signature verifies with ``key``; else raise :class:`VerificationError`."""
    signed = pae(envelope.payload_type, envelope.payload)
    if any(key.verifies(signature.sig, signed) for signature in envelope.signatures):
        return envelope.payload
    raise VerificationError(f"no DSSE signature verifies with key {key.key_id}")


def _b64decode(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
