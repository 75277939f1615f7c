"""Signing keys: cosign's encrypted key format, PKCS#8 and SEC1 PEM, public keys.

cosign (and ``skopeo generate-sigstore-key``) store a private key as PEM whose body is JSON
(``sigstore/cosign:pkg/cosign/keys.go``, go-tuf ``encrypted``)::

    {"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"<b64 32 bytes>"},
     "cipher":{"name":"nacl/secretbox","nonce":"<b64 24 bytes>"},
     "ciphertext":"<b64 secretbox(PKCS#8 DER)>"}

labelled ``ENCRYPTED SIGSTORE PRIVATE KEY`` (cosign >= 2) or ``ENCRYPTED COSIGN PRIVATE KEY``
(older cosign; the only label containers/image < 5.25 reads). Algorithms follow
sigstore/sigstore's defaults: ECDSA P-256/P-384/P-521 with SHA-256/384/512, Ed25519, RSA
(>= 2048 bits) PKCS#1 v1.5 with SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from gate import safejson
from gate.errors import KeyError_, VerificationError

SIGSTORE_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
ENCRYPTED_LABELS = (SIGSTORE_LABEL, COSIGN_LABEL)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
# scrypt needs 128·N·r bytes (and p passes over them): a key file may ask for no more work than
# cosign 2 writes (N=65536 r=8 p=1, 64 MiB), so a hostile one cannot make it allocate gigabytes.
_MAX_SCRYPT_COST = 65536 * 8 * 1
_MIN_RSA_BITS = 2048
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)\r?\n-----END \1-----", re.DOTALL)

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKeyType = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
PasswordSource = Callable[[], bytes]

_EC_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


@dataclass(frozen=True)
class PublicKey:
    """A key that verifies signatures made by the matching :class:`SigningKey`."""

    key: PublicKeyType

    def pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def der(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key_id(self) -> str:
        """``sha256:<hex>`` of the DER SubjectPublicKeyInfo: names the signer in messages and output."""
        return f"sha256:{hashlib.sha256(self.der()).hexdigest()}"

    def verify(self, signature: bytes, data: bytes) -> None:
        """Raise :class:`VerificationError` unless ``signature`` is this key's over ``data``."""
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, data, ec.ECDSA(_EC_HASHES[self.key.curve.name]()))
            elif isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, data)
            else:
                self.key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as error:
            raise VerificationError(f"signature does not verify with key {self.key_id}") from error

    def verifies(self, signature: bytes, data: bytes) -> bool:
        try:
            self.verify(signature, data)
        except VerificationError:
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """A private key that signs as cosign does with the same key type."""

    key: PrivateKey

    @property
    def public_key(self) -> PublicKey:
        return PublicKey(self.key.public_key())

    def sign(self, data: bytes) -> bytes:
        """A signature over ``data`` (ECDSA: ASN.1 DER; RSA: PKCS#1 v1.5; Ed25519: raw 64 bytes)."""
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return self.key.sign(data, ec.ECDSA(_EC_HASHES[self.key.curve.name]()))
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(data)
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def pkcs8_der(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def generate_signing_key() -> SigningKey:
    """A new ECDSA P-256 key, what ``cosign generate-key-pair`` makes."""
    return SigningKey(ec.generate_private_key(ec.SECP256R1()))


def encrypt_private_key(key: SigningKey, password: bytes, *, label: str = SIGSTORE_LABEL) -> bytes:
    """``key`` as cosign's encrypted PEM (scrypt N=32768 r=8 p=1, NaCl secretbox around PKCS#8)."""
    import nacl.secret

    if label not in ENCRYPTED_LABELS:
        raise ValueError(f"label must be one of {ENCRYPTED_LABELS}")
    salt, nonce = secrets.token_bytes(32), secrets.token_bytes(24)
    box_key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    sealed = nacl.secret.SecretBox(box_key).encrypt(key.pkcs8_der(), nonce).ciphertext
    body = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": _b64(salt),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    return _pem(label, json.dumps(body, separators=(",", ":")).encode())


def load_private_key(data: bytes, password: PasswordSource, *, source: str = "key") -> SigningKey:
    """Read any supported private key PEM; ``password`` is asked only for an encrypted one."""
    label, body = _first_pem_block(data, source)
    if label in ENCRYPTED_LABELS:
        return SigningKey(_decrypt_cosign(body, password(), source))
    if label == "ENCRYPTED PRIVATE KEY":
        return SigningKey(_load_pkcs8(data, password(), source))
    if label in ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"):
        return SigningKey(_load_pkcs8(data, None, source))
    if label in ("PUBLIC KEY", "CERTIFICATE", "RSA PUBLIC KEY"):
        raise KeyError_(f"{source} holds a {label.lower()}, but signing needs the private key")
    raise KeyError_(f"{source}: unsupported key type (PEM block {label!r})")


def load_public_key(data: bytes, *, source: str = "key") -> PublicKey:
    """Read a PEM public key (SubjectPublicKeyInfo), what ``cosign verify --key`` takes."""
    label, _ = _first_pem_block(data, source)
    if label in (
        *ENCRYPTED_LABELS,
        "ENCRYPTED PRIVATE KEY",
        "PRIVATE KEY",
        "EC PRIVATE KEY",
        "RSA PRIVATE KEY",
    ):
        raise KeyError_(f"{source} holds a private key; verification takes the public key (.pub)")
    if label != "PUBLIC KEY":
        raise KeyError_(f"{source}: unsupported key type (PEM block {label!r}, expected PUBLIC KEY)")
    try:
        public = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as error:
        raise KeyError_(f"{source}: malformed public key") from error
    return PublicKey(_supported_public(public, source))


def _decrypt_cosign(body: bytes, password: bytes, source: str) -> PrivateKey:
    import nacl.exceptions
    import nacl.secret

    envelope = _encrypted_envelope(body, source)
    params = envelope["kdf"].get("params")
    values: tuple[Any, ...] = (
        tuple(params.get(name) for name in "Nrp") if isinstance(params, dict) else (0, 0, 0)
    )
    n, r, p = values
    if not _valid_scrypt(n, r, p):
        raise KeyError_(
            f"{source}: unsupported scrypt parameters N={n} r={r} p={p} "
            f"(N a power of two, N·r·p at most {_MAX_SCRYPT_COST}, the most cosign writes)"
        )
    box_key = _scrypt(password, _unb64(envelope["kdf"].get("salt"), source), n, r, p)
    nonce = _unb64(envelope["cipher"].get("nonce"), source)
    try:
        pkcs8 = nacl.secret.SecretBox(box_key).decrypt(_unb64(envelope["ciphertext"], source), nonce)
    except (nacl.exceptions.CryptoError, ValueError) as error:
        raise KeyError_(f"{source}: wrong password (or a corrupt key file)") from error
    return _private_from_der(pkcs8, source)


def _valid_scrypt(n: Any, r: Any, p: Any) -> bool:
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (n, r, p)):
        return False
    return n >= 2 and not n & (n - 1) and n * r * p <= _MAX_SCRYPT_COST


