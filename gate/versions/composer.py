"""Packagist (Composer) versions, ordered as PHP's ``version_compare`` orders them.

This is the order OSV uses for the Packagist ecosystem. The version is canonicalised
(``-``, ``_`` and ``+`` become ``.``, and a ``.`` is inserted
between digits and letters: ``1.0RC1`` -> ``1.0.RC.1``), then parts compare left to
right: numbers numerically; words by their special form, matched by prefix as PHP does:
any other word < ``dev`` < ``alpha`` = ``a`` < ``beta`` = ``b`` < ``RC`` = ``rc`` < a
number < ``pl`` = ``p``. When one version has more parts, the next one decides: a number
makes the longer version greater (``1.0 < 1.0.0``), a word is compared with a number.

A leading ``v`` (Composer tags such as ``v1.2.3``) is dropped, as Composer and OSV do.
"""

from __future__ import annotations

import re

from gate.versions import InvalidVersion
from gate.versions._scheme import KeyScheme

NAME = "composer"

# PHP's table, in its search order: the first prefix that matches wins.
_SPECIAL_FORMS = (
    ("dev", 0),
    ("alpha", 1),
    ("a", 1),
    ("beta", 2),
    ("b", 2),
    ("RC", 3),
    ("rc", 3),
    ("pl", 5),
    ("p", 5),
)
_UNKNOWN_FORM = -1
_NUMBER_FORM = 4
_PART = re.compile(r"[0-9]+|[A-Za-z]+")
# PHP would also turn other punctuation into separators, but no Composer version has any,
# and "#" even has a special meaning there that is not an order; a separator at either end
# makes PHP compare an empty part. Refuse all of these instead.
_ALLOWED = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._+-]*[A-Za-z0-9])?")
# Running out of parts compares like a number that is smaller than every number.
_END = (_NUMBER_FORM, -1)


def _form(word: str) -> int:
    for prefix, order in _SPECIAL_FORMS:
        if word.startswith(prefix):
            return order
    return _UNKNOWN_FORM


def _parse(version: str) -> tuple:
    text = version.strip()
    if text[:1] in ("v", "V") and text[1:2].isdigit():
        text = text[1:]
    if not text:
        raise InvalidVersion(NAME, version, "empty")
    if not _ALLOWED.fullmatch(text):
        raise InvalidVersion(
            NAME, version, "must be letters and digits, separated by . - _ +, with none at either end"
        )
    parts = _PART.findall(text)
    elements = [(_NUMBER_FORM, int(part)) if part.isdigit() else (_form(part), 0) for part in parts]
    return (*elements, _END)


SCHEME = KeyScheme(NAME, _parse)
