"""Keyless signing end to end against the local Sigstore STAND-IN (tests/sigstore_stack.py).

gate signs through sigstore-python's real signing path; the resulting bundles are checked with
sigstore-python's **unmodified** ``Verifier`` given the stand-in's trusted root, and with gate's
own ``verify_bundle``. The npm ``@sigstore/verify`` cross-check is in test_keyless_npm.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sigstore.errors import VerificationError as SigstoreVerificationError
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity

from gate.errors import GateError
from gate.sign.bundle import BUNDLE_MEDIA_TYPE, BundleVerificationError, verify_bundle
from gate.sign.dsse import IN_TOTO_PAYLOAD_TYPE
from gate.sign.keyless import (
    MAX_INLINE_STATEMENT_BYTES,
    REKOR_PUBLIC_ENTRY_LIMIT,
    KeylessError,
    detect_identity_token,
    needs_detached_predicate,
    sign_dsse_keyless,
)
from tests.sigstore_stack import OIDC_ISSUER, SigstoreStack

AMBIENT = (
    "GATE_IDENTITY_TOKEN",
    "SIGSTORE_ID_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)
IMAGE_DIGEST = hashlib.sha256(b"an image manifest").hexdigest()
WORKFLOW = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"


def statement(digest: str = IMAGE_DIGEST, predicate: Any = None) -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "registry.test/acme/app", "digest": {"sha256": digest}}],
            "predicateType": "https://sigstore.dev/cosign/sign/v1",
            "predicate": predicate if predicate is not None else {},
        },
        separators=(",", ":"),
    ).encode()


@pytest.fixture(scope="module")
def stack() -> Iterator[SigstoreStack]:
    with SigstoreStack() as running:
        yield running


@pytest.fixture(scope="module")
def trust_config(stack: SigstoreStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sigstore") / "trust_config.json"
    path.write_text(json.dumps(stack.client_trust_config()))
    return path


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)


def sigstore_verifier(trust_config: Path) -> Verifier:
    """sigstore-python's own Verifier, unmodified, trusting only the stand-in."""
    return Verifier(trusted_root=ClientTrustConfig.from_json(trust_config.read_text()).trusted_root)


def test_keyless_bundle_verifies_with_the_unmodified_sigstore_verifier(stack, trust_config):
    signed = statement()
    entries_before = len(stack.log.bodies)
    data = sign_dsse_keyless(
        signed, IN_TOTO_PAYLOAD_TYPE, identity_token=stack.token(), trust_config=trust_config
    )

    document = json.loads(data)
    assert document["mediaType"] == BUNDLE_MEDIA_TYPE
    assert set(document["verificationMaterial"]) >= {"certificate", "tlogEntries"}
    assert document["dsseEnvelope"]["payloadType"] == IN_TOTO_PAYLOAD_TYPE
    assert base64.b64decode(document["dsseEnvelope"]["payload"]) == signed
    assert len(stack.log.bodies) == entries_before + 1

    payload_type, payload = sigstore_verifier(trust_config).verify_dsse(
        Bundle.from_json(data), Identity(identity="ci@gate.test", issuer=OIDC_ISSUER)
    )
    assert (payload_type, payload) == (IN_TOTO_PAYLOAD_TYPE, signed)


def test_keyless_bundle_verifies_with_verify_bundle(stack, trust_config):
    data = sign_dsse_keyless(
        statement(), IN_TOTO_PAYLOAD_TYPE, identity_token=stack.token(), trust_config=trust_config
    )
    verified = verify_bundle(
        data,
        artifact_digest=f"sha256:{IMAGE_DIGEST}",
        trusted_root=trust_config,
        identity="ci@gate.test",
        issuer=OIDC_ISSUER,
    )
    assert verified.identity == "ci@gate.test"
    assert verified.issuer == OIDC_ISSUER
    assert verified.statement["predicateType"] == "https://sigstore.dev/cosign/sign/v1"
    entry = json.loads(data)["verificationMaterial"]["tlogEntries"][0]
    assert entry["logIndex"] == str(verified.log_index)
    assert base64.b64decode(entry["canonicalizedBody"]) == stack.log.bodies[verified.log_index]