def _encrypted_envelope(body: bytes, source: str) -> dict[str, Any]:
    try:
        envelope = safejson.loads(body)
        kdf, cipher = envelope["kdf"], envelope["cipher"]
        ok = kdf["name"] == "scrypt" and cipher["name"] == "nacl/secretbox" and "ciphertext" in envelope
    except (ValueError, KeyError, TypeError) as error:
        raise KeyError_(f"{source}: malformed encrypted key (not cosign's JSON envelope)") from error
    if not ok:
        raise KeyError_(f"{source}: unsupported key encryption {kdf.get('name')}/{cipher.get('name')}")
    return envelope


def _load_pkcs8(data: bytes, password: bytes | None, source: str) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password)
    except TypeError as error:  # password given for a plain key or missing for an encrypted one
        raise KeyError_(f"{source}: {error}") from error
    except ValueError as error:
        reason = "wrong password (or a corrupt key file)" if password is not None else "malformed private key"
        raise KeyError_(f"{source}: {reason}") from error
    except UnsupportedAlgorithm as error:
        raise KeyError_(f"{source}: unsupported key type") from error
    return _supported_private(key, source)


def _private_from_der(der: bytes, source: str) -> PrivateKey:
    try:
        key = serialization.load_der_private_key(der, None)
    except (ValueError, UnsupportedAlgorithm) as error:
        raise KeyError_(f"{source}: decrypted key is not valid PKCS#8") from error
    return _supported_private(key, source)


def _supported_private(key: object, source: str) -> PrivateKey:
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        _supported_public(key.public_key(), source)
        return key
    raise KeyError_(f"{source}: unsupported key type {type(key).__name__} (use ECDSA P-256, Ed25519 or RSA)")


def _supported_public(key: object, source: str) -> PublicKeyType:
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _EC_HASHES:
            raise KeyError_(
                f"{source}: unsupported elliptic curve {key.curve.name} (use P-256, P-384 or P-521)"
            )
        return key
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise KeyError_(
                f"{source}: RSA key of {key.key_size} bits is too small (at least {_MIN_RSA_BITS})"
            )
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise KeyError_(f"{source}: unsupported key type {type(key).__name__} (use ECDSA P-256, Ed25519 or RSA)")


def _first_pem_block(data: bytes, source: str) -> tuple[str, bytes]:
    match = _PEM_BLOCK.search(data)
    if not match:
        raise KeyError_(f"{source} is not a PEM key file")
    label = match.group(1).decode()
    if label in ENCRYPTED_LABELS:
        try:
            return label, base64.b64decode(b"".join(match.group(2).split()), validate=True)
        except ValueError as error:
            raise KeyError_(f"{source}: malformed PEM body") from error
    return label, b""


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password)


def _pem(label: str, body: bytes) -> bytes:
    encoded = base64.b64encode(body).decode()
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    return f"-----BEGIN {label}-----\n{chr(10).join(lines)}\n-----END {label}-----\n".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: Any, source: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, TypeError) as error:
        raise KeyError_(f"{source}: malformed base64 in encrypted key") from error
