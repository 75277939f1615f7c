"""Options shared by the commands that read images."""

from __future__ import annotations

import enum
from typing import Annotated

import typer


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"


class ReportFormat(enum.StrEnum):
    """``gate scan`` and ``gate policy check`` also write the report formats of ``--report-dir``."""

    table = "table"
    json = "json"
    sarif = "sarif"
    gitlab = "gitlab"
    junit = "junit"
    markdown = "markdown"
    html = "html"


ImageArgument = Annotated[
    str,
    typer.Argument(
        metavar="IMAGE",
        help="REGISTRY/REPO[:TAG][@DIGEST], oci:DIR[:TAG], docker-archive:FILE or dir:PATH.",
        show_default=False,
    ),
]
OptionalImageArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="IMAGE",
        help="Image to read (any reference kind; see `gate inspect --help`), unless an SBOM file is given.",
        show_default=False,
    ),
]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
ReportFormatOption = Annotated[
    ReportFormat,
    typer.Option(
        "--format",
        "-f",
        help="Output format: table, json, or a report: sarif (SARIF 2.1.0), gitlab (container scanning), "
        "junit (one test case per policy rule), markdown (summary), html (self-contained page).",
    ),
]
PlatformOption = Annotated[
    str | None,
    typer.Option(
        "--platform",
        help="OS/ARCH[/VARIANT] to pick from a multi-platform image "
        "[default: linux/amd64, or the host's architecture].",
    ),
]
InsecureOption = Annotated[
    list[str] | None,
    typer.Option(
        "--insecure-registry",
        metavar="HOST",
        help="Allow plain HTTP to HOST (repeatable; also GATE_INSECURE_REGISTRIES). "
        "Loopback registries always may.",
    ),
]


BaseImageOption = Annotated[
    str | None,
    typer.Option(
        "--base-image",
        metavar="REF",
        help="The image this one was built FROM, to mark inherited packages "
        "[default: from the org.opencontainers.image.base.* annotations or labels].",
    ),
]
OfflineOption = Annotated[
    bool,
    typer.Option(
        "--offline",
        envvar="GATE_OFFLINE",
        help="Skip every optional network lookup (the base image, unless cached); "
        "the image itself is still read. Also GATE_OFFLINE=1.",
    ),
]


def registry_client(insecure: list[str] | None, *, offline: bool = False):  # noqa: ANN201 - lazy import keeps --help fast
    from gate.image import RegistryClient, Transport

    client = RegistryClient(transport=Transport(insecure_hosts=insecure or ()))
    client.offline = client.offline or offline
    return client