def test_workflow_identity_is_a_uri_san(stack, trust_config):
    token = stack.token(sub=WORKFLOW, email=None)
    data = sign_dsse_keyless(
        statement(), IN_TOTO_PAYLOAD_TYPE, identity_token=token, trust_config=trust_config
    )
    sigstore_verifier(trust_config).verify_dsse(
        Bundle.from_json(data), Identity(identity=WORKFLOW, issuer=OIDC_ISSUER)
    )
    verified = verify_bundle(
        data,
        artifact_digest=f"sha256:{IMAGE_DIGEST}",
        trusted_root=trust_config,
        identity=WORKFLOW,
        issuer=None,
    )
    assert verified.identity == WORKFLOW


@pytest.fixture(scope="module")
def signed_bundle(stack: SigstoreStack, trust_config: Path) -> bytes:
    return sign_dsse_keyless(
        statement(), IN_TOTO_PAYLOAD_TYPE, identity_token=stack.token(), trust_config=trust_config
    )


def tampered_payload(data: bytes) -> bytes:
    """The same bundle with the statement's subject digest changed (signature left as is)."""
    document = json.loads(data)
    other = statement(hashlib.sha256(b"another image").hexdigest())
    document["dsseEnvelope"]["payload"] = base64.b64encode(other).decode()
    return json.dumps(document).encode()


def test_tampered_payload_is_rejected_by_both_verifiers(signed_bundle, trust_config):
    tampered = tampered_payload(signed_bundle)
    with pytest.raises(SigstoreVerificationError, match="DSSE: invalid signature"):
        sigstore_verifier(trust_config).verify_dsse(
            Bundle.from_json(tampered), Identity(identity="ci@gate.test")
        )
    with pytest.raises(BundleVerificationError) as raised:
        verify_bundle(
            tampered,
            artifact_digest=f"sha256:{hashlib.sha256(b'another image').hexdigest()}",
            trusted_root=trust_config,
            identity="ci@gate.test",
            issuer=OIDC_ISSUER,
        )
    assert raised.value.check == "signature"


def test_wrong_identity_and_issuer_are_rejected_by_both_verifiers(signed_bundle, trust_config):
    verifier = sigstore_verifier(trust_config)
    with pytest.raises(SigstoreVerificationError, match="SANs do not match"):
        verifier.verify_dsse(Bundle.from_json(signed_bundle), Identity(identity="evil@gate.test"))
    with pytest.raises(SigstoreVerificationError, match="OIDCIssuer does not match"):
        verifier.verify_dsse(
            Bundle.from_json(signed_bundle), Identity(identity="ci@gate.test", issuer="https://other.example")
        )
    for identity, issuer in (("evil@gate.test", OIDC_ISSUER), ("ci@gate.test", "https://other.example")):
        with pytest.raises(BundleVerificationError) as raised:
            verify_bundle(
                signed_bundle,
                artifact_digest=f"sha256:{IMAGE_DIGEST}",
                trusted_root=trust_config,
                identity=identity,
                issuer=issuer,
            )
        assert raised.value.check == "identity"


def test_another_instance_root_and_the_production_root_reject_the_bundle(signed_bundle, tmp_path):
    other_root = tmp_path / "other_root.json"
    with SigstoreStack() as other:  # same software, different keys
        other_root.write_text(json.dumps(other.trusted_root()))
    for root in (other_root, None):
        with pytest.raises(BundleVerificationError) as raised:
            verify_bundle(
                signed_bundle,
                artifact_digest=f"sha256:{IMAGE_DIGEST}",
                trusted_root=root,
                identity=None,
                issuer=None,
            )
        assert raised.value.check == "certificate"


# -- tokens ----------------------------------------------------------------------------------


def test_missing_token_says_how_to_get_one_and_signs_nothing(stack, trust_config):
    entries_before = len(stack.log.bodies)
    with pytest.raises(KeylessError) as raised:
        sign_dsse_keyless(statement(), IN_TOTO_PAYLOAD_TYPE, identity_token=None, trust_config=trust_config)
    message = raised.value.diagnostics()
    assert "\n" not in message
    for needle in ("permissions: id-token: write", "id_tokens", "aud: sigstore", ".gitlab-ci.yml"):
        assert needle in message
    assert len(stack.log.bodies) == entries_before
    assert isinstance(raised.value, GateError)


