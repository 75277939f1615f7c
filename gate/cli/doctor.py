"""`gate doctor`: probe what a registry supports (referrers API, artifacts, subject, mount, delete...)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gate.cli.options import FormatOption, InsecureOption, OutputFormat, registry_client


def doctor_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="REGISTRY[/REPO]",
            help="Registry to probe, and the repository for the probe artifacts [default: gate-doctor].",
        ),
    ],
    output_format: FormatOption = OutputFormat.table,
    insecure_registry: InsecureOption = None,
) -> None:
    """Probe what a registry supports, because signature layouts break where a feature is missing.

    Pushes a small image and an artifact that refers to it (deleted again when the registry
    allows), and reports: auth scheme, push, artifact media types, manifest subject, OCI referrers
    API, tag listing, cross-repository mount, delete.
    """
    from gate.cli.progress import stage
    from gate.doctor import diagnose

    with stage(f"doctor {target}"):
        probes = diagnose(target, client=registry_client(insecure_registry))
    if output_format is OutputFormat.json:
        typer.echo(json.dumps({"registry": target, "probes": [p.to_json() for p in probes]}, indent=2))
        return
    from gate.cli.render_verify import render_doctor_table

    render_doctor_table(target, probes)
