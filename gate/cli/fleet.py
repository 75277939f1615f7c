"""`gate fleet rescan`: which signed images does today's database hit? (exit 2: any fails or unverified)."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gate.cli.db import AllowStaleOption, DbOption, MaxAgeOption
from gate.cli.options import InsecureOption
from gate.cli.trust import trust_options
from gate.errors import GateClosed, GateError

if TYPE_CHECKING:
    from gate.fleet import ImageResult, RescanSpec
    from gate.verify.trust import Trust

fleet_app = typer.Typer(
    name="fleet",
    help="Many signed images at once: re-evaluate their attested SBOMs against today's database.",
    no_args_is_help=True,
)


class FleetFormat(enum.StrEnum):
    table = "table"
    jsonl = "jsonl"
    markdown = "markdown"
    html = "html"


@fleet_app.command("rescan")
@trust_options()
def rescan_command(
    policy: Annotated[
        Path, typer.Option("--policy", metavar="FILE", help="The policy to decide each image by (YAML).")
    ],
    trust: Trust,
    images: Annotated[
        str | None,
        typer.Option("--images", metavar="FILE|-", help="Image references, one a line ('-': stdin)."),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            metavar="HOST[/PREFIX]",
            help="Every repository the registry's catalog lists (under PREFIX), every tag of each.",
        ),
    ] = None,
    tags: Annotated[str, typer.Option("--tags", metavar="GLOB", help="With --registry: which tags.")] = "*",
    max_images: Annotated[int | None, typer.Option("--max-images", help="Rescan at most N images.")] = None,
    db: DbOption = None,
    db_ref: Annotated[
        str | None,
        typer.Option(
            "--db-ref",
            metavar="oci://REG/REPO@DIGEST",
            help="The database by reference (what `gate db push` published), pulled once per worker "
            "and verified; required with --scheduler.",
        ),
    ] = None,
    max_db_age: MaxAgeOption = "5d",
    allow_stale_db: AllowStaleOption = False,
    cve: Annotated[
        list[str] | None,
        typer.Option(
            "--cve",
            metavar="ID",
            help="Only images this id (or an alias of it) hits, and unverified ones; repeatable.",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Local worker processes [default: the CPU count].")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", metavar="tcp://HOST:PORT", help="Run the tasks on this Dask cluster."),
    ] = None,
    max_per_registry: Annotated[
        int, typer.Option("--max-per-registry", help="Concurrent requests to one registry, at most.")
    ] = 64,
    output_format: Annotated[FleetFormat, typer.Option("--format", "-f", help="Output format.")] = (
        FleetFormat.table
    ),
    insecure_registry: InsecureOption = None,
) -> None:
    """Re-evaluate many signed images from their attestations; no layer is pulled.

    Each image is pinned, its signature and SBOM attestation verified with the trust given
    (as `gate verify`), and the attested SBOM matched against today's database and decided by
    the policy. Exit 0 when every image passes, 2 when any fails or is unverified, 1 on error.
    """
    from gate.cli.options import registry_client
    from gate.cli.progress import counted, stage
    from gate.fleet import RescanOptions, affected_first, narrowed, rescan
    from gate.fleet.sources import images_from_lines, images_in_registry

    spec = _spec(
        policy,
        (db, db_ref, max_db_age, allow_stale_db),
        insecure_registry,
        trust,
    )
    if (images is None) == (registry is None):
        raise GateError("give the images with --images FILE|- or --registry HOST[/PREFIX] (one of them)")
    if images is not None:
        entries = images_from_lines(_read_lines(images), max_images=max_images)
    else:
        with stage(f"list images in {registry}"):
            listed = images_in_registry(
                registry or "", registry_client(insecure_registry), tags=tags, max_images=max_images
            )
        entries = list(listed)
    options = RescanOptions(workers=workers, scheduler=scheduler, max_per_registry=max_per_registry)
    results: list[ImageResult] = []
    where = f"on {scheduler}" if scheduler else "locally"
    with counted(f"rescan {len(entries)} images {where}", total=len(entries)) as advance:
        for result in rescan(entries, spec, options):
            results.append(result)
            advance()
    shown = affected_first(narrowed(results, cve) if cve else results)
    _render(shown, output_format)
    closed = [r for r in shown if r.verdict != "pass"]
    if closed:
        raise GateClosed(f"{len(closed)} of {len(shown)} images fail or are unverified")


def _spec(
    policy: Path,
    database: tuple[Path | None, str | None, str, bool],
    insecure: list[str] | None,
    trust: Trust,
) -> RescanSpec:
    from gate.fleet import RescanSpec, TrustSpec
    from gate.vulndb import resolve_db_path

    db, db_ref, max_db_age, allow_stale_db = database
    if db is not None and db_ref is not None:
        raise GateError("give --db or --db-ref, not both")
    try:
        policy_text = policy.read_bytes()
    except OSError as error:
        raise GateError(f"cannot read the policy {policy}: {error.strerror}") from None
    from gate.policy import load_policy

    load_policy(policy)  # a bad policy is one error now, not one per worker
    return RescanSpec(
        trust=TrustSpec(
            keys=tuple(key.pem() for key in trust.keys),
            identity=trust.identity,
            identity_regexp=trust.identity_regexp,
            issuer=trust.issuer,
            trusted_root=str(trust.trusted_root) if trust.trusted_root else None,
        ),
        policy_name=policy.name,
        policy_text=policy_text,
        db_path=None if db_ref else str(resolve_db_path(db).resolve()),
        db_ref=db_ref,
        insecure_hosts=tuple(insecure or ()),
        max_db_age=max_db_age,
        allow_stale_db=allow_stale_db,
    )


def _read_lines(source: str) -> list[str]:
    if source == "-":
        return sys.stdin.read().splitlines()
    try:
        return Path(source).read_text(errors="replace").splitlines()
    except OSError as error:
        raise GateError(f"cannot read the image list {source}: {error.strerror}") from None


def _render(results: list[ImageResult], output_format: FleetFormat) -> None:
    if output_format is FleetFormat.jsonl:
        lines = [json.dumps(result.to_json(), sort_keys=True) for result in results]
        sys.stdout.write("".join(line + "\n" for line in lines))
        return
    from gate.cli.render_fleet import render_fleet_html, render_fleet_markdown, render_fleet_table

    if output_format is FleetFormat.markdown:
        render_fleet_markdown(results)
    elif output_format is FleetFormat.html:
        render_fleet_html(results)
    else:
        render_fleet_table(results)
