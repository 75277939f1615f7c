"""Where a key password comes from: ``GATE_PASSWORD``, ``COSIGN_PASSWORD``, or a terminal prompt.

Never from the command line (argv is visible to every user of the machine) and never logged.
An empty variable is an empty password, as in cosign.
"""

from __future__ import annotations

import getpass
import os
import sys

from gate.errors import KeyError_

ENV_VARIABLES = ("GATE_PASSWORD", "COSIGN_PASSWORD")


def read_password(*, confirm: bool = False, purpose: str = "the private key") -> bytes:
    for name in ENV_VARIABLES:
        if name in os.environ:
            return os.environ[name].encode()
    if not sys.stdin.isatty():
        raise KeyError_(
            f"no password for {purpose}: set GATE_PASSWORD (or COSIGN_PASSWORD) or run on a terminal"
        )
    first = getpass.getpass(f"Password for {purpose}: ")
    if confirm and getpass.getpass("Password again: ") != first:
        raise KeyError_("the two passwords differ")
    return first.encode()
