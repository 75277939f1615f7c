"""`gate scan`: match an image's (or an SBOM's) packages against the vulnerability database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gate.cli.db import AllowStaleOption, DbOption, MaxAgeOption
from gate.cli.options import (
    BaseImageOption,
    InsecureOption,
    OfflineOption,
    OptionalImageArgument,
    OutputFormat,
    PlatformOption,
    ReportFormat,
    ReportFormatOption,
    registry_client,
)
from gate.cli.policy import (
    FailOnOption,
    PolicyFileOption,
    RegoOption,
    VexOption,
    WaiversOption,
    close_if_failed,
    judgement_from_options,
)

if TYPE_CHECKING:
    from gate.policy import Decision


def scan_command(
    image: OptionalImageArgument = None,
    sbom: Annotated[
        Path | None,
        typer.Option("--sbom", metavar="FILE", help="Scan the packages of a CycloneDX/SPDX SBOM."),
    ] = None,
    db: DbOption = None,
    output_format: ReportFormatOption = ReportFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to FILE instead of stdout.")
    ] = None,
    policy: PolicyFileOption = None,
    fail_on: FailOnOption = None,
    waivers: WaiversOption = None,
    vex: VexOption = None,
    rego: RegoOption = None,
    scanners: Annotated[
        str,
        typer.Option(
            "--scanners",
            metavar="LIST",
            help="Comma-separated: vuln (OSV), secret (embedded secrets), config (image configuration). "
            "An SBOM can only be scanned for vulnerabilities.",
        ),
    ] = "vuln,secret,config",
    max_db_age: MaxAgeOption = "5d",
    allow_stale_db: AllowStaleOption = False,
    base_image: BaseImageOption = None,
    platform: PlatformOption = None,
    insecure_registry: InsecureOption = None,
    offline: OfflineOption = False,
) -> None:
    """Find known vulnerabilities (OSV), embedded secrets and risky configuration in an image.

    The report cites each matching record and the database digest. With --policy (or --fail-on)
    the policy is evaluated on the same read of the image and its decision follows the report.
    Exit 0 pass, 1 error, 2 the policy fails.
    """
    from gate.attest._time import now_rfc3339
    from gate.cli.progress import stage
    from gate.cli.reports import is_report, plain_format, write_report
    from gate.errors import GateError
    from gate.pipeline import ScanOptions, decide, scan_image, scan_run_report, scan_sbom

    if (image is None) == (sbom is None):
        raise GateError("give exactly one of IMAGE or --sbom FILE")
    if output_format is ReportFormat.junit and policy is None and fail_on is None:
        raise GateError("--format junit has one test case per policy rule: give --policy FILE or --fail-on")
    started = now_rfc3339()
    judgement = judgement_from_options(policy, fail_on, waivers, vex, rego, offline=offline)
    options = ScanOptions(
        scanners=_parse_scanners(scanners, sbom is not None),
        db_path=db,
        max_db_age=max_db_age,
        allow_stale_db=allow_stale_db,
        platform=platform,
        base_reference=base_image,
    )
    client = registry_client(insecure_registry, offline=offline)
    if sbom is not None:
        scan = scan_sbom(sbom, options, progress=stage)
    else:
        assert image is not None
        scan = scan_image(image, options, client=client, progress=stage)
    report = scan.report()
    decision = None
    if judgement is not None:
        with stage("evaluate policy"):
            decision = decide(scan, judgement, client=client, platform=platform)
        report["decision"] = decision.to_json()
    if is_report(output_format):
        run = scan_run_report(scan, decision, started=started, finished=now_rfc3339())
        write_report(run, output_format, output)
    else:
        _write(report, scan.matches, scan.analysis, plain_format(output_format), output, decision)
    if decision is not None:
        close_if_failed(decision)


def _parse_scanners(text: str, from_sbom: bool) -> frozenset[str]:
    from gate.errors import GateError
    from gate.pipeline import parse_scanners

    chosen = parse_scanners(text)
    if from_sbom:
        if text != "vuln,secret,config" and chosen != {"vuln"}:
            raise GateError("an SBOM holds no files or image config: --sbom scans for vulnerabilities only")
        return frozenset({"vuln"})
    return chosen


def _write(
    report: dict[str, Any],
    result: Any,
    analysis: Any,
    output_format: OutputFormat,
    output: Path | None,
    decision: Decision | None,
) -> None:
    if output_format is OutputFormat.json:
        text = json.dumps(report, indent=2, sort_keys=False) + "\n"
        if output:
            output.write_text(text)
        else:
            typer.echo(text, nl=False)
        return
    if output:
        with output.open("w") as handle:
            _render(report, result, analysis, handle, decision)
    else:
        _render(report, result, analysis, None, decision)


def _render(
    report: dict[str, Any], result: Any, analysis: Any, handle: Any, decision: Decision | None
) -> None:
    from gate.cli.console import make_console

    console = make_console(handle)
    if report["database"] is not None:
        _render_vulnerabilities(console, report, result)
    if analysis is not None:
        from gate.cli.analyze import render_analysis

        reference = report["target"].get("reference", "")
        render_analysis(console, reference, analysis, secrets="secrets" in report, config="config" in report)
    if decision is not None:
        from gate.cli.render_policy import render_decision

        render_decision(console, decision)


def _render_vulnerabilities(console: Any, report: dict[str, Any], result: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    from gate.cli.console import escape_control

    summary = report["summary"]
    table = Table(
        title=f"{summary['findings']} findings in {summary['packages']} packages "
        f"(database {report['database']['digest'][:19]}, built {report['database']['built_at']})",
        title_justify="left",
    )
    for column in ("package", "installed", "vulnerability", "severity", "fixed in", "exploited"):
        table.add_column(column, no_wrap=column != "package")
    table.add_column("aliases", overflow="fold")
    for finding in result.findings:
        table.add_row(
            finding.package.name,
            finding.package.version,
            finding.id,
            finding.rating.severity.label,
            ", ".join(finding.fixed_versions) or "-",
            _exploited_cell(finding.known_exploited),
            ", ".join(finding.aliases[:3]) + (" ..." if len(finding.aliases) > 3 else ""),
        )
    console.print(table)
    for item in result.unverified:
        console.print(
            Text.assemble(
                ("unverified", "yellow"),
                escape_control(f" {item.package.purl} against {item.record_id}: {item.reason}"),
            ),
            highlight=False,
        )


def _exploited_cell(entry: Any) -> str:
    """``KEV 2023-11-21`` (the date CISA listed it), ``+ransomware`` when campaigns are known."""
    if entry is None:
        return "-"
    return f"KEV {entry.date_added}" + (" +ransomware" if entry.ransomware_known else "")
