"""Offline verification of real Sigstore bundles: the sigstore-conformance cases and sigstore-python's assets.

Every bundle here was produced by Sigstore's production or staging instance (see
tests/fixtures/sigstore/NOTICE.md). The expectations are the upstream ones: a conformance case
whose directory ends in ``_fail`` must be rejected, every other must verify; the
sigstore-python expectations come from that project's own tests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from gate.errors import GateError, VerificationError
from gate.sign.bundle import (
    BUNDLE_MEDIA_TYPE,
    DSSE_CONTENT,
    MESSAGE_SIGNATURE_CONTENT,
    PRODUCTION_TRUSTED_ROOT,
    BundleVerificationError,
    bundle_envelope,
    describe_bundle,
    dsse_bundle,
    verify_bundle,
)
from gate.sign.keys import load_public_key

FIXTURES = Path(__file__).parent / "fixtures" / "sigstore"
CONFORMANCE = FIXTURES / "conformance" / "bundle-verify"
SIGSTORE_PYTHON = FIXTURES / "sigstore-python"
STAGING_ROOT = FIXTURES / "staging_trusted_root.json"
DEFAULT_IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
DEFAULT_ISSUER = "https://token.actions.githubusercontent.com"

# Cases verify_bundle cannot pass, each for a precise reason (a _fail case among them still
# fails, which is the expected outcome, but the reason is noted in the report).
KEY_BASED = {
    "managed-key-happy-path",
    "managed-key-and-trusted-root",
    "managed-key-no-key_fail",
    "managed-key-wrong-key_fail",
}
UPSTREAM_LIMITS = {
    "trust-root-tsa-validity-end-inclusive": (
        "sigstore-python 4.5.1 treats a TSA's validFor.end as exclusive "
        "(Verifier._verify_signed_timestamp: gen_time < validity_period_end); the spec says inclusive"
    ),
    "intoto-with-custom-trust-root": (
        "sigstore-python 4.5.1 verifies only dsse/hashedrekord log entries; this bundle's entry is "
        "intoto 0.0.2 (see test_intoto_entries_are_unsupported_upstream)"
    ),
}
# The check a rejected case must fail, where its README names a single defect.
EXPECTED_CHECK = {
    "bundle-malformed-json_fail": "bundle",
    "bundle-unknown-version_fail": "bundle",
    "bundle-empty-certificate-chain_fail": "bundle",
    "bundle-from-wrong-instance_fail": "certificate",
    "invalid-ct-key_fail": "certificate",
    "checkpoint-bad-keyhint_fail": "transparency-log",
    "checkpoint-wrong-roothash_fail": "transparency-log",
    "invalid-checkpoint-signature_fail": "transparency-log",
    "inclusion-proof-corrupted-hash_fail": "transparency-log",
    "set-invalid-signature_fail": "transparency-log",
    "dsse-mismatch-envelope_fail": "transparency-log",
    "dsse-mismatch-sig_fail": "transparency-log",
    "wrong-hashedrekord-entry_fail": "transparency-log",
    "dsse-invalid-sig_fail": "signature",
    "rekor2-dsse-invalid-sig_fail": "signature",
    "signature-mismatch_fail": "signature",
    "message-digest-mismatch_fail": "signature",
    "rekor2-timestamp-payload-mismatch_fail": "timestamp",
    "rekor2-timestamp-outside-tsa-cert-validity_fail": "timestamp",
    "trust-root-tlog-missing-validity-start_fail": "trusted-root",
    "managed-key-no-key_fail": "bundle",
    "managed-key-wrong-key_fail": "bundle",
}


def _case_file(case: Path, name: str, default: str) -> str:
    path = case / name
    return path.read_text().strip() if path.exists() else default


def _conformance_inputs(case: Path) -> dict[str, Any]:
    """verify_bundle arguments as the conformance README defines them for ``case``."""
    artifact = (case / "artifact") if (case / "artifact").exists() else CONFORMANCE / "a.txt"
    data = (case / "bundle.sigstore.json").read_bytes()
    try:
        is_dsse = "dsseEnvelope" in json.loads(data)
    except ValueError:
        is_dsse = False
    # a DSSE case's artifact is the statement's subject; a message signature's is the signed bytes
    subject = (
        {"artifact_digest": f"sha256:{hashlib.sha256(artifact.read_bytes()).hexdigest()}"}
        if is_dsse
        else {"payload": artifact.read_bytes()}
    )
    root = case / "trusted_root.json"
    return {
        "bundle": data,
        "trusted_root": root if root.exists() else None,
        "identity": _case_file(case, "identity", DEFAULT_IDENTITY),
        "issuer": _case_file(case, "issuer", DEFAULT_ISSUER),
        **subject,
    }


def _conformance_params() -> list[object]:
    params: list[object] = []
    for case in sorted(p for p in CONFORMANCE.iterdir() if p.is_dir()):
        marks = []
        if case.name in UPSTREAM_LIMITS:
            marks = [
                pytest.mark.xfail(
                    strict=True, raises=BundleVerificationError, reason=UPSTREAM_LIMITS[case.name]
                )
            ]
        elif case.name in KEY_BASED:
            continue  # tested in test_key_based_conformance_bundles_are_refused
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


def test_all_conformance_cases_are_present():
    cases = [p.name for p in CONFORMANCE.iterdir() if p.is_dir()]
    assert len(cases) == 70
    assert sum(name.endswith("_fail") for name in cases) == 49


@pytest.mark.parametrize("case", _conformance_params())
def test_conformance_case(case: Path):
    inputs = _conformance_inputs(case)
    if case.name.endswith("_fail"):
        with pytest.raises(BundleVerificationError) as raised:
            verify_bundle(**inputs)
        assert "\n" not in raised.value.diagnostics()
        if case.name in EXPECTED_CHECK:
            assert raised.value.check == EXPECTED_CHECK[case.name], raised.value.message
        return
    verified = verify_bundle(**inputs)
    assert verified.identity == inputs["identity"]
    assert verified.issuer == inputs["issuer"]
    if verified.content == DSSE_CONTENT:
        subject_digests = {s["digest"]["sha256"] for s in verified.statement["subject"]}
        assert str(inputs["artifact_digest"]).removeprefix("sha256:") in subject_digests
    else:
        assert verified.payload is None


@pytest.mark.parametrize(
    "name",
    [
        "intoto-expired-certificate_fail",
        "intoto-log-entry-mismatch_fail",
        "intoto-set-outside-signing-cert-validity_fail",
        "intoto-tsa-timestamp-outside-cert-validity_fail",
    ],
)
def test_intoto_entries_are_unsupported_upstream(name: str):
    """These _fail cases are rejected, but for their intoto log entry, before their own defect.

    When sigstore-python learns intoto entries this fails: re-check these cases and the
    intoto-with-custom-trust-root xfail then.
    """
    with pytest.raises(BundleVerificationError, match="only supported for dsse/hashedrekord"):
        verify_bundle(**_conformance_inputs(CONFORMANCE / name))


@pytest.mark.parametrize("name", sorted(KEY_BASED))
def test_key_based_conformance_bundles_are_refused(name: str):
    """verify_bundle is keyless only: a public-key bundle is named as such, never half-verified."""
    with pytest.raises(BundleVerificationError, match="signed with a key") as raised:
        verify_bundle(**_conformance_inputs(CONFORMANCE / name))
    assert raised.value.check == "bundle"


def test_wrong_identity_is_rejected_by_the_identity_check():
    inputs = _conformance_inputs(CONFORMANCE / "happy-path-v0.3")
    inputs["identity"] = "https://github.com/evil/repo/.github/workflows/release.yml@refs/heads/main"
    with pytest.raises(BundleVerificationError, match="SANs do not match") as raised:
        verify_bundle(**inputs)
    assert raised.value.check == "identity"


def test_wrong_issuer_is_rejected_by_the_identity_check():
    inputs = _conformance_inputs(CONFORMANCE / "happy-path-intoto-in-dsse-v3")
    inputs["issuer"] = "https://gitlab.com"
    with pytest.raises(BundleVerificationError) as raised:
        verify_bundle(**inputs)
    assert raised.value.check == "identity"


def test_dsse_bundle_about_another_artifact_fails_the_subject_check():
    inputs = _conformance_inputs(CONFORMANCE / "happy-path-intoto-in-dsse-v3")
    inputs["artifact_digest"] = "sha256:" + hashlib.sha256(b"another image").hexdigest()
    with pytest.raises(BundleVerificationError, match="no subject") as raised:
        verify_bundle(**inputs)
    assert raised.value.check == "subject"


def test_dsse_bundle_checked_against_exact_payload():
    inputs = _conformance_inputs(CONFORMANCE / "happy-path-intoto-in-dsse-v3")
    payload = describe_payload(inputs["bundle"])
    del inputs["artifact_digest"]
    assert verify_bundle(**inputs, payload=payload).payload == payload
    with pytest.raises(BundleVerificationError) as raised:
        verify_bundle(**inputs, payload=payload + b" ")
    assert raised.value.check == "subject"


def describe_payload(bundle: bytes) -> bytes:
    import base64

    return base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"])


def test_message_signature_verifies_by_digest_and_rejects_other_bytes():
    inputs = _conformance_inputs(CONFORMANCE / "happy-path-v0.3")
    payload = inputs.pop("payload")
    digest = "sha256:" + hashlib.sha256(payload).hexdigest()
    assert verify_bundle(**inputs, artifact_digest=digest).content == MESSAGE_SIGNATURE_CONTENT
    with pytest.raises(BundleVerificationError) as raised:
        verify_bundle(**inputs, payload=b"not the signed artifact")
    assert raised.value.check == "signature"


def test_without_identity_any_certified_signer_is_reported():
    inputs = _conformance_inputs(CONFORMANCE / "happy-path-v0.2")
    verified = verify_bundle(inputs["bundle"], payload=inputs["payload"], identity=None, issuer=None)
    assert verified.identity == DEFAULT_IDENTITY
    assert verified.issuer == DEFAULT_ISSUER
    assert verified.log_index > 0
    assert verified.integrated_time is not None and verified.integrated_time.year >= 2023


def test_bad_arguments_and_errors_are_gate_errors():
    data = (CONFORMANCE / "happy-path-v0.3" / "bundle.sigstore.json").read_bytes()
    with pytest.raises(ValueError, match="exactly one"):
        verify_bundle(data, identity=None, issuer=None)
    with pytest.raises(BundleVerificationError, match="sha256") as raised:
        verify_bundle(data, artifact_digest="md5:abc", identity=None, issuer=None)
    assert raised.value.check == "subject"
    assert issubclass(BundleVerificationError, VerificationError)
    assert issubclass(BundleVerificationError, GateError)


def test_unreadable_trusted_root_fails_the_trusted_root_check(tmp_path: Path):
    data = (CONFORMANCE / "happy-path-v0.3" / "bundle.sigstore.json").read_bytes()
    broken = tmp_path / "root.json"
    broken.write_text(
        '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": 7}'
    )
    for root in (broken, tmp_path / "missing.json"):
        with pytest.raises(BundleVerificationError) as raised:
            verify_bundle(data, payload=b"x", trusted_root=root, identity=None, issuer=None)
        assert raised.value.check == "trusted-root"
        assert str(root) in raised.value.message


def test_production_trusted_root_is_the_pinned_one():
    """The default root is Sigstore's production root from the sigstore 4.5.1 wheel (trust/README.md)."""
    digest = hashlib.sha256(PRODUCTION_TRUSTED_ROOT.read_bytes()).hexdigest()
    assert digest == "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66"
    document = json.loads(PRODUCTION_TRUSTED_ROOT.read_text())
    assert "https://rekor.sigstore.dev" in {log["baseUrl"] for log in document["tlogs"]}


