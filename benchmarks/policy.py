"""Policy evaluation: the default policy plus one Rego rule over 10,000 vulnerability findings.

    .venv/bin/python benchmarks/policy.py [--findings 10000] [--runs 5]

The input is synthetic but shaped like a large image's scan: 2,500 packages (deb, pypi, npm; a
third inherited from the base image; SPDX expressions, some unknown), 10,000 findings over them
(every severity, two thirds with a fix, 1 in 50 known-exploited, CVSS scores, aliases), 20 secret
and 10 configuration findings. Timed, best of ``--runs``: evaluating the default policy
(policies/default.yaml) alone, and with one Rego rule over every finding (the known-exploited
rule of policies/examples/rego/gate.rego). Loading the policy (schema validation, Rego compile)
is timed once. Target: default + one Rego rule <= 1 s.
"""

from __future__ import annotations

import argparse
import datetime
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.analyze.model import ConfigFinding, SecretFinding
from gate.match import Finding
from gate.model import Catalog, Distro, Package, PackageLocation
from gate.policy import PolicyInput, evaluate, load_policy
from gate.severity import Rating, Severity
from gate.vulndb.kev import KnownExploited

TARGET_SECONDS = 1.0
REGO_RULE = """package gate

deny contains msg if {
	some finding in input.findings
	finding.known_exploited != null
	finding.layer != "inherited"
	msg := sprintf("%s in %s is exploited in the wild", [finding.id, finding.purl])
}
"""
LICENSES = ("MIT", "Apache-2.0", "GPL-2.0-or-later", "MIT OR Apache-2.0", "BSD-3-Clause AND MIT", "custom")


def make_input(count: int, seed: int = 1) -> PolicyInput:
    rng = random.Random(seed)
    packages = []
    for index in range(max(count // 4, 1)):
        kind = ("deb", "pypi", "npm")[index % 3]
        purl = f"pkg:{kind}/{'debian/' if kind == 'deb' else ''}pkg{index}@1.{index % 7}.0"
        location = PackageLocation("/meta", 0, "sha256:" + "0" * 64, index % 3 == 0)
        license_text = LICENSES[index % len(LICENSES)]
        licenses = () if license_text == "custom" and index % 2 else (license_text,)
        ecosystem = {"deb": "Debian:12", "pypi": "PyPI", "npm": "npm"}[kind]
        packages.append(
            Package(
                f"pkg{index}",
                f"1.{index % 7}.0",
                kind,
                purl,
                "bench",
                (location,),
                ecosystem,
                licenses=licenses,
            )
        )
    findings = []
    levels = list(Severity)
    for index in range(count):
        package = packages[index % len(packages)]
        level = levels[rng.randrange(len(levels))]
        score = None if level is Severity.UNKNOWN else round(rng.uniform(0.1, 10.0), 1)
        kev = (
            KnownExploited(f"CVE-2024-{index}", "2024-01-02", "2024-01-23", "Unknown", "x")
            if index % 50 == 0
            else None
        )
        findings.append(
            Finding(
                package,
                f"GHSA-{index:04d}",
                (f"CVE-2024-{index}",),
                (),
                "",
                Rating(level, score),
                ("9.9.9",) if index % 3 else (),
                (),
                kev,
                published="2024-01-01T00:00:00Z",
            )
        )
    secrets = tuple(
        SecretFinding("github-token", "GitHub token", Severity.HIGH, f"/app/{i}.env", "ghp_********")
        for i in range(20)
    )
    config = tuple(
        ConfigFinding("root-user", "Runs as root", Severity.HIGH, "x", ("User",)) for _ in range(10)
    )
    return PolicyInput(
        Catalog(tuple(packages), Distro("debian", "12")),
        vulnerabilities=tuple(findings),
        secrets=secrets,
        config=config,
        reference="bench/app@sha256:" + "ab" * 32,
        digest="sha256:" + "ab" * 32,
    )


def best(runs: int, action) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    inputs = make_input(args.findings)
    now = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
    with tempfile.TemporaryDirectory() as directory:
        policy_file = Path(directory) / "policy.yaml"
        (Path(directory) / "kev.rego").write_text(REGO_RULE)
        policy_file.write_text((ROOT / "policies" / "default.yaml").read_text() + "rego: [kev.rego]\n")
        start = time.perf_counter()
        with_rego = load_policy(policy_file)
        load_time = time.perf_counter() - start
    default = load_policy(ROOT / "policies" / "default.yaml")

    decision = evaluate(with_rego, inputs, now=now)  # warm-up (license parsing caches, regopy)
    yaml_only = best(args.runs, lambda: evaluate(default, inputs, now=now))
    combined = best(args.runs, lambda: evaluate(with_rego, inputs, now=now))
    blocking = {outcome.rule_id: len(outcome.violations) for outcome in decision.blocking}

    rows = [
        ("load default + Rego (schema, compile)", load_time),
        ("default policy (YAML rules)", yaml_only),
        ("default policy + one Rego rule", combined),
    ]
    print(f"{args.findings} findings, {len(inputs.catalog.packages)} packages; best of {args.runs} runs")
    print(f"blocking: {blocking}")
    print()
    print(f"| {'what':<40} | {'seconds':>8} | {'vs 1 s target':>13} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 15}|")
    for name, seconds in rows:
        print(f"| {name:<40} | {seconds:>8.3f} | {seconds / TARGET_SECONDS:>12.2f}x |")
    print()
    verdict = "PASS" if combined <= TARGET_SECONDS else "FAIL"
    print(f"target: default + one Rego rule <= {TARGET_SECONDS:.0f} s: {verdict}")


if __name__ == "__main__":
    main()
