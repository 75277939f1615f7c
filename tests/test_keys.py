"""Keys: cosign's encrypted format (read and written), PKCS#8/SEC1 PEM, public keys, bad input.

The cosign and skopeo key files under fixtures/sign were made by the real tools (see NOTICE.md).
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from gate.errors import KeyError_, VerificationError
from gate.sign.keys import (
    COSIGN_LABEL,
    SIGSTORE_LABEL,
    SigningKey,
    encrypt_private_key,
    generate_signing_key,
    load_private_key,
    load_public_key,
)
from tests.test_cli import run_gate

FIXTURES = Path(__file__).parent / "fixtures" / "sign"
PASSWORD = b"fixture-password"


def _password(value: bytes = PASSWORD):
    return lambda: value


def _no_password() -> bytes:
    raise AssertionError("a plain key must not ask for a password")


def _pem_body(pem: bytes) -> dict:
    lines = pem.decode().strip().splitlines()
    return json.loads(base64.b64decode("".join(lines[1:-1])))


@pytest.mark.parametrize(
    ("private", "public"), [("cosign.key", "cosign.pub"), ("skopeo.private", "skopeo.pub")]
)
def test_loads_keys_made_by_cosign_and_skopeo(private: str, public: str) -> None:
    key = load_private_key((FIXTURES / private).read_bytes(), _password())
    expected = load_public_key((FIXTURES / public).read_bytes())
    assert key.public_key.der() == expected.der()
    signature = key.sign(b"payload")
    expected.verify(signature, b"payload")
    with pytest.raises(VerificationError):
        expected.verify(signature, b"other payload")


def test_generated_key_has_cosigns_exact_envelope() -> None:
    key = generate_signing_key()
    pem = encrypt_private_key(key, b"pw")
    assert pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert pem.endswith(b"-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert max(len(line) for line in pem.splitlines()) == 64
    body = _pem_body(pem)
    assert body["kdf"]["name"] == "scrypt"
    assert body["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert len(base64.b64decode(body["kdf"]["salt"])) == 32
    assert body["cipher"] == {"name": "nacl/secretbox", "nonce": body["cipher"]["nonce"]}
    assert len(base64.b64decode(body["cipher"]["nonce"])) == 24
    # secretbox output: 16-byte Poly1305 tag + ciphertext of the PKCS#8 DER
    assert len(base64.b64decode(body["ciphertext"])) == len(key.pkcs8_der()) + 16
    assert isinstance(key.key, ec.EllipticCurvePrivateKey) and key.key.curve.name == "secp256r1"
    again = load_private_key(pem, _password(b"pw"))
    assert again.pkcs8_der() == key.pkcs8_der()


def test_legacy_cosign_label_round_trips_and_empty_password_works() -> None:
    key = generate_signing_key()
    pem = encrypt_private_key(key, b"", label=COSIGN_LABEL)
    assert pem.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    assert load_private_key(pem, _password(b"")).pkcs8_der() == key.pkcs8_der()
    relabelled = (FIXTURES / "skopeo.private").read_bytes().replace(b"COSIGN", b"SIGSTORE")
    assert SIGSTORE_LABEL.encode() in relabelled
    load_private_key(relabelled, _password())


def test_wrong_password_is_one_clear_error() -> None:
    with pytest.raises(KeyError_, match=r"^cosign.key: wrong password \(or a corrupt key file\)$"):
        load_private_key((FIXTURES / "cosign.key").read_bytes(), _password(b"nope"), source="cosign.key")


def test_public_key_where_a_private_key_is_needed() -> None:
    with pytest.raises(KeyError_, match="holds a public key, but signing needs the private key"):
        load_private_key((FIXTURES / "cosign.pub").read_bytes(), _no_password, source="cosign.pub")
    with pytest.raises(KeyError_, match="holds a private key; verification takes the public key"):
        load_public_key((FIXTURES / "cosign.key").read_bytes())


def _pkcs8(key: PrivateKeyTypes, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: ec.generate_private_key(ec.SECP256R1()),
        lambda: ec.generate_private_key(ec.SECP384R1()),
        ed25519.Ed25519PrivateKey.generate,
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ],
    ids=["p256", "p384", "ed25519", "rsa2048"],
)
def test_plain_and_encrypted_pkcs8_of_supported_types(make) -> None:
    raw = make()
    plain = load_private_key(_pkcs8(raw), _no_password)
    encrypted = load_private_key(_pkcs8(raw, b"pw"), _password(b"pw"))
    assert plain.pkcs8_der() == encrypted.pkcs8_der()
    public = load_public_key(plain.public_key.pem())
    public.verify(encrypted.sign(b"data"), b"data")
    assert not public.verifies(plain.sign(b"data"), b"data2")
    # cosign's own format works for every supported type
    assert (
        load_private_key(encrypt_private_key(plain, b"x"), _password(b"x")).pkcs8_der() == plain.pkcs8_der()
    )
    with pytest.raises(KeyError_, match="wrong password"):
        load_private_key(_pkcs8(raw, b"pw"), _password(b"wrong"))


def test_sec1_ec_private_key_loads() -> None:
    raw = ec.generate_private_key(ec.SECP256R1())
    pem = raw.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert pem.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert isinstance(load_private_key(pem, _no_password), SigningKey)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ec.generate_private_key(ec.SECP256K1()), "unsupported elliptic curve secp256k1"),
        (
            lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505 - the point
            "RSA key of 1024 bits is too small",
        ),
        (lambda: dsa.generate_private_key(key_size=2048), "unsupported key type"),
    ],
    ids=["secp256k1", "rsa1024", "dsa"],
)
def test_unsupported_key_types_are_refused(make, message: str) -> None:
    raw = make()
    with pytest.raises(KeyError_, match=message):
        load_private_key(_pkcs8(raw), _no_password)
    public_pem = raw.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyError_, match=message):
        load_public_key(public_pem)


def test_garbage_and_tampered_key_files() -> None:
    with pytest.raises(KeyError_, match="is not a PEM key file"):
        load_private_key(b"hello", _no_password, source="k")
    body = _pem_body((FIXTURES / "cosign.key").read_bytes())
    body["kdf"]["params"]["N"] = 1 << 30  # would make scrypt allocate a terabyte
    hostile = encrypt_like(body)
    with pytest.raises(KeyError_, match="unsupported scrypt parameters"):
        load_private_key(hostile, _password())
    with pytest.raises(KeyError_, match="malformed encrypted key"):
        load_private_key(encrypt_like({"kdf": "x"}), _password())


def encrypt_like(body: dict) -> bytes:
    encoded = base64.b64encode(json.dumps(body).encode()).decode()
    return f"-----BEGIN {SIGSTORE_LABEL}-----\n{encoded}\n-----END {SIGSTORE_LABEL}-----\n".encode()


# -- the CLI -----------------------------------------------------------------------------------


def test_keygen_writes_a_loadable_pair_and_refuses_to_overwrite(tmp_path: Path) -> None:
    prefix = tmp_path / "release"
    result = run_gate("keygen", "--output-prefix", str(prefix), env={"GATE_PASSWORD": "s3cret"})
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    private, public = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    key = load_private_key(private.read_bytes(), _password(b"s3cret"))
    assert load_public_key(public.read_bytes()).der() == key.public_key.der()
    again = run_gate("keygen", "--output-prefix", str(prefix), env={"GATE_PASSWORD": "x"})
    assert again.returncode == 1
    assert (
        again.stderr.strip()
        == f"gate: error: {private} already exists; remove it or choose another --output-prefix"
    )
    assert load_private_key(private.read_bytes(), _password(b"s3cret")).pkcs8_der() == key.pkcs8_der()


def test_keygen_takes_cosign_password_and_legacy_label(tmp_path: Path) -> None:
    env = {"COSIGN_PASSWORD": "from-cosign"}
    result = run_gate("keygen", "--cosign-label", "--output-prefix", str(tmp_path / "k"), env=env)
    assert result.returncode == 0, result.stderr
    pem = (tmp_path / "k.key").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    load_private_key(pem, _password(b"from-cosign"))


def test_keygen_without_password_or_terminal_fails_closed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GATE_PASSWORD", "COSIGN_PASSWORD")}
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "gate", "keygen", "--output-prefix", str(tmp_path / "k")],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 1
    assert "no password for" in result.stderr and "GATE_PASSWORD" in result.stderr
    assert not (tmp_path / "k.key").exists()


def test_keygen_prompts_on_a_terminal_and_never_echoes(tmp_path: Path) -> None:
    import pty
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if k not in ("GATE_PASSWORD", "COSIGN_PASSWORD")}
    pid, terminal = pty.fork()  # the child gets the pty as its controlling terminal, as a shell would
    if pid == 0:
        os.execve(  # noqa: S606 - an argument list, no shell
            sys.executable,
            [sys.executable, "-m", "gate", "keygen", "--output-prefix", str(tmp_path / "t")],
            env,
        )
    seen = b""
    deadline = time.monotonic() + 60
    for prompt in (b"Password for", b"Password again"):
        while prompt not in seen and time.monotonic() < deadline:
            seen += os.read(terminal, 1024)
        os.write(terminal, b"typed-secret\n")
    while time.monotonic() < deadline:
        try:
            chunk = os.read(terminal, 1024)
        except OSError:  # the child exited and closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"typed-secret" not in seen  # getpass turned echo off
    assert b"Private key written to" in seen
    load_private_key((tmp_path / "t.key").read_bytes(), _password(b"typed-secret"))