def test_token_from_the_environment_is_used(stack, trust_config, monkeypatch):
    _ci_environment(monkeypatch, GITLAB_CI="true")
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", stack.token(sub="gitlab", email="gitlab@gate.test"))
    data = sign_dsse_keyless(
        statement(), IN_TOTO_PAYLOAD_TYPE, identity_token=None, trust_config=trust_config
    )
    verified = verify_bundle(
        data, artifact_digest=f"sha256:{IMAGE_DIGEST}", trusted_root=trust_config, identity=None, issuer=None
    )
    assert verified.identity == "gitlab@gate.test"


@pytest.mark.parametrize(
    ("token_args", "message"),
    [
        ({"ttl": -60}, "unusable"),
        ({"aud": "not-sigstore"}, "unusable"),
        ({"issuer": "https://untrusted.example"}, "keyless signing failed"),
    ],
)
def test_refused_tokens_give_one_line_errors_without_the_token(stack, trust_config, token_args, message):
    token = stack.token(**token_args)
    errors_before = len(stack.errors)
    with pytest.raises(KeylessError, match=message) as raised:
        sign_dsse_keyless(statement(), IN_TOTO_PAYLOAD_TYPE, identity_token=token, trust_config=trust_config)
    text = raised.value.diagnostics()
    assert token not in text and token.split(".")[1] not in text
    assert "\n" not in text
    if "issuer" in token_args:  # refused by the stand-in's Fulcio, not by the client
        assert "identity token rejected" in stack.errors[errors_before]


def test_payload_must_be_an_in_toto_statement(stack, trust_config):
    with pytest.raises(KeylessError, match="in-toto"):
        sign_dsse_keyless(b"{}", "application/json", identity_token=stack.token(), trust_config=trust_config)
    with pytest.raises(KeylessError, match="not an in-toto v1 statement"):
        sign_dsse_keyless(
            b'{"_type": "x"}', IN_TOTO_PAYLOAD_TYPE, identity_token=stack.token(), trust_config=trust_config
        )


def test_bad_trust_config_is_a_clear_error(stack, tmp_path):
    with pytest.raises(KeylessError, match="cannot read trust config"):
        sign_dsse_keyless(
            statement(),
            IN_TOTO_PAYLOAD_TYPE,
            identity_token=stack.token(),
            trust_config=tmp_path / "absent.json",
        )
    broken = tmp_path / "broken.json"
    broken.write_text('{"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"}')
    with pytest.raises(KeylessError, match="unusable Sigstore trust config"):
        sign_dsse_keyless(
            statement(), IN_TOTO_PAYLOAD_TYPE, identity_token=stack.token(), trust_config=broken
        )


# -- public Rekor's size limit ---------------------------------------------------------------


def test_detached_predicate_threshold():
    assert not needs_detached_predicate(b"x" * MAX_INLINE_STATEMENT_BYTES)
    assert needs_detached_predicate(b"x" * (MAX_INLINE_STATEMENT_BYTES + 1))


def test_largest_inline_statement_fits_public_rekor(stack, trust_config):
    """What sigstore actually posts to Rekor for the largest inline statement stays under 100 KB."""
    filler = "x" * MAX_INLINE_STATEMENT_BYTES
    skeleton = statement(predicate={"data": ""})
    largest = statement(predicate={"data": filler[: MAX_INLINE_STATEMENT_BYTES - len(skeleton)]})
    assert len(largest) == MAX_INLINE_STATEMENT_BYTES
    sign_dsse_keyless(largest, IN_TOTO_PAYLOAD_TYPE, identity_token=stack.token(), trust_config=trust_config)
    assert stack.entry_request_sizes[-1] < REKOR_PUBLIC_ENTRY_LIMIT


def test_production_refuses_a_statement_public_rekor_would_reject():
    """Fails before any network use (no token, no TUF): the size check comes first."""
    large = statement(predicate={"sbom": "x" * MAX_INLINE_STATEMENT_BYTES})
    with pytest.raises(KeylessError, match="own artifact"):
        sign_dsse_keyless(large, IN_TOTO_PAYLOAD_TYPE, identity_token=None, trust_config=None)


