"""``--format sarif|gitlab|junit|markdown|html`` for ``gate scan`` and ``gate policy check``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gate.cli.options import OutputFormat, ReportFormat

if TYPE_CHECKING:
    from gate.report.model import RunReport

REPORT_FORMATS = frozenset(ReportFormat) - {ReportFormat.table, ReportFormat.json}


def is_report(output_format: ReportFormat) -> bool:
    return output_format in REPORT_FORMATS


def plain_format(output_format: ReportFormat) -> OutputFormat:
    return OutputFormat(output_format.value)


def write_report(report: RunReport, output_format: ReportFormat, output: Path | None) -> None:
    from gate.report.files import render, write_file

    data = render(report, output_format.value)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        write_file(output, data)
