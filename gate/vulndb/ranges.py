"""OSV range semantics: is a version affected by one ``affected[]`` entry?

A version is affected when it falls in one of the entry's ECOSYSTEM or SEMVER ranges or is
listed in ``versions``. A range is evaluated as the schema's algorithm says: events sorted by
version (``introduced: "0"`` first; equal versions keep the record's order), an
``introduced`` at or below the version opens it, a ``fixed`` at or below closes it, a
``last_affected`` below closes it, and nothing at or above a ``limit`` is in it. GIT ranges
are never evaluated (commits are not versions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_EVALUATED_RANGES = frozenset({"ECOSYSTEM", "SEMVER"})


class UnverifiableError(Exception):
    """The entry's ranges cannot be compared with the package's version."""


@dataclass(frozen=True, slots=True)
class Verdict:
    range: dict[str, Any] | None  # None: matched through the versions list


@dataclass(frozen=True, slots=True)
class Version:
    """A package version and its sort key (None with the reason when the scheme cannot read it)."""

    text: str
    key: Any
    error: str = ""

    @classmethod
    def of(cls, text: str, scheme: Any) -> Version:
        if scheme is None:
            return cls(text, None, "no version scheme for this ecosystem")
        from gate.versions import InvalidVersion

        try:
            return cls(text, scheme.key(text))
        except InvalidVersion as error:
            return cls(text, None, str(error))


@dataclass(frozen=True, slots=True)
class Range:
    """An ECOSYSTEM/SEMVER range with its events sorted as the schema says, or why it cannot be."""

    raw: dict[str, Any]
    events: tuple[tuple[str, Any], ...]  # (kind, key); key None for introduced "0" / limit "*"
    error: str = ""

    def contains(self, key: Any) -> bool:
        """The OSV schema's range evaluation for a version whose sort key is ``key``."""
        affected = False
        for kind, event_key in self.events:
            if kind == "introduced":
                if event_key is None or key >= event_key:
                    affected = True
            elif kind == "fixed":
                if key >= event_key:
                    affected = False
            elif kind == "last_affected":
                if key > event_key:
                    affected = False
            elif kind == "limit" and event_key is not None and key >= event_key:
                return False
        return affected


class Entry:
    """An ``affected[]`` entry compiled for one version scheme."""

    __slots__ = ("_listed_keys", "_padded", "fixed", "ranges", "scheme")

    def __init__(
        self, scheme: Any, versions: str, ranges: tuple[Range, ...], fixed: tuple[tuple[str, Any], ...]
    ) -> None:
        self.scheme = scheme
        self._padded = f"\n{versions}\n" if versions else ""  # "\nv1\nv2\n": membership without a parse
        self.ranges = ranges
        self.fixed = fixed  # (version, key) of every parsable fixed event
        self._listed_keys: frozenset[Any] | None = None

    def listed(self, text: str) -> bool:
        return bool(self._padded) and "\n" not in text and f"\n{text}\n" in self._padded

    def affects(self, version: Version) -> Verdict | None:
        """Whether ``version`` is affected; raises UnverifiableError when that cannot be decided.

        Ranges are tried first so a finding cites the range; the list decides the rest.
        """
        if version.key is not None:
            for range_ in self.ranges:
                if not range_.error and range_.contains(version.key):
                    return Verdict(range_.raw)
        if self.listed(version.text):
            return Verdict(None)
        if version.key is None:
            if self.ranges:
                raise UnverifiableError(version.error)
            return None
        if errors := [range_.error for range_ in self.ranges if range_.error]:
            raise UnverifiableError(errors[0])
        if not self.ranges and self._padded and version.key in self._keys_of_list():
            return Verdict(None)  # a list-only entry spelling the version differently ("1.0" / "1.0.0")
        return None

    def _keys_of_list(self) -> frozenset[Any]:
        if self._listed_keys is None:
            items = self._padded.strip("\n").split("\n")
            self._listed_keys = frozenset(
                key for item in items if (key := _key_or_none(self.scheme, item)) is not None
            )
        return self._listed_keys

    def fixed_after(self, version: Version) -> dict[str, Any]:
        """``fixed`` versions newer than ``version``, with their keys."""
        if version.key is None:
            return {}
        return {value: key for value, key in self.fixed if key > version.key}


def compile_ranges(
    raw_ranges: list[dict[str, Any]], scheme: Any
) -> tuple[tuple[Range, ...], tuple[tuple[str, Any], ...]]:
    """The entry's ECOSYSTEM/SEMVER ranges compiled for ``scheme``, and its parsable fixed versions."""
    evaluated = [r for r in raw_ranges if r.get("type") in _EVALUATED_RANGES]
    if scheme is None:
        return tuple(Range(r, (), "no version scheme for this ecosystem") for r in evaluated), ()
    fixed = tuple(
        (value, key)
        for range_ in evaluated
        for event in range_["events"]
        if (value := event.get("fixed")) is not None and (key := _key_or_none(scheme, value)) is not None
    )
    return tuple(_compile_range(r, scheme) for r in evaluated), fixed


def evaluate(entry: dict[str, Any], ecosystem: str, version: str) -> Verdict | None:
    """Whether ``version`` is affected by ``entry`` (one-off form of what :class:`Matcher` does)."""
    from gate.versions import scheme_for_ecosystem

    scheme = scheme_for_ecosystem(ecosystem)
    ranges, fixed = compile_ranges(entry.get("ranges") or [], scheme)
    compiled = Entry(scheme, "\n".join(entry.get("versions") or []), ranges, fixed)
    return compiled.affects(Version.of(version, scheme))


def _compile_range(raw: dict[str, Any], scheme: Any) -> Range:
    from gate.versions import InvalidVersion

    keyed = []
    for event in raw["events"]:
        ((kind, value),) = event.items()
        if (kind, value) in (("introduced", "0"), ("limit", "*")):
            keyed.append((kind, None))
            continue
        try:
            keyed.append((kind, scheme.key(value)))
        except InvalidVersion as error:
            return Range(raw, (), f"{kind} bound of a range: {error}")
    # "0" sorts first and "*" last; Python's sort is stable, so ties keep the record's order.
    return Range(raw, tuple(sorted(keyed, key=_event_rank)))


def _event_rank(item: tuple[str, Any]) -> tuple[int, Any]:
    kind, key = item
    if key is None:
        return (0, 0) if kind == "introduced" else (2, 0)
    return (1, key)


def _key_or_none(scheme: Any, value: str) -> Any:
    from gate.versions import InvalidVersion

    try:
        return scheme.key(value)
    except InvalidVersion:
        return None
