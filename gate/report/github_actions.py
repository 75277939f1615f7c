"""GitHub Actions' workflow commands and files: escaping, secret masks, log groups, step outputs.

Workflow commands (``::error ...::``) are lines the runner reads from the step's log, so every
value in one is escaped: ``%``, ``\\r`` and ``\\n`` in the message (a newline would start a
forged command of its own), and also ``:`` and ``,`` in properties. Light on imports: the CLI
masks secrets with it before any command runs.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

SECRET_VARIABLES = (
    "GATE_PASSWORD",  # key passwords (gate.sign.password)
    "COSIGN_PASSWORD",
    "GATE_IDENTITY_TOKEN",  # OIDC tokens for keyless signing (gate.sign.keyless)
    "SIGSTORE_ID_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "CI_REGISTRY_PASSWORD",  # registry credentials from the CI (gate.image.credentials)
    "CI_JOB_TOKEN",
    "GITHUB_TOKEN",
)
"""Every secret gate reads from the environment (tests/test_report_ci.py keeps this list whole)."""


def active(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: str) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def mask_commands(env: Mapping[str, str]) -> list[str]:
    """``::add-mask::`` for every secret value set in ``env`` (each line of it: masks are per line)."""
    return [
        command("add-mask", line)
        for name in SECRET_VARIABLES
        for line in env.get(name, "").splitlines()
        if line.strip()
    ]


def write_outputs(path: Path, values: Mapping[str, str]) -> None:
    """Append step outputs; a value with a line break goes in a heredoc with a random delimiter."""
    lines = []
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            delimiter = f"gate_{secrets.token_hex(16)}"
            lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            lines.append(f"{name}={value}\n")
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(lines))


def group_start(name: str) -> str:
    return command("group", name)


def group_end() -> str:
    return "::endgroup::"
