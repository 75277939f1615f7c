"""JUnit XML (``junit.xml``): one test case per policy rule, so every CI shows the verdict.

GitLab shows JUnit in merge requests on every tier. A rule that blocked is a ``<failure>``
whose text lists its blocking findings; a rule that warned passes with the warnings in
``<system-out>``; a rule that was skipped or could not be decided is ``<skipped>`` with the
reason. Each platform is a ``<testsuite>``; a required platform missing from the index is a
failed test case of its own.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from gate.policy.decision import Decision, RuleOutcome, Violation
from gate.report.model import PlatformReport, RunReport, severity_label

MAX_LISTED = 200  # findings written out per failed rule; the message gives the total
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def junit_report(report: RunReport) -> bytes:
    suites = ET.Element("testsuites", name=_clean(f"gate {report.reference}"))
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for platform in report.platforms:
        if platform.decision is not None:
            suite = _suite(report, platform, platform.decision)
            suites.append(suite)
            for key in totals:
                totals[key] += int(suite.get(key, "0"))
    if report.missing_platforms:
        suite = ET.SubElement(
            suites,
            "testsuite",
            name="gate required platforms",
            tests="1",
            failures="1",
            errors="0",
            skipped="0",
        )
        case = ET.SubElement(suite, "testcase", classname="gate.platforms", name="required-platforms")
        missing = ", ".join(report.missing_platforms)
        ET.SubElement(case, "failure", message=_clean(f"missing from the index: {missing}"), type="missing")
        totals["tests"] += 1
        totals["failures"] += 1
    suites.set("tests", str(totals["tests"]))
    suites.set("failures", str(totals["failures"]))
    suites.set("errors", "0")
    suites.set("skipped", str(totals["skipped"]))
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def _suite(report: RunReport, platform: PlatformReport, decision: Decision) -> ET.Element:
    where = f" ({platform.platform})" if platform.platform else ""
    suite = ET.Element(
        "testsuite",
        name=_clean(f"gate policy {decision.policy_name}{where}"),
        tests=str(len(decision.outcomes)),
        failures=str(sum(outcome.status == "failed" for outcome in decision.outcomes)),
        errors="0",
        skipped=str(sum(outcome.status in ("skipped", "unknown") for outcome in decision.outcomes)),
        timestamp=report.finished.rstrip("Z"),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("image", f"{report.repository}@{platform.digest}"),
        ("policy.digest", decision.policy_digest),
        ("verdict", decision.verdict),
    ):
        ET.SubElement(properties, "property", name=name, value=_clean(value))
    for outcome in decision.outcomes:
        suite.append(_case(decision, outcome, platform))
    return suite


def _case(decision: Decision, outcome: RuleOutcome, platform: PlatformReport) -> ET.Element:
    classname = f"gate.policy.{decision.policy_name}" + (f".{platform.platform}" if platform.platform else "")
    case = ET.Element("testcase", classname=_clean(classname), name=_clean(outcome.rule_id))
    if outcome.status == "failed":
        count = len(outcome.violations)
        message = (
            f"{outcome.description or outcome.rule_id}: {count} blocking finding(s)"
            if count
            else outcome.reason
        )
        failure = ET.SubElement(case, "failure", message=_clean(message or "blocked"), type="blocked")
        failure.text = _clean(_listing(outcome.violations))
    elif outcome.status in ("skipped", "unknown"):
        ET.SubElement(case, "skipped", message=_clean(outcome.reason or outcome.status))
    elif outcome.status == "warned" and outcome.violations:
        ET.SubElement(case, "system-out").text = _clean("warnings:\n" + _listing(outcome.violations))
    if outcome.waived:
        waived = "\n".join(
            f"{item.violation.id}: {item.waiver.reason} ({item.waiver.owner})" for item in outcome.waived
        )
        ET.SubElement(case, "system-err").text = _clean("waived:\n" + waived)
    return case


def _listing(violations: tuple[Violation, ...]) -> str:
    lines = [f"[{severity_label(v.severity)}] {v.id}: {v.message}" for v in violations[:MAX_LISTED]]
    if len(violations) > MAX_LISTED:
        lines.append(f"... and {len(violations) - MAX_LISTED} more (see decision.json)")
    return "\n".join(lines)


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters at all (not even escaped): show them as \\xNN."""
    return _NOT_XML.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
