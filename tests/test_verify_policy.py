"""`gate verify --policy`: the policy re-evaluated on the attested SBOM with today's database.

An image is signed while the database knows no advisory for its packages; then a Debian advisory
(a real DSA record from tests/fixtures/osv) is added to the database. `gate verify --policy` must
find it, and must not read a single layer of the image: the real registry's own request log is
searched for blob requests of the image's layers.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate.attest import types
from gate.attest.cyclonedx import cyclonedx_predicate
from gate.image import RegistryClient
from gate.image.build import LayerBuilder, build_image
from gate.image.reference import parse_registry_reference
from gate.pipeline import catalog_reference
from gate.publish import publish
from gate.sign import cosign
from gate.sign.keys import generate_signing_key
from tests.servers import RegistryServer
from tests.signed_images import Pushed
from tests.test_cli import run_gate
from tests.test_scan import DPKG_STATUS, FIXTURES, OS_RELEASE

POLICY = """\
apiVersion: gate/v1
kind: Policy
metadata:
  name: no-high
rules:
  - id: no-high
    action: block
    description: no high or critical vulnerabilities
    vulnerabilities:
      severity: high
"""


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def database(path: Path, *records: str) -> Path:
    sources = [str(FIXTURES / "debian" / record) for record in records]
    result = run_gate("db", "import", "--db", str(path), *sources)
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture
def logging_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A real registry that writes every request to its access log."""
    with RegistryServer(tmp_path_factory.mktemp("access-log-registry"), access_log=True) as server:
        yield server


def blob_gets(registry: RegistryServer, digests: list[str]) -> int:
    """``GET /v2/.../blobs/<digest>`` lines for ``digests`` in the registry's own access log."""
    log = registry.log_path.read_text(errors="replace")
    return sum(len(re.findall(rf'"GET /v2/[^ ]*/blobs/{digest} ', log)) for digest in digests)


def test_vulnerability_disclosed_after_signing_closes_the_gate_without_reading_layers(
    logging_registry: RegistryServer, policy: Path, tmp_path: Path
) -> None:
    registry = logging_registry
    name = f"policy/{uuid.uuid4().hex[:8]}"
    ref = parse_registry_reference(f"{registry.host}/{name}:v1")
    repository = RegistryClient().repository(ref)
    layer = (
        LayerBuilder()
        .add_file("etc/os-release", OS_RELEASE)
        .add_file("var/lib/dpkg/status", DPKG_STATUS)
        .add_file("etc/marker", name.encode())
        .build()
    )
    built = build_image([layer])
    digest = built.push(repository, tag="v1")
    image = Pushed(repository, ref.name, digest)
    key = generate_signing_key()
    sbom = cyclonedx_predicate(catalog_reference(image.reference))  # what gate run attests
    publish(
        image.target,
        attestations=[cosign.attestation_entry(key, image.name, digest, types.CYCLONEDX, sbom)],
        signature=cosign.signature_entry(key, image.name, digest),
    )
    (tmp_path / "k.pub").write_bytes(key.public_key.pem())
    layers = [json_layer["digest"] for json_layer in json.loads(built.manifest)["layers"]]
    before = blob_gets(registry, layers)
    assert before >= 1  # cataloguing read the layer once, and the log shows it

    then = database(tmp_path / "then.db", "DSA-5523-1.json")  # no advisory for these packages yet
    args = (
        "verify",
        image.reference,
        "--key",
        str(tmp_path / "k.pub"),
        "--policy",
        str(policy),
        "--format",
        "json",
    )
    passed = run_gate(*args, "--db", str(then))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    [check] = [c for c in json.loads(passed.stdout)["checks"] if c["name"] == "policy"]
    assert check["passed"] and "policy no-high passes on the attested SBOM (2 packages)" in check["detail"]

    today = database(tmp_path / "today.db", "DSA-5523-1.json", "DSA-5514-1.json")  # disclosed since
    failed = run_gate(*args, "--db", str(today))
    assert failed.returncode == 2, failed.stdout + failed.stderr
    [check] = [c for c in json.loads(failed.stdout)["checks"] if c["name"] == "policy"]
    assert not check["passed"]
    assert "policy no-high fails on the attested SBOM today" in check["detail"]
    assert "no-high: DSA-5514-1" in check["detail"]
    assert blob_gets(registry, layers) == before  # not one layer was read by either verification


def test_no_attested_sbom_fails_the_policy_check(
    registry: RegistryServer, policy: Path, tmp_path: Path
) -> None:
    from tests.signed_images import signed_image

    key = generate_signing_key()
    image = signed_image(registry, key, [(types.COSIGN_VULN, {"scanner": {}})])
    (tmp_path / "k.pub").write_bytes(key.public_key.pem())
    db = database(tmp_path / "v.db", "DSA-5523-1.json")
    result = run_gate(
        "verify",
        image.reference,
        "--key",
        str(tmp_path / "k.pub"),
        "--policy",
        str(policy),
        "--db",
        str(db),
        "--format",
        "json",
    )
    assert result.returncode == 2
    [check] = [c for c in json.loads(result.stdout)["checks"] if c["name"] == "policy"]
    assert check["detail"] == "no SBOM attestation signed by the trust to re-evaluate"


def test_db_without_policy_is_a_usage_error(registry: RegistryServer, tmp_path: Path) -> None:
    (tmp_path / "k.pub").write_bytes(generate_signing_key().public_key.pem())
    args = ("--key", str(tmp_path / "k.pub"), "--db", str(tmp_path / "v.db"))
    result = run_gate("verify", f"{registry.host}/x/y:1", *args)
    assert result.returncode == 1 and "--db is for --policy" in result.stderr
