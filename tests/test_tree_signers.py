"""`gate tree` names who claims to have signed each attachment (key hint or certificate identity)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from gate.sign.signer import signer_of_bundle, signer_of_certificate_pem
from tests.servers import RegistryServer
from tests.test_cli import run_gate
from tests.test_sign import COSIGN_KEY, FIXTURES, KEY_ENV, push_image


def test_tree_lists_signers_of_signatures_and_bundles(registry: RegistryServer) -> None:
    _, name, _ = push_image(registry)
    assert run_gate("sign", f"{name}:v1", "--key", COSIGN_KEY, "--bundle", env=KEY_ENV).returncode == 0
    tree = run_gate("tree", "-f", "json", f"{name}:v1")
    assert tree.returncode == 0, tree.stderr
    by_kind = {a["kind"]: a for a in json.loads(tree.stdout)["attachments"]}
    public = serialization.load_pem_public_key((FIXTURES / "cosign.pub").read_bytes())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    hint = base64.b64encode(hashlib.sha256(der).digest()).decode()
    assert by_kind["referrer"]["claimed_signers"] == [f"key {hint}"]
    assert by_kind["sig"]["claimed_signers"] == ["key (cosign stores no key id)"]
    table = run_gate("tree", f"{name}:v1")
    assert f"claims to be signed by key {hint} (unverified" in table.stdout


def _fulcio_like_certificate() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "test-only stand-in")])
    issuer_der = (
        b"\x0c"
        + bytes([len("https://token.actions.githubusercontent.com")])
        + (b"https://token.actions.githubusercontent.com")
    )
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.UniformResourceIdentifier(
                        "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main"
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), issuer_der), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def test_keyless_signer_from_certificate_and_bundle() -> None:
    certificate = _fulcio_like_certificate()
    expected = (
        "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main "
        "(https://token.actions.githubusercontent.com)"
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    assert signer_of_certificate_pem(pem) == expected
    raw = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
    bundle = json.dumps(
        {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"certificate": {"rawBytes": raw}},
        }
    ).encode()
    assert signer_of_bundle(bundle) == expected
    assert signer_of_bundle(b"not json") == "unknown (bundle is not JSON)"
    assert signer_of_certificate_pem("garbage") == "certificate (unreadable)"
