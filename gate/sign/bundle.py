"""Sigstore bundles: media types, parsing, and offline verification.

A sigstore bundle (protobuf-specs ``dev.sigstore.bundle.v1.Bundle``, v0.1 to v0.3) carries a
DSSE envelope or a message signature together with everything needed to verify it offline:
the Fulcio certificate, the Rekor entry with its inclusion proof, checkpoint and signed entry
timestamp, and optional RFC 3161 timestamps.

Verification is done by sigstore-python's **unmodified** ``Verifier`` against a trusted root:
the production root pinned in ``gate/sign/trust/`` (no TUF, no network) or one given by the
caller (a private Sigstore instance). gate adds what the Verifier leaves to its callers: the
in-toto subject (or the payload bytes) is matched against what the caller expects, and every
failure becomes one :class:`BundleVerificationError` naming the check that failed.

    verified = verify_bundle(data, artifact_digest="sha256:…", trusted_root=None,
                             identity="https://github.com/org/repo/.github/workflows/ci.yml@refs/heads/main",
                             issuer="https://token.actions.githubusercontent.com")
    verified.identity, verified.statement["predicateType"]
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from gate import safejson
from gate.errors import VerificationError
from gate.sign.dsse import IN_TOTO_PAYLOAD_TYPE

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify.policy import VerificationPolicy

    from gate.sign.dsse import Envelope
    from gate.sign.keys import PublicKey

_logger = logging.getLogger(__name__)

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
"""What gate writes, and the ``artifactType`` / layer media type of a bundle referrer."""
BUNDLE_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    BUNDLE_MEDIA_TYPE,
)
DSSE_CONTENT: Final = "dsse-envelope"
MESSAGE_SIGNATURE_CONTENT: Final = "message-signature"
CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
PRODUCTION_TRUSTED_ROOT = Path(__file__).parent / "trust" / "trusted_root.json"

Content = Literal["dsse-envelope", "message-signature"]
Check = Literal[
    "bundle",
    "trusted-root",
    "certificate",
    "identity",
    "timestamp",
    "transparency-log",
    "signature",
    "subject",
]

_SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_OID_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
_OID_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
_OID_SAN_OTHERNAME = "1.3.6.1.4.1.57264.1.7"


class BundleVerificationError(VerificationError):
    """A sigstore bundle that did not verify; ``check`` names the step that failed."""

    def __init__(self, check: Check, detail: str) -> None:
        super().__init__(f"sigstore bundle failed the {check} check: {detail}")
        self.check = check


@dataclass(frozen=True)
class BundleInfo:
    """What a bundle claims, read without verifying anything (for annotations and listings)."""

    media_type: str
    content: Content
    payload_type: str | None
    predicate_type: str | None


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle that verified: who signed, when the log saw it, and what was signed."""

    media_type: str
    content: Content
    identity: str
    issuer: str | None
    certificate: Certificate
    log_index: int
    integrated_time: datetime | None
    payload_type: str | None
    payload: bytes | None

    @property
    def statement(self) -> dict[str, Any] | None:
        """The in-toto statement of a DSSE bundle (``None`` for message signatures)."""
        if self.payload is None or self.payload_type != IN_TOTO_PAYLOAD_TYPE:
            return None
        statement: dict[str, Any] = safejson.loads(self.payload)
        return statement


def dsse_bundle(envelope: Envelope, public_key: PublicKey) -> bytes:
    """A key-signed bundle v0.3: the DSSE envelope and a public-key hint, no log entry.

    The hint is base64(sha256(DER SubjectPublicKeyInfo)), as sigstore-go's keypairs write it.
    """
    import base64
    import hashlib

    hint = base64.b64encode(hashlib.sha256(public_key.der()).digest()).decode()
    document = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": hint}, "tlogEntries": []},
        "dsseEnvelope": json.loads(envelope.to_json()),
    }
    return json.dumps(document, separators=(",", ":")).encode()


def bundle_envelope(data: bytes) -> Envelope:
    """The DSSE envelope of a bundle (for key-based verification), unverified."""
    from gate.sign.dsse import Envelope

    document = _json_object(data)
    if document.get("mediaType") not in BUNDLE_MEDIA_TYPES:
        raise BundleVerificationError("bundle", f"unknown bundle media type {document.get('mediaType')!r}")
    envelope = document.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        raise BundleVerificationError("bundle", "the bundle holds no DSSE envelope")
    return Envelope.from_json(json.dumps(envelope).encode())


def describe_bundle(data: bytes) -> BundleInfo:
    """Media type, content kind and predicate type of a bundle, without verifying it."""
    document = _json_object(data)
    media_type = document.get("mediaType")
    if media_type not in BUNDLE_MEDIA_TYPES:
        raise BundleVerificationError("bundle", f"unknown bundle media type {media_type!r}")
    envelope = document.get("dsseEnvelope")
    if isinstance(envelope, dict):
        payload_type = envelope.get("payloadType")
        return BundleInfo(media_type, DSSE_CONTENT, payload_type, _predicate_type(envelope, payload_type))
    if isinstance(document.get("messageSignature"), dict):
        return BundleInfo(media_type, MESSAGE_SIGNATURE_CONTENT, None, None)
    raise BundleVerificationError("bundle", "neither a DSSE envelope nor a message signature")


