"""RubyGems versions, ordered as ``Gem::Version#<=>`` orders them.

A version is digits, then ``.``-separated alphanumeric parts, optionally ``-`` and more
(``-`` reads as ``.pre.``). Segments are runs of digits (integers) or letters (strings);
trailing zeros are dropped from the release part and from the prerelease part (which
starts at the first letter segment). Segments compare pairwise, a missing one counting as
0; a string sorts before any number, so any version with letters is a prerelease:
``1.0.a < 1.0 = 1.0.0 < 1.0.1``.
"""

from __future__ import annotations

import re

from gate.versions import InvalidVersion
from gate.versions._scheme import KeyScheme

NAME = "rubygems"

_PATTERN = re.compile(r"[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
_SEGMENT = re.compile(r"[0-9]+|[a-zA-Z]+")
_END = (0,)

Segment = int | str


def canonical_segments(version: str) -> list[Segment]:
    """``Gem::Version#canonical_segments``: segments without trailing zeros per part."""
    text = version.strip().replace("-", ".pre.") or "0"
    segments: list[Segment] = [int(s) if s.isdigit() else s for s in _SEGMENT.findall(text)]
    first_string = next((i for i, s in enumerate(segments) if isinstance(s, str)), len(segments))
    release, prerelease = segments[:first_string], segments[first_string:]
    return _drop_trailing_zeros(release) + _drop_trailing_zeros(prerelease)


def _drop_trailing_zeros(segments: list[Segment]) -> list[Segment]:
    end = len(segments)
    while end and segments[end - 1] == 0:
        end -= 1
    return segments[:end]


def _parse(version: str) -> tuple:
    text = version.strip()
    if text and not _PATTERN.fullmatch(text):
        raise InvalidVersion(NAME, version, "not a RubyGems version")
    segments = canonical_segments(text)
    # Missing segments count as 0, and 0 sits between strings and positive numbers. Each
    # element carries the sign of the first non-zero segment from it on (trailing zeros
    # are gone, so there always is one); _END, the padding, compares as that sign says.
    elements = []
    tail_sign = 0
    for segment in reversed(segments):
        if segment != 0:
            tail_sign = -1 if isinstance(segment, str) else 1
        elements.append((tail_sign, 0, segment) if isinstance(segment, str) else (tail_sign, 1, segment))
    elements.reverse()
    return (*elements, _END)


SCHEME = KeyScheme(NAME, _parse)
