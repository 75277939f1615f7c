"""`gate scan`: match an image's (or an SBOM's) packages against the vulnerability database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gate.cli.db import AllowStaleOption, DbOption, MaxAgeOption
from gate.cli.options import FormatOption, InsecureOption, OptionalImageArgument, OutputFormat, PlatformOption

_OS_TYPES = ("deb", "apk", "rpm")
SCANNERS = ("vuln", "secret", "config")


def scan_command(
    image: OptionalImageArgument = None,
    sbom: Annotated[
        Path | None,
        typer.Option("--sbom", metavar="FILE", help="Scan the packages of a CycloneDX/SPDX SBOM."),
    ] = None,
    db: DbOption = None,
    output_format: FormatOption = OutputFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to FILE instead of stdout.")
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            metavar="SEVERITY",
            help="Exit 2 when a finding is at or above SEVERITY (low, medium, high, critical) "
            "or has no severity at all.",
        ),
    ] = None,
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
    platform: PlatformOption = None,
    insecure_registry: InsecureOption = None,
) -> None:
    """Find known vulnerabilities (OSV), embedded secrets and risky configuration in an image.

    The report cites each matching record and the database digest. Exit 0 pass, 1 error,
    2 a finding at or above --fail-on (or a file that could not be analysed).
    """
    from gate.errors import GateError
    from gate.severity import Severity

    if (image is None) == (sbom is None):
        raise GateError("give exactly one of IMAGE or --sbom FILE")
    try:
        threshold = Severity.parse(fail_on) if fail_on else None
    except ValueError as error:
        raise GateError(f"{error} for --fail-on", hint="use low, medium, high or critical") from None
    chosen = _parse_scanners(scanners, sbom is not None)
    report, result, analysis = _scan(
        image, sbom, db, max_db_age, allow_stale_db, platform, insecure_registry, chosen
    )
    _write(report, result, analysis, output_format, output)
    if threshold is not None:
        _verdict(result, analysis, threshold)


def _parse_scanners(text: str, from_sbom: bool) -> frozenset[str]:
    from gate.errors import GateError

    chosen = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = chosen - set(SCANNERS)
    if unknown or not chosen:
        raise GateError(
            f"unknown scanner(s) {', '.join(sorted(unknown)) or '(none)'} in --scanners",
            hint="choose from vuln, secret, config",
        )
    if from_sbom:
        if text != "vuln,secret,config" and chosen != {"vuln"}:
            raise GateError("an SBOM holds no files or image config: --sbom scans for vulnerabilities only")
        return frozenset({"vuln"})
    return chosen


def _scan(
    image: str | None,
    sbom: Path | None,
    db: Path | None,
    max_db_age: str,
    allow_stale_db: bool,
    platform: str | None,
    insecure: list[str] | None,
    scanners: frozenset[str],
) -> tuple[dict[str, Any], Any, Any]:
    from contextlib import nullcontext

    from gate.cli.progress import stage
    from gate.match import Matcher, MatchResult
    from gate.report.scan import DatabaseInfo, analysis_json, scan_report
    from gate.vulndb import SCHEMA_VERSION, VulnDB, resolve_db_path
    from gate.vulndb.status import check_fresh

    with VulnDB.open(resolve_db_path(db)) if "vuln" in scanners else nullcontext() as opened:
        if opened is not None:
            check_fresh(opened, max_db_age, allow_stale=allow_stale_db)
        catalog, target, analysis = _catalog(image, sbom, platform, insecure, scanners)
        packages = _with_ecosystems(catalog)
        if opened is None:
            result, database = MatchResult((), ()), None
        else:
            with stage(f"match {len(packages)} packages"):
                result = Matcher(opened).match(packages)
            database = DatabaseInfo(opened.digest, opened.built_at, SCHEMA_VERSION)
    report = scan_report(result, packages=len(packages), database=database, target=target)
    if analysis is not None:
        report |= analysis_json(analysis, secrets="secret" in scanners, config="config" in scanners)
    return report, result, analysis


def _catalog(
    image: str | None,
    sbom: Path | None,
    platform: str | None,
    insecure: list[str] | None,
    scanners: frozenset[str],
) -> tuple[Any, dict[str, str], Any]:
    if sbom is not None:
        from gate.cli.reading import read_sbom

        return read_sbom(sbom), {"kind": "sbom", "path": str(sbom)}, None
    assert image is not None
    catalog, analysis = _catalog_image(image, platform, insecure, scanners)
    target = {"kind": "image", "reference": catalog.source.get("reference", image)}
    if digest := catalog.source.get("digest"):
        target["digest"] = digest
    return catalog, target, analysis


def _catalog_image(
    reference: str, platform: str | None, insecure: list[str] | None, scanners: frozenset[str]
) -> tuple[Any, Any]:
    """Read the image once: catalog it, then (when asked) run the secret and config analyzers."""
    from gate.analyze import AnalysisOptions, analyze_image
    from gate.catalog import catalog_image
    from gate.cli.progress import stage
    from gate.cli.reading import read_image

    with read_image(reference, platform=platform, insecure=insecure) as read:
        with stage("catalog packages"):
            catalog = catalog_image(read.image, read.fs, base=read.base)
        if not scanners & {"secret", "config"}:
            return catalog, None
        options = AnalysisOptions(
            secrets="secret" in scanners,
            config="config" in scanners,
            base_layers=read.base.layer_count if read.base else None,
        )
        with stage("analyze secrets and configuration"):
            return catalog, analyze_image(read.image, read.fs, options, catalog=catalog)


def _with_ecosystems(catalog: Any) -> list[Any]:
    """OS packages from SBOMs made by other tools carry no OSV ecosystem: take it from the distro."""
    import dataclasses

    from gate.catalog.distro import osv_ecosystem

    fallback = osv_ecosystem(catalog.distro)
    return [
        dataclasses.replace(package, ecosystem=fallback)
        if not package.ecosystem and package.type in _OS_TYPES and fallback
        else package
        for package in catalog.packages
    ]


def _write(
    report: dict[str, Any], result: Any, analysis: Any, output_format: OutputFormat, output: Path | None
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
            _render(report, result, analysis, handle)
    else:
        _render(report, result, analysis, None)


def _render(report: dict[str, Any], result: Any, analysis: Any, handle: Any) -> None:

    from gate.cli.console import make_console

    console = make_console(handle)
    if report["database"] is not None:
        _render_vulnerabilities(console, report, result)
    if analysis is not None:
        from gate.cli.analyze import render_analysis

        reference = report["target"].get("reference", "")
        render_analysis(console, reference, analysis, secrets="secrets" in report, config="config" in report)


def _render_vulnerabilities(console: Any, report: dict[str, Any], result: Any) -> None:
    from rich.table import Table

    summary = report["summary"]
    table = Table(
        title=f"{summary['findings']} findings in {summary['packages']} packages "
        f"(database {report['database']['digest'][:19]}, built {report['database']['built_at']})",
        title_justify="left",
    )
    for column in ("package", "installed", "vulnerability", "severity", "fixed in"):
        table.add_column(column, no_wrap=column != "package")
    table.add_column("aliases", overflow="fold")
    for finding in result.findings:
        table.add_row(
            finding.package.name,
            finding.package.version,
            finding.id,
            finding.rating.severity.label,
            ", ".join(finding.fixed_versions) or "-",
            ", ".join(finding.aliases[:3]) + (" ..." if len(finding.aliases) > 3 else ""),
        )
    console.print(table)
    for item in result.unverified:
        console.print(
            f"[yellow]unverified[/yellow] {item.package.purl} against {item.record_id}: {item.reason}",
            highlight=False,
        )


def _verdict(result: Any, analysis: Any, threshold: Any) -> None:
    from gate.cli import _state
    from gate.report.scan import analysis_at_or_above, at_or_above

    failing = len(at_or_above(result, threshold))
    problems = 0
    if analysis is not None:
        failing += len(analysis_at_or_above(analysis, threshold.label))
        problems = len(analysis.problems)
    if failing or problems:
        reason = f"{failing} finding(s) at or above {threshold.label} (or unrated)"
        if problems:
            reason += f", {problems} file(s) that could not be analysed"
        typer.echo(f"gate: closed: {reason}", err=True)
        _state.gate_closed = True
        raise typer.Exit(2)
