"""`gate run` end to end against a real registry: fail publishes nothing, pass publishes everything once.

The image is gate's sample (flask 2.0.0, hit by PYSEC-2023-62, which no source rates: a blocking
finding under a policy that blocks unrated vulnerabilities). The passing policy waives it, so the
pass path also publishes an OpenVEX attestation. Everything published is checked with the
``cryptography`` package through gate's key verification, and in the slow tests with cosign 2.5
and skopeo 1.18 from Debian 13.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from gate.attest.types import COSIGN_VULN, CYCLONEDX, OPENVEX, SLSA_PROVENANCE_V1, SLSA_VSA_V1
from gate.image import RegistryClient
from gate.image.build import build_image, build_index
from gate.image.manifest import OCI_INDEX, Manifest, Platform
from gate.image.reference import parse_registry_reference
from gate.image.store import Store
from gate.sample import build_sample
from gate.sign.keys import load_public_key
from gate.sign.verify_key import verify_attestations
from gate.vulndb import VulnDB, import_paths
from tests.servers import RegistryServer
from tests.test_cli import run_gate
from tests.test_sign import COSIGN_KEY, FIXTURES, KEY_ENV

SAMPLE_ADVISORIES = Path(__file__).parents[1] / "gate" / "sample" / "osv"
FINDING = "PYSEC-2023-62"
BLOCK_UNRATED = """\
apiVersion: gate/v1
kind: Policy
metadata: {name: block-high}
rules:
  - id: no-high-vulnerabilities
    action: block
    description: No high or critical (or unrated) vulnerabilities.
    vulnerabilities: {severity: high}
"""
WAIVED = (
    BLOCK_UNRATED
    + f"""\
waivers:
  - vulnerability: {FINDING}
    reason: the sample app never serves responses through a caching proxy
    owner: security@gate.test
    expires: "2099-01-01"