def test_describe_bundle_reads_content_and_predicate_type():
    dsse = describe_bundle(
        (CONFORMANCE / "happy-path-intoto-in-dsse-v3" / "bundle.sigstore.json").read_bytes()
    )
    assert dsse.content == DSSE_CONTENT
    assert dsse.payload_type == "application/vnd.in-toto+json"
    assert (
        dsse.predicate_type
        == json.loads(
            describe_payload(
                (CONFORMANCE / "happy-path-intoto-in-dsse-v3" / "bundle.sigstore.json").read_bytes()
            )
        )["predicateType"]
    )
    message = describe_bundle((CONFORMANCE / "happy-path-v0.1" / "bundle.sigstore.json").read_bytes())
    assert message.content == MESSAGE_SIGNATURE_CONTENT
    assert message.media_type == "application/vnd.dev.sigstore.bundle+json;version=0.1"
    with pytest.raises(BundleVerificationError, match="media type"):
        describe_bundle(b'{"mediaType": "application/json"}')


def test_key_bundle_hint_matches_sigstores_format():
    """The public-key hint gate writes equals the one in Sigstore's own managed-key bundle."""
    case = CONFORMANCE / "managed-key-happy-path"
    key = load_public_key((case / "key.pub").read_bytes())
    upstream_hint = json.loads((case / "bundle.sigstore.json").read_text())["verificationMaterial"][
        "publicKey"
    ]
    from gate.sign.dsse import Envelope, Signature

    envelope = Envelope("application/vnd.in-toto+json", b'{"_type":"x"}', (Signature("", b"sig"),))
    written = json.loads(dsse_bundle(envelope, key))
    assert written["mediaType"] == BUNDLE_MEDIA_TYPE
    assert written["verificationMaterial"]["publicKey"] == upstream_hint
    assert bundle_envelope(json.dumps(written).encode()) == envelope


