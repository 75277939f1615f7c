"""`gate run`: the whole gate in one command (read once, decide, and only on pass attest, sign, publish)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gate.cli.db import AllowStaleOption, DbOption, MaxAgeOption
from gate.cli.options import FormatOption, ImageArgument, InsecureOption, OutputFormat, registry_client
from gate.cli.sign import (
    BundleOption,
    IdentityOption,
    KeylessOption,
    KeyOption,
    TokenFileOption,
    TrustConfigOption,
    signer_from_options,
)

if TYPE_CHECKING:
    from rich.console import Console

    from gate.run import RunResult


def run_command(
    image: ImageArgument,
    policy: Annotated[
        Path, typer.Option("--policy", metavar="FILE", help="The policy to decide with (YAML).")
    ],
    key: KeyOption = None,
    keyless: KeylessOption = False,
    db: DbOption = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir",
            metavar="DIR",
            help="Write every report here, also on a failing run or --dry-run: decision.json, gate.sarif, "
            "gl-container-scanning-report.json, junit.xml, summary.md, report.html, gate.env, and scan.json, "
            "sbom.cdx.json, sbom.spdx.json (these in one subdirectory per platform when there are several).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Decide and list what would be published; sign and publish nothing."),
    ] = False,
    no_sign: Annotated[
        bool, typer.Option("--no-sign", help="Verdict only (merge-request pipelines): no key needed.")
    ] = False,
    platform: Annotated[
        str | None,
        typer.Option(
            "--platform", metavar="OS/ARCH[/VARIANT]", help="Decide on this platform of an index only."
        ),
    ] = None,
    all_platforms: Annotated[
        bool,
        typer.Option(
            "--all-platforms",
            help="Decide on every platform of an index; only if all pass are they and the index signed.",
        ),
    ] = False,
    require_platforms: Annotated[
        str | None,
        typer.Option(
            "--require-platforms",
            metavar="LIST",
            help="Comma-separated platforms that must be in the index (implies --all-platforms).",
        ),
    ] = None,
    identity: IdentityOption = None,
    bundle: BundleOption = False,
    identity_token_file: TokenFileOption = None,
    trust_config: TrustConfigOption = None,
    in_toto_link: Annotated[
        Path | None,
        typer.Option(
            "--in-toto-link",
            metavar="DIR",
            help="Also write a signed in-toto link for the gate step into DIR (needs --key).",
        ),
    ] = None,
    waivers: Annotated[
        list[Path] | None,
        typer.Option(
            "--waivers", metavar="FILE", help="A waivers file (kind: Waivers), besides the policy's own."
        ),
    ] = None,
    vex: Annotated[
        list[Path] | None,
        typer.Option(
            "--vex", metavar="FILE", help="OpenVEX or CycloneDX VEX whose not_affected statements apply."
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="No lookups besides the image (the base image's tag stays unknown)."),
    ] = False,
    max_db_age: MaxAgeOption = "5d",
    allow_stale_db: AllowStaleOption = False,
    output_format: FormatOption = OutputFormat.table,
    insecure_registry: InsecureOption = None,
) -> None:
    """Decide whether IMAGE may ship, and sign and attest it only if it may.

    Reads the image once (SBOM, vulnerabilities, secrets, configuration) and evaluates the
    policy. On pass: attests the CycloneDX SBOM, the vulnerability scan, SLSA provenance, a SLSA
    verification summary (VSA) and the OpenVEX of applied waivers, signs, and publishes next to
    the image (attestations before the signature). On fail nothing is published.
    Running again on the same digest publishes nothing new.

    Exit codes: 0 pass, 1 error, 2 gate closed (the blocking findings come first in the output).
    """
    from gate.cli.progress import stage
    from gate.errors import GateError
    from gate.pipeline import ScanOptions
    from gate.report.ci import default_report_dir, publish_to_ci
    from gate.run import RunOptions, decide_with_policy, run_image, run_report

    if platform and (all_platforms or require_platforms):
        raise GateError("give --platform or --all-platforms/--require-platforms, not both")
    signs = not (no_sign or dry_run)
    if signs and (key is None) == (not keyless):
        raise GateError("give exactly one of --key FILE or --keyless (or --no-sign for a verdict only)")
    client = registry_client(insecure_registry)
    decide, policy_ref = decide_with_policy(
        policy, waivers=waivers or (), vex=vex or (), offline=offline, client=client
    )
    signer = signer_from_options(key, keyless, bundle, identity_token_file, trust_config) if signs else None
    required = tuple(p.strip() for p in (require_platforms or "").split(",") if p.strip())
    options = RunOptions(
        scan=ScanOptions(db_path=db, max_db_age=max_db_age, allow_stale_db=allow_stale_db),
        platform=platform,
        all_platforms=all_platforms,
        required_platforms=required,
        sign=not no_sign,
        dry_run=dry_run,
        identity=identity,
        report_dir=report_dir or default_report_dir(os.environ),
        in_toto_links=in_toto_link,
        command=("gate", *sys.argv[1:]),
    )
    result = run_image(image, decide, policy_ref, signer, options, client=client, progress=stage)
    for line in publish_to_ci(run_report(result), result.reports, os.environ):
        typer.echo(line, err=True)  # annotations: the runner reads workflow commands from both streams
    if output_format is OutputFormat.json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        _render(result, signs)
    if not result.passed:
        from gate.errors import GateClosed

        raise GateClosed(_reason(result))


def _reason(result: RunResult) -> str:
    failing = [run.platform or result.reference for run in result.platforms if not run.passed]
    parts = [f"policy failed for {', '.join(failing)}"] if failing else []
    if result.missing_platforms:
        parts.append(f"required platform(s) missing: {', '.join(result.missing_platforms)}")
    return "; ".join(parts) or "nothing was decided on"


def _render(result: RunResult, signs: bool) -> None:
    from rich.markup import escape

    from gate.cli.console import make_console

    console = make_console()
    for run in result.platforms:
        _render_decision(console, run.platform, run.ruling.decision.to_json())
    for name in result.missing_platforms:
        console.print(f"[red]missing[/red] required platform {escape(name)}", highlight=False, markup=True)
    verdict = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
    console.print(f"{verdict} {escape(result.reference)}", highlight=False, markup=True)
    for item in result.published:
        console.print(f"published {item.kind:8} {item.reference}  {item.digest}", highlight=False)
    for line in result.would_publish:
        console.print(f"would publish: {line}", highlight=False)
    if result.passed and not result.published and not result.would_publish:
        console.print("nothing new to publish" if signs else "not signed (--no-sign)", highlight=False)
    if result.link:
        console.print(f"in-toto link {result.link}", highlight=False)
    for path in result.reports:
        console.print(f"report {path}", highlight=False)


def _render_decision(console: Console, platform: str, decision: dict) -> None:
    """Blocking rules first, then warnings: one line per violation (or the reason a rule failed)."""
    from rich.markup import escape

    where = f" ({platform})" if platform else ""
    order = {"failed": 0, "warned": 1}
    for rule in sorted(decision.get("rules", []), key=lambda rule: order.get(rule.get("status"), 2)):
        status = rule.get("status")
        if status not in order:
            continue
        label = "[red]BLOCK[/red]" if status == "failed" else "[yellow]warn[/yellow]"
        lines = [v.get("message", v.get("id", "")) for v in rule.get("violations", [])] or [
            rule.get("reason", "")
        ]
        for line in lines:
            text = escape(f"{rule.get('id')}{where}: {line}")
            console.print(f"{label} {text}", highlight=False, markup=True)
    policy = decision.get("policy", {})
    name = policy.get("name")
    summary = decision.get("summary", {})
    console.print(
        f"policy {name} ({policy.get('digest', '')[:19]}){where}: {decision.get('verdict')}, "
        f"{summary.get('blocking', 0)} blocking, {summary.get('warnings', 0)} warning(s), "
        f"{summary.get('waived', 0)} waived",
        highlight=False,
    )
