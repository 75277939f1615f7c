"""`gate fleet rescan`: which of many signed images does an advisory added after signing hit?

A real registry holds 200 images signed and attested with gate's library (tests/fleet_images.py),
one in ten with the glibc that DSA-5514-1 (CVE-2023-4911) affects, plus an unsigned one, one
signed by another key, one whose only attestation is a VSA (no SBOM) and one whose attested SBOM
was rewritten after signing to hide its vulnerable glibc. The images were signed
while the database knew only DSA-5523-1; today's database adds DSA-5514-1. A real Dask cluster
(`dask scheduler` and two `dask worker` processes on 127.0.0.1) must give the same result set as
the local process pool, even when one of its workers is killed mid-run.
"""

from __future__ import annotations

import errno
import json
import os
import pty
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate.fleet import RescanOptions, RescanSpec, TrustSpec, narrowed, rescan
from gate.fleet.sources import BadEntry, images_from_lines, images_in_registry
from gate.fleet.task import ImageResult
from gate.image import RegistryClient
from gate.image.manifest import OCI_MANIFEST, canonical_json
from gate.image.reference import parse_registry_reference
from gate.sign.keys import generate_signing_key
from gate.vulndb.oci import DIGEST_ANNOTATION, push_db
from tests.fleet_images import (
    FAMILIES,
    Cluster,
    family_sboms,
    free_port,
    signed_fleet,
    signed_fleet_image,
    tamper_sbom_attestation,
)
from tests.servers import FakeRegistry, RegistryServer
from tests.test_cli import GATE, run_gate
from tests.test_verify_policy import POLICY, database

FLEET_SIZE = 200
ODD = 4  # unsigned, foreign key, no SBOM, tampered SBOM


class Fleet:
    def __init__(self, registry: RegistryServer, work: Path) -> None:
        self.registry = registry
        self.key = generate_signing_key()
        self.public_key = work / "fleet.pub"
        self.public_key.write_bytes(self.key.public_key.pem())
        self.policy = work / "policy.yaml"
        self.policy.write_text(POLICY)
        self.families = signed_fleet(registry.host, self.key, FLEET_SIZE)
        sboms = family_sboms(registry.host)
        other = generate_signing_key()
        host = registry.host
        self.unsigned = signed_fleet_image(host, "odd/unsigned", self.key, sboms["new-glibc"], sign=False)
        self.foreign = signed_fleet_image(host, "odd/foreign-key", other, sboms["new-glibc"])
        self.no_sbom = signed_fleet_image(host, "odd/no-sbom", self.key, None)
        self.tampered = signed_fleet_image(host, "odd/tampered", self.key, sboms["old-glibc"])
        tamper_sbom_attestation(self.tampered, FAMILIES["old-glibc"].encode(), FAMILIES["new-glibc"].encode())
        self.odd = [self.unsigned, self.foreign, self.no_sbom, self.tampered]
        self.then_db = database(work / "then.db", "DSA-5523-1.json")
        self.today_db = database(work / "today.db", "DSA-5523-1.json", "DSA-5514-1.json")
        self.db_ref = "oci://" + push_db(self.today_db, f"{host}/fleet-db/vulns:today")
        self.list_file = work / "images.txt"
        self.list_file.write_text("\n".join([*self.families, *self.odd]) + "\n")

    @property
    def fresh(self) -> str:
        return next(ref for ref, family in self.families.items() if family == "new-glibc")

    @property
    def old(self) -> set[str]:
        return {ref for ref, family in self.families.items() if family == "old-glibc"}

    def spec(self, db: Path | None = None, *, db_ref: str | None = None) -> RescanSpec:
        return RescanSpec(
            trust=TrustSpec(keys=(self.key.public_key.pem(),)),
            policy_name="policy.yaml",
            policy_text=self.policy.read_bytes(),
            db_path=None if db_ref else str(db or self.today_db),
            db_ref=db_ref,
        )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    work = tmp_path_factory.mktemp("fleet")
    with RegistryServer(work / "registry") as registry:  # its own: the catalog lists only the fleet
        yield Fleet(registry, work)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(tmp_path)
    try:
        yield started
    finally:
        started.stop()


def _as_set(results: list[ImageResult]) -> set[str]:
    return {json.dumps(result.to_json(), sort_keys=True) for result in results}


