"""`gate policy export`: verifier configuration consumers run before pull.

* containers-policy: the real skopeo 1.18 of Debian 13 (the ``trixie`` fixture of
  tests/test_skopeo_interop.py, debootstrapped, nothing mocked) reads the exported ``policy.json``
  and ``registries.d`` entry as they are, admits a gate-signed image and rejects an unsigned one.
* policy-controller and kyverno: no Kubernetes cluster can run here, so the documents are validated
  against the CRD JSON Schemas (tests/fixtures/schemas/k8s-crds) and checked to require exactly
  what ``gate verify --require`` requires.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gate.attest import types
from gate.image.build import LayerBuilder, build_image
from gate.image.reference import parse_registry_reference
from gate.image.registry import RegistryClient
from gate.verify.requirements import REQUIREMENT_NAMES
from tests.servers import RegistryServer
from tests.test_cli import run_gate
from tests.test_sign import COSIGN_KEY, FIXTURES, KEY_ENV, push_image
from tests.test_skopeo_interop import Trixie, trixie  # noqa: F401 - the session fixture

CRDS = Path(__file__).parent / "fixtures" / "schemas" / "k8s-crds"
PUBLIC_KEY = FIXTURES / "cosign.pub"
ALL = "sbom,vuln,provenance,vsa"


def export(*args: str) -> str:
    result = run_gate("policy", "export", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def validate(document: dict[str, Any], schema_file: str) -> None:
    schema = json.loads((CRDS / schema_file).read_text())
    jsonschema.Draft7Validator(schema).validate(document)


KEY_TRUST = ["--key", str(PUBLIC_KEY)]
KEYLESS_TRUST = ["--github-repo", "acme/app"]
CONTAINERS = ["-f", "containers-policy", "--images", "r.example/a"]
KYVERNO = ["-f", "kyverno", "--images", "r.example/a"]


@pytest.mark.parametrize("trust", [KEY_TRUST, KEYLESS_TRUST], ids=["key", "keyless"])
def test_policy_controller_requires_what_gate_verify_requires(trust: list[str]) -> None:
    text = export("-f", "policy-controller", "--images", "ghcr.io/acme/*", *trust, "--require", ALL,
                  "--require-vsa-passed")  # fmt: skip
    document = yaml.safe_load(text)
    validate(document, "policy.sigstore.dev/clusterimagepolicy_v1beta1.json")
    assert document["apiVersion"] == "policy.sigstore.dev/v1beta1"
    assert document["kind"] == "ClusterImagePolicy"
    assert document["spec"]["images"] == [{"glob": "ghcr.io/acme/*"}]
    (authority,) = document["spec"]["authorities"]
    attested = {item["predicateType"] for item in authority["attestations"]}
    for name in ALL.split(","):
        assert attested & set(REQUIREMENT_NAMES[name]), name
    (vsa,) = [item for item in authority["attestations"] if item["predicateType"] == types.SLSA_VSA_V1]
    assert vsa["policy"]["type"] == "cue" and 'verificationResult: "PASSED"' in vsa["policy"]["data"]
    if trust is KEY_TRUST:
        assert authority["key"]["data"] == PUBLIC_KEY.read_text()
    else:
        (identity,) = authority["keyless"]["identities"]
        assert identity["issuer"] == "https://token.actions.githubusercontent.com"
        assert identity["subjectRegExp"].startswith("^https://github\\.com/acme/app/")


@pytest.mark.parametrize("trust", [KEY_TRUST, KEYLESS_TRUST], ids=["key", "keyless"])
def test_kyverno_verify_images_requires_what_gate_verify_requires(trust: list[str], tmp_path: Path) -> None:
    out = tmp_path / "policy.yaml"
    export("-f", "kyverno", "--images", "ghcr.io/acme/*", *trust, "--require", ALL, "--require-vsa-passed",
           "--name", "acme-gate", "-o", str(out))  # fmt: skip
    document = yaml.safe_load(out.read_text())
    validate(document, "kyverno.io/clusterpolicy_v1.json")
    assert document["metadata"]["name"] == "acme-gate"
    (rule,) = document["spec"]["rules"]
    (verify,) = rule["verifyImages"]
    assert verify["imageReferences"] == ["ghcr.io/acme/*"]
    assert verify["failureAction"] == "Enforce" and verify["required"] is True
    attested = {item["type"]: item for item in verify["attestations"]}
    for name in ALL.split(","):
        assert set(attested) & set(REQUIREMENT_NAMES[name]), name
    (condition,) = attested[types.SLSA_VSA_V1]["conditions"][0]["all"]
    assert condition == {"key": "{{ verificationResult }}", "operator": "Equals", "value": "PASSED"}
    (entry,) = verify["attestors"][0]["entries"]
    if trust is KEY_TRUST:
        assert entry["keys"]["publicKeys"] == PUBLIC_KEY.read_text()
        assert entry["keys"]["rekor"]["ignoreTlog"] is True  # gate's key signatures have no tlog entry
    else:
        assert entry["keyless"]["issuer"] == "https://token.actions.githubusercontent.com"
    assert "&id" not in out.read_text()  # plain YAML, no anchors


def test_without_require_only_the_signature_is_required() -> None:
    document = yaml.safe_load(export("-f", "kyverno", "--images", "r.example/a", *KEY_TRUST))
    validate(document, "kyverno.io/clusterpolicy_v1.json")
    assert "attestations" not in document["spec"]["rules"][0]["verifyImages"][0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*CONTAINERS, *KEYLESS_TRUST, "-o", "OUT"], "e-mail identities"),
        ([*CONTAINERS, *KEY_TRUST, "--require", "sbom", "-o", "OUT"],
         "signatures only"),
        (["-f", "containers-policy", "--images", "r.example/*", *KEY_TRUST, "-o", "OUT"], "not by a glob"),
        ([*CONTAINERS, *KEY_TRUST], "give --output DIR"),
        (["-f", "helm", "--images", "r.example/a", *KEY_TRUST], "use one of containers-policy"),
        (["-f", "kyverno", "--images", "r.example/a"], "give either --key FILE or a keyless identity"),
        ([*KYVERNO, *KEY_TRUST, "--require", "nonsense"], "--require 'nonsense'"),
    ],
)  # fmt: skip
def test_what_a_format_cannot_express_is_an_error(args: list[str], message: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_gate("policy", "export", *[str(out) if arg == "OUT" else arg for arg in args])
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()  # nothing half-written


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_skopeo_admits_signed_and_rejects_unsigned_under_the_exported_policy(
    trixie: Trixie,  # noqa: F811 - the fixture imported above
    registry: RegistryServer,
) -> None:
    _, name, signed_digest = push_image(registry)
    repository = RegistryClient().repository(parse_registry_reference(f"{name}:v1"))
    unsigned_digest = build_image([LayerBuilder().add_file("etc/unsigned", b"u").build()]).push(
        repository, tag="unsigned"
    )
    assert run_gate("sign", f"{name}@{signed_digest}", "--key", COSIGN_KEY, env=KEY_ENV).returncode == 0

    host, inside = trixie.workdir()
    export("-f", "containers-policy", "--images", name, *KEY_TRUST, "-o", str(host))
    assert (host / "registries.d" / "gate.yaml").is_file()

    def skopeo_copy(digest: str) -> tuple[int, str]:
        result = trixie.run(
            "skopeo", "--policy", f"{inside}/policy.json", "--registries.d", f"{inside}/registries.d",
            "copy", "--src-tls-verify=false", "--remove-signatures",
            f"docker://{name}@{digest}", f"oci:{inside}/out-{digest[7:19]}:x",
        )  # fmt: skip
        return result.returncode, result.stderr

    code, stderr = skopeo_copy(signed_digest)
    assert code == 0, stderr
    code, stderr = skopeo_copy(unsigned_digest)
    assert code != 0
    assert "A signature was required, but no signature exists" in stderr, stderr
    # the default is reject: another repository of the same registry is refused outright
    _, other, other_digest = push_image(registry)
    result = trixie.run(
        "skopeo", "--policy", f"{inside}/policy.json", "--registries.d", f"{inside}/registries.d",
        "copy", "--src-tls-verify=false", f"docker://{other}@{other_digest}", f"oci:{inside}/other:x",
    )  # fmt: skip
    assert result.returncode != 0
    assert "Running image docker://" in result.stderr and "rejected by policy" in result.stderr, result.stderr
