"""OpenVEX documents (``https://openvex.dev/ns``, spec v0.2.0) from the policy's waivers.

A waiver that says a vulnerability does not affect the image becomes a ``not_affected``
statement with a justification from the OpenVEX list (or an impact statement).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from gate.attest._time import now_rfc3339
from gate.errors import GateError

CONTEXT = "https://openvex.dev/ns/v0.2.0"
STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
JUSTIFICATIONS = (
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
)


@dataclass(frozen=True)
class VexStatement:
    vulnerability: str  # CVE-..., GHSA-...
    products: tuple[str, ...]  # purls, e.g. "pkg:oci/app@sha256%3A..."
    status: str
    justification: str | None = None
    impact_statement: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise GateError(f"VEX status {self.status!r} is not one of {', '.join(STATUSES)}")
        if self.justification is not None and self.justification not in JUSTIFICATIONS:
            raise GateError(
                f"VEX justification {self.justification!r} is not one of {', '.join(JUSTIFICATIONS)}"
            )
        if self.status == "not_affected" and not (self.justification or self.impact_statement):
            raise GateError(
                f"VEX not_affected for {self.vulnerability} needs a justification or impact statement"
            )


def openvex_predicate(
    statements: list[VexStatement], *, author: str, timestamp: str | None = None
) -> dict[str, Any]:
    """An OpenVEX document; its ``@id`` is derived from its content, so reruns give the same id."""
    when = timestamp or now_rfc3339()
    body = [_statement(s) for s in statements]
    content = json.dumps([author, body], sort_keys=True, separators=(",", ":")).encode()
    return {
        "@context": CONTEXT,
        "@id": f"https://openvex.dev/docs/public/vex-{hashlib.sha256(content).hexdigest()}",
        "author": author,
        "timestamp": when,
        "version": 1,
        "statements": body,
    }


def _statement(statement: VexStatement) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "vulnerability": {"name": statement.vulnerability},
        "products": [{"@id": product} for product in statement.products],
        "status": statement.status,
    }
    if statement.justification:
        entry["justification"] = statement.justification
    if statement.impact_statement:
        entry["impact_statement"] = statement.impact_statement
    return entry
