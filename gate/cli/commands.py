"""`gate inspect` and `gate tree`."""

from __future__ import annotations

import json
from typing import Any

import typer

from gate.cli.options import (
    FormatOption,
    ImageArgument,
    InsecureOption,
    OutputFormat,
    PlatformOption,
    registry_client,
)


def inspect_command(
    image: ImageArgument,
    output_format: FormatOption = OutputFormat.table,
    platform: PlatformOption = None,
    insecure_registry: InsecureOption = None,
) -> None:
    """Show an image's digest, platforms, layers and configuration (env names only, never values)."""
    from gate.image import open_image
    from gate.image.describe import describe_image

    with open_image(image, platform=platform, client=registry_client(insecure_registry)) as opened:
        description = describe_image(opened)
    if output_format is OutputFormat.json:
        _print_json(description)
    else:
        from gate.cli.render import render_inspect

        render_inspect(description)


def tree_command(
    image: ImageArgument,
    output_format: FormatOption = OutputFormat.table,
    platform: PlatformOption = None,
    insecure_registry: InsecureOption = None,
) -> None:
    """List what is attached to an image: OCI referrers and cosign .sig/.att/.sbom tags."""
    from dataclasses import asdict

    from gate.image import open_image
    from gate.tree import find_attachments

    with open_image(image, platform=platform, client=registry_client(insecure_registry)) as opened:
        attachments = find_attachments(opened)
        reference, digest = str(opened.ref), opened.digest
    if output_format is OutputFormat.json:
        _print_json(
            {"reference": reference, "digest": digest, "attachments": [asdict(a) for a in attachments]}
        )
    else:
        from gate.cli.render import render_tree

        render_tree(reference, attachments)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))
