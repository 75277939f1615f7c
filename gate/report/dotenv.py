"""The dotenv file (``gate.env``) later CI jobs read: GitLab's ``artifacts:reports:dotenv``.

GitLab takes ``KEY=VALUE`` lines, one line per value, no quoting, 5 KB in all: every value is
reduced to a safe character set so nothing from the image can add a line or a variable.
"""

from __future__ import annotations

import re

from gate.report.model import RunReport

_UNSAFE = re.compile(r"[^A-Za-z0-9._:/@+=,-]")


def dotenv_variables(report: RunReport) -> dict[str, str]:
    decision = next((p.decision for p in report.platforms if p.decision is not None), None)
    blocking = sum(
        len(o.violations) or 1 for p in report.platforms if p.decision for o in p.decision.blocking
    )
    return {
        "GATE_VERDICT": report.verdict,
        "GATE_DIGEST": report.digest,
        "GATE_REFERENCE": report.reference,
        "GATE_IMAGE": f"{report.repository}@{report.digest}",
        "GATE_POLICY_DIGEST": decision.policy_digest if decision else "",
        "GATE_BLOCKING": str(blocking),
        "GATE_FINDINGS": str(sum(len(p.findings) for p in report.platforms)),
        "GATE_SIGNED": "true" if report.signed else "false",
    }


def dotenv(report: RunReport) -> str:
    return "".join(
        f"{name}={_UNSAFE.sub('_', value)[:512]}\n" for name, value in dotenv_variables(report).items()
    )