# -- sigstore-python's assets (staging and TSA) ----------------------------------------------


@pytest.mark.parametrize("name", ["bundle.txt", "bundle_v3.txt", "bundle_v3_alt.txt"])
def test_sigstore_python_staging_bundles_verify(name: str):
    artifact = (SIGSTORE_PYTHON / name).read_bytes()
    bundle = (SIGSTORE_PYTHON / f"{name}.sigstore").read_bytes()
    verified = verify_bundle(bundle, payload=artifact, trusted_root=STAGING_ROOT, identity=None, issuer=None)
    assert verified.identity and verified.issuer
    # the same bundle is not valid under the production root
    with pytest.raises(BundleVerificationError):
        verify_bundle(bundle, payload=artifact, trusted_root=None, identity=None, issuer=None)


@pytest.mark.parametrize(
    ("name", "suffix", "check", "message"),
    [
        ("bundle_cve_2022_36056.txt", ".sigstore", "transparency-log", "inconsistent with other materials"),
        ("bundle_invalid_version.txt", ".sigstore", "bundle", "mediaType"),
        ("bundle_no_cert_v1.txt", ".sigstore", "bundle", "certificate"),
        ("bundle_no_log_entry.txt", ".sigstore", "bundle", "exactly one log entry"),
        ("bundle_no_checkpoint.txt", ".sigstore", "bundle", "checkpoint"),
        ("bundle_v3_no_signed_time.txt", ".sigstore.json", "bundle", "inclusion promise or signed timestamp"),
    ],
)
def test_sigstore_python_bad_bundles_are_rejected(name: str, suffix: str, check: str, message: str):
    artifact = (SIGSTORE_PYTHON / name).read_bytes()
    bundle = (SIGSTORE_PYTHON / f"{name}{suffix}").read_bytes()
    with pytest.raises(BundleVerificationError, match=message) as raised:
        verify_bundle(bundle, payload=artifact, trusted_root=STAGING_ROOT, identity=None, issuer=None)
    assert raised.value.check == check


