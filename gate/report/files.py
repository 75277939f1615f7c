"""The report directory's fixed file names, and writing every format of one run into it.

Pipelines point at these names (``artifacts:reports``, upload-sarif), so they never change.
``gate run --report-dir`` also writes ``decision.json``, ``scan.json`` and the SBOMs beside them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gate.errors import GateError
from gate.report.dotenv import dotenv
from gate.report.gitlab import gitlab_report
from gate.report.html import html_report
from gate.report.junit import junit_report
from gate.report.markdown import markdown_summary
from gate.report.model import RunReport
from gate.report.sarif import sarif_report

SARIF_FILE = "gate.sarif"
GITLAB_FILE = "gl-container-scanning-report.json"
JUNIT_FILE = "junit.xml"
MARKDOWN_FILE = "summary.md"
HTML_FILE = "report.html"
DOTENV_FILE = "gate.env"
DECISION_FILE = "decision.json"
SCAN_FILE = "scan.json"
CYCLONEDX_FILE = "sbom.cdx.json"
SPDX_FILE = "sbom.spdx.json"


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


RENDERERS: dict[str, Callable[[RunReport], bytes]] = {
    "sarif": lambda report: _json(sarif_report(report)),
    "gitlab": lambda report: _json(gitlab_report(report)),
    "junit": junit_report,
    "markdown": lambda report: markdown_summary(report).encode(),
    "html": lambda report: html_report(report).encode(),
    "dotenv": lambda report: dotenv(report).encode(),
}
"""Each format by the name ``--format`` gives it."""

FILE_NAMES = {
    "sarif": SARIF_FILE,
    "gitlab": GITLAB_FILE,
    "junit": JUNIT_FILE,
    "markdown": MARKDOWN_FILE,
    "html": HTML_FILE,
    "dotenv": DOTENV_FILE,
}


def render(report: RunReport, name: str) -> bytes:
    return RENDERERS[name](report)


def write_formats(directory: Path, report: RunReport) -> list[Path]:
    """Write SARIF, the GitLab report, JUnit, the Markdown summary, the HTML page and the dotenv."""
    return [write_file(directory / FILE_NAMES[name], render(report, name)) for name in RENDERERS]


def write_file(path: Path, data: bytes) -> Path:
    """Write atomically (a reader never sees half a report); a failure is one-line GateError."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as error:
        raise GateError(f"cannot write report {path}: {error.strerror}") from error
    return path
