"""npm ``@sigstore/verify`` (pinned in tests/js) as an independent verifier of gate's keyless bundles.

Bundles come from the local Sigstore STAND-IN (tests/sigstore_stack.py) through gate's
``sign_dsse_keyless``; the JavaScript verifier is Sigstore's own, unmodified, installed with
``npm ci`` from tests/js/package-lock.json. node and npm are required: without them these
tests fail, they do not skip.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gate.sign.bundle import PRODUCTION_TRUSTED_ROOT
from gate.sign.dsse import IN_TOTO_PAYLOAD_TYPE
from gate.sign.keyless import sign_dsse_keyless
from tests.sigstore_stack import OIDC_ISSUER, SigstoreStack

CONFORMANCE = Path(__file__).parent / "fixtures" / "sigstore" / "conformance" / "bundle-verify"
WORKFLOW = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"


@pytest.fixture(scope="module")
def sigstore_js(js_tools: Path) -> Path:
    """tests/js installed (tests/js_tools.py): verify.mjs beside its node_modules."""
    return js_tools


def npm_verify(work: Path, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["node", "verify.mjs"], cwd=work, input=json.dumps(jobs), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    answers: list[dict[str, Any]] = json.loads(result.stdout)
    assert len(answers) == len(jobs)
    return answers


@pytest.fixture(scope="module")
def stack() -> Iterator[SigstoreStack]:
    with SigstoreStack() as running:
        yield running


@pytest.fixture(scope="module")
def trust_config(stack: SigstoreStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sigstore") / "trust_config.json"
    path.write_text(json.dumps(stack.client_trust_config()))
    return path


def statement(digest: str) -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "registry.test/acme/app", "digest": {"sha256": digest}}],
            "predicateType": "https://cyclonedx.org/bom",
            "predicate": {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []},
        }
    ).encode()


def test_npm_verifier_accepts_gate_bundles_and_rejects_tampering(sigstore_js, stack, trust_config):
    digest = hashlib.sha256(b"image").hexdigest()
    email_bundle = json.loads(
        sign_dsse_keyless(
            statement(digest), IN_TOTO_PAYLOAD_TYPE, identity_token=stack.token(), trust_config=trust_config
        )
    )
    workflow_bundle = json.loads(
        sign_dsse_keyless(
            statement(digest),
            IN_TOTO_PAYLOAD_TYPE,
            identity_token=stack.token(sub=WORKFLOW, email=None),
            trust_config=trust_config,
        )
    )
    tampered = json.loads(json.dumps(email_bundle))
    tampered["dsseEnvelope"]["payload"] = base64.b64encode(
        statement(hashlib.sha256(b"other").hexdigest())
    ).decode()
    root = stack.trusted_root()
    with SigstoreStack() as other:
        other_root = other.trusted_root()

    def job(
        bundle: dict[str, Any], identity: str, issuer: str = OIDC_ISSUER, trusted_root: Any = root
    ) -> dict:
        return {"bundle": bundle, "trustedRoot": trusted_root, "identity": identity, "issuer": issuer}

    good_email, good_workflow, payload_changed, wrong_identity, wrong_issuer, wrong_root = npm_verify(
        sigstore_js,
        [
            job(email_bundle, "ci@gate.test"),
            job(workflow_bundle, WORKFLOW),
            job(tampered, "ci@gate.test"),
            job(email_bundle, "evil@gate.test"),
            job(email_bundle, "ci@gate.test", issuer="https://other.example"),
            job(email_bundle, "ci@gate.test", trusted_root=other_root),
        ],
    )
    assert good_email == {"ok": True, "identity": "ci@gate.test", "issuer": OIDC_ISSUER}
    assert good_workflow == {"ok": True, "identity": WORKFLOW, "issuer": OIDC_ISSUER}
    assert payload_changed["ok"] is False and payload_changed["code"] == "TLOG_BODY_ERROR"
    assert wrong_identity["ok"] is False and wrong_identity["code"] == "UNTRUSTED_SIGNER_ERROR"
    assert "evil@gate.test" in wrong_identity["message"]
    assert wrong_issuer["ok"] is False and wrong_issuer["code"] == "UNTRUSTED_SIGNER_ERROR"
    assert wrong_root["ok"] is False


def test_npm_verifier_accepts_the_pinned_production_root(sigstore_js):
    """The root gate pins verifies a real production bundle in the JavaScript verifier too."""
    case = CONFORMANCE / "happy-path-v0.3"
    job = {
        "bundle": json.loads((case / "bundle.sigstore.json").read_text()),
        "trustedRoot": json.loads(PRODUCTION_TRUSTED_ROOT.read_text()),
        "identity": (
            "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
            ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
        ),
        "issuer": "https://token.actions.githubusercontent.com",
        "artifact": base64.b64encode((CONFORMANCE / "a.txt").read_bytes()).decode(),
    }
    wrong_artifact = {**job, "artifact": base64.b64encode(b"not a.txt").decode()}
    accepted, rejected = npm_verify(sigstore_js, [job, wrong_artifact])
    assert accepted["ok"] is True, accepted
    assert rejected["ok"] is False
