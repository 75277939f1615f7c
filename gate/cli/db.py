"""`gate db import|update|status|push`: the OSV vulnerability database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gate.cli.options import FormatOption, InsecureOption, OutputFormat

db_app = typer.Typer(
    name="db",
    help="The OSV vulnerability database: import records, update from a mirror or registry, status, push.",
    no_args_is_help=True,
)

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        metavar="PATH",
        help="Database file [default: $GATE_DB, else gate/vulndb.sqlite in the user cache dir].",
    ),
]
MaxAgeOption = Annotated[
    str, typer.Option("--max-db-age", metavar="AGE", help="Oldest database to accept (5d, 12h, 2w).")
]
AllowStaleOption = Annotated[
    bool, typer.Option("--allow-stale-db", help="Use a database older than --max-db-age anyway.")
]


@db_app.command("import")
def import_command(
    sources: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[SRC]...",
            help="OSV records: .json/.yaml files, directories of them, or all.zip archives.",
            show_default=False,
        ),
    ] = None,
    kev: Annotated[
        Path | None,
        typer.Option(
            "--kev",
            metavar="FILE",
            help="CISA Known Exploited Vulnerabilities catalog (known_exploited_vulnerabilities.json); "
            "replaces the stored one.",
        ),
    ] = None,
    db: DbOption = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Import OSV records and/or the CISA KEV catalog into the database (created when absent).
    Withdrawn records are excluded and the record with the latest `modified` wins; invalid
    records are reported and skipped. A KEV file of the wrong shape is an error and changes nothing."""
    from gate.cli.progress import stage
    from gate.errors import GateError
    from gate.vulndb import import_paths, resolve_db_path

    if not sources and kev is None:
        raise GateError("nothing to import", hint="give OSV record sources (SRC...) and/or --kev FILE")
    path = resolve_db_path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    what = f"{len(sources or [])} source(s)" + (f" and KEV catalog {kev}" if kev else "")
    with stage(f"import {what} into {path}"):
        report = import_paths(path, sources or [], kev=kev)
    _print_import(report, output_format)


def _print_import(report: Any, output_format: OutputFormat) -> None:
    if output_format is OutputFormat.json:
        typer.echo(
            json.dumps(
                {
                    "added": report.added,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "withdrawn": report.withdrawn,
                    "invalid": [{"source": origin, "reason": reason} for origin, reason in report.invalid],
                    "warnings": [{"record": rid, "warning": text} for rid, text in report.warnings],
                    "ecosystems": dict(sorted(report.ecosystems.items())),
                    "kev": {"version": report.kev_version, "entries": report.kev_entries}
                    if report.kev_version or report.kev_entries
                    else None,
                },
                indent=2,
            )
        )
        return
    from gate.cli.console import escape_control

    for origin, reason in report.invalid:
        typer.echo(escape_control(f"gate: invalid record {origin}: {reason}"), err=True)
    for record_id, warning in report.warnings:
        typer.echo(escape_control(f"gate: warning: {record_id}: {warning}"), err=True)
    typer.echo(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.withdrawn} withdrawn, {len(report.invalid)} invalid, {len(report.warnings)} warnings"
    )
    if report.kev_version or report.kev_entries:
        typer.echo(f"KEV catalog {report.kev_version}: {report.kev_entries} known exploited vulnerabilities")


