"""Maven versions, ordered as Maven 3.9's ``ComparableVersion`` orders them.

A version is lower-cased and split on ``.``, ``-`` and digit/letter transitions into a
tree of items: numbers, qualifiers, qualifier+number combinations (``rc1``, ``beta-2``)
and sub-lists (a ``-`` or a qualifier after ``.`` opens one). Trailing "null" items
(``0``, the empty qualifier) are trimmed. Qualifiers order ``alpha`` (``a1``) < ``beta``
(``b1``) < ``milestone`` (``m1``) < ``rc`` = ``cr`` < ``snapshot`` < (none) = ``ga`` =
``final`` = ``release`` < ``sp`` < any other qualifier (alphabetically); a number sorts
after any qualifier or sub-list. So ``1.0.RELEASE`` equals ``1.0`` and ``1.0-RC1 < 1.0``.

Maven's comparison is not a total order in corner cases nobody publishes (``1-ga1``
equals ``1`` which equals ``1-ga``, yet ``1-ga1 > 1-ga``), so the key is an object that
compares with Maven's own rules pair by pair instead of a tuple; its hash is consistent
with its equality.
"""

from __future__ import annotations

import functools
import re
from typing import TypeVar

from gate.versions import InvalidVersion
from gate.versions._scheme import KeyScheme

NAME = "maven"

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_RELEASE_QUALIFIERS = frozenset({"ga", "final", "release"})
_RELEASE_INDEX = str(_QUALIFIERS.index(""))
_SPACE = re.compile(r"\s")
_SHORT_QUALIFIERS = {"a": "alpha", "b": "beta", "m": "milestone"}


def _comparable_qualifier(qualifier: str) -> str:
    if qualifier in _RELEASE_QUALIFIERS:
        return _RELEASE_INDEX
    if qualifier in _QUALIFIERS:
        return str(_QUALIFIERS.index(qualifier))
    return f"{len(_QUALIFIERS)}-{qualifier}"


# Items, as plain Python values for speed: a number is an int, a qualifier the str its
# comparable form, a qualifier+number combination a (comparable, int) tuple, a sub-list a
# list. The parser never produces an empty qualifier (ComparableVersion's only "null"
# string), so only the number 0 and the empty list are null items.
_Item = int | str | tuple[str, int] | list
_Comparable = TypeVar("_Comparable", int, str)


def _cmp(a: _Comparable, b: _Comparable) -> int:
    return (a > b) - (a < b)


def _versus_null(item: _Item) -> int:
    """``item.compareTo(null)``: how the item orders against padding."""
    if isinstance(item, int):
        return 1 if item else 0
    if isinstance(item, str):
        return _cmp(item, _RELEASE_INDEX)
    if isinstance(item, tuple):
        return _cmp(item[0], _RELEASE_INDEX)
    for child in item:
        result = _versus_null(child)
        if result:
            return result
    return 0


def _compare(left: _Item, right: _Item) -> int:
    """``left.compareTo(right)`` of ComparableVersion's item classes."""
    if isinstance(left, int):
        return _cmp(left, right) if isinstance(right, int) else 1
    if isinstance(right, int):
        return -1
    if isinstance(left, list):
        return _compare_lists(left, right) if isinstance(right, list) else 1
    if isinstance(right, list):
        return -1
    if isinstance(left, str):
        if isinstance(right, str):
            return _cmp(left, right)
        return _cmp(left, right[0]) or -1
    if isinstance(right, str):
        return _cmp(left[0], right) or 1
    return _cmp(left[0], right[0]) or _cmp(left[1], right[1])


def _compare_lists(left: list, right: list) -> int:
    shared = min(len(left), len(right))
    for index in range(shared):
        result = _compare(left[index], right[index])
        if result:
            return result
    for item in left[shared:]:
        result = _versus_null(item)
        if result:
            return result
    for item in right[shared:]:
        result = _versus_null(item)
        if result:
            return -result
    return 0


