"""The fuzz harnesses (tests/fuzz/) in CI: every seed and every past crash replayed, then a short
coverage-guided atheris run per target. `make fuzz` is the long run (see docs/security.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz.runner import check, load_targets, regression_inputs, run_in_subprocess

TARGETS = load_targets()
# a fixed number of executions with a fixed seed: CI repeats exactly the mutations that passed here;
# the time is only a cap for a slow machine
RUNS = int(os.environ.get("GATE_FUZZ_RUNS", "2000"))
MAX_SECONDS = int(os.environ.get("GATE_FUZZ_SECONDS", "60"))


def test_every_parser_family_has_targets() -> None:
    expected = {
        "layer-tar", "layer-gzip", "layer-zstd", "manifest", "image-config", "docker-archive",
        "dpkg-status", "apk-installed", "rpm-bdb", "rpm-ndb", "rpm-sqlite", "rpm-header", "python-metadata",
        "npm-package-json", "npm-package-lock", "yarn-lock", "pnpm-lock", "go-buildinfo", "go-buildinfo-elf",
        "jar", "osv-json", "osv-yaml", "policy-yaml", "vex", "dsse-envelope", "sigstore-bundle",
        "cosign-private-key", "cosign-public-key",
    }  # fmt: skip
    assert expected <= set(TARGETS)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_and_past_crashes_raise_only_gates_own_errors(name: str) -> None:
    seeds = list(TARGETS[name].seeds())
    assert seeds, f"{name} has no seeds"
    for data in seeds:
        check(name, data[: TARGETS[name].max_len])
    for path in regression_inputs(name):
        check(name, path.read_bytes())


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_bounded_fuzz_run(name: str, tmp_path: Path) -> None:
    # `make fuzz` explores with random seeds and for longer
    result = run_in_subprocess(name, seconds=MAX_SECONDS, runs=RUNS, artifacts=tmp_path, seed=20261204)
    assert not result.crashed, result.output[-4000:]
    assert result.executions > 0, result.output[-2000:]
