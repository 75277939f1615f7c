"""JSON from untrusted sources, with a bounded nesting depth.

The standard library's parser recurses once per nesting level, so a document of ~1,000 nested
``[`` raises RecursionError (and anything deeper that got through would crash the recursive
code walking it later). :func:`loads` counts the depth first, outside string literals, and
refuses a document nested deeper than :data:`MAX_DEPTH` with a :class:`JsonTooDeep`, which is
a ValueError like every other malformed-JSON error, so callers handle it where they already
handle bad JSON.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 128  # manifests, SBOMs, in-toto statements, OSV records and bundles need under 20

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than MAX_DEPTH."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels")


def loads(data: bytes | bytearray | str) -> Any:
    """``json.loads`` for untrusted input: ValueError (JsonTooDeep) for a document nested too deep."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if nesting_depth(raw) > MAX_DEPTH:
        raise JsonTooDeep()
    try:
        return json.loads(data)
    except RecursionError:  # only if the caller's own stack was already nearly exhausted
        raise JsonTooDeep() from None


def nesting_depth(raw: bytes) -> int:
    """The deepest ``[``/``{`` nesting of a JSON text, ignoring brackets inside strings."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return 0  # too few brackets to go too deep: skip the scan
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)
