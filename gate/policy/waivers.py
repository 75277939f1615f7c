"""Waivers: accepted findings, each scoped, owned, explained and expiring.

A waiver's scope fields (``vulnerability``: an id or any alias; ``package``: a purl pattern;
``path``: a glob over secret paths and the files the SBOM could not read; ``rule``: an analyzer
rule id or a policy rule id) must all match a violation for it to apply. A waiver applies while
``now`` is before its expiry: ``expires: 2026-12-31`` covers all of that day in UTC. An expired
waiver applies to nothing and is reported with what it would have covered; a live waiver that
covered nothing is reported as unused.
"""

from __future__ import annotations

import datetime
import fnmatch
from collections.abc import Sequence
from typing import Any

from gate.attest.openvex import VexStatement as OpenVexStatement
from gate.attest.openvex import openvex_predicate
from gate.policy.decision import Decision, Violation
from gate.policy.model import Waiver
from gate.policy.patterns import package_matches
from gate.versions import InvalidVersion


def waiver_covers(waiver: Waiver, violation: Violation, rule_id: str) -> bool:
    if waiver.vulnerability is not None and waiver.vulnerability.upper() not in {
        name.upper() for name in violation.names
    }:
        return False
    if waiver.package is not None:
        try:
            if not violation.purl or not package_matches(waiver.package, violation.purl):
                return False
        except InvalidVersion:
            return False
    if waiver.path is not None and not (violation.path and fnmatch.fnmatchcase(violation.path, waiver.path)):
        return False
    return waiver.rule is None or waiver.rule in (violation.rule, rule_id)


def is_live(waiver: Waiver, now: datetime.datetime) -> bool:
    return now < waiver.expires


def openvex_for_waivers(decision: Decision, *, author: str = "gate") -> dict[str, Any]:
    """The applied waivers of vulnerabilities as an OpenVEX document, one ``not_affected``
    statement per waived vulnerability, naming the packages it was waived in. Fed back to
    ``--vex``, it suppresses the same findings, so a consumer can reproduce the verdict."""
    return openvex_predicate(
        waived_statements(decision), author=author, timestamp=_rfc3339(decision.evaluated_at)
    )


def waived_statements(decision: Decision) -> list[OpenVexStatement]:
    """The applied vulnerability waivers as OpenVEX statements (what `gate run` attests)."""
    grouped: dict[tuple[str, str], tuple[Waiver, set[str]]] = {}
    for use in decision.waivers_applied:
        for violation in use.violations:
            if violation.kind != "vulnerability" or not violation.purl:
                continue
            key = (violation.id, use.waiver.source)
            grouped.setdefault(key, (use.waiver, set()))[1].add(violation.purl)
    return [
        OpenVexStatement(
            vulnerability=vulnerability,
            products=tuple(sorted(purls)),
            status="not_affected",
            impact_statement=f"waived by {waiver.owner} until {waiver.expires.isoformat()}: {waiver.reason}",
        )
        for (vulnerability, _source), (waiver, purls) in sorted(grouped.items())
    ]


def split_by_expiry(
    waivers: Sequence[Waiver], now: datetime.datetime
) -> tuple[tuple[Waiver, ...], tuple[Waiver, ...]]:
    """(live, expired)."""
    return (
        tuple(waiver for waiver in waivers if is_live(waiver, now)),
        tuple(waiver for waiver in waivers if not is_live(waiver, now)),
    )


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