# -- ambient credentials ---------------------------------------------------------------------


_CI_VARIABLES = (
    "GATE_IDENTITY_TOKEN",
    "GITHUB_ACTIONS",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "GITLAB_CI",
    "SIGSTORE_ID_TOKEN",
    "GOOGLE_SERVICE_ACCOUNT_NAME",
    "BUILDKITE",
    "CIRCLECI",
)


def _ci_environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Exactly ``variables`` of the CI conventions sigstore's detection looks at (this may run in a CI)."""
    for name in _CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_detect_identity_token_explicit_override_then_ambient(monkeypatch):
    _ci_environment(monkeypatch)
    assert detect_identity_token() is None
    _ci_environment(monkeypatch, GITLAB_CI="true", SIGSTORE_ID_TOKEN=_jwt(aud="sigstore"))
    assert detect_identity_token() == _jwt(aud="sigstore")
    _ci_environment(monkeypatch, GATE_IDENTITY_TOKEN="mine", GITLAB_CI="true", SIGSTORE_ID_TOKEN="gitlab")
    assert detect_identity_token() == "mine"
    # GitLab without the job's id_tokens declaration: a one-line error naming the variable
    _ci_environment(monkeypatch, GATE_IDENTITY_TOKEN=" ", GITLAB_CI="true")
    with pytest.raises(KeylessError, match="SIGSTORE_ID_TOKEN"):
        detect_identity_token()
    # GitHub without `id-token: write` sets neither request variable
    _ci_environment(monkeypatch, GITHUB_ACTIONS="true")
    with pytest.raises(KeylessError, match=r"id-token|ACTIONS_ID_TOKEN_REQUEST"):
        detect_identity_token()


def _jwt(**claims: str) -> str:
    import base64

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.c2ln"


class GitHubTokenEndpoint:
    """A STAND-IN for the GitHub Actions runtime's OIDC token endpoint (no real one runs here).

    It answers like the real one: ``GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=<aud>`` with
    ``Authorization: bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>`` gives ``{"value": "<jwt>"}``.
    """

    request_token = "ghs_request-token-for-tests"

    def __init__(self, id_token: str) -> None:
        endpoint = self
        self.audiences: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                endpoint.audiences += query.get("audience", [])
                ok = self.headers.get("Authorization") == f"bearer {endpoint.request_token}"
                body = json.dumps({"value": id_token} if ok else {"message": "Bad credentials"}).encode()
                self.send_response(200 if ok else 403)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        # the runtime's URL already carries a query string (api-version=...)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/_apis/token?api-version=2.0"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_github_actions_token_is_requested_for_audience_sigstore(stack, trust_config, monkeypatch):
    endpoint = GitHubTokenEndpoint(stack.token(sub=WORKFLOW, email=None))
    try:
        _ci_environment(
            monkeypatch,
            GITHUB_ACTIONS="true",
            ACTIONS_ID_TOKEN_REQUEST_URL=endpoint.url,
            ACTIONS_ID_TOKEN_REQUEST_TOKEN=endpoint.request_token,
        )
        token = detect_identity_token()
        assert endpoint.audiences == ["sigstore"]
        data = sign_dsse_keyless(
            statement(), IN_TOTO_PAYLOAD_TYPE, identity_token=token, trust_config=trust_config
        )
        assert (
            verify_bundle(
                data,
                artifact_digest=f"sha256:{IMAGE_DIGEST}",
                trusted_root=trust_config,
                identity=WORKFLOW,
                issuer=None,
            ).identity
            == WORKFLOW
        )
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "wrong")
        with pytest.raises(KeylessError, match="code=403") as raised:
            detect_identity_token()
        assert "wrong" not in raised.value.message
    finally:
        endpoint.close()


def test_unreachable_github_endpoint_is_a_keyless_error(monkeypatch):
    _ci_environment(
        monkeypatch,
        GITHUB_ACTIONS="true",
        ACTIONS_ID_TOKEN_REQUEST_URL="http://127.0.0.1:9/token",
        ACTIONS_ID_TOKEN_REQUEST_TOKEN="secret-req",
    )
    with pytest.raises(KeylessError, match=r"timed out|request failed") as raised:
        detect_identity_token()
    assert "secret-req" not in raised.value.message
