"""`gate secrets` and `gate config-check`: the analyzers on their own, before `gate scan` has them.

Neither prints a secret: findings carry only a redacted match (the first four characters).
With ``--fail-on SEVERITY`` a finding at or above it, or a file that could not be analysed,
closes the gate (exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gate.cli.options import (
    FormatOption,
    ImageArgument,
    InsecureOption,
    OfflineOption,
    OutputFormat,
    PlatformOption,
)

if TYPE_CHECKING:
    from rich.console import Console

    from gate.analyze import AnalysisOptions, AnalysisResult, RuleSet


FailOnOption = Annotated[
    str | None,
    typer.Option(
        "--fail-on",
        metavar="SEVERITY",
        help="Exit 2 (gate closed) when a finding has this severity or worse (critical, high, medium, "
        "low, info), or a file could not be analysed.",
    ),
]


def secrets_command(
    image: ImageArgument,
    output_format: FormatOption = OutputFormat.table,
    secrets_all: Annotated[
        bool, typer.Option("--secrets-all", help="Also scan test/fixture directories of installed packages.")
    ] = False,
    rules: Annotated[
        Path | None, typer.Option("--rules", metavar="FILE", help="YAML file that tunes the secret rules.")
    ] = None,
    max_file_bytes: Annotated[
        int, typer.Option("--max-file-bytes", min=1, help="Bytes read per file; the rest is not scanned.")
    ] = 2 * 1024 * 1024,
    fail_on: FailOnOption = None,
    platform: PlatformOption = None,
    insecure_registry: InsecureOption = None,
    offline: OfflineOption = False,
) -> None:
    """Find secrets (keys, tokens, passwords) in every layer, the image config and its history."""
    from gate.analyze import AnalysisOptions, load_rules

    ruleset = load_rules(rules)  # a bad rules file fails before the image is read
    options = AnalysisOptions(
        config=False, secrets_all=secrets_all, rules_file=rules, max_file_bytes=max_file_bytes
    )
    reference, digest, result = _analyze(image, platform, insecure_registry, offline, options, ruleset)
    if output_format is OutputFormat.json:
        document = {
            "reference": reference,
            "digest": digest,
            "secrets": [finding.to_dict() for finding in result.secrets],
            "stats": result.stats.to_dict(),
            "problems": result.problems,
            "notes": result.notes,
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        _render_secrets(reference, result)
    _verdict(fail_on, result, "secrets")


def config_check_command(
    image: ImageArgument,
    output_format: FormatOption = OutputFormat.table,
    max_age_days: Annotated[
        int, typer.Option("--max-age-days", min=0, help="Flag images created more than this many days ago.")
    ] = 90,
    base_layers: Annotated[
        int | None,
        typer.Option(
            "--base-layers",
            min=0,
            help="How many bottom layers are the base image "
            "[default: from the image's base-image annotations or labels, else 1].",
        ),
    ] = None,
    fail_on: FailOnOption = None,
    platform: PlatformOption = None,
    insecure_registry: InsecureOption = None,
    offline: OfflineOption = False,
) -> None:
    """Check an image's configuration: root user, exposed ports, setuid files, caches, age, ..."""
    from gate.analyze import AnalysisOptions

    options = AnalysisOptions(secrets=False, max_age_days=max_age_days, base_layers=base_layers)
    reference, digest, result = _analyze(image, platform, insecure_registry, offline, options, None)
    if output_format is OutputFormat.json:
        document = {
            "reference": reference,
            "digest": digest,
            "config": [finding.to_dict() for finding in result.config],
            "problems": result.problems,
            "notes": result.notes,
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        _render_config(reference, result)
    _verdict(fail_on, result, "config")


def _analyze(
    reference: str,
    platform: str | None,
    insecure: list[str] | None,
    offline: bool,
    options: AnalysisOptions,
    rules: RuleSet | None,
) -> tuple[str, str, AnalysisResult]:
    from dataclasses import replace

    from gate.analyze import analyze_image
    from gate.catalog import catalog_filesystem
    from gate.cli.options import registry_client
    from gate.cli.progress import stage
    from gate.pipeline import read_image

    client = registry_client(insecure, offline=offline)
    with read_image(reference, platform=platform, client=client, progress=stage) as read:
        if options.base_layers is None and read.base is not None:
            options = replace(options, base_layers=read.base.layer_count)
        with stage("catalog packages"):
            catalog = catalog_filesystem(read.fs)
        with stage("scan for secrets" if options.secrets else "check configuration"):
            result = analyze_image(read.image, read.fs, options, catalog=catalog, rules=rules)
        return str(read.image.ref), read.image.digest, result


def _verdict(fail_on: str | None, result: AnalysisResult, kind: str) -> None:
    """``--fail-on``: the one-rule-per-kind policy over this analyzer's findings."""
    from gate.cli.policy import close_if_failed
    from gate.model import Catalog
    from gate.policy import PolicyInput, evaluate, parse_fail_on, policy_for_fail_on

    if fail_on is None:
        return
    inputs = PolicyInput(
        Catalog((), None),
        secrets=tuple(result.secrets) if kind == "secrets" else None,
        config=tuple(result.config) if kind == "config" else None,
        analysis_problems=tuple(result.problems),
    )
    close_if_failed(evaluate(policy_for_fail_on(parse_fail_on(fail_on)), inputs))


def render_analysis(
    console: Console, reference: str, result: AnalysisResult, *, secrets: bool, config: bool
) -> None:
    """The secret and/or config findings, then notes and problems (for `gate scan`)."""
    if secrets:
        _secrets_table(console, reference, result)
    if config:
        _config_table(console, reference, result)
    _render_problems(console, result)


def _render_secrets(reference: str, result: AnalysisResult) -> None:
    from gate.cli.console import make_console

    console = make_console()
    _secrets_table(console, reference, result)
    _render_problems(console, result)


def _render_config(reference: str, result: AnalysisResult) -> None:
    from gate.cli.console import make_console

    console = make_console()
    _config_table(console, reference, result)
    _render_problems(console, result)


def _secrets_table(console: Console, reference: str, result: AnalysisResult) -> None:
    from rich.table import Table

    stats = result.stats
    table = Table(
        title=f"{reference}: {len(result.secrets)} secret(s) in {stats.files_scanned} files scanned",
        title_justify="left",
    )
    for column in ("severity", "rule", "where", "layer", "match", "note"):
        table.add_column(column, overflow="fold")
    for f in sorted(result.secrets, key=lambda f: (-f.severity, f.path, f.line or 0)):
        where = f"{f.path}:{f.line}" if f.line else f.path
        layer = "" if f.layer_index is None else f"{f.layer_index} {(f.layer_digest or '')[:19]}"
        note = (
            f.note if f.visible else ", ".join(filter(None, ["deleted/overwritten by a later layer", f.note]))
        )
        table.add_row(f.severity.label, f.rule_id, where, layer, f.redacted, note)
    console.print(table)
    console.print(
        f"skipped: {stats.skipped_binary} binary, {stats.skipped_package_owned} owned by OS packages, "
        f"{stats.skipped_test_dirs} in package test dirs, {stats.skipped_allowlisted} allowlisted",
        highlight=False,
    )


def _config_table(console: Console, reference: str, result: AnalysisResult) -> None:
    from rich.table import Table

    table = Table(title=f"{reference}: {len(result.config)} configuration finding(s)", title_justify="left")
    for column in ("severity", "rule", "title", "evidence"):
        table.add_column(column, overflow="fold")
    for f in sorted(result.config, key=lambda f: -f.severity):
        table.add_row(f.severity.label, f.rule_id, f.title, "\n".join(f.evidence))
    console.print(table)


def _render_problems(console: Console, result: AnalysisResult) -> None:
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    for problem in result.problems:
        console.print(f"problem: {problem}", highlight=False, style="red")
