"""Debian versions (``[epoch:]upstream[-revision]``), ordered exactly as dpkg orders them.

deb-version(7): epochs compare numerically; upstream and revision compare as alternating
runs of non-digits and digits. Non-digit runs compare character by character where ``~``
sorts before everything (even the end of the run), then the end, then letters, then every
other character; digit runs compare as integers. A missing revision equals revision ``0``.
"""

from __future__ import annotations

import re

from gate.versions import InvalidVersion
from gate.versions._scheme import KeyScheme

NAME = "deb"

_SPACE = re.compile(r"\s")
_RUNS = re.compile(r"([^0-9]*)([0-9]*)")
_UPSTREAM = re.compile(r"[0-9][A-Za-z0-9.+~:-]*")
_REVISION = re.compile(r"[A-Za-z0-9.+~]+")

# A non-digit run becomes a string whose plain comparison is dpkg's: "~" maps to \x01,
# the end of the run to \x02, letters stay (they are above \x02), every other non-digit
# moves above all letters. The validating patterns above allow only ASCII.
_TILDE = "\x01"
_END = "\x02"
_RUN_ORDER = str.maketrans(
    {chr(code): chr(code + 256) for code in range(128) if not chr(code).isalnum()} | {"~": _TILDE}
)

# A part's key is (first run, first number, (run, number)..., END). Every run after the
# first is non-empty, so it starts with "~" (below END) or another character (above END);
# END stands for the infinite padding of empty runs and zeros, so it sorts between them.
_PART_END = (_END,)


def part_key(part: str) -> tuple:
    """The dpkg order of an upstream version or revision on its own (``verrevcmp``)."""
    pairs = _RUNS.findall(part.translate(_RUN_ORDER))  # digits are left as they are
    pairs.pop()  # findall always ends with an empty match
    if not pairs:
        return (_END, 0, _PART_END)
    first_run, first_number = pairs[0]
    rest = [(run + _END, int(number or 0)) for run, number in pairs[1:]]
    return (first_run + _END, int(first_number or 0), *rest, _PART_END)


def _parse(version: str) -> tuple:
    text = version.strip()
    if not text:
        raise InvalidVersion(NAME, version, "empty")
    if _SPACE.search(text):
        raise InvalidVersion(NAME, version, "contains whitespace")
    epoch_text, colon, rest = text.partition(":")
    if not colon:
        epoch_text, rest = "0", text
    if not epoch_text.isascii() or not epoch_text.isdigit():
        raise InvalidVersion(NAME, version, "epoch is not a number")
    upstream, hyphen, revision = rest.rpartition("-")
    if not hyphen:
        upstream, revision = rest, ""
    elif not revision:
        raise InvalidVersion(NAME, version, "empty revision after '-'")
    if not _UPSTREAM.fullmatch(upstream):
        raise InvalidVersion(
            NAME, version, "upstream version must start with a digit and use [A-Za-z0-9.+~:-]"
        )
    if revision and not _REVISION.fullmatch(revision):
        raise InvalidVersion(NAME, version, "revision must use [A-Za-z0-9.+~]")
    return (int(epoch_text), part_key(upstream), part_key(revision))


SCHEME = KeyScheme(NAME, _parse)