def parse_bundle(data: bytes) -> Bundle:
    """Parse and structurally validate a keyless bundle (certificate, log entry, proof)."""
    from sigstore.models import Bundle

    document = _json_object(data)
    material = document.get("verificationMaterial")
    if isinstance(material, dict) and "publicKey" in material:
        raise BundleVerificationError(
            "bundle",
            "the bundle is signed with a key (public key hint), not keyless: verify it with that key",
        )
    try:
        return Bundle.from_json(data)
    except Exception as exc:  # every parse failure of untrusted input is a rejection
        raise BundleVerificationError("bundle", _detail(exc)) from exc


def load_trusted_root(path: Path | None) -> TrustedRoot:
    """A trusted root file, or the trustedRoot inside a client trust config; default production."""
    from sigstore.models import ClientTrustConfig, TrustedRoot

    source = path or PRODUCTION_TRUSTED_ROOT
    try:
        raw = source.read_bytes()
        if _json_object(raw).get("mediaType") == CLIENT_TRUST_CONFIG_MEDIA_TYPE:
            return ClientTrustConfig.from_json(raw.decode()).trusted_root
        return TrustedRoot.from_file(str(source))
    except BundleVerificationError as exc:
        raise BundleVerificationError("trusted-root", f"{source}: {exc.message}") from exc
    except Exception as exc:
        raise BundleVerificationError("trusted-root", f"{source}: {_detail(exc)}") from exc


def verify_bundle(
    bundle: bytes,
    *,
    artifact_digest: str | None = None,
    payload: bytes | None = None,
    trusted_root: Path | None = None,
    identity: str | None = None,
    issuer: str | None = None,
) -> VerifiedBundle:
    """Verify ``bundle`` offline; raise :class:`BundleVerificationError` naming the failed check.

    Give exactly one of ``artifact_digest`` (``sha256:<hex>``: the signed artifact, or for a
    DSSE bundle an in-toto subject) and ``payload`` (the signed bytes: the artifact, or for a
    DSSE bundle the exact payload). ``identity``/``issuer`` must match the certificate's SAN
    and OIDC issuer; when ``identity`` is ``None`` any signer the trusted root's CA certified
    is accepted and the result names it, so a caller deciding whether an image may ship must
    pass one.
    """
    if (artifact_digest is None) == (payload is None):
        raise ValueError("give exactly one of artifact_digest and payload")
    if artifact_digest is not None and not _SHA256_DIGEST.fullmatch(artifact_digest):
        raise BundleVerificationError(
            "subject", f"expected a sha256:<64 hex> digest, got {artifact_digest!r}"
        )
    root = load_trusted_root(trusted_root)
    parsed = parse_bundle(bundle)
    policy = _RecordingPolicy(_policy(identity, issuer))
    try:
        if parsed._dsse_envelope is not None:
            payload_type, signed = _verify_dsse(root, parsed, policy)
            _check_dsse_subject(payload_type, signed, artifact_digest=artifact_digest, payload=payload)
        else:
            payload_type, signed = None, None
            _verify_message_signature(root, parsed, policy, artifact_digest=artifact_digest, payload=payload)
    except BundleVerificationError:
        raise
    except Exception as exc:  # untrusted input: anything the Verifier raises is a rejection
        _logger.debug("sigstore Verifier rejected the bundle", exc_info=True)
        raise BundleVerificationError(_classify(exc, policy), _detail(exc)) from exc
    return _verified(parsed, payload_type, signed)


def _verify_dsse(root: TrustedRoot, parsed: Bundle, policy: VerificationPolicy) -> tuple[str, bytes]:
    from sigstore.verify import Verifier

    return Verifier(trusted_root=root).verify_dsse(parsed, policy)


def _verify_message_signature(
    root: TrustedRoot,
    parsed: Bundle,
    policy: VerificationPolicy,
    *,
    artifact_digest: str | None,
    payload: bytes | None,
) -> None:
    from sigstore.hashes import Hashed
    from sigstore.verify import Verifier
    from sigstore_models.common.v1 import HashAlgorithm

    signed: bytes | Hashed
    if payload is not None:
        signed = payload
    else:
        assert artifact_digest is not None
        signed = Hashed(
            algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(artifact_digest.split(":", 1)[1])
        )
    Verifier(trusted_root=root).verify_artifact(signed, parsed, policy)


def _check_dsse_subject(
    payload_type: str, signed: bytes, *, artifact_digest: str | None, payload: bytes | None
) -> None:
    """The Verifier proves who signed the envelope; this proves it is about what we expect."""
    if payload is not None:
        if signed != payload:
            raise BundleVerificationError("subject", "the DSSE payload is not the expected payload")
        return
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise BundleVerificationError("subject", f"payload type {payload_type!r} is not an in-toto statement")
    try:
        subjects = safejson.loads(signed)["subject"]
        digests = {subject["digest"].get("sha256") for subject in subjects}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BundleVerificationError("subject", f"malformed in-toto statement: {_detail(exc)}") from exc
    assert artifact_digest is not None
    if artifact_digest.split(":", 1)[1] not in digests:
        raise BundleVerificationError("subject", f"no subject of the statement has digest {artifact_digest}")