@pytest.fixture
def staging_root_with_tsa(tmp_path: Path) -> Path:
    """The staging root with sigstore-python's test TSA (tsa/ca.json), as its TSA tests configure it."""
    root = json.loads(STAGING_ROOT.read_text())
    root["timestampAuthorities"] = [json.loads((SIGSTORE_PYTHON / "tsa" / "ca.json").read_text())]
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(root))
    return path


def test_tsa_timestamped_bundle_verifies(staging_root_with_tsa: Path):
    artifact = (SIGSTORE_PYTHON / "tsa" / "bundle.txt").read_bytes()
    bundle = (SIGSTORE_PYTHON / "tsa" / "bundle.txt.sigstore").read_bytes()
    verify_bundle(bundle, payload=artifact, trusted_root=staging_root_with_tsa, identity=None, issuer=None)


@pytest.mark.parametrize(
    ("name", "message"), [("bundle.many_timestamp", "too many"), ("bundle.duplicate", "duplicate")]
)
def test_tsa_bad_timestamps_are_rejected(staging_root_with_tsa: Path, name: str, message: str):
    artifact = (SIGSTORE_PYTHON / "tsa" / "bundle.txt").read_bytes()
    bundle = (SIGSTORE_PYTHON / "tsa" / f"{name}.sigstore").read_bytes()
    with pytest.raises(BundleVerificationError, match=message) as raised:
        verify_bundle(
            bundle, payload=artifact, trusted_root=staging_root_with_tsa, identity=None, issuer=None
        )
    assert raised.value.check == "timestamp"
