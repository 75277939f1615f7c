"""RPM versions (``[epoch:]version[-release]``), ordered as rpm's ``rpmvercmp`` orders them.

Each of version and release splits into segments: runs of ASCII digits, runs of ASCII
letters, ``~`` and ``^``; every other character only separates. Segments compare in
order: ``~`` sorts before everything including the end, ``^`` after the end but before any
other segment, a number after any letter run, numbers as integers and letter runs
byte-wise. Epochs compare as integers, a missing epoch is 0.

When only one side has a release, the one with a release is greater, whatever the
release (even ``1.0-~1 > 1.0``), as rpm 4.18's ``rpmverCmp`` decides. (Dependency
matching in rpm/dnf instead ignores the release then, which is not an order.)
"""

from __future__ import annotations

import re

from gate.versions import InvalidVersion
from gate.versions._scheme import KeyScheme

NAME = "rpm"

_SPACE = re.compile(r"\s")
_SEGMENT = re.compile(r"~|\^|[0-9]+|[A-Za-z]+")
_TILDE = (0, 0)
_END = (1, 0)
_CARET = (2, 0)
_LETTERS = 3
_NUMBER = 4
_NO_RELEASE = (0,)


def segment_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """The ``rpmvercmp`` order of one version or release string."""
    segments: list[tuple[int, int | str]] = []
    for segment in _SEGMENT.findall(text):
        if segment == "~":
            segments.append(_TILDE)
        elif segment == "^":
            segments.append(_CARET)
        elif segment[0].isdigit():
            segments.append((_NUMBER, int(segment)))
        else:
            segments.append((_LETTERS, segment))
    segments.append(_END)
    return tuple(segments)


def _parse(evr: str) -> tuple:
    text = evr.strip()
    if not text:
        raise InvalidVersion(NAME, evr, "empty")
    if not text.isprintable() or _SPACE.search(text):
        raise InvalidVersion(NAME, evr, "contains whitespace or control characters")
    epoch_text, colon, rest = text.partition(":")
    if not colon:
        epoch_text, rest = "0", text
    if not epoch_text.isascii() or not epoch_text.isdigit():
        raise InvalidVersion(NAME, evr, "epoch is not a number")
    version, hyphen, release = rest.rpartition("-")
    if not hyphen:
        version, release = rest, ""
    if not version:
        raise InvalidVersion(NAME, evr, "empty version")
    if hyphen and not release:
        raise InvalidVersion(NAME, evr, "empty release after '-'")
    release_key = (1, segment_key(release)) if hyphen else _NO_RELEASE
    return (int(epoch_text), segment_key(version), release_key)


SCHEME = KeyScheme(NAME, _parse)
