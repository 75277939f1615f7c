"""The ``gate`` command line: thin adapters that parse options, call the library, print.

Exit codes: 0 pass, 1 error (including usage errors, so a typo never reads as "gate
closed"), 2 gate closed. Heavy modules are imported inside commands so that
``gate --help`` answers fast.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from gate import __version__
from gate.cli import _state
from gate.cli.analyze import config_check_command, secrets_command
from gate.cli.commands import inspect_command, tree_command
from gate.cli.db import db_app
from gate.cli.doctor import doctor_command
from gate.cli.fleet import fleet_app
from gate.cli.policy import policy_app
from gate.cli.promote import promote_command
from gate.cli.run import run_command
from gate.cli.sbom import sbom_command
from gate.cli.scan import scan_command
from gate.cli.sign import attest_command, keygen_command, sign_command
from gate.cli.verify import verify_command

app = typer.Typer(
    name="gate",
    help="Decide whether a container image may ship: SBOM, scan, policy, then sign and attest.\n\n"
    "Exit codes: 0 pass, 1 error, 2 gate closed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[default: ...]" and "[/VARIANT]" are not markup
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gate {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    _state.debug = debug
    from gate.report import github_actions

    if github_actions.active(os.environ):  # before anything could print a secret read from there
        for line in github_actions.mask_commands(os.environ):
            typer.echo(line, err=True)
    level = "DEBUG" if debug else os.environ.get("GATE_LOGLEVEL", "WARNING").upper()
    from gate.cli.console import EscapingFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("gate: %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


app.command("run")(run_command)
app.command("inspect")(inspect_command)
app.command("tree")(tree_command)
app.command("sbom")(sbom_command)
app.command("scan")(scan_command)
app.add_typer(db_app)
app.command("secrets")(secrets_command)
app.command("config-check")(config_check_command)
app.command("keygen")(keygen_command)
app.command("sign")(sign_command)
app.command("attest")(attest_command)
app.command("verify")(verify_command)
app.command("promote")(promote_command)
app.command("doctor")(doctor_command)
app.add_typer(policy_app)
app.add_typer(fleet_app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gate`` console script. Exit 2 comes only from a :class:`GateClosed`
    verdict; click's usage errors (its own exit 2) become 1."""
    from gate.cli.console import escape_control
    from gate.errors import EXIT_ERROR, EXIT_GATE_CLOSED, GateClosed, GateError

    try:
        app(args=argv, prog_name="gate")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else EXIT_ERROR)
        if code == EXIT_GATE_CLOSED:
            code = EXIT_ERROR
    except GateClosed as closed:
        typer.echo(f"gate: closed: {escape_control(closed.reason)}", err=True)
        code = closed.exit_code
    except GateError as error:
        if _state.debug:
            import traceback

            traceback.print_exc()
        typer.echo(f"gate: error: {escape_control(error.diagnostics())}", err=True)
        code = error.exit_code
    sys.exit(code)
