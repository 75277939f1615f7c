"""`gate sbom`: catalog an image's packages and write an SBOM."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from gate.cli.options import (
    BaseImageOption,
    InsecureOption,
    OfflineOption,
    OptionalImageArgument,
    PlatformOption,
)


class SbomOutput(enum.StrEnum):
    cyclonedx_json = "cyclonedx-json"
    spdx_json = "spdx-json"
    json = "json"
    table = "table"


def sbom_command(
    image: OptionalImageArgument = None,
    output_format: Annotated[
        SbomOutput, typer.Option("--format", "-f", help="Output format.")
    ] = SbomOutput.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Read packages from an existing CycloneDX or "
            "SPDX JSON SBOM (gate, syft, trivy) instead of an image.",
        ),
    ] = None,
    base_image: BaseImageOption = None,
    platform: PlatformOption = None,
    insecure_registry: InsecureOption = None,
    offline: OfflineOption = False,
) -> None:
    """Catalog every OS and language package in an image and write a CycloneDX 1.6 or SPDX 2.3 SBOM.

    The output is deterministic: the same image gives byte-identical SBOMs when
    SOURCE_DATE_EPOCH is set.
    """
    from gate.cli.options import registry_client
    from gate.cli.progress import stage
    from gate.errors import GateError
    from gate.pipeline import catalog_reference, read_sbom

    if (image is None) == (from_file is None):
        raise GateError("give exactly one of IMAGE or --from FILE")
    if from_file is not None:
        catalog = read_sbom(from_file)
    else:
        assert image is not None
        client = registry_client(insecure_registry, offline=offline)
        catalog = catalog_reference(
            image, platform=platform, client=client, base_reference=base_image, progress=stage
        )
    if output_format is SbomOutput.table:
        from gate.cli.render import render_packages

        render_packages(catalog)
        return
    from gate.sbom import SbomFormat, encode

    data = encode(catalog, SbomFormat(output_format.value))
    if output:
        output.write_bytes(data)
    else:
        typer.echo(data.decode())
