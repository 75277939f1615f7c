"""gate.policy as a library: loading, every rule kind and action, waivers, VEX, Rego, the decision.

Table-driven over small in-memory inputs (packages, findings, secret and config findings built
directly; the end-to-end paths over real images and the real KEV catalog are in
tests/test_policy_images.py and tests/test_policy_cli.py).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gate.analyze.model import ConfigFinding, SecretFinding
from gate.errors import PolicyError
from gate.match import Finding
from gate.model import Catalog, Distro, Package, PackageLocation, Unknown
from gate.policy import (
    BaseFreshness,
    Decision,
    PolicyInput,
    evaluate,
    load_policy,
    load_vex,
    load_waivers,
    openvex_for_waivers,
    policy_for_fail_on,
)
from gate.policy.load import parse_expiry
from gate.severity import Rating, Severity
from gate.vulndb.kev import KnownExploited
from tests.test_sbom_formats import cyclonedx_validator  # noqa: F401 (a fixture: the CycloneDX 1.6 schema)

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=datetime.UTC)
IMAGE_DIGEST = "sha256:" + "ab" * 32
DECISION_SCHEMA = json.loads((ROOT / "docs" / "decision.schema.json").read_text())
OPENVEX_SCHEMA = json.loads((ROOT / "gate" / "policy" / "schemas" / "openvex.schema.json").read_text())
KEV = KnownExploited("CVE-2024-0001", "2024-02-01", "2024-02-22", "Known", "Example")


def package(
    name: str,
    version: str = "1.0.0",
    type_: str = "pypi",
    *,
    in_base: bool | None = None,
    licenses: tuple[str, ...] = ("MIT",),
    ecosystem: str = "PyPI",
    namespace: str = "",
) -> Package:
    purl = f"pkg:{type_}/{namespace + '/' if namespace else ''}{name}@{version}"
    location = PackageLocation("/meta", 0 if in_base else 1, "sha256:" + "0" * 64, in_base)
    return Package(name, version, type_, purl, "test", (location,), ecosystem=ecosystem, licenses=licenses)


def finding(
    vuln_id: str,
    pkg: Package,
    severity: Severity = Severity.HIGH,
    *,
    score: float | None = None,
    fixed: tuple[str, ...] = ("9.9.9",),
    aliases: tuple[str, ...] = (),
    kev: KnownExploited | None = None,
    published: str = "2026-01-01T00:00:00Z",
) -> Finding:
    return Finding(
        pkg, vuln_id, aliases, (), "", Rating(severity, score), fixed, (), kev, published=published
    )


def make_policy(tmp_path: Path, rules: list[dict[str, Any]], **extra: Any) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "gate/v1", "kind": "Policy", "rules": rules, **extra}))
    return path


def rule(kind: str, body: dict[str, Any], action: str = "block", rule_id: str = "r") -> dict[str, Any]:
    return {"id": rule_id, "action": action, "description": "test rule", kind: body}


def inputs(
    packages: tuple[Package, ...] = (),
    findings: tuple[Finding, ...] | None = (),
    **extra: Any,
) -> PolicyInput:
    catalog = extra.pop("catalog", None) or Catalog(packages, Distro("debian", "12"))
    return PolicyInput(
        catalog, vulnerabilities=findings, reference="r/app@" + IMAGE_DIGEST, digest=IMAGE_DIGEST, **extra
    )


def decide(tmp_path: Path, rules: list[dict[str, Any]], given: PolicyInput, **kwargs: Any) -> Decision:
    decision = evaluate(
        load_policy(make_policy(tmp_path, rules)), given, now=kwargs.pop("now", NOW), **kwargs
    )
    jsonschema.validate(decision.to_json(), DECISION_SCHEMA)
    return decision


def violation_ids(decision: Decision, rule_id: str = "r") -> list[str]:
    [outcome] = [o for o in decision.outcomes if o.rule_id == rule_id]
    return sorted(v.id for v in outcome.violations)


# -- loading -------------------------------------------------------------------------------------

SHIPPED = sorted(
    p for p in (ROOT / "policies").rglob("*.yaml") if "waivers" not in p.name or p.name == "waivers.yaml"
)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_policy_loads(path: Path) -> None:
    policy = load_policy(path)
    assert policy.rules and policy.digest.startswith("sha256:") and len(policy.digest) == 71


def test_the_waivers_file_example_loads() -> None:
    [waiver] = load_waivers(ROOT / "policies" / "examples" / "extra-waivers.yaml")
    assert waiver.vulnerability == "GHSA-j8r2-6x86-q33q"
    assert waiver.expires == datetime.datetime(2099, 7, 1, tzinfo=datetime.UTC)  # through 2099-06-30


def test_the_shipped_schema_is_the_one_gate_validates_with() -> None:
    assert (ROOT / "policies" / "schema.json").read_bytes() == (
        ROOT / "gate/policy/policy.schema.json"
    ).read_bytes()


BAD_POLICIES = [
    (
        [rule("vulnerabilities", {})] * 3 + [rule("vulnerabilities", {"severity": "hgh"}, rule_id="d")],
        "rules[3].vulnerabilities.severity: 'hgh' is not one of critical, high, medium, low, info",
    ),
    ([rule("vulnerabilities", {"sevrity": "high"})], "rules[0].vulnerabilities: unknown key 'sevrity'"),
    ([{"id": "a", "action": "block", "description": "x"}], "rules[0]: a rule needs exactly one of"),
    ([{**rule("secrets", {}), "config": {}}], "rules[0]: a rule needs exactly one of"),
    ([rule("secrets", {}, action="deny")], "rules[0].action: 'deny' is not one of block, warn"),
    ([rule("licenses", {"deny": ["MIT OR FOO"]})], "rules[0].licenses.deny[0]: 'MIT OR FOO' is not an SPDX"),
    (
        [rule("licenses", {"deny": ["MIT"], "allow": ["MIT"]})],
        "rules[0].licenses: give deny or allow, not both",
    ),
    ([rule("packages", {"deny": ["npm/foo"]})], "rules[0].packages.deny[0]: 'npm/foo' is not valid here"),
    (
        [rule("packages", {"deny": [{"purl": "pkg:npm/foo", "versions": "~1"}]})],
        "rules[0].packages.deny[0]: '~1' is not a comparator",
    ),
    (
        [rule("packages", {"deny": [{"purl": "pkg:npm/foo", "versions": ">= 1.x"}]})],
        "rules[0].packages.deny[0]: invalid semver version '1.x'",
    ),
    ([rule("vulnerabilities", {"older-than-days": "3"})], "older-than-days: '3' is not a whole number"),
    ([rule("sbom", {}), rule("sbom", {})], "rules[1].id: 'r' is used by an earlier rule"),
    ([rule("base-image", {})], "rules[0].base-image: must not be empty"),
]


@pytest.mark.parametrize(("rules", "message"), BAD_POLICIES)
def test_bad_policies_name_the_file_and_key_path(tmp_path: Path, rules: list[Any], message: str) -> None:
    path = make_policy(tmp_path, rules)
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: gate/v2\nkind: Policy\nrules: []\n", "apiVersion: 'gate/v2' must be 'gate/v1'"),
        ("apiVersion: gate/v1\nkind: Policy\nrules: [\n", "line 4: not valid YAML"),
        ("apiVersion: gate/v1\nkind: Policy\n", "missing key 'rules'"),
        ("- a list\n", "is not a mapping"),
        (
            "apiVersion: gate/v1\nkind: Policy\nrules: []\nwaivers:\n"
            "  - {vulnerability: CVE-1, reason: r, owner: o, expires: 2026-02-30}\n",
            "waivers[0].expires: '2026-02-30' is not a valid date",
        ),
        (
            "apiVersion: gate/v1\nkind: Policy\nrules: []\nwaivers:\n"
            "  - {vulnerability: CVE-1, reason: r, owner: o, expires: '2026-02-10T10:00:00'}\n",
            "waivers[0].expires: '2026-02-10T10:00:00' is not valid here",
        ),
        (
            "apiVersion: gate/v1\nkind: Policy\nrules: []\nwaivers:\n"
            "  - {reason: r, owner: o, expires: 2026-02-10}\n",
            "waivers[0]: a waiver needs at least one of vulnerability, package, path, rule",
        ),
        ("apiVersion: gate/v1\nkind: Policy\nrules: []\nrego: [missing.rego]\n", "cannot read Rego module"),
    ],
)
def test_bad_policy_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=None) as raised:
        load_policy(path)
    assert message in str(raised.value)


def test_digest_is_canonical(tmp_path: Path) -> None:
    one = tmp_path / "one.yaml"
    one.write_text(
        "apiVersion: gate/v1\nkind: Policy\nrules:\n  - {id: a, action: warn, description: d, sbom: {}}\n"
    )
    two = tmp_path / "two.yaml"
    two.write_text(
        "# reordered, reformatted\nkind: Policy\napiVersion: gate/v1\nrules:\n"
        "- description: d\n  sbom: {}\n  action: warn\n  id: a\n"
    )
    assert load_policy(one).digest == load_policy(two).digest
    two.write_text(two.read_text().replace("action: warn", "action: block"))
    assert load_policy(one).digest != load_policy(two).digest


# -- vulnerabilities ----------------------------------------------------------------------------

APP = package("app-lib", "1.0.0")
BASE_DEB = package("libssl3", "3.0.11", "deb", in_base=True, ecosystem="Debian:12", namespace="debian")
OWN_DEB = package("curl", "7.88.1", "deb", in_base=False, ecosystem="Debian:12", namespace="debian")
UNKNOWN_LAYER = package("zlib", "1.2", "npm", ecosystem="npm")
FINDINGS = (
    finding("CVE-C", APP, Severity.CRITICAL, score=9.8),
    finding("CVE-H-NOFIX", APP, Severity.HIGH, score=7.5, fixed=()),
    finding("CVE-M", APP, Severity.MEDIUM, score=5.0),
    finding("CVE-U", APP, Severity.UNKNOWN),
    finding("CVE-KEV", BASE_DEB, Severity.LOW, score=3.1, aliases=("CVE-2024-0001",), kev=KEV),
    finding("CVE-OLD", OWN_DEB, Severity.HIGH, score=8.0, published="2025-01-01T00:00:00Z"),
    finding("CVE-NODATE", UNKNOWN_LAYER, Severity.INFO, score=0.0, published=""),
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, ["CVE-C", "CVE-H-NOFIX", "CVE-KEV", "CVE-M", "CVE-NODATE", "CVE-OLD", "CVE-U"]),
        ({"severity": "high"}, ["CVE-C", "CVE-H-NOFIX", "CVE-OLD", "CVE-U"]),
        ({"severity": "high", "unrated": False}, ["CVE-C", "CVE-H-NOFIX", "CVE-OLD"]),
        ({"severity": "high", "fix": "available"}, ["CVE-C", "CVE-OLD", "CVE-U"]),
        (
            {"severity": "info", "unrated": False},
            ["CVE-C", "CVE-H-NOFIX", "CVE-KEV", "CVE-M", "CVE-NODATE", "CVE-OLD"],
        ),
        ({"max-cvss": 7.5}, ["CVE-C", "CVE-OLD", "CVE-U"]),
        ({"max-cvss": 7.5, "unrated": False}, ["CVE-C", "CVE-OLD"]),
        ({"known-exploited": True}, ["CVE-KEV"]),
        ({"older-than-days": 200}, ["CVE-NODATE", "CVE-OLD"]),  # an unknown date counts as old
        ({"scope": "os"}, ["CVE-KEV", "CVE-OLD"]),
        ({"scope": "language", "severity": "critical"}, ["CVE-C", "CVE-U"]),
        ({"ecosystems": ["npm"]}, ["CVE-NODATE"]),
        ({"ecosystems": ["Debian"], "severity": "high"}, ["CVE-OLD"]),
        # own = not from the base image; a package whose layer is unknown counts as both
        ({"layers": "own", "scope": "os"}, ["CVE-OLD"]),
        ({"layers": "inherited", "scope": "os"}, ["CVE-KEV"]),
        ({"layers": "inherited", "ecosystems": ["npm"]}, ["CVE-NODATE"]),
        ({"layers": "own", "ecosystems": ["npm"]}, ["CVE-NODATE"]),
    ],
)
def test_vulnerability_conditions(tmp_path: Path, body: dict[str, Any], expected: list[str]) -> None:
    decision = decide(tmp_path, [rule("vulnerabilities", body)], inputs(findings=FINDINGS))
    assert violation_ids(decision) == expected
    assert decision.passed is (not expected)


@pytest.mark.parametrize(
    ("action", "status", "passed"), [("block", "failed", False), ("warn", "warned", True)]
)
def test_actions(tmp_path: Path, action: str, status: str, passed: bool) -> None:
    decision = decide(
        tmp_path, [rule("vulnerabilities", {"severity": "critical"}, action)], inputs(findings=FINDINGS)
    )
    [outcome] = decision.outcomes
    assert (outcome.status, decision.passed, decision.verdict) == (
        status,
        passed,
        "pass" if passed else "fail",
    )
    assert decision.to_json()["verdict"] == decision.verdict


def test_a_rule_without_its_input_is_skipped_not_passed(tmp_path: Path) -> None:
    rules = [
        rule("vulnerabilities", {}, rule_id="v"),
        rule("secrets", {}, rule_id="s"),
        rule("config", {}, rule_id="c"),
    ]
    decision = decide(tmp_path, rules, inputs(findings=None))
    assert [(o.rule_id, o.status) for o in decision.outcomes] == [
        ("v", "skipped"),
        ("s", "skipped"),
        ("c", "skipped"),
    ]
    assert "no vulnerability scan" in decision.outcomes[0].reason


# -- packages and licenses ----------------------------------------------------------------------

NPM = (
    package("event-stream", "3.3.6", "npm"),
    package("event-stream", "4.0.1", "npm"),
    package("core", "7.1.0", "npm", namespace="%40babel"),
    package("left-pad", "1.3.0", "npm"),
    package("requests", "2.31.0", "pypi"),
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"deny": ["pkg:npm/event-stream"]}, ["pkg:npm/event-stream@3.3.6", "pkg:npm/event-stream@4.0.1"]),
        (
            {"deny": [{"purl": "pkg:npm/event-stream", "versions": ">=3.3.6, <4.0.0"}]},
            ["pkg:npm/event-stream@3.3.6"],
        ),
        ({"deny": ["pkg:npm/event-stream@4.0.1"]}, ["pkg:npm/event-stream@4.0.1"]),
        ({"deny": ["pkg:npm/@babel/*"]}, ["pkg:npm/%40babel/core@7.1.0"]),
        ({"deny": ["pkg:pypi/*"]}, ["pkg:pypi/requests@2.31.0"]),
        # an allow list governs the purl types it names, and only those
        (
            {"allow": ["pkg:npm/@babel/*", "pkg:npm/left-pad"]},
            ["pkg:npm/event-stream@3.3.6", "pkg:npm/event-stream@4.0.1"],
        ),
    ],
)
def test_package_rules(tmp_path: Path, body: dict[str, Any], expected: list[str]) -> None:
    assert violation_ids(decide(tmp_path, [rule("packages", body)], inputs(NPM))) == expected


LICENSED = (
    package("dual", licenses=("MIT OR GPL-3.0-only",)),
    package("both", licenses=("MIT AND GPL-3.0-only",)),
    package("two-entries", licenses=("MIT", "GPL-3.0-only")),
    package("exception", licenses=("GPL-2.0-or-later WITH Classpath-exception-2.0",)),
    package("none", licenses=()),
    package("custom", licenses=("LicenseRef-Acme",)),
    package("prose", licenses=("see the file COPYING",)),
)


@pytest.mark.parametrize(
    ("body", "listed", "unknown"),
    [
        ({"deny": ["GPL-3.0-only"]}, ["both", "two-entries"], None),
        ({"deny": ["gpl-2.0-or-later"]}, ["exception"], None),
        ({"allow": ["MIT", "GPL-2.0-or-later"]}, ["both", "two-entries"], None),
        ({"deny": ["GPL-3.0-only"], "unknown": "warn"}, ["both", "two-entries"], ["custom", "none", "prose"]),
        ({"unknown": "block"}, None, ["custom", "none", "prose"]),
    ],
)
def test_license_rules(
    tmp_path: Path, body: dict[str, Any], listed: list[str] | None, unknown: list[str] | None
) -> None:
    decision = decide(tmp_path, [rule("licenses", body)], inputs(LICENSED))
    by_id = {o.rule_id: o for o in decision.outcomes}
    names = lambda outcome: sorted(v.message.split(" ", 1)[0] for v in outcome.violations)  # noqa: E731 - a one-line helper
    if listed is not None:
        assert names(by_id["r"]) == listed
    if unknown is not None:
        key = "r.unknown" if listed is not None else "r"
        assert names(by_id[key]) == unknown
        assert by_id[key].action == body["unknown"]
    assert decision.passed is (listed is None and body.get("unknown") != "block")


# -- secrets, config, sbom, base image ----------------------------------------------------------

SECRETS = (
    SecretFinding("aws-access-key", "AWS key", Severity.CRITICAL, "/app/.env", "AKIA********", line=3),
    SecretFinding("generic-password", "Password", Severity.LOW, "/etc/app.conf", "hunt********"),
)
CONFIG = (
    ConfigFinding("root-user", "Runs as root", Severity.HIGH, "x", ("User is empty",)),
    ConfigFinding("no-healthcheck", "No healthcheck", Severity.INFO, "x", ()),
)


@pytest.mark.parametrize(
    ("kind", "body", "problems", "expected"),
    [
        ("secrets", {}, (), ["aws-access-key", "generic-password"]),
        ("secrets", {"severity": "high"}, (), ["aws-access-key"]),
        ("secrets", {"rules": ["generic-password"]}, (), ["generic-password"]),
        ("secrets", {"severity": "critical"}, ("/big.bin: unreadable",), ["aws-access-key", "not-analysed"]),
        ("config", {}, (), ["no-healthcheck", "root-user"]),
        ("config", {"rules": ["root-user"]}, (), ["root-user"]),
        ("config", {"severity": "low"}, (), ["root-user"]),
    ],
)
def test_analyzer_rules(
    tmp_path: Path, kind: str, body: dict[str, Any], problems: tuple[str, ...], expected: list[str]
) -> None:
    given = inputs(secrets=SECRETS, config=CONFIG, analysis_problems=problems)
    assert violation_ids(decide(tmp_path, [rule(kind, body)], given)) == expected


def test_a_secret_violation_shows_only_the_redacted_match(tmp_path: Path) -> None:
    decision = decide(tmp_path, [rule("secrets", {})], inputs(secrets=SECRETS))
    text = json.dumps(decision.to_json())
    assert "AKIA********" in text and "/app/.env:3" in text


@pytest.mark.parametrize(
    ("body", "catalog", "expected"),
    [
        ({"require-os": True}, Catalog((APP,), None), ["no-os"]),
        ({"min-packages": 1}, Catalog((), Distro("debian", "12")), ["too-few-packages"]),
        ({}, Catalog((APP,), None, (Unknown("/x.jar", "java", "truncated"),)), ["incomplete"]),
        ({"allow-incomplete": ["java"]}, Catalog((APP,), None, (Unknown("/x.jar", "java", "bad zip"),)), []),
    ],
)
def test_sbom_rules(tmp_path: Path, body: dict[str, Any], catalog: Catalog, expected: list[str]) -> None:
    assert violation_ids(decide(tmp_path, [rule("sbom", body)], inputs(catalog=catalog))) == expected


BASE = "127.0.0.1:5000/base/debian:bookworm-slim@sha256:" + "cd" * 32


@pytest.mark.parametrize(
    ("body", "base", "freshness", "status"),
    [
        ({"allowed": ["127.0.0.1:5000/base/*:*-slim"]}, BASE, None, "passed"),
        ({"allowed": ["debian:*-slim", "gcr.io/distroless/*"]}, BASE, None, "failed"),
        ({"allowed": ["debian:*-slim"]}, "debian:bookworm-slim@sha256:" + "cd" * 32, None, "passed"),
        ({"allowed": ["gcr.io/distroless/*"]}, "gcr.io/distroless/static:nonroot", None, "passed"),
        (
            {"must-be-current": True},
            BASE,
            BaseFreshness("outdated", "debian:bookworm-slim moved 41 days ago"),
            "failed",
        ),
        ({"must-be-current": True}, BASE, BaseFreshness("current", "still"), "passed"),
        ({"must-be-current": True}, BASE, BaseFreshness("unknown", "offline"), "unknown"),
        (
            {"must-be-current": True, "on-unknown": "block"},
            BASE,
            BaseFreshness("unknown", "offline"),
            "failed",
        ),
        ({"allowed": ["*"]}, None, None, "unknown"),
        ({"allowed": ["*"], "on-unknown": "block"}, None, None, "failed"),
    ],
)
def test_base_image_rules(
    tmp_path: Path, body: dict[str, Any], base: str | None, freshness: BaseFreshness | None, status: str
) -> None:
    from gate.image.base import BaseImage

    given = inputs(base=BaseImage(base, 1) if base else None, base_freshness=freshness)
    decision = decide(tmp_path, [rule("base-image", body)], given)
    [outcome] = decision.outcomes
    assert outcome.status == status
    if freshness and freshness.status == "outdated":
        assert outcome.violations[0].message == "outdated base image: debian:bookworm-slim moved 41 days ago"


# -- waivers ------------------------------------------------------------------------------------


def waiver(**scope: str) -> dict[str, str]:
    return {"reason": "accepted", "owner": "team@example.com", "expires": "2026-06-15", **scope}


@pytest.mark.parametrize(
    ("now", "applies"),
    [
        (datetime.datetime(2026, 6, 15, 23, 59, 59, tzinfo=datetime.UTC), True),  # the whole expiry day
        (datetime.datetime(2026, 6, 16, 0, 0, 0, tzinfo=datetime.UTC), False),
        # the same instants seen from UTC+2: still the UTC day that counts
        (
            datetime.datetime(2026, 6, 16, 1, 59, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
            True,
        ),
        (
            datetime.datetime(2026, 6, 16, 2, 0, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
            False,
        ),
    ],
)
def test_waiver_expiry_boundary(tmp_path: Path, now: datetime.datetime, applies: bool) -> None:
    rules = [rule("vulnerabilities", {"severity": "critical", "unrated": False})]
    path = make_policy(tmp_path, rules, waivers=[waiver(vulnerability="CVE-C")])
    decision = evaluate(load_policy(path), inputs(findings=FINDINGS), now=now)
    assert decision.passed is applies
    assert (len(decision.waivers_applied), len(decision.waivers_expired)) == ((1, 0) if applies else (0, 1))
    if not applies:  # an expired waiver is reported with what it would have covered
        assert [v.id for v in decision.waivers_expired[0].violations] == ["CVE-C"]


def test_expiry_with_an_offset() -> None:
    moment = parse_expiry("2026-06-15T18:00:00+02:00", where="x")
    assert moment == datetime.datetime(2026, 6, 15, 16, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("scope", "waived"),
    [
        ({"vulnerability": "CVE-2024-0001"}, ["CVE-KEV"]),  # by alias
        ({"vulnerability": "cve-c"}, ["CVE-C"]),
        ({"package": "pkg:deb/debian/libssl3"}, ["CVE-KEV"]),
        ({"package": "pkg:pypi/app-lib@1.0.0", "vulnerability": "CVE-M"}, ["CVE-M"]),
        ({"package": "pkg:pypi/app-lib@2.0.0"}, []),
        ({"rule": "r"}, ["CVE-C", "CVE-H-NOFIX", "CVE-KEV", "CVE-M", "CVE-NODATE", "CVE-OLD", "CVE-U"]),
    ],
)
def test_waiver_scopes(tmp_path: Path, scope: dict[str, str], waived: list[str]) -> None:
    path = make_policy(tmp_path, [rule("vulnerabilities", {})], waivers=[waiver(**scope)])
    decision = evaluate(load_policy(path), inputs(findings=FINDINGS), now=NOW)
    [outcome] = decision.outcomes
    assert sorted(item.violation.id for item in outcome.waived) == waived
    assert (decision.waivers_unused != ()) is (not waived)


def test_secret_waiver_by_path_and_rule_and_waivers_from_a_file(tmp_path: Path) -> None:
    extra = tmp_path / "w.yaml"
    extra.write_text(yaml.safe_dump({"apiVersion": "gate/v1", "kind": "Waivers", "waivers": [
        waiver(path="/etc/*.conf", rule="generic-password"), waiver(path="/nowhere/*")]}))  # fmt: skip
    decision = evaluate(
        load_policy(make_policy(tmp_path, [rule("secrets", {})])),
        inputs(secrets=SECRETS),
        waivers=load_waivers(extra),
        now=NOW,
    )
    [outcome] = decision.outcomes
    assert [v.id for v in outcome.violations] == ["aws-access-key"]
    assert [item.violation.id for item in outcome.waived] == ["generic-password"]
    assert [w.path for w in decision.waivers_unused] == ["/nowhere/*"]


# -- VEX ----------------------------------------------------------------------------------------


def openvex(statements: list[dict[str, Any]], timestamp: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "test",
        "timestamp": timestamp,
        "version": 1,
        "statements": statements,
    }


IMAGE_PURL = "pkg:oci/app@sha256%3A" + "ab" * 32
NOT_AFFECTED = {"status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}


@pytest.mark.parametrize(
    ("statement", "suppressed"),
    [
        ({"vulnerability": {"name": "CVE-C"}, "products": [{"@id": IMAGE_PURL}], **NOT_AFFECTED}, ["CVE-C"]),
        # by an alias, for the image with the package as a subcomponent
        (
            {
                "vulnerability": {"name": "GHSA-x", "aliases": ["CVE-2024-0001"]},
                "products": [
                    {"@id": IMAGE_PURL, "subcomponents": [{"@id": "pkg:deb/debian/libssl3@3.0.11"}]}
                ],
                **NOT_AFFECTED,
            },
            ["CVE-KEV"],
        ),
        # the wrong subcomponent, another image, another version: nothing
        (
            {
                "vulnerability": {"name": "CVE-C"},
                "products": [{"@id": IMAGE_PURL, "subcomponents": [{"@id": "pkg:pypi/other"}]}],
                **NOT_AFFECTED,
            },
            [],
        ),
        (
            {
                "vulnerability": {"name": "CVE-C"},
                "products": [{"@id": "pkg:oci/app@sha256%3A" + "00" * 32}],
                **NOT_AFFECTED,
            },
            [],
        ),
        (
            {
                "vulnerability": {"name": "CVE-C"},
                "products": [{"@id": "pkg:pypi/app-lib@2.0.0"}],
                **NOT_AFFECTED,
            },
            [],
        ),
        # a package purl without a version: every version; fixed suppresses too; affected does not
        (
            {
                "vulnerability": {"name": "CVE-M"},
                "products": [{"@id": "pkg:pypi/app-lib"}],
                "status": "fixed",
            },
            ["CVE-M"],
        ),
        (
            {
                "vulnerability": {"name": "CVE-M"},
                "products": [{"@id": IMAGE_PURL}],
                "status": "affected",
                "action_statement": "upgrade",
            },
            [],
        ),
        (
            {
                "vulnerability": {"name": "CVE-M"},
                "products": [{"identifiers": {"purl": "pkg:pypi/app-lib@1.0.0"}}],
                **NOT_AFFECTED,
            },
            ["CVE-M"],
        ),
        (
            {
                "vulnerability": {"name": "CVE-M"},
                "products": [{"@id": "x", "hashes": {"sha-256": "ab" * 32}}],
                **NOT_AFFECTED,
            },
            ["CVE-M"],
        ),
    ],
)
def test_openvex_statements(tmp_path: Path, statement: dict[str, Any], suppressed: list[str]) -> None:
    path = tmp_path / "vex.json"
    path.write_text(json.dumps(openvex([statement])))
    decision = decide(tmp_path, [rule("vulnerabilities", {})], inputs(findings=FINDINGS), vex=load_vex(path))
    assert sorted(v.id for item in decision.vex_applied for v in item.violations) == suppressed
    assert not set(suppressed) & set(violation_ids(decision))
    if suppressed:
        assert decision.to_json()["vex"]["applied"][0]["statement"]["status"] in ("not_affected", "fixed")


def test_the_newest_vex_statement_wins(tmp_path: Path) -> None:
    older = {
        "vulnerability": {"name": "CVE-C"},
        "products": [{"@id": IMAGE_PURL}],
        **NOT_AFFECTED,
        "timestamp": "2026-01-01T00:00:00Z",
    }
    newer = {
        "vulnerability": {"name": "CVE-C"},
        "products": [{"@id": IMAGE_PURL}],
        "status": "affected",
        "action_statement": "upgrade",
        "timestamp": "2026-02-01T00:00:00Z",
    }
    path = tmp_path / "vex.json"
    path.write_text(json.dumps(openvex([newer, older])))
    decision = decide(
        tmp_path,
        [rule("vulnerabilities", {"severity": "critical"})],
        inputs(findings=FINDINGS),
        vex=load_vex(path),
    )
    assert "CVE-C" in violation_ids(decision) and not decision.vex_applied


def test_vex_applies_before_waivers(tmp_path: Path) -> None:
    vex = tmp_path / "vex.json"
    vex.write_text(
        json.dumps(
            openvex([{"vulnerability": {"name": "CVE-C"}, "products": [{"@id": IMAGE_PURL}], **NOT_AFFECTED}])
        )
    )
    path = make_policy(
        tmp_path, [rule("vulnerabilities", {"severity": "critical"})], waivers=[waiver(vulnerability="CVE-C")]
    )
    decision = evaluate(load_policy(path), inputs(findings=FINDINGS), vex=load_vex(vex), now=NOW)
    # CVE-C is suppressed by VEX before the verdict, so the waiver for it covered nothing
    assert [v.id for v in decision.vex_applied[0].violations] == ["CVE-C"]
    assert decision.waivers_applied == () and len(decision.waivers_unused) == 1
    assert violation_ids(decision) == ["CVE-U"]


def test_cyclonedx_vex(tmp_path: Path, cyclonedx_validator: Any) -> None:  # noqa: F811 - the fixture imported above
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "component": {"type": "container", "name": "app", "bom-ref": "image", "purl": IMAGE_PURL}
        },
        "components": [
            {"type": "library", "name": "app-lib", "bom-ref": "lib", "purl": "pkg:pypi/app-lib@1.0.0"}
        ],
        "vulnerabilities": [
            {"id": "CVE-C", "analysis": {"state": "not_affected", "justification": "code_not_reachable"},
             "affects": [{"ref": "lib"}]},
            {"id": "GHSA-m", "references": [{"id": "CVE-M", "source": {"name": "NVD"}}],
             "analysis": {"state": "resolved"}, "affects": [{"ref": "image"}]},
            {"id": "CVE-H-NOFIX", "analysis": {"state": "exploitable"}, "affects": [{"ref": "lib"}]},
        ],
    }  # fmt: skip
    cyclonedx_validator.validate(bom)  # the full CycloneDX 1.6 schema
    path = tmp_path / "vex.cdx.json"
    path.write_text(json.dumps(bom))
    decision = decide(tmp_path, [rule("vulnerabilities", {})], inputs(findings=FINDINGS), vex=load_vex(path))
    applied = {v.id: item.statement for item in decision.vex_applied for v in item.violations}
    assert sorted(applied) == ["CVE-C", "CVE-M"]
    assert (applied["CVE-C"].status, applied["CVE-C"].justification) == ("not_affected", "code_not_reachable")
    assert applied["CVE-M"].status == "fixed"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (openvex([{"vulnerability": {"name": "CVE-C"}, "products": [{"@id": IMAGE_PURL}],
                   "status": "not_affected"}]),
         "not a valid VEX document"),  # not_affected needs a justification or impact statement
        (openvex([{"vulnerability": {"name": "CVE-C"}, "status": "fixd"}]),
         "statements[0].status: 'fixd' is not one of"),
        ({**openvex([]), "author": 3}, "author: 3 is not a string"),
        ({"bomFormat": "CycloneDX", "specVersion": "1.6",
          "vulnerabilities": [{"id": "x", "analysis": {"state": "nope"}}]},
         "vulnerabilities[0].analysis.state: 'nope' is not one of"),
        ({"statements": []}, "neither an OpenVEX document"),
    ],
)  # fmt: skip
def test_bad_vex_documents(tmp_path: Path, document: dict[str, Any], message: str) -> None:
    path = tmp_path / "vex.json"
    path.write_text(json.dumps(document))
    with pytest.raises(PolicyError) as raised:
        load_vex(path)
    assert str(raised.value).startswith(f"{path}: ") and message in str(raised.value)


def test_applied_waivers_as_openvex_reproduce_the_verdict(tmp_path: Path) -> None:
    rules = [rule("vulnerabilities", {"severity": "high", "fix": "available"})]
    path = make_policy(
        tmp_path, rules, waivers=[waiver(vulnerability="CVE-C"), waiver(vulnerability="CVE-2024-0001")]
    )
    decision = evaluate(load_policy(path), inputs(findings=FINDINGS), now=NOW)
    document = openvex_for_waivers(decision)
    jsonschema.validate(document, OPENVEX_SCHEMA)
    [statement] = document["statements"]  # CVE-KEV is low: the second waiver was unused
    assert statement["vulnerability"]["name"] == "CVE-C" and statement["status"] == "not_affected"
    assert statement["products"] == [{"@id": "pkg:pypi/app-lib@1.0.0"}]
    assert "team@example.com" in statement["impact_statement"]
    # A consumer without the waivers gets the same verdict from the VEX
    vex = tmp_path / "waivers.openvex.json"
    vex.write_text(json.dumps(document))
    without_waivers = make_policy(tmp_path, rules)
    again = evaluate(load_policy(without_waivers), inputs(findings=FINDINGS), vex=load_vex(vex), now=NOW)
    assert violation_ids(again) == violation_ids(decision) == ["CVE-OLD", "CVE-U"]


# -- --fail-on, the decision document -----------------------------------------------------------


def test_fail_on_is_a_one_rule_per_kind_policy() -> None:
    policy = policy_for_fail_on(Severity.HIGH)
    given = inputs(findings=FINDINGS, secrets=SECRETS, config=CONFIG)
    decision = evaluate(policy, given, now=NOW)
    by_rule = {o.rule_id: sorted(v.id for v in o.violations) for o in decision.outcomes}
    assert by_rule == {
        "vulnerabilities": ["CVE-C", "CVE-H-NOFIX", "CVE-OLD", "CVE-U"],
        "secrets": ["aws-access-key"],
        "config": ["root-user"],
    }
    assert policy.digest != policy_for_fail_on(Severity.CRITICAL).digest


def test_decision_document(tmp_path: Path) -> None:
    from gate.policy import DatabaseIdentity

    given = inputs(
        findings=FINDINGS, database=DatabaseIdentity("sha256:" + "ee" * 32, "2026-06-01T00:00:00Z")
    )
    rules = [rule("vulnerabilities", {"severity": "critical"}, rule_id="a"), rule("sbom", {}, "warn", "b")]
    decision = decide(tmp_path, rules, given)
    document = decision.to_json()
    assert document["schema_version"] == "1" and document["verdict"] == "fail"
    assert document["database"] == {"digest": "sha256:" + "ee" * 32, "built_at": "2026-06-01T00:00:00Z"}
    assert document["policy"]["digest"] == load_policy(tmp_path / "policy.yaml").digest
    assert document["target"] == {
        "kind": "image",
        "reference": "r/app@" + IMAGE_DIGEST,
        "digest": IMAGE_DIGEST,
    }
    assert document["evaluated_at"] == "2026-06-15T12:00:00Z"
    assert [r["status"] for r in document["rules"]] == ["failed", "passed"]
    assert document["summary"]["blocking"] == 2


# -- Rego ---------------------------------------------------------------------------------------

REGO_V1 = """package gate

