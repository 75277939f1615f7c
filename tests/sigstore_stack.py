"""A local STAND-IN for Sigstore's Fulcio, CT log and Rekor, for tests only.

No public Sigstore instance is reachable from the test machines, so keyless signing is
exercised against this small HTTP server on 127.0.0.1. It speaks exactly the subset of
the real protocols that sigstore-python's unmodified signing path uses (see
/work/shared/reference/keyless-testing.md):

* Fulcio v2 ``POST /api/v2/signingCert``: checks the OIDC token (ES256, audience
  ``sigstore``, our issuer) and the CSR's proof of possession, then issues a leaf with an
  embedded SCT signed by a CT-log key;
* Rekor v1 ``POST /api/v1/log/entries`` for ``hashedrekord`` and ``dsse`` entries: an RFC 6962
  Merkle tree with real inclusion proofs, a signed checkpoint and a signed entry timestamp.

Its trust material is published as a ``ClientTrustConfig`` JSON (what gate's
``--trust-config`` reads) and a bare ``TrustedRoot`` (what the verifiers read). This is not
a Sigstore implementation: no persistence, no Rekor reads, a single self-signed CA.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

OIDC_ISSUER = "https://oidc.gate.test"
TREE_ID = 1
_OID_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_OID_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_OID_SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def _der(tag: int, content: bytes) -> bytes:
    """A DER TLV with the minimal length encoding (x509 parsers reject anything else)."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _leaf_hash(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly below ``size`` (RFC 6962 section 2.1)."""
    k = 1
    while k * 2 < size:
        k *= 2
    return k


def merkle_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def audit_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 inclusion proof for ``leaves[index]``, ordered from the leaf upwards."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*audit_path(index, leaves[:k]), merkle_root(leaves[k:])]
    return [*audit_path(index - k, leaves[k:]), merkle_root(leaves[:k])]