def test_signed_while_clean_all_pass_then_the_advisory_fails_exactly_the_old_glibc(fleet: Fleet) -> None:
    entries = images_from_lines([*fleet.families])
    then = list(rescan(entries, fleet.spec(fleet.then_db), RescanOptions(workers=2)))
    assert len(then) == FLEET_SIZE
    assert {r.verdict for r in then} == {"pass"}, [r.reason for r in then if r.verdict != "pass"][:3]

    today = list(rescan(entries, fleet.spec(), RescanOptions(workers=2)))
    assert len(today) == FLEET_SIZE == len({r.reference for r in today})
    failing = {r.reference for r in today if r.verdict == "fail"}
    assert failing == fleet.old and len(failing) == FLEET_SIZE // 10
    sample = next(r for r in today if r.verdict == "fail")
    assert "DSA-5514-1" in sample.new_findings and "no-high: DSA-5514-1" in sample.reason
    assert sample.signed_verdict == "PASSED" and sample.digest.startswith("sha256:")
    assert {r.reference for r in narrowed(today, ["cve-2023-4911"])} == fleet.old  # by alias, any case
    assert narrowed(today, ["CVE-1999-0001"]) == []


def test_unsigned_foreign_and_sbomless_images_are_unverified_with_their_reason(fleet: Fleet) -> None:
    found = rescan(images_from_lines(fleet.odd), fleet.spec(), RescanOptions(workers=1))
    results = {r.reference: r for r in found}
    assert {r.verdict for r in results.values()} == {"unverified"}
    assert "no signature is attached" in results[fleet.unsigned].reason
    assert "no signature by" in results[fleet.foreign].reason
    assert results[fleet.no_sbom].reason == "no SBOM attestation signed by the trust"
    assert results[fleet.tampered].reason.startswith("no SBOM attestation signed by the trust: att sha256:")
    assert "does not verify" in results[fleet.tampered].reason
    assert not any(r.error for r in results.values())


def test_malformed_line_and_unreachable_image_are_error_rows_not_a_crash(fleet: Fleet) -> None:
    closed = free_port()
    lines = ["# comment", "", "Not A Reference!!", f"127.0.0.1:{closed}/gone/app:v1", fleet.fresh]
    entries = images_from_lines(lines)
    assert isinstance(entries[0], BadEntry) and entries[0].reason.startswith("line 3:")
    results = list(rescan(entries, fleet.spec(), RescanOptions(workers=1)))
    assert [r.error for r in results] == [True, True, False]
    assert results[0].verdict == results[1].verdict == "unverified"
    assert results[1].reason.startswith("error:") and str(closed) in results[1].reason
    assert results[2].verdict == "pass"


def test_registry_catalog_with_pagination_tags_glob_and_limit(fleet: Fleet) -> None:
    client = RegistryClient()
    listed = images_in_registry(f"{fleet.registry.host}/fleet", client)
    assert set(listed) == set(fleet.families)
    assert images_in_registry(f"{fleet.registry.host}/odd", client, tags="v*", max_images=2) == sorted(
        fleet.odd
    )[:2]
    assert images_in_registry(f"{fleet.registry.host}/fleet", client, tags="v2*") == []