@db_app.command("status")
def status_command(
    db: DbOption = None,
    max_db_age: MaxAgeOption = "5d",
    allow_stale_db: AllowStaleOption = False,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Show the database's sources, records per ecosystem, build time and content digest.
    A database older than --max-db-age is an error unless --allow-stale-db."""
    from gate.vulndb import VulnDB, resolve_db_path
    from gate.vulndb.status import check_fresh, db_status

    with VulnDB.open(resolve_db_path(db)) as opened:
        status = db_status(opened)
        if output_format is OutputFormat.json:
            typer.echo(json.dumps(status.to_json(), indent=2))
        else:
            _render_status(status)
        check_fresh(opened, max_db_age, allow_stale=allow_stale_db)


def _render_status(status: Any) -> None:
    from rich.table import Table

    from gate.cli.console import make_console

    console = make_console()
    console.print(f"database  {status.path}", highlight=False)
    console.print(f"schema    {status.schema_version}", highlight=False)
    console.print(f"built at  {status.built_at}", highlight=False)
    console.print(f"digest    {status.digest}", highlight=False)
    console.print(f"records   {status.records} ({status.withdrawn} withdrawn)", highlight=False)
    kev = f"{status.kev_version}, {status.kev_entries} entries" if status.kev_entries else "none imported"
    console.print(f"KEV       {kev}", highlight=False)
    table = Table(title="records per ecosystem", title_justify="left")
    table.add_column("ecosystem")
    table.add_column("records", justify="right")
    for ecosystem, count in status.ecosystems.items():
        table.add_row(ecosystem, str(count))
    console.print(table)
    sources = Table(title="sources", title_justify="left")
    for column in ("name", "location", "imported at"):
        sources.add_column(column)
    for source in status.sources:
        sources.add_row(source.name, source.location, source.imported_at)
    console.print(sources)


@db_app.command("update")
def update_command(
    db: DbOption = None,
    mirror: Annotated[
        str | None,
        typer.Option(
            "--mirror",
            metavar="URL",
            help="Base URL of OSV archives (URL/ECOSYSTEM/all.zip) [default: OSV's].",
        ),
    ] = None,
    ecosystem: Annotated[
        list[str] | None,
        typer.Option(
            "--ecosystem",
            metavar="NAME",
            help="Ecosystem to fetch (repeatable) [default: those in the DB, else all].",
        ),
    ] = None,
    from_ref: Annotated[
        str | None,
        typer.Option("--from", metavar="oci://REF", help="Pull a database pushed by `gate db push` instead."),
    ] = None,
    kev_url: Annotated[
        str | None,
        typer.Option(
            "--kev-url",
            metavar="URL",
            help="Where to fetch the CISA Known Exploited Vulnerabilities catalog [default: CISA's feed].",
        ),
    ] = None,
    no_kev: Annotated[
        bool,
        typer.Option(
            "--no-kev",
            help="Do not fetch the KEV catalog (as with GATE_OFFLINE=1); the last one fetched is kept.",
        ),
    ] = False,
    insecure_registry: InsecureOption = None,
) -> None:
    """Download OSV archives (conditional requests) and swap in a new database atomically;
    a failed or partial update leaves the old database working. The KEV catalog is optional:
    when it cannot be fetched, a warning says so and the last one fetched stays in use."""
    from gate.cli.progress import stage
    from gate.errors import GateError
    from gate.vulndb import resolve_db_path

    path = resolve_db_path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    if from_ref is not None:
        if mirror or ecosystem or kev_url or no_kev:
            raise GateError("--from cannot be combined with --mirror, --ecosystem, --kev-url or --no-kev")
        from gate.cli.options import registry_client
        from gate.vulndb.oci import pull_db

        with stage(f"pull vulnerability database from {from_ref}"):
            digest = pull_db(from_ref, path, client=registry_client(insecure_registry))
        typer.echo(f"{path}: {digest}")
        return
    from gate.cli.console import escape_control
    from gate.vulndb.kev import KEV_URL
    from gate.vulndb.update import DEFAULT_MIRROR, update_db

    if no_kev and kev_url:
        raise GateError("--no-kev cannot be combined with --kev-url")
    with stage(f"update {path} from {mirror or DEFAULT_MIRROR}"):
        outcome = update_db(
            path,
            mirror=mirror or DEFAULT_MIRROR,
            ecosystems=ecosystem or None,
            kev_url=None if no_kev else kev_url or KEV_URL,
        )
    for name in outcome.unchanged:
        typer.echo(f"{name}: not modified")
    for name in outcome.downloaded:
        typer.echo(f"{name}: downloaded")
    kept = f"keeping catalog {outcome.kev_version}" if outcome.kev_version else "no catalog in the database"
    if outcome.kev_problem:
        typer.echo(
            escape_control(f"gate: warning: KEV catalog not updated: {outcome.kev_problem}; {kept}"), err=True
        )
    elif outcome.kev != "skipped":
        typer.echo(f"KEV: {outcome.kev} (catalog {outcome.kev_version})")
    changed = outcome.rebuilt or outcome.kev == "downloaded"
    typer.echo(f"{path}: {outcome.digest}" + ("" if changed else " (unchanged)"))


@db_app.command("push")
def push_command(
    reference: Annotated[
        str, typer.Argument(metavar="REF", help="REGISTRY/REPO:TAG or oci:DIR:TAG to push the database to.")
    ],
    db: DbOption = None,
    insecure_registry: InsecureOption = None,
) -> None:
    """Push the database as an OCI artifact, for CI jobs to pull with `gate db update --from oci://REF`."""
    from gate.cli.options import registry_client
    from gate.cli.progress import stage
    from gate.vulndb import resolve_db_path
    from gate.vulndb.oci import push_db

    path = resolve_db_path(db)
    with stage(f"push {path} to {reference}"):
        pushed = push_db(path, reference, client=registry_client(insecure_registry))
    typer.echo(pushed)