@dataclass
class _Log:
    """Rekor v1's append-only log: canonical bodies and their leaf hashes."""

    bodies: list[bytes] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class SigstoreStack:
    """Fulcio + CT + Rekor stand-in; ``start()`` serves it, ``token()`` mints OIDC tokens."""

    def __init__(self, oidc_issuer: str = OIDC_ISSUER, *, log_delay: int = 0) -> None:
        self.oidc_issuer = oidc_issuer
        # seconds added to the log's integratedTime: a log that records a signature this late,
        # after the 10-minute certificate expired, as if the signer had used an expired certificate
        self.log_delay = log_delay
        self._ca_key = ec.generate_private_key(ec.SECP384R1())
        self._ct_key = ec.generate_private_key(ec.SECP256R1())
        self._rekor_key = ec.generate_private_key(ec.SECP256R1())
        self._oidc_key = ec.generate_private_key(ec.SECP256R1())
        self._not_before = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        self.ca_cert = self._make_ca()
        self.log = _Log()
        self.errors: list[str] = []
        self.entry_request_sizes: list[int] = []
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> SigstoreStack:
        stack = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                stack._dispatch(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Silence the default stderr access log."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> SigstoreStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stack first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- identities ------------------------------------------------------------------------

    def token(
        self,
        *,
        sub: str = "ci@gate.test",
        email: str | None = "ci@gate.test",
        ttl: int = 300,
        aud: str = "sigstore",
        issuer: str | None = None,
    ) -> str:
        """An OIDC ID token signed by the stand-in's issuer key."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer or self.oidc_issuer,
            "sub": sub,
            "aud": aud,
            "iat": now,
            "exp": now + ttl,
        }
        if email is not None:
            claims["email"] = email
        return jwt.encode(claims, self._oidc_key, algorithm="ES256")

    # -- trust material --------------------------------------------------------------------

    def trusted_root(self) -> dict[str, Any]:
        start = {"start": _rfc3339(self._not_before)}

        def log_instance(key: ec.EllipticCurvePrivateKey, base_url: str) -> dict[str, Any]:
            spki = _spki_der(key.public_key())
            return {
                "baseUrl": base_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(spki),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": start,
                },
                "logId": {"keyId": _b64(hashlib.sha256(spki).digest())},
            }

        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log_instance(self._rekor_key, self.url)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "gate-test", "commonName": "gate-test-fulcio"},
                    "uri": self.url,
                    "certChain": {
                        "certificates": [
                            {"rawBytes": _b64(self.ca_cert.public_bytes(serialization.Encoding.DER))}
                        ]
                    },
                    "validFor": start,
                }
            ],
            "ctlogs": [log_instance(self._ct_key, f"{self.url}/ct")],
            "timestampAuthorities": [],
        }

    def client_trust_config(self) -> dict[str, Any]:
        def service(url: str) -> dict[str, Any]:
            return {
                "url": url,
                "majorApiVersion": 1,
                "validFor": {"start": _rfc3339(self._not_before)},
                "operator": "gate-test-stand-in",
            }

        return {
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": self.trusted_root(),
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": [service(self.url)],
                "oidcUrls": [service(self.oidc_issuer)],
                "rekorTlogUrls": [service(self.url)],
                "tsaUrls": [],
                "rekorTlogConfig": {"selector": "ANY"},
                "tsaConfig": {"selector": "ANY"},
            },
        }

    # -- HTTP ------------------------------------------------------------------------------

    def _dispatch(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", "0")))
        try:
            if request.path == "/api/v2/signingCert":
                status, answer = self._signing_cert(request.headers.get("Authorization", ""), body)
            elif request.path == "/api/v1/log/entries":
                self.entry_request_sizes.append(len(body))
                status, answer = 201, self._log_entry(json.loads(body))
            else:
                status, answer = 404, {"message": f"no route {request.path}"}
        except _Refused as exc:
            status, answer = exc.status, {"message": str(exc)}
        if status >= 400:
            # sigstore's Fulcio client drops error bodies; keep them for the test's report
            self.errors.append(f"{request.path}: {status} {answer['message']}")
        data = json.dumps(answer).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    # -- Fulcio ----------------------------------------------------------------------------

    def _signing_cert(self, authorization: str, body: bytes) -> tuple[int, dict[str, Any]]:
        token = authorization.removeprefix("Bearer ")
        try:
            claims = jwt.decode(
                token,
                self._oidc_key.public_key(),
                algorithms=["ES256"],
                audience="sigstore",
                issuer=self.oidc_issuer,
            )
        except jwt.PyJWTError as exc:
            raise _Refused(401, f"identity token rejected: {exc}") from None
        csr_pem = base64.b64decode(json.loads(body)["certificateSigningRequest"])
        csr = x509.load_pem_x509_csr(csr_pem)
        if not csr.is_signature_valid:
            raise _Refused(400, "CSR signature does not prove possession of the key")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise _Refused(400, "only ECDSA keys are accepted")
        leaf = self._issue_leaf(public_key, claims)
        chain = [c.public_bytes(serialization.Encoding.PEM).decode() for c in (leaf, self.ca_cert)]
        return 201, {"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}

    def _make_ca(self) -> x509.Certificate:
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gate-test"),
                x509.NameAttribute(NameOID.COMMON_NAME, "gate-test-fulcio"),
            ]
        )
        public_key = self._ca_key.public_key()
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before)
            .not_valid_after(self._not_before + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
            .sign(self._ca_key, hashes.SHA384())
        )

    def _issue_leaf(self, public_key: ec.EllipticCurvePublicKey, claims: dict[str, Any]) -> x509.Certificate:
        # Whole seconds: the log's integratedTime (seconds) must not precede notBefore.
        now = datetime.now(UTC).replace(microsecond=0)
        serial = x509.random_serial_number()
        san: x509.GeneralName = (
            x509.RFC822Name(claims["email"])
            if "email" in claims
            else x509.UniformResourceIdentifier(claims["sub"])
        )
        issuer = claims["iss"].encode()

        def build(sct_list: bytes) -> x509.Certificate:
            return (
                x509.CertificateBuilder()
                .subject_name(x509.Name([]))
                .issuer_name(self.ca_cert.subject)
                .public_key(public_key)
                .serial_number(serial)
                .not_valid_before(now)
                .not_valid_after(now + timedelta(minutes=10))
                .add_extension(_key_usage(cert_sign=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                    critical=False,
                )
                .add_extension(x509.SubjectAlternativeName([san]), critical=True)
                .add_extension(x509.UnrecognizedExtension(_OID_ISSUER_V1, issuer), critical=False)
                .add_extension(x509.UnrecognizedExtension(_OID_ISSUER_V2, _der(0x0C, issuer)), critical=False)
                .add_extension(
                    x509.UnrecognizedExtension(_OID_SCT_LIST, _der(0x04, sct_list)), critical=False
                )
                .sign(self._ca_key, hashes.SHA384())
            )

        # The SCT signs the TBS without the SCT extension; build once to get those bytes.
        precert_tbs = build(_sct_list(b"\x00" * 70)).tbs_precertificate_bytes
        return build(_sct_list(self._sct(precert_tbs)))

    def _sct(self, precert_tbs: bytes) -> bytes:
        timestamp = int(time.time() * 1000)
        issuer_key_hash = hashlib.sha256(_spki_der(self._ca_key.public_key())).digest()
        signed = (
            struct.pack(">BBQH", 0, 0, timestamp, 1)
            + issuer_key_hash
            + len(precert_tbs).to_bytes(3, "big")
            + precert_tbs
            + struct.pack(">H", 0)
        )
        signature = self._ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        log_id = hashlib.sha256(_spki_der(self._ct_key.public_key())).digest()
        return (
            b"\x00"
            + log_id
            + struct.pack(">QH", timestamp, 0)
            + bytes([4, 3])
            + struct.pack(">H", len(signature))
            + signature
        )

    # -- Rekor -----------------------------------------------------------------------------

    def _log_entry(self, proposed: dict[str, Any]) -> dict[str, Any]:
        body = rfc8785.dumps(_stored_body(proposed))
        log_id = hashlib.sha256(_spki_der(self._rekor_key.public_key())).digest()
        with self.log.lock:
            self.log.bodies.append(body)
            self.log.leaves.append(_leaf_hash(body))
            index = len(self.log.leaves) - 1
            leaves = list(self.log.leaves)
        integrated_time = int(time.time()) + self.log_delay
        encoded_body = _b64(body)
        set_payload: dict[str, Any] = {
            "body": encoded_body,
            "integratedTime": integrated_time,
            "logID": log_id.hex(),
            "logIndex": index,
        }
        root = merkle_root(leaves)
        return {
            leaves[index].hex(): {
                "body": encoded_body,
                "integratedTime": integrated_time,
                "logID": log_id.hex(),
                "logIndex": index,
                "verification": {
                    "signedEntryTimestamp": _b64(
                        self._rekor_key.sign(rfc8785.dumps(set_payload), ec.ECDSA(hashes.SHA256()))
                    ),
                    "inclusionProof": {
                        "logIndex": index,
                        "treeSize": len(leaves),
                        "rootHash": root.hex(),
                        "hashes": [h.hex() for h in audit_path(index, leaves)],
                        "checkpoint": self._checkpoint(len(leaves), root, log_id),
                    },
                },
            }
        }

    def _checkpoint(self, size: int, root: bytes, log_id: bytes) -> str:
        # npm @sigstore/verify matches the note's signer name against the tlog baseUrl.
        name = self.url.removeprefix("http://")
        note = f"{name} - {TREE_ID}\n{size}\n{_b64(root)}\n"
        signature = self._rekor_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        return f"{note}\n\u2014 {name} {_b64(log_id[:4] + signature)}\n"


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _sct_list(sct: bytes) -> bytes:
    entry = struct.pack(">H", len(sct)) + sct
    return struct.pack(">H", len(entry)) + entry


def _stored_body(proposed: dict[str, Any]) -> dict[str, Any]:
    """What Rekor v1 stores for a proposed entry (dsse entries are reduced to hashes)."""
    if proposed.get("kind") == "hashedrekord":
        return proposed
    if proposed.get("kind") != "dsse":
        raise _Refused(400, f"unsupported entry kind {proposed.get('kind')!r}")
    content = proposed["spec"]["proposedContent"]
    envelope = json.loads(content["envelope"])
    payload = base64.b64decode(envelope["payload"])
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(content["envelope"].encode()).hexdigest(),
            },
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [
                {"signature": sig["sig"], "verifier": verifier}
                for sig, verifier in zip(envelope["signatures"], content["verifiers"], strict=True)
            ],
        },
    }
