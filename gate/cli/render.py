"""Human-readable tables for the terminal (rich honours NO_COLOR and non-TTY output)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from gate.cli.console import escape_control, make_console
from gate.image.attachments import COSIGN_SUFFIXES
from gate.tree import Attachment


def render_inspect(description: dict[str, Any]) -> None:
    console = make_console()
    console.print(f"[bold]{escape(description['reference'])}[/bold]", highlight=False, markup=True)
    console.print(f"  media type  {description['mediaType']}", highlight=False)
    if "layers" not in description:
        console.print(f"  files       {description['files']} ({_size(description['totalSize'])})")
        return
    if description.get("platforms"):
        console.print(f"  platforms   {', '.join(description['platforms'])}", highlight=False)
    console.print(
        f"  platform    {description['platform']}  (manifest {description['manifest']['digest']})",
        highlight=False,
    )
    config = description["config"]
    console.print(f"  created     {config['created'] or '-'}", highlight=False)
    console.print(f"  user        {config['user'] or '(root)'}", highlight=False)
    console.print(
        f"  entrypoint  {' '.join(config['entrypoint']) or '-'}   cmd {' '.join(config['cmd']) or '-'}",
        highlight=False,
    )
    console.print(f"  ports       {', '.join(config['exposedPorts']) or '-'}", highlight=False)
    console.print(f"  env         {', '.join(config['envNames']) or '-'}", highlight=False)
    for key, value in sorted(config["labels"].items()):
        console.print(f"  label       {key}={value}", highlight=False)
    table = Table(
        title=f"{len(description['layers'])} layers, {_size(description['totalSize'])}", title_justify="left"
    )
    for column in ("#", "digest", "size", "media type"):
        table.add_column(column, justify="right" if column in ("#", "size") else "left")
    for layer in description["layers"]:
        table.add_row(str(layer["index"]), layer["digest"], _size(layer["size"]), layer["mediaType"])
    console.print(table)
    if config["history"]:
        history = Table(title="history", title_justify="left")
        history.add_column("created")
        history.add_column("created by")
        for entry in config["history"]:
            history.add_row(
                entry["created"] or "-", entry["createdBy"] + (" (empty)" if entry["emptyLayer"] else "")
            )
        console.print(history)


def render_tree(reference: str, attachments: list[Attachment]) -> None:
    console = make_console()
    tree = Tree(Text(escape_control(reference), style="bold"), highlight=False)
    if not attachments:
        tree.add("(nothing attached)")
    for attachment in attachments:
        label = COSIGN_SUFFIXES.get(attachment.kind, "referrer")
        text = f"{label}: {attachment.reference}  [{attachment.artifact_type}]"
        if attachment.entries:
            text += f"  {attachment.entries} layer(s)"
        node = tree.add(text, highlight=False)
        for predicate in attachment.predicate_types:
            node.add(f"predicate {predicate}", highlight=False)
        for signer in dict.fromkeys(attachment.claimed_signers):
            node.add(f"claims to be signed by {signer} (unverified; `gate verify` checks)", highlight=False)
    console.print(tree)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def render_packages(catalog: Any) -> None:
    """A table of catalogued packages (``gate sbom --format table``)."""
    console = make_console()
    distro = catalog.distro.pretty_name or catalog.distro.purl_distro if catalog.distro else "unknown"
    table = Table(title=f"{len(catalog.packages)} packages (OS: {distro})", title_justify="left")
    for column in ("name", "version", "type", "source", "layer", "found by"):
        table.add_column(column)
    for package in catalog.packages:
        source = package.source_name if package.source_name and package.source_name != package.name else ""
        layer = str(package.locations[0].layer_index) if package.locations else "-"
        table.add_row(package.name, package.version, package.type, source, layer, package.found_by)
    console.print(table)
    for unknown in catalog.unknowns:
        console.print(
            f"[yellow]unreadable[/yellow] {escape(f'{unknown.path} ({unknown.found_by}): {unknown.reason}')}",
            highlight=False,
            markup=True,
        )
