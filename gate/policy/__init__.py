"""The policy: the one place where findings become a decision.

    from gate.policy import PolicyInput, evaluate, load_policy
    policy = load_policy(Path("policies/default.yaml"))
    decision = evaluate(policy, PolicyInput(catalog, vulnerabilities=findings, ...))
    decision.passed, decision.verdict, decision.to_json()

A policy file (YAML, ``apiVersion: gate/v1``, ``kind: Policy``; schema ``policies/schema.json``)
holds rules of seven kinds (vulnerabilities, packages, licenses, secrets, config, base-image,
sbom), waivers and optional Rego modules; docs/policy.md describes each. ``--fail-on SEVERITY``
is :func:`policy_for_fail_on`. VEX documents (OpenVEX, CycloneDX) suppress findings before the
verdict; :func:`openvex_for_waivers` writes the applied waivers back as OpenVEX.
"""

from gate.policy.base import check_base_freshness
from gate.policy.decision import Decision, RuleOutcome, Violation
from gate.policy.evaluate import evaluate, rego_input
from gate.policy.load import load_policy, load_waivers, parse_fail_on, policy_for_fail_on
from gate.policy.model import (
    BaseFreshness,
    DatabaseIdentity,
    Policy,
    PolicyInput,
    Rule,
    VexStatement,
    Waiver,
)
from gate.policy.report import input_from_report
from gate.policy.vex import load_vex, load_vex_files
from gate.policy.waivers import openvex_for_waivers, waived_statements

__all__ = [
    "BaseFreshness",
    "DatabaseIdentity",
    "Decision",
    "Policy",
    "PolicyInput",
    "Rule",
    "RuleOutcome",
    "VexStatement",
    "Violation",
    "Waiver",
    "check_base_freshness",
    "evaluate",
    "input_from_report",
    "load_policy",
    "load_vex",
    "load_vex_files",
    "load_waivers",
    "openvex_for_waivers",
    "parse_fail_on",
    "policy_for_fail_on",
    "rego_input",
    "waived_statements",
]
