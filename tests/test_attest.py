"""`gate attest` and the predicate builders: Statement v1 in DSSE, `.att` layers, --replace.

Envelopes are checked with ``cryptography`` directly (PAE computed here from the DSSE spec),
so a gate that signed the wrong bytes cannot pass by agreeing with itself.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gate.attest.cyclonedx import cyclonedx_predicate
from gate.attest.openvex import VexStatement, openvex_predicate
from gate.attest.provenance import provenance_predicate
from gate.attest.statement import build_statement
from gate.attest.types import resolve_predicate_type
from gate.attest.vsa import InputAttestation, Verdict, vsa_predicate
from gate.attest.vuln import ScanRun, vuln_predicate
from gate.errors import GateError, VerificationError
from gate.image.manifest import Manifest
from gate.image.store import ReadableStore, referrers_tag
from gate.model import Catalog, Distro, Package, PackageLocation
from gate.sign.keys import encrypt_private_key, generate_signing_key, load_public_key
from gate.sign.verify_key import verify_attestations
from tests.servers import RegistryServer
from tests.test_cli import run_gate
from tests.test_sign import COSIGN_KEY, FIXTURES, KEY_ENV, push_image

DSSE = "application/vnd.dsse.envelope.v1+json"
CYCLONEDX = "https://cyclonedx.org/bom"


def envelope_verifies(public_pem: bytes, envelope: dict) -> bytes:
    payload = base64.b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    signed = (
        b"DSSEv1 "
        + str(len(kind)).encode()
        + b" "
        + kind
        + b" "
        + str(len(payload)).encode()
        + b" "
        + payload
    )
    key = serialization.load_pem_public_key(public_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(base64.b64decode(envelope["signatures"][0]["sig"]), signed, ec.ECDSA(hashes.SHA256()))
    return payload


def att_layers(repository: ReadableStore, digest: str) -> list:
    document = repository.get_document(f"{referrers_tag(digest)}.att")
    assert isinstance(document, Manifest)
    return list(document.layers)


# -- statement and predicates -------------------------------------------------------------------


def test_statement_is_v1_and_keeps_integers() -> None:
    digest = "sha256:" + "ab" * 32
    raw = build_statement(
        "r.example/app", digest, "https://example.com/p", {"n": 1, "big": 2**53 + 1, "f": 0.5}
    )
    assert raw == (
        b'{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"r.example/app","digest":{"sha256":"'
        + b"ab" * 32
        + b'"}}],"predicateType":"https://example.com/p","predicate":{"n":1,"big":9007199254740993,"f":0.5}}'
    )


def test_cyclonedx_predicate_is_gates_sbom() -> None:
    location = PackageLocation("/var/lib/dpkg/status", 0, "sha256:" + "0" * 64)
    zlib = Package(
        "zlib1g",
        "1:1.2.13.dfsg-1",
        "deb",
        "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12",
        "dpkg-db-cataloger",
        (location,),
        ecosystem="Debian:12",
        arch="amd64",
    )
    predicate = cyclonedx_predicate(Catalog(packages=(zlib,), distro=Distro("debian", "12"), unknowns=()))
    assert predicate["bomFormat"] == "CycloneDX" and predicate["specVersion"] == "1.6"
    assert [c["purl"] for c in predicate["components"] if c.get("type") == "library"] == [zlib.purl]


def test_predicate_type_names() -> None:
    assert resolve_predicate_type("cyclonedx") == "https://cyclonedx.org/bom"
    assert resolve_predicate_type("spdxjson") == "https://spdx.dev/Document"
    assert resolve_predicate_type("slsaprovenance1") == "https://slsa.dev/provenance/v1"
    assert resolve_predicate_type("slsaprovenance") == "https://slsa.dev/provenance/v0.2"  # as in cosign
    assert resolve_predicate_type("vuln") == "https://cosign.sigstore.dev/attestation/vuln/v1"
    assert resolve_predicate_type("openvex") == "https://openvex.dev/ns"
    assert resolve_predicate_type("vsa") == "https://slsa.dev/verification_summary/v1"
    assert resolve_predicate_type("https://example.com/custom/v1") == "https://example.com/custom/v1"
    with pytest.raises(GateError, match="unknown predicate type 'sbom'"):
        resolve_predicate_type("sbom")


GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/app",
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/release.yml@refs/heads/main",
    "GITHUB_RUN_ID": "42",
    "GITHUB_RUN_ATTEMPT": "2",
    "GITHUB_EVENT_NAME": "push",
}
GITLAB_ENV = {
    "GITLAB_CI": "true",
    "CI_SERVER_URL": "https://gitlab.example",
    "CI_PROJECT_PATH": "acme/app",
    "CI_PROJECT_URL": "https://gitlab.example/acme/app",
    "CI_COMMIT_REF_NAME": "main",
    "CI_COMMIT_SHA": "89abcdef0123456789abcdef0123456789abcdef",
    "CI_JOB_NAME": "release",
    "CI_JOB_URL": "https://gitlab.example/acme/app/-/jobs/7",
    "CI_RUNNER_ID": "12",
}


def test_provenance_from_github_actions() -> None:
    predicate = provenance_predicate(GITHUB_ENV, finished_on="2026-01-02T03:04:05Z")
    definition, details = predicate["buildDefinition"], predicate["runDetails"]
    assert definition["buildType"] == "https://actions.github.io/buildtypes/workflow/v1"
    assert definition["externalParameters"]["workflow"] == {
        "ref": "refs/heads/main",
        "repository": "https://github.com/acme/app",
        "path": ".github/workflows/release.yml",
    }
    assert definition["resolvedDependencies"] == [
        {
            "uri": "git+https://github.com/acme/app@refs/heads/main",
            "digest": {"gitCommit": GITHUB_ENV["GITHUB_SHA"]},
        }
    ]
    assert (
        details["builder"]["id"]
        == "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
    )
    assert details["metadata"] == {
        "invocationId": "https://github.com/acme/app/actions/runs/42/attempts/2",
        "finishedOn": "2026-01-02T03:04:05Z",
    }


def test_provenance_from_gitlab_and_outside_ci() -> None:
    gitlab = provenance_predicate(GITLAB_ENV)
    assert gitlab["runDetails"]["builder"]["id"] == "https://gitlab.example/acme/app/-/runners/12"
    assert gitlab["runDetails"]["metadata"]["invocationId"] == "https://gitlab.example/acme/app/-/jobs/7"
    assert gitlab["buildDefinition"]["resolvedDependencies"][0]["digest"] == {
        "gitCommit": GITLAB_ENV["CI_COMMIT_SHA"]
    }
    local = provenance_predicate({}, started_on="2026-01-01T00:00:00Z", finished_on="2026-01-01T00:01:00Z")
    assert local["runDetails"]["builder"]["id"] == "urn:gate:local-builder"
    assert local["buildDefinition"]["resolvedDependencies"] == []
    assert local["runDetails"]["metadata"] == {
        "startedOn": "2026-01-01T00:00:00Z",
        "finishedOn": "2026-01-01T00:01:00Z",
    }


def test_vuln_vsa_and_openvex_predicates() -> None:
    vuln = vuln_predicate(
        ScanRun(
            "pkg:pypi/gate@0.1.0",
            "0.1.0",
            "https://osv.dev",
            "sha256:" + "1" * 64,
            {"findings": 3},
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:09Z",
        )
    )
    assert vuln["scanner"]["db"] == {"uri": "https://osv.dev", "version": "sha256:" + "1" * 64}
    assert vuln["scanner"]["result"] == {"findings": 3} and vuln["invocation"]["builder.id"] == ""
    assert vuln["metadata"] == {
        "scanStartedOn": "2026-01-01T00:00:00Z",
        "scanFinishedOn": "2026-01-01T00:00:09Z",
    }
    verdict = Verdict(
        verifier_id="https://gate.example/verifier",
        verifier_version="0.1.0",
        resource_uri="r.example/app@sha256:" + "2" * 64,
        policy_uri="https://gate.example/policy/default",
        policy_digest={"sha256": "3" * 64},
        passed=False,
        inputs=(InputAttestation("oci://r.example/app@sha256:" + "4" * 64, {"sha256": "4" * 64}),),
        time_verified="2026-01-01T00:00:00Z",
    )
    vsa = vsa_predicate(verdict)
    assert vsa["verificationResult"] == "FAILED" and vsa["slsaVersion"] == "1.0"
    assert vsa["inputAttestations"] == [
        {"uri": "oci://r.example/app@sha256:" + "4" * 64, "digest": {"sha256": "4" * 64}}
    ]
    assert vsa["policy"] == {"uri": "https://gate.example/policy/default", "digest": {"sha256": "3" * 64}}
    vex_statement = VexStatement(
        "CVE-2024-0001", ("pkg:oci/app",), "not_affected", "vulnerable_code_not_present"
    )
    one = openvex_predicate([vex_statement], author="gate", timestamp="2026-01-01T00:00:00Z")
    two = openvex_predicate([vex_statement], author="gate", timestamp="2026-02-01T00:00:00Z")
    assert one["@id"] == two["@id"] and one["@context"] == "https://openvex.dev/ns/v0.2.0"
    assert one["statements"] == [
        {
            "vulnerability": {"name": "CVE-2024-0001"},
            "products": [{"@id": "pkg:oci/app"}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_present",
        }
    ]
    with pytest.raises(GateError, match="needs a justification"):
        VexStatement("CVE-1", ("p",), "not_affected")
    with pytest.raises(GateError, match="VEX status 'ok'"):
        VexStatement("CVE-1", ("p",), "ok")


# -- gate attest ---------------------------------------------------------------------------------


def test_attest_writes_a_cosign_att_layer(registry: RegistryServer, tmp_path: Path) -> None:
    repository, name, digest = push_image(registry)
    predicate = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": []}
    (tmp_path / "bom.json").write_text(json.dumps(predicate))
    result = run_gate(
        "attest",
        f"{name}:v1",
        "--predicate",
        str(tmp_path / "bom.json"),
        "--type",
        "cyclonedx",
        "--key",
        COSIGN_KEY,
        env=KEY_ENV,
    )
    assert result.returncode == 0, result.stderr
    [layer] = att_layers(repository, digest)
    assert layer.media_type == DSSE
    assert layer.annotations == {"dev.cosignproject.cosign/signature": "", "predicateType": CYCLONEDX}
    raw = repository.read_blob(layer, 1 << 20)
    envelope = json.loads(raw)
    assert list(envelope) == ["payloadType", "payload", "signatures"]
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert envelope["signatures"][0]["keyid"] == ""
    statement = json.loads(envelope_verifies((FIXTURES / "cosign.pub").read_bytes(), envelope))
    assert statement == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": digest.split(":")[1]}}],
        "predicateType": CYCLONEDX,
        "predicate": predicate,
    }
    assert isinstance(statement["predicate"]["version"], int)
    public = load_public_key((FIXTURES / "cosign.pub").read_bytes())
    [verified] = verify_attestations(repository, digest, public, predicate_type=CYCLONEDX)
    assert verified.statement.predicate == predicate
    with pytest.raises(VerificationError, match=r"no https://slsa\.dev/provenance/v1 attestation"):
        verify_attestations(repository, digest, public, predicate_type="https://slsa.dev/provenance/v1")


def test_replace_drops_only_the_same_type_from_the_same_signer(
    registry: RegistryServer, tmp_path: Path
) -> None:
    repository, name, digest = push_image(registry)
    other = generate_signing_key()
    (tmp_path / "other.key").write_bytes(encrypt_private_key(other, b"fixture-password"))
    for version in (1, 2):
        (tmp_path / f"bom{version}.json").write_text(json.dumps({"version": version}))
    (tmp_path / "vex.json").write_text(json.dumps({"statements": []}))

    def attest(predicate: str, kind: str, key: str, *extra: str) -> None:
        result = run_gate(
            "attest",
            f"{name}:v1",
            "--predicate",
            str(tmp_path / predicate),
            "--type",
            kind,
            "--key",
            key,
            *extra,
            env=KEY_ENV,
        )
        assert result.returncode == 0, result.stderr

    attest("bom1.json", "cyclonedx", COSIGN_KEY)
    attest("bom1.json", "cyclonedx", COSIGN_KEY)  # the same statement by the same key: adds nothing
    attest("bom1.json", "cyclonedx", str(tmp_path / "other.key"))
    attest("vex.json", "openvex", COSIGN_KEY)
    assert len(att_layers(repository, digest)) == 3
    attest("bom2.json", "cyclonedx", COSIGN_KEY, "--replace")
    layers = att_layers(repository, digest)
    assert [layer.annotations["predicateType"] for layer in layers] == [
        CYCLONEDX,
        "https://openvex.dev/ns",
        CYCLONEDX,
    ]
    mine = load_public_key((FIXTURES / "cosign.pub").read_bytes())
    [bom] = verify_attestations(repository, digest, mine, predicate_type=CYCLONEDX)
    assert bom.statement.predicate == {"version": 2}
    [theirs] = verify_attestations(repository, digest, other.public_key, predicate_type=CYCLONEDX)
    assert theirs.statement.predicate == {"version": 1}


def test_attest_bad_input_publishes_nothing(registry: RegistryServer, tmp_path: Path) -> None:
    repository, name, _ = push_image(registry)
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "ok.json").write_text("{}")
    cases = [
        (("--predicate", str(tmp_path / "bad.json"), "--type", "vuln"), "bad.json is not valid JSON"),
        (("--predicate", str(tmp_path / "missing.json"), "--type", "vuln"), "cannot read"),
        (
            ("--predicate", str(tmp_path / "ok.json"), "--type", "nonsense"),
            "unknown predicate type 'nonsense'",
        ),
    ]
    for args, message in cases:
        result = run_gate("attest", f"{name}:v1", *args, "--key", COSIGN_KEY, env=KEY_ENV)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert repository.list_tags() == ["v1"]