def _verified(parsed: Bundle, payload_type: str | None, signed: bytes | None) -> VerifiedBundle:
    certificate = parsed.signing_certificate
    entry = parsed.log_entry._inner
    integrated = int(entry.integrated_time or 0)
    return VerifiedBundle(
        media_type=parsed._inner.media_type,
        content=DSSE_CONTENT if signed is not None else MESSAGE_SIGNATURE_CONTENT,
        identity=certificate_identity(certificate),
        issuer=certificate_issuer(certificate),
        certificate=certificate,
        log_index=int(entry.log_index),
        integrated_time=datetime.fromtimestamp(integrated, UTC) if integrated else None,
        payload_type=payload_type,
        payload=signed,
    )


def certificate_identity(certificate: Certificate) -> str:
    """The signer a Fulcio certificate names: its email, URI or Sigstore other-name SAN."""
    from cryptography import x509

    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ""
    names: list[str] = [*san.get_values_for_type(x509.RFC822Name)]
    names += san.get_values_for_type(x509.UniformResourceIdentifier)
    names += [
        other.value.decode(errors="replace")
        for other in san.get_values_for_type(x509.OtherName)
        if other.type_id.dotted_string == _OID_SAN_OTHERNAME
    ]
    return names[0] if names else ""


def certificate_issuer(certificate: Certificate) -> str | None:
    """The OIDC issuer Fulcio recorded (the DER UTF8String extension, else the legacy raw one)."""
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier

    for oid in (_OID_ISSUER_V2, _OID_ISSUER_V1):
        try:
            value = certificate.extensions.get_extension_for_oid(ObjectIdentifier(oid)).value
        except x509.ExtensionNotFound:
            continue
        raw: bytes = value.value  # type: ignore[attr-defined]  # UnrecognizedExtension
        if oid == _OID_ISSUER_V2:
            raw = _der_string(raw)
        return raw.decode(errors="replace")
    return None


def _der_string(der: bytes) -> bytes:
    """The content of a short DER string TLV (the issuer URL inside extension .1.8)."""
    if len(der) < 2:
        return der
    if der[1] < 0x80:
        return der[2 : 2 + der[1]]
    width = der[1] & 0x7F
    size = int.from_bytes(der[2 : 2 + width], "big")
    return der[2 + width : 2 + width + size]


class _RecordingPolicy:
    """Wraps the identity policy so that a failure of it is reported as the identity check."""

    def __init__(self, inner: VerificationPolicy) -> None:
        self.inner = inner
        self.failed = False

    def verify(self, cert: Certificate) -> None:
        try:
            self.inner.verify(cert)
        except Exception:
            self.failed = True
            raise


def _policy(identity: str | None, issuer: str | None) -> VerificationPolicy:
    from sigstore.verify import policy

    if identity is not None:
        return policy.Identity(identity=identity, issuer=issuer)
    if issuer is not None:
        return policy.OIDCIssuer(issuer)
    return policy.UnsafeNoOp()


def _classify(exc: Exception, recorded: _RecordingPolicy) -> Check:
    """Name the Verifier's failed step from its exception (sigstore raises one error type)."""
    from sigstore.errors import CertValidationError

    if recorded.failed:
        return "identity"
    if isinstance(exc, CertValidationError):
        return "certificate"
    text = str(exc)
    lowered = text.lower()
    if any(
        word in lowered
        for word in ("log entry", "inclusion", "checkpoint", "set:", "transparency", "integrated")
    ):
        return "transparency-log"
    if "timestamp" in lowered or "verified time" in lowered:
        return "timestamp"
    if any(word in text for word in ("SCT", "Key usage", "Extended usage", "certificate")):
        return "certificate"
    return "signature"


def _predicate_type(envelope: dict[str, Any], payload_type: str | None) -> str | None:
    import base64
    import binascii

    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        return None
    try:
        statement = safejson.loads(base64.b64decode(envelope.get("payload", ""), validate=True))
    except (ValueError, binascii.Error) as exc:
        raise BundleVerificationError(
            "bundle", f"DSSE payload is not an in-toto statement: {_detail(exc)}"
        ) from exc
    predicate_type = statement.get("predicateType") if isinstance(statement, dict) else None
    return predicate_type if isinstance(predicate_type, str) else None


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        document = safejson.loads(data)
    except ValueError as exc:
        raise BundleVerificationError("bundle", f"not JSON: {_detail(exc)}") from exc
    if not isinstance(document, dict):
        raise BundleVerificationError("bundle", "not a JSON object")
    return document


def _detail(exc: BaseException) -> str:
    """One line from an exception, walking to its cause when the message is empty."""
    current: BaseException | None = exc
    while current is not None:
        text = " ".join(str(current).split())
        if text:
            return text[:300]
        current = current.__cause__
    return type(exc).__name__
