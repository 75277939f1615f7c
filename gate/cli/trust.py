"""The trust flags of `gate verify`, `promote`, `fleet rescan` and `policy export`, declared once.

A command that verifies signatures takes one parameter, ``trust: Trust``, and is decorated with
:func:`trust_options`. The decorator shows Typer the flags below in place of that parameter and
hands the command the :class:`~gate.verify.trust.Trust` they describe, so every such command
spells, documents and validates the flags the same way::

    @trust_options()
    def verify_command(image: ImageArgument, trust: Trust, ...) -> None: ...
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

Command = TypeVar("Command", bound=Callable[..., None])

_KEY = typer.Option("--key", help="Trusted public key (PEM); repeatable, any one of them may have signed.")
_IDENTITY = typer.Option(
    "--certificate-identity", help="Keyless: the exact signer (certificate SAN: email or URI)."
)
_IDENTITY_REGEXP = typer.Option(
    "--certificate-identity-regexp", help="Keyless: a regular expression the signer must match."
)
_ISSUER = typer.Option(
    "--certificate-oidc-issuer", help="Keyless: the OIDC issuer that vouched for the signer."
)
_GITHUB = typer.Option(
    "--github-repo",
    metavar="OWNER/REPO",
    help="Keyless shortcut: signed by a GitHub Actions workflow of OWNER/REPO.",
)
_GITLAB = typer.Option(
    "--gitlab-project",
    metavar="GROUP/PROJECT",
    help="Keyless shortcut: signed by a gitlab.com CI pipeline of GROUP/PROJECT.",
)
_TRUSTED_ROOT = typer.Option(
    "--trusted-root",
    help="Keyless: sigstore trusted root (or client trust config) of a private instance "
    "[default: the pinned public-good root].",
)

# (parameter name, its type and flag, the keyword of build_trust it fills)
_FLAGS: tuple[tuple[str, Any, str], ...] = (
    ("key", Annotated[list[Path] | None, _KEY], "keys"),
    ("certificate_identity", Annotated[str | None, _IDENTITY], "identity"),
    ("certificate_identity_regexp", Annotated[str | None, _IDENTITY_REGEXP], "identity_regexp"),
    ("certificate_oidc_issuer", Annotated[str | None, _ISSUER], "issuer"),
    ("github_repo", Annotated[str | None, _GITHUB], "github_repo"),
    ("gitlab_project", Annotated[str | None, _GITLAB], "gitlab_project"),
    ("trusted_root", Annotated[Path | None, _TRUSTED_ROOT], "trusted_root"),
)


def trust_options(*, trusted_root: bool = True) -> Callable[[Command], Command]:
    """Replace COMMAND's ``trust`` parameter by the trust flags (``--trusted-root`` only if asked)."""
    flags = [flag for flag in _FLAGS if trusted_root or flag[0] != "trusted_root"]

    def decorate(command: Command) -> Command:
        # "Trust" is imported by the command's module for type checking only; the parameter that
        # names it is the one replaced, so a stand-in lets the other annotations resolve.
        hints = typing.get_type_hints(command, include_extras=True, localns={"Trust": object})
        parameters = [
            parameter.replace(annotation=hints[parameter.name])
            for parameter in inspect.signature(command).parameters.values()
        ]
        names = [parameter.name for parameter in parameters]
        if "trust" not in names:
            raise TypeError(f"{command.__name__} has no 'trust' parameter to replace")
        at = names.index("trust")
        parameters[at : at + 1] = [
            inspect.Parameter(
                name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=annotation
            )
            for name, annotation, _ in flags
        ]

        @functools.wraps(command)
        def with_trust(**arguments: Any) -> None:
            from gate.verify.trust import build_trust

            given = {keyword: arguments.pop(name) for name, _, keyword in flags}
            command(**arguments, trust=build_trust(**given))

        with_trust.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]  # read by Typer
        with_trust.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        return typing.cast(Command, with_trust)

    return decorate
