"""cosign vulnerability-scan predicate (``https://cosign.sigstore.dev/attestation/vuln/v1``).

Shape from ``sigstore/cosign:specs/COSIGN_VULN_ATTESTATION_SPEC.md``: invocation, scanner
(uri, version, db, the scanner's native report as ``result``) and scan start/finish times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScanRun:
    scanner_uri: str  # e.g. "pkg:pypi/gate@0.1.0"
    scanner_version: str
    db_uri: str
    db_digest: str  # the vulnerability DB snapshot scanned against, e.g. "sha256:..."
    result: Any  # the scanner's native report
    started_on: str
    finished_on: str
    invocation_uri: str = ""
    event_id: str = ""
    builder_id: str = ""
    parameters: tuple[str, ...] = field(default_factory=tuple)


def vuln_predicate(run: ScanRun) -> dict[str, Any]:
    return {
        "invocation": {
            "parameters": list(run.parameters),
            "uri": run.invocation_uri,
            "event_id": run.event_id,
            "builder.id": run.builder_id,
        },
        "scanner": {
            "uri": run.scanner_uri,
            "version": run.scanner_version,
            "db": {"uri": run.db_uri, "version": run.db_digest},
            "result": run.result,
        },
        "metadata": {"scanStartedOn": run.started_on, "scanFinishedOn": run.finished_on},
    }
