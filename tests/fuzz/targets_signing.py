"""Signing formats: DSSE envelopes, sigstore bundles, cosign key files, simple-signing payloads."""

from __future__ import annotations

from gate.sign import keys
from gate.sign.bundle import bundle_envelope, describe_bundle, parse_bundle
from gate.sign.dsse import Envelope, sign_envelope, verify_envelope
from gate.sign.simplesigning import build_payload, parse_payload
from tests.fuzz.runner import FIXTURES, fixture_files, target

PASSWORD = b"fixture-password"
PUBLIC_KEY = keys.load_public_key((FIXTURES / "sign/cosign.pub").read_bytes())


def _fast_key_file() -> bytes:
    """A cosign key file with scrypt N=16: mutations that keep it valid cost microseconds, not 0.1 s."""
    saved = keys.SCRYPT_N
    keys.SCRYPT_N = 16
    try:
        return keys.encrypt_private_key(keys.generate_signing_key(), PASSWORD)
    finally:
        keys.SCRYPT_N = saved


def _envelope_seeds() -> list[bytes]:
    key = keys.generate_signing_key()
    statement = b'{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}'
    return [sign_envelope(key, statement).to_json()]


@target("dsse-envelope", _envelope_seeds)
def dsse_envelope(data: bytes) -> object:
    return verify_envelope(Envelope.from_json(data), PUBLIC_KEY)


@target(
    "sigstore-bundle",
    fixture_files("sigstore/conformance/**/*.sigstore*", "sigstore/sigstore-python/*.sigstore*"),
)
def sigstore_bundle(data: bytes) -> object:
    describe_bundle(data)
    try:
        bundle_envelope(data)
    except Exception as error:
        if type(error).__module__.split(".")[0] != "gate":
            raise
    return parse_bundle(data)


@target("cosign-private-key", lambda: [_fast_key_file(), *fixture_files("sign/*.key", "sign/*.private")()])
def cosign_private_key(data: bytes) -> object:
    return keys.load_private_key(data, lambda: PASSWORD)


@target("cosign-public-key", fixture_files("sign/*.pub"))
def cosign_public_key(data: bytes) -> object:
    return keys.load_public_key(data)


@target("simple-signing-payload", lambda: [build_payload("registry.example/app", "sha256:" + "ab" * 32)])
def simple_signing_payload(data: bytes) -> object:
    return parse_payload(data)