def test_catalog_pages_are_followed(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    from gate.image import registry as registry_module

    requested: list[str] = []
    catalog = registry_module.RegistryCatalog
    original_url, original_send = catalog._url, catalog._send_url

    def small_pages(self: registry_module.RegistryCatalog, path: str) -> str:
        return original_url(self, f"{path}?n=50" if path == "_catalog" else path)

    def recorded(self: registry_module.RegistryCatalog, method: str, url: str, *args, **kwargs):
        requested.append(url)
        return original_send(self, method, url, *args, **kwargs)

    monkeypatch.setattr(registry_module.RegistryCatalog, "_url", small_pages)
    monkeypatch.setattr(registry_module.RegistryCatalog, "_send_url", recorded)
    repositories = RegistryClient().list_repositories(parse_registry_reference(f"{fleet.registry.host}/x"))
    assert len(repositories) == len(set(repositories)) >= FLEET_SIZE + ODD
    assert len(requested) == -(-len(repositories) // 50) >= 3
    assert all("last=" in url for url in requested[1:])  # the next pages are the ones the Link header named


def test_cli_jsonl_exit_codes_and_cve_filter(fleet: Fleet) -> None:
    trust = ("--key", str(fleet.public_key))
    args = ("fleet", "rescan", "--policy", str(fleet.policy), *trust, "--workers", "2")
    today = ("--db", str(fleet.today_db))
    result = run_gate(*args, "--images", str(fleet.list_file), *today, "--format", "jsonl")
    assert result.returncode == 2, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == FLEET_SIZE + ODD
    fields = {"reference", "digest", "verdict", "reason", "signedVerdict", "newFindings", "knownExploited"}
    assert fields <= rows[0].keys()
    assert [r["verdict"] for r in rows[: len(fleet.old)]] == ["fail"] * len(fleet.old)  # affected first
    stage = f"gate: rescan {FLEET_SIZE + ODD} images locally"
    percents = [int(p) for p in re.findall(rf"^{stage}: \d+/\d+ \((\d+)%", result.stderr, re.M)]
    assert percents == sorted(percents) and len(percents) == 20 and percents[-1] == 100  # a line per 5 %
    assert "\x1b" not in result.stderr and "\u2501" not in result.stderr  # no bar, no escapes in a log

    only = run_gate(*args, "--registry", f"{fleet.registry.host}/fleet", "--db", str(fleet.today_db),
                    "--cve", "CVE-2023-4911", "--format", "markdown")  # fmt: skip
    assert only.returncode == 2
    assert only.stdout.count("| fail |") == len(fleet.old) and "| pass |" not in only.stdout

    listed = ("--images", str(fleet.list_file))
    page = run_gate(*args, *listed, *today, "--cve", "DSA-5514-1", "--format", "html")
    assert page.returncode == 2 and page.stdout.startswith("<!DOCTYPE html>")
    assert page.stdout.count('<tr class="fail">') == len(fleet.old) and "default-src 'none'" in page.stdout
    assert page.stdout.count('<tr class="unverified">') == ODD  # the advisory may hit them: still shown

    clean = run_gate(*args, "--registry", f"{fleet.registry.host}/fleet", "--db", str(fleet.then_db))
    assert clean.returncode == 0, clean.stdout[-2000:] + clean.stderr
    assert f"{FLEET_SIZE} images: 0 fail, 0 unverified, {FLEET_SIZE} pass" in clean.stdout


def test_cli_reads_the_image_list_from_stdin(fleet: Fleet) -> None:
    chosen = [fleet.fresh, *sorted(fleet.old)[:2], fleet.unsigned]
    result = subprocess.run(
        [*GATE, "fleet", "rescan", "--images", "-", "--policy", str(fleet.policy), "--key",
         str(fleet.public_key), "--db", str(fleet.today_db), "--workers", "1", "--format", "jsonl"],
        input="# from kubectl\n" + "\n".join(chosen) + "\n", capture_output=True, text=True,
        env={**os.environ, "NO_COLOR": "1"}, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    verdicts = {row["reference"]: row["verdict"] for row in map(json.loads, result.stdout.splitlines())}
    assert verdicts == {fleet.fresh: "pass", **dict.fromkeys(sorted(fleet.old)[:2], "fail"),
                        fleet.unsigned: "unverified"}  # fmt: skip


def _on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run gate with stderr on a real pseudo-terminal (stdout a pipe); the terminal's bytes as text."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, env=env
    )
    os.close(terminal)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError as error:  # EIO: every holder of the terminal has closed it
            assert error.errno == errno.EIO
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    assert process.stdout is not None
    stdout = process.stdout.read().decode()
    return process.wait(timeout=120), stdout, seen.decode(errors="replace")


def test_a_terminal_gets_a_live_progress_bar_coloured_unless_no_color(fleet: Fleet) -> None:
    args = [*GATE, "fleet", "rescan", "--images", str(fleet.list_file), "--policy", str(fleet.policy),
            "--key", str(fleet.public_key), "--db", str(fleet.today_db), "--workers", "2",
            "--format", "jsonl"]  # fmt: skip
    ci = ("NO_COLOR", "FORCE_COLOR", "CI", "GITHUB_ACTIONS", "GITLAB_CI")
    base = {k: v for k, v in os.environ.items() if k not in ci}
    base.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    colour = re.compile(r"\x1b\[(?:[0-9]*;)*(?:3[0-8]|9[0-7])(?:;[0-9]*)*m")  # SGR: a foreground colour

    code, stdout, terminal = _on_a_terminal(args, base)
    total = FLEET_SIZE + ODD
    assert code == 2 and len(stdout.splitlines()) == total  # the results still go to stdout, uncoloured
    assert "\u2501" in terminal and f"/{total}" in terminal  # rich's bar and its done/total column
    assert f"rescan {total} images locally" in terminal and "(5%," not in terminal  # a bar, not log lines
    assert colour.search(terminal), terminal[:500]

    code, stdout, plain = _on_a_terminal(args, {**base, "NO_COLOR": "1"})
    assert code == 2 and len(stdout.splitlines()) == total
    assert "\u2501" in plain and f"/{total}" in plain
    assert not colour.search(plain), plain[:500]


def test_cli_single_errors_exit_1(fleet: Fleet, fake_registry: FakeRegistry) -> None:
    args = ("fleet", "rescan", "--policy", str(fleet.policy), "--key", str(fleet.public_key))
    no_catalog = run_gate(*args, "--registry", fake_registry.host, "--db", str(fleet.today_db))
    assert no_catalog.returncode == 1 and "no /v2/_catalog" in no_catalog.stderr
    assert no_catalog.stdout == ""

    started = time.monotonic()
    no_scheduler = run_gate(*args, "--images", str(fleet.list_file), "--db-ref", fleet.db_ref,
                            "--scheduler", f"tcp://127.0.0.1:{free_port()}",
                            "--format", "jsonl")  # fmt: skip
    assert no_scheduler.returncode == 1 and "cannot reach the Dask scheduler" in no_scheduler.stderr
    assert no_scheduler.stdout == "" and time.monotonic() - started < 60

    both = run_gate(*args, "--images", str(fleet.list_file), "--registry", fleet.registry.host)
    assert both.returncode == 1 and "one of them" in both.stderr
    neither = run_gate(*args, "--db", str(fleet.today_db))
    assert neither.returncode == 1 and "--images FILE|- or --registry" in neither.stderr


def _tampered_db_ref(fleet: Fleet) -> str:
    """The published database manifest with its content-digest annotation changed: it must not verify."""
    ref = parse_registry_reference(f"{fleet.registry.host}/fleet-db/vulns")
    repository = RegistryClient().repository(ref)
    manifest = json.loads(repository.get_document(fleet.db_ref.rsplit("@", 1)[1]).raw)
    manifest["annotations"][DIGEST_ANNOTATION] = "sha256:" + "0" * 64
    pushed = repository.push_manifest(canonical_json(manifest), media_type=OCI_MANIFEST, tag="tampered")
    return f"oci://{fleet.registry.host}/fleet-db/vulns@{pushed.digest}"


def test_cluster_gives_the_local_result_set_and_a_tampered_db_ref_is_one_error(
    fleet: Fleet, cluster: Cluster
) -> None:
    entries = images_from_lines(fleet.list_file.read_text().splitlines())
    local = list(rescan(entries, fleet.spec(), RescanOptions(workers=2)))
    remote = list(rescan(entries, fleet.spec(db_ref=fleet.db_ref), RescanOptions(scheduler=cluster.address)))
    assert len(remote) == FLEET_SIZE + ODD
    assert _as_set(remote) == _as_set(local)

    args = ("fleet", "rescan", "--policy", str(fleet.policy), "--key", str(fleet.public_key))
    bad = run_gate(*args, "--images", str(fleet.list_file), "--db-ref", _tampered_db_ref(fleet),
                   "--scheduler", cluster.address, "--format", "jsonl")  # fmt: skip
    assert bad.returncode == 1, bad.stderr
    assert "does not match its annotation" in bad.stderr and bad.stdout == ""


def test_a_worker_killed_mid_run_still_yields_the_complete_set(fleet: Fleet, cluster: Cluster) -> None:
    entries = images_from_lines(fleet.list_file.read_text().splitlines())
    expected = _as_set(list(rescan(entries, fleet.spec(), RescanOptions(workers=2))))
    results: list[ImageResult] = []
    victim = cluster.workers[0]
    for result in rescan(entries, fleet.spec(db_ref=fleet.db_ref), RescanOptions(scheduler=cluster.address)):
        results.append(result)
        if len(results) == 16 and victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
    assert victim.poll() is not None  # it was killed while batches were still running
    assert len(results) == FLEET_SIZE + ODD
    assert _as_set(results) == expected


def test_a_stale_database_is_one_error_not_a_pass(fleet: Fleet) -> None:
    from dataclasses import replace

    from gate.errors import GateError

    time.sleep(1.1)  # the database was built at least a second ago
    stale = replace(fleet.spec(), max_db_age="1s")
    with pytest.raises(GateError, match="more than --max-db-age 1s"):
        list(rescan(images_from_lines([fleet.fresh]), stale, RescanOptions(workers=1)))
    allowed = replace(stale, allow_stale_db=True)
    [result] = rescan(images_from_lines([fleet.fresh]), allowed, RescanOptions(workers=1))
    assert result.verdict == "pass"


def test_a_cluster_without_workers_is_an_error_not_a_hang(fleet: Fleet, tmp_path: Path) -> None:
    from gate.errors import GateError

    empty = Cluster(tmp_path, workers=0)
    try:
        started = time.monotonic()
        with pytest.raises(GateError, match="no worker"):
            list(rescan(images_from_lines([fleet.fresh]), fleet.spec(db_ref=fleet.db_ref),
                        RescanOptions(scheduler=empty.address)))  # fmt: skip
        assert time.monotonic() - started < 90
    finally:
        empty.stop()
