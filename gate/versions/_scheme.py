"""The shared shape of a scheme: a parse function turned into a memoised ``key`` and ``compare``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from gate.versions import InvalidVersion

# Advisories repeat the same few versions many times; parsing each once is the cheap win.
_CACHE_SIZE = 1 << 16


class KeyScheme:
    """A scheme whose order is the order of the keys ``parse`` returns."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self._parse = functools.lru_cache(maxsize=_CACHE_SIZE)(parse)

    def key(self, version: str) -> Any:
        """The sort key of ``version``; raises InvalidVersion."""
        if not isinstance(version, str):
            raise InvalidVersion(self.name, repr(version), "not a string")
        return self._parse(version)

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b``."""
        ka, kb = self.key(a), self.key(b)
        return (ka > kb) - (ka < kb)

    def __repr__(self) -> str:
        return f"<version scheme {self.name}>"