deny contains msg if {
	some finding in input.findings
	finding.severity == "critical"
	msg := sprintf("%s in %s", [finding.id, finding.purl])
}

warn contains {"msg": sprintf("%d secret(s)", [count(input.secrets)])} if {
	count(input.secrets) > 0
}
"""


def rego_policy(tmp_path: Path, source: str, name: str = "rules.rego") -> Path:
    (tmp_path / name).write_text(source)
    return make_policy(tmp_path, [rule("sbom", {}, "warn")], rego=[name])


def test_rego_deny_and_warn(tmp_path: Path) -> None:
    policy = load_policy(rego_policy(tmp_path, REGO_V1))
    decision = evaluate(policy, inputs(findings=FINDINGS, secrets=SECRETS), now=NOW)
    by_id = {o.rule_id: o for o in decision.outcomes}
    assert [v.message for v in by_id["rego.deny"].violations] == ["CVE-C in pkg:pypi/app-lib@1.0.0"]
    assert (by_id["rego.deny"].action, by_id["rego.deny"].status) == ("block", "failed")
    assert [v.message for v in by_id["rego.warn"].violations] == ["2 secret(s)"]
    assert by_id["rego.warn"].status == "warned" and not decision.passed
    clean = evaluate(policy, inputs(findings=(), secrets=()), now=NOW)
    assert clean.passed and all(o.status == "passed" for o in clean.outcomes)
    jsonschema.validate(decision.to_json(), DECISION_SCHEMA)


def test_the_rego_example_sees_kev_and_layers(tmp_path: Path) -> None:
    policy = load_policy(ROOT / "policies" / "examples" / "rego.yaml")
    own_kev = finding("CVE-OWN", OWN_DEB, Severity.LOW, kev=KEV)
    unfixable = finding("CVE-NOFIX-9", APP, Severity.CRITICAL, score=9.5, fixed=())
    given = inputs(findings=(*FINDINGS, own_kev, unfixable), catalog=Catalog((APP,), None))
    decision = evaluate(policy, given, now=NOW)
    by_id = {o.rule_id: [v.message for v in o.violations] for o in decision.outcomes}
    # CVE-KEV is inherited from the base image: only the image's own KEV finding is denied
    assert by_id["rego.deny"] == [
        "CVE-OWN in pkg:deb/debian/curl@7.88.1 is exploited in the wild (CISA KEV since 2024-02-01)"
    ]
    assert by_id["rego.warn"] == [
        "CVE-NOFIX-9 (CVSS 9.5) in pkg:pypi/app-lib@1.0.0 has no fix yet",
        "no operating system detected",
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            'package gate\n\ndeny[msg] {\n  msg := "x"\n}\n',
            "rules.rego:3: Rego v0 syntax `deny[msg] {`: gate accepts Rego v1 only, "
            "write `deny contains msg if {`",
        ),
        ("package gate\n\nallow {\n  true\n}\n", "rules.rego:3: Rego v0 syntax `allow {`"),
        (
            "package gate\n\ndeny contains msg if {\n  msg := \n}\n",
            "rules.rego:4: Invalid assignment operator",
        ),
        ("package gate\n\ndeny contains msg if {\n  msg := nosuch(1)\n}\n", "Function not found: nosuch"),
    ],
)
def test_bad_rego_is_an_error_with_file_and_line(
    tmp_path: Path, source: str, message: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy(rego_policy(tmp_path, source))
    assert message in str(raised.value)
    assert capfd.readouterr().out == ""  # the engine's own printout stays off stdout


def test_rego_runtime_error_fails_closed(tmp_path: Path) -> None:
    source = "package gate\n\ndeny contains msg if {\n  some f in input.findings\n  msg := f.score / 0\n}\n"
    policy = load_policy(rego_policy(tmp_path, source))
    with pytest.raises(PolicyError, match="Rego evaluation failed: divide by zero"):
        evaluate(policy, inputs(findings=FINDINGS), now=NOW)


def test_rego_input_holds_only_the_sections_read(tmp_path: Path) -> None:
    from gate.policy.rego import referenced_sections

    policy = load_policy(rego_policy(tmp_path, REGO_V1))
    assert referenced_sections(policy.rego) == {"findings", "secrets"}
    whole = load_policy(
        rego_policy(tmp_path, 'package gate\n\nwarn contains "x" if {\n  count(input) > 100\n}\n', "w.rego")
    )
    assert len(referenced_sections(whole.rego)) == 7


def test_the_rego_input_document_matches_its_schema() -> None:
    from gate.image.base import BaseImage
    from gate.policy import rego_input
    from gate.policy.rego import SECTIONS

    schema = json.loads((ROOT / "docs" / "rego-input.schema.json").read_text())
    given = inputs(
        LICENSED,
        FINDINGS,
        secrets=SECRETS,
        config=CONFIG,
        base=BaseImage(BASE, 1),
        catalog=Catalog(LICENSED, Distro("debian", "12"), (Unknown("/x.jar", "java", "truncated"),)),
    )
    document = rego_input(given, given.vulnerabilities, frozenset(SECTIONS))
    jsonschema.validate(document, schema)
    assert set(document) == set(SECTIONS)
    [kev] = [f for f in document["findings"] if f["known_exploited"]]
    assert kev == {
        **kev,
        "id": "CVE-KEV",
        "layer": "inherited",
        "known_exploited": {"date_added": "2024-02-01", "ransomware": "Known"},
    }
    assert "AKIA" not in json.dumps(document["secrets"])  # not even the redacted match


def test_rego_sees_a_nul_in_hostile_names_replaced_not_truncated(tmp_path: Path) -> None:
    hostile = finding("CVE-C", package("evil\x00hidden", "1.0.0"), Severity.CRITICAL)
    policy = load_policy(rego_policy(tmp_path, REGO_V1))
    decision = evaluate(policy, inputs(findings=(hostile,)), now=NOW)
    [outcome] = [o for o in decision.outcomes if o.rule_id == "rego.deny"]
    assert [v.message for v in outcome.violations] == ["CVE-C in pkg:pypi/evil\ufffdhidden@1.0.0"]
