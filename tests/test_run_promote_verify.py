"""The product end to end: `gate run` signs, `gate promote` copies, `gate verify` checks at the destination.

Two real registries; the sample image; the run's own VSA policy digest, its in-toto link for the
gate step inside a two-step layout, and the policy re-evaluated on the attested SBOM.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from gate.sign.keys import encrypt_private_key, generate_signing_key, load_private_key
from tests.servers import RegistryServer
from tests.test_cli import run_gate
from tests.test_run import files, gate_run, push_sample  # noqa: F401 - `files` is the module fixture
from tests.test_sign import COSIGN_KEY, FIXTURES, KEY_ENV
from tests.test_verify_intoto import SupplyChain

REQUIRE = "sbom,vuln,provenance,vsa"


def test_run_then_promote_then_verify_at_the_destination(
    make_registry: Callable[..., RegistryServer],
    files: Path,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    staging, production = make_registry(), make_registry()
    _, reference, digest = push_sample(staging)
    signer = load_private_key(Path(COSIGN_KEY).read_bytes(), lambda: KEY_ENV["GATE_PASSWORD"].encode())
    (tmp_path / "chain").mkdir()
    chain = SupplyChain(tmp_path / "chain", signer)
    link = ("--in-toto-link", str(chain.links))
    ran = gate_run(reference, files, "waived.yaml", "--key", COSIGN_KEY, *link, "--format", "json")
    assert ran.returncode == 0, ran.stderr
    policy_digest = json.loads(ran.stdout)["platforms"][0]["decision"]["policy"]["digest"]
    chain.build_link(digest)

    promoter = tmp_path / "promoter.key"
    promoter.write_bytes(encrypt_private_key(generate_signing_key(), b"p"))
    trust = ("--key", str(FIXTURES / "cosign.pub"))
    in_toto = (
        "--in-toto-layout",
        str(chain.layout),
        "--layout-key",
        str(chain.directory / "owner.pub"),
        "--links",
        str(chain.links),
    )
    destination = f"{production.host}/prod/sample"
    promoted = run_gate(
        "promote", reference, destination, *trust, "--require", REQUIRE, "--policy-digest", policy_digest,
        *in_toto, "--signing-key", str(promoter), "--format", "json", env={"GATE_PASSWORD": "p"},
    )  # fmt: skip
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr

    policy = ("--policy", str(files / "waived.yaml"), "--db", str(files / "vulns.db"), "--allow-stale-db")
    verified = run_gate(
        "verify", f"{destination}:v1", *trust, "--require", REQUIRE, "--policy-digest", policy_digest,
        *policy, *in_toto, "--format", "json",
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    checks = {c["name"]: c for c in json.loads(verified.stdout)["checks"]}
    assert set(checks) == {
        "signature", "attestation sbom", "attestation vuln", "attestation provenance", "attestation vsa",
        "vsa", "policy", "in-toto",
    }  # fmt: skip
    assert checks["vsa"]["data"]["policyDigest"] == policy_digest

    other_policy = "sha256:" + "0" * 64
    refused = run_gate(
        "verify", f"{destination}:v1", *trust, "--policy-digest", other_policy, "--format", "json"
    )
    assert refused.returncode == 2
    assert f"not {other_policy}" in " ".join(json.loads(refused.stdout)["reasons"])