def _canonical(items: list) -> tuple:
    """A form equal for every two item lists that compare equal (for hashing)."""
    forms = [("l", _canonical(item)) if type(item) is list else item for item in items]
    end = len(items)
    while end and _versus_null(items[end - 1]) == 0:
        end -= 1
    return tuple(forms[:end])


@functools.total_ordering
class MavenKey:
    """The parsed form of a Maven version; compares with ComparableVersion's rules."""

    __slots__ = ("_hash", "items")

    def __init__(self, items: list) -> None:
        self.items = items
        self._hash = hash(_canonical(items))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MavenKey):
            return NotImplemented
        return _compare_lists(self.items, other.items) == 0

    def __lt__(self, other: MavenKey) -> bool:
        return _compare_lists(self.items, other.items) < 0

    def __hash__(self) -> int:
        return self._hash


def _qualifier(text: str, followed_by_digit: bool) -> str:
    if followed_by_digit and len(text) == 1:
        text = _SHORT_QUALIFIERS.get(text, text)
    return _comparable_qualifier("rc" if text == "cr" else text)


def _item(text: str, is_digit: bool, is_combination: bool) -> _Item:
    if is_combination:
        text = text.replace("-", "")
        split = next(i for i, char in enumerate(text) if "0" <= char <= "9")
        return (_qualifier(text[:split], True), int(text[split:]))
    if is_digit:
        return int(text)
    return _qualifier(text, False)


class _Parser:
    """ComparableVersion.parseVersion, state machine and all."""

    def __init__(self) -> None:
        self.root: list = []
        self.current = self.root
        self.lists = [self.root]

    def open_list(self) -> None:
        sub: list = []
        self.current.append(sub)
        self.current = sub
        self.lists.append(sub)

    def parse(self, version: str) -> list:
        text = version.lower()
        is_digit = is_combination = False
        start = 0
        for index, char in enumerate(text):
            if char == ".":
                self.current.append(
                    0 if index == start else _item(text[start:index], is_digit, is_combination)
                )
                is_combination = False
                start = index + 1
            elif char == "-":
                if index == start:
                    self.current.append(0)
                else:
                    if not is_digit and index != len(text) - 1 and "0" <= text[index + 1] <= "9":
                        is_combination = True  # "X-1" is read as "X1"
                        continue
                    self.current.append(_item(text[start:index], is_digit, is_combination))
                start = index + 1
                if self.current:
                    self.open_list()
                is_combination = False
            elif "0" <= char <= "9":
                if not is_digit and index > start:
                    is_combination = True
                    if self.current:
                        self.open_list()
                is_digit = True
            else:
                if is_digit and index > start:
                    self.current.append(_item(text[start:index], True, is_combination))
                    start = index
                    self.open_list()
                    is_combination = False
                is_digit = False
        if len(text) > start:
            if not is_digit and self.current:
                self.open_list()  # "1.0.X1" is read as "1.0-X1"
            self.current.append(_item(text[start:], is_digit, is_combination))
        for sub in reversed(self.lists):
            _normalize(sub)
        return self.root


def _is_null(item: _Item) -> bool:
    return (type(item) is int and item == 0) or (type(item) is list and not item)


def _normalize(items: list) -> None:
    for index in range(len(items) - 1, -1, -1):
        if not _is_null(items[index]):
            continue
        if index == len(items) - 1 or type(items[index + 1]) is str:
            del items[index]
        elif type(items[index + 1]) is list:
            following = items[index + 1]
            if following and type(following[0]) in (str, tuple):
                del items[index]


def _parse(version: str) -> MavenKey:
    if not version.strip():
        raise InvalidVersion(NAME, version, "empty")
    if not version.isprintable() or _SPACE.search(version):
        raise InvalidVersion(NAME, version, "contains whitespace or control characters")
    return MavenKey(_Parser().parse(version))


SCHEME = KeyScheme(NAME, _parse)