"""
)
ALL_TYPES = {CYCLONEDX, COSIGN_VULN, SLSA_PROVENANCE_V1, SLSA_VSA_V1}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("run")
    import_paths(base / "vulns.db", [SAMPLE_ADVISORIES])
    (base / "block.yaml").write_text(BLOCK_UNRATED)
    (base / "waived.yaml").write_text(WAIVED)
    return base


def push_sample(registry: RegistryServer) -> tuple[Store, str, str]:
    """The sample image in a fresh repository; (repository, reference by tag, digest)."""
    reference = f"{registry.host}/run/{uuid.uuid4().hex[:10]}:v1"
    repository = RegistryClient().repository(parse_registry_reference(reference))
    return repository, reference, build_sample().push(repository, tag="v1")


def gate_run(reference: str, files: Path, policy: str, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ("run", reference, "--policy", str(files / policy), "--db", str(files / "vulns.db"))
    return run_gate(*args, "--allow-stale-db", *extra, env=KEY_ENV)


def attachments(repository: Store, digest: str) -> tuple[list[str], list[str]]:
    """Every tag of the repository and every referrer of ``digest``: what a run may add."""
    return sorted(repository.list_tags()), sorted(d.digest for d in repository.referrers(digest))


def statements(repository: Store, digest: str) -> dict[str, dict]:
    key = load_public_key((FIXTURES / "cosign.pub").read_bytes())
    found = {}
    for verified in verify_attestations(repository, digest, key):
        statement = verified.statement
        assert statement.names_digest(digest)
        found[statement.predicate_type] = statement.predicate
    return found


def test_fail_exits_2_publishes_nothing_and_puts_blocking_findings_first(
    registry: RegistryServer, files: Path, tmp_path: Path
) -> None:
    repository, reference, digest = push_sample(registry)
    before = attachments(repository, digest)
    reports = tmp_path / "reports"
    result = gate_run(reference, files, "block.yaml", "--key", COSIGN_KEY, "--report-dir", str(reports))
    assert result.returncode == 2, result.stderr
    assert attachments(repository, digest) == before  # no tag, no referrer
    first = next(line for line in result.stdout.splitlines() if line.strip())
    assert "BLOCK" in first and FINDING in first, result.stdout
    assert "FAIL" in result.stdout
    decision = json.loads((reports / "decision.json").read_text())
    assert decision["verdict"] == "fail" and decision["published"] == []
    assert list(decision)[:4] == ["reference", "digest", "verdict", "missing_platforms"]
    assert [v["id"] for rule in decision["blocking"] for v in rule["violations"]] == [FINDING]
    assert {p.name for p in reports.iterdir()} == {
        "decision.json",
        "scan.json",
        "sbom.cdx.json",
        "sbom.spdx.json",
        "gate.sarif",
        "gl-container-scanning-report.json",
        "junit.xml",
        "summary.md",
        "report.html",
        "gate.env",
    }
    scan = json.loads((reports / "scan.json").read_text())
    assert [f["id"] for f in scan["findings"]] == [FINDING]
    assert json.loads((reports / "sbom.spdx.json").read_text())["spdxVersion"] == "SPDX-2.3"


def test_pass_publishes_signature_and_every_attestation_once(
    registry: RegistryServer, files: Path, tmp_path: Path
) -> None:
    repository, reference, digest = push_sample(registry)
    result = gate_run(reference, files, "waived.yaml", "--key", COSIGN_KEY, "--bundle", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "pass" and report["digest"] == digest
    found = statements(repository, digest)
    assert set(found) == ALL_TYPES | {OPENVEX}
    vsa = found[SLSA_VSA_V1]
    policy_digest = report["platforms"][0]["decision"]["policy"]["digest"]
    assert vsa["verificationResult"] == "PASSED"
    assert "sha256:" + vsa["policy"]["digest"]["sha256"] == policy_digest
    with VulnDB.open(files / "vulns.db") as db:
        assert vsa["gate.database"]["digest"] == db.digest
    assert vsa["resourceUri"] == f"{reference.rsplit(':', 1)[0]}@{digest}"
    [vex] = found[OPENVEX]["statements"]
    assert vex["vulnerability"]["name"] == FINDING and vex["status"] == "not_affected"
    assert found[SLSA_PROVENANCE_V1]["buildDefinition"]["buildType"] == "urn:gate:buildtypes:local/v1"
    assert found[COSIGN_VULN]["scanner"]["result"]["findings"][0]["id"] == FINDING
    assert {c["name"] for c in found[CYCLONEDX]["components"]} >= {"flask"}
    # signature last, one layer; bundles as referrers
    sig = repository.get_document(f"sha256-{digest.split(':')[1]}.sig")
    assert isinstance(sig, Manifest) and len(sig.layers) == 1
    kinds = [p["kind"] for p in report["published"]]
    assert kinds[-1] == "sig" and kinds.index("att") < kinds.index("sig")
    verified = run_gate("verify", reference, "--key", str(FIXTURES / "cosign.pub"),
                        "--require", "sbom,vuln,provenance,vsa", "--require-vsa-passed")  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # a second run publishes nothing new
    before = attachments(repository, digest)
    again = gate_run(reference, files, "waived.yaml", "--key", COSIGN_KEY, "--bundle", "--format", "json")
    assert again.returncode == 0, again.stderr
    assert attachments(repository, digest) == before
    resigned = repository.get_document(f"sha256-{digest.split(':')[1]}.sig")
    assert isinstance(resigned, Manifest) and len(resigned.layers) == 1
    assert set(statements(repository, digest)) == ALL_TYPES | {OPENVEX}


def test_no_sign_and_dry_run_publish_nothing(registry: RegistryServer, files: Path, tmp_path: Path) -> None:
    repository, reference, digest = push_sample(registry)
    before = attachments(repository, digest)
    verdict_only = gate_run(reference, files, "waived.yaml", "--no-sign")
    assert verdict_only.returncode == 0, verdict_only.stderr
    dry = gate_run(reference, files, "waived.yaml", "--key", COSIGN_KEY, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would publish: {digest}: attest {SLSA_VSA_V1}" in dry.stdout
    assert attachments(repository, digest) == before
    unsigned = gate_run(reference, files, "waived.yaml")
    assert unsigned.returncode == 1 and "--key FILE or --keyless" in unsigned.stderr


def test_every_platform_and_the_index_are_signed_only_when_all_pass(
    registry: RegistryServer, files: Path, tmp_path: Path
) -> None:
    from gate.image.build import LayerBuilder

    repository, reference, _ = push_sample(registry)
    clean = build_image([LayerBuilder().add_file("etc/os-release", b"ID=debian\nVERSION_ID=12\n").build()])
    clean.push(repository)
    amd64, arm64 = Platform("linux", "amd64"), Platform("linux", "arm64")
    index = build_index({amd64: clean, arm64: clean})
    repository.push_manifest(index, media_type=OCI_INDEX, tag="clean")
    index_ref = reference.replace(":v1", ":clean")
    result = gate_run(
        index_ref, files, "block.yaml", "--key", COSIGN_KEY, "--all-platforms", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [p["platform"] for p in report["platforms"]] == ["linux/amd64", "linux/arm64"]
    index_digest = report["digest"]
    on_index = statements(repository, index_digest)
    assert set(on_index) == ALL_TYPES  # consumers verify the digest the tag names: the index's
    assert on_index[SLSA_VSA_V1]["resourceUri"].endswith(f"@{index_digest}")
    assert on_index[COSIGN_VULN]["scanner"]["result"]["target"]["digest"] == index_digest
    verified = run_gate("verify", index_ref, "--key", str(FIXTURES / "cosign.pub"),
                        "--require", "sbom,vuln,provenance,vsa", "--require-vsa-passed")  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert set(statements(repository, clean.digest)) == ALL_TYPES
    missing = gate_run(index_ref, files, "block.yaml", "--no-sign", "--require-platforms", "linux/s390x")
    assert missing.returncode == 2 and "linux/s390x" in missing.stderr
    # one failing platform: nothing at all is published
    mixed_index = build_index({amd64: clean, arm64: build_sample()})
    repository.push_manifest(mixed_index, media_type=OCI_INDEX, tag="mixed")
    mixed_digest = repository.resolve("mixed").digest  # type: ignore[attr-defined]  # a registry store: it has resolve()
    before = attachments(repository, mixed_digest)
    mixed = gate_run(
        reference.replace(":v1", ":mixed"), files, "block.yaml", "--key", COSIGN_KEY, "--all-platforms"
    )
    assert mixed.returncode == 2
    assert attachments(repository, mixed_digest) == before


def test_in_toto_link_is_signed_by_the_key_and_names_what_was_published(
    registry: RegistryServer, files: Path, tmp_path: Path
) -> None:
    from in_toto.models.metadata import Metablock

    from gate.intoto import functionary_key
    from gate.sign.keys import load_private_key

    repository, reference, digest = push_sample(registry)
    links = tmp_path / "links"
    result = gate_run(reference, files, "waived.yaml", "--key", COSIGN_KEY, "--in-toto-link", str(links))
    assert result.returncode == 0, result.stderr
    key = load_private_key((FIXTURES / "cosign.key").read_bytes(), lambda: KEY_ENV["GATE_PASSWORD"].encode())
    public = functionary_key(key)
    [path] = list(links.iterdir())
    assert path.name == f"gate.{public.keyid[:8]}.link"
    metablock = Metablock.load(str(path))
    metablock.verify_signature({**public.to_dict(), "keyid": public.keyid})
    link = metablock.signed
    assert {"sha256": digest.split(":")[1]} in link.materials.values()
    sig = repository.get_document(f"sha256-{digest.split(':')[1]}.sig")
    assert {"sha256": sig.digest.split(":")[1]} in link.products.values()


def test_library_run_without_the_cli(registry: RegistryServer, files: Path, tmp_path: Path) -> None:
    from gate.pipeline import ScanOptions
    from gate.run import RunOptions, decide_with_policy, run_image
    from gate.sign.keys import load_private_key
    from gate.signing import KeySigner

    repository, reference, digest = push_sample(registry)
    decide, policy = decide_with_policy(files / "waived.yaml")
    key = load_private_key((FIXTURES / "cosign.key").read_bytes(), lambda: b"fixture-password")
    scan = ScanOptions(db_path=files / "vulns.db", allow_stale_db=True)
    result = run_image(reference, decide, policy, KeySigner(key), RunOptions(scan=scan, report_dir=tmp_path))
    assert result.passed and result.subject.digest == digest
    decision = json.loads((tmp_path / "decision.json").read_text())
    assert [p["kind"] for p in decision["published"]] == ["att", "sig"]
    assert set(statements(repository, digest)) == ALL_TYPES | {OPENVEX}


def test_keyless_run_publishes_verifiable_bundles_once(
    registry: RegistryServer, files: Path, tmp_path: Path
) -> None:
    from gate.sign.bundle import verify_bundle
    from tests.sigstore_stack import OIDC_ISSUER, SigstoreStack
    from tests.test_sign_keyless_cli import NO_AMBIENT, bundles_of

    repository, reference, digest = push_sample(registry)
    with SigstoreStack() as stack:
        (tmp_path / "trust.json").write_text(json.dumps(stack.client_trust_config()))
        (tmp_path / "token").write_text(stack.token())
        keyless = ("--keyless", "--identity-token-file", str(tmp_path / "token"),
                   "--trust-config", str(tmp_path / "trust.json"))  # fmt: skip
        args = ("run", reference, "--policy", str(files / "waived.yaml"), "--db", str(files / "vulns.db"))
        first = run_gate(*args, "--allow-stale-db", *keyless, env=NO_AMBIENT)
        assert first.returncode == 0, first.stderr
        before = attachments(repository, digest)
        again = run_gate(*args, "--allow-stale-db", *keyless, env=NO_AMBIENT)
        assert again.returncode == 0, again.stderr
        assert attachments(repository, digest) == before
    assert f"sha256-{digest.split(':')[1]}.sig" not in repository.list_tags()  # keyless: bundles only
    types = set()
    for manifest, bundle in bundles_of(repository, digest):
        verified = verify_bundle(
            bundle, artifact_digest=digest, trusted_root=tmp_path / "trust.json", identity="ci@gate.test",
            issuer=OIDC_ISSUER,
        )  # fmt: skip
        types.add(manifest.annotations["dev.sigstore.bundle.predicateType"])
        assert verified.identity == "ci@gate.test"
    assert types == ALL_TYPES | {OPENVEX, "https://sigstore.dev/cosign/sign/v1"}


def test_what_cannot_be_published_is_refused_before_the_image_is_read(files: Path, tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=debian\nVERSION_ID=12\n")
    directory = gate_run(f"dir:{root}", files, "block.yaml", "--key", COSIGN_KEY)
    assert directory.returncode == 1 and "only registry images and oci: layouts" in directory.stderr
    assert "gate: read" not in directory.stderr  # refused before reading
    assert gate_run(f"dir:{root}", files, "block.yaml", "--no-sign").returncode == 0
    layout = tmp_path / "layout"
    from gate.sample import write_sample_layout

    reference = write_sample_layout(layout)
    unnamed = gate_run(reference, files, "waived.yaml", "--key", COSIGN_KEY)
    assert unnamed.returncode == 1 and "--identity REPOSITORY" in unnamed.stderr
    keyless_link = gate_run(
        reference, files, "waived.yaml", "--keyless", "--identity", "x/y", "--in-toto-link", "l"
    )
    assert keyless_link.returncode == 1 and "--in-toto-link needs --key" in keyless_link.stderr
