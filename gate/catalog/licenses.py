"""License names as distro metadata spells them, normalised to SPDX expressions where possible.

Debian's machine-readable copyright format (DEP-5, "License short name" table) and Alpine's
APKBUILD ``license=`` use short names that are close to, but not, SPDX identifiers
(``GPL-2+``, ``Expat``, ``GPL2``). :func:`normalize_license` maps those onto SPDX ids,
validates the result with the ``license-expression`` library, and falls back to the raw
text when any part is unknown: a license we cannot name is reported as written, never guessed.
"""

from __future__ import annotations

import re
from functools import lru_cache

from license_expression import ExpressionError, Licensing, get_spdx_licensing

# Lower-cased short names (without a trailing "+") -> SPDX identifiers. Names the SPDX
# licensing already knows (MIT, Apache-2.0, BSD-3-Clause, Zlib, ...) need no entry.
_ALIASES: dict[str, str] = {
    "expat": "MIT",
    "gpl-1": "GPL-1.0-only",
    "gpl1": "GPL-1.0-only",
    "gpl-2": "GPL-2.0-only",
    "gpl2": "GPL-2.0-only",
    "gplv2": "GPL-2.0-only",
    "gpl-3": "GPL-3.0-only",
    "gpl3": "GPL-3.0-only",
    "gplv3": "GPL-3.0-only",
    "lgpl-2": "LGPL-2.0-only",
    "lgpl2": "LGPL-2.0-only",
    "lgpl-2.1": "LGPL-2.1-only",
    "lgpl2.1": "LGPL-2.1-only",
    "lgpl-3": "LGPL-3.0-only",
    "lgpl3": "LGPL-3.0-only",
    "agpl-3": "AGPL-3.0-only",
    "agpl3": "AGPL-3.0-only",
    "gfdl-1.2": "GFDL-1.2-only",
    "gfdl-1.3": "GFDL-1.3-only",
    "apache-2": "Apache-2.0",
    "apache2": "Apache-2.0",
    "mpl-2": "MPL-2.0",
    "psf-2": "PSF-2.0",
    "artistic": "Artistic-1.0",
    "artistic-1": "Artistic-1.0",
    "artistic-2": "Artistic-2.0",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "zlib": "Zlib",
}

# DEP-5 copyright files write "A and/or B"; the licensee may choose, which SPDX spells OR
_OPERATORS = {"and": "AND", "or": "OR", "with": "WITH", "and/or": "OR"}
_TOKEN = re.compile(r"\(|\)|[^\s(),]+")


@lru_cache(maxsize=1)
def spdx_licensing() -> Licensing:
    """license-expression's SPDX licensing, built once (it loads the whole license list)."""
    return get_spdx_licensing()


@lru_cache(maxsize=8192)  # the same few dozen license strings recur across hundreds of packages
def normalize_license(raw: str) -> str:
    """An SPDX expression for ``raw`` (``GPL-2+`` -> ``GPL-2.0-or-later``), else ``raw`` stripped.

    Operators may be lower case (DEP-5 writes ``GPL-2+ or Artistic``); commas are ignored.
    """
    text = " ".join(raw.split())
    if not text:
        return ""
    tokens = [_map_token(token) for token in _TOKEN.findall(text)]
    candidate = " ".join(tokens).replace("( ", "(").replace(" )", ")")
    try:
        info = spdx_licensing().validate(candidate)
    except (ExpressionError, TypeError, ValueError, AttributeError, IndexError):
        # license-expression can fail inside its own error reporting on odd input
        return text
    if info.errors or not info.normalized_expression:
        return text
    return str(info.normalized_expression)


def _map_token(token: str) -> str:
    if token in ("(", ")"):
        return token
    operator = _OPERATORS.get(token.lower())
    if operator:
        return operator
    plus = token.endswith("+")
    base = token.rstrip("+")
    spdx = _ALIASES.get(base.lower(), base)
    if not plus:
        return spdx
    if spdx.endswith("-only"):
        return spdx[: -len("-only")] + "-or-later"
    return spdx if spdx.endswith("-or-later") else spdx + "+"
