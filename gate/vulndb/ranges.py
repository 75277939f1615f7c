"""OSV range semantics, compiled per package so that matching compares integers.

A version is affected when it falls in one of the entry's ECOSYSTEM or SEMVER ranges or is
listed in ``versions``. A range is evaluated as the schema's algorithm says: events sorted by
version (``introduced: "0"`` first; equal versions keep the record's order), an
``introduced`` at or below the version opens it, a ``fixed`` at or below closes it, a
``last_affected`` below closes it, and nothing at or above a ``limit`` is in it. GIT ranges
are never evaluated (commits are not versions).

Compiled form: every version string a package's entries name (range events and ``versions``
lists) is put on the package's *ladder* with its rank in the ecosystem's order (equal versions
such as ``1.0`` and ``0:1.0`` share a rank; an unparsable string has rank -1 and its reason).
The importer compiles each package once (:func:`compile_package`), so matching parses only the
few ladder versions a binary search visits: a version equal to rank ``r`` sits at position
``2r + 1``, one between ranks ``r - 1`` and ``r`` at ``2r``, and the schema's algorithm runs on
those positions. Ranks depend on the version schemes' code: the matcher compiles again from
the stored entries when the database was compiled by schemes with another
:func:`scheme_fingerprint` (slower, never wrong).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.versions import InvalidVersion

_EVALUATED_RANGES = frozenset({"ECOSYSTEM", "SEMVER"})
_KINDS = ("introduced", "fixed", "last_affected", "limit")
INTRODUCED, FIXED, LAST_AFFECTED, LIMIT = range(4)
_KIND_CODES = {kind: code for code, kind in enumerate(_KINDS)}
_OPEN_EVENTS = frozenset({("introduced", "0"), ("limit", "*")})  # no version to compare
_UNPARSABLE = -1
_BEFORE_ALL = -1  # position of introduced "0"; limit "*" sits after the last rank
_END = 2**53  # beyond every position: the end of an interval that does not end
NO_SCHEME = "no version scheme for this ecosystem"


class UnverifiableError(Exception):
    """The entry's ranges cannot be compared with the package's version."""


@dataclass(frozen=True, slots=True)
class Verdict:
    range_index: int | None  # index in the entry's ``ranges``; None: matched through ``versions``


@dataclass(frozen=True, slots=True)
class Placed:
    """A package version placed on a package's ladder (position None, with the reason, when the
    scheme cannot read it)."""

    text: str
    position: int | None
    error: str = ""


def scheme_fingerprint() -> str:
    """Digest of the version schemes' code and of ``packaging``: ranks stored by an importer with
    another fingerprint may order versions differently and are recomputed."""
    import packaging

    import gate.versions

    digest = hashlib.sha256(f"packaging {packaging.__version__}\n".encode())
    for path in sorted(Path(gate.versions.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Compiled:
    """A package's compiled form: a small ``summary`` read for every lookup and the ``entries``
    decoded only when the summary cannot rule the version out (see :class:`PackageIndex`)."""

    summary: str
    entries: str


def compile_package(entries: Iterable[tuple[int, str, str, str]], scheme: Any) -> Compiled:
    """The compiled form of one package's entries, each (affected id, record id, ranges JSON,
    ``versions`` joined by newlines)."""
    parsed = []
    strings: dict[str, int] = {}
    entries = list(entries)
    for (affected_id, record_id, _, versions), raw_ranges in zip(
        entries, decode_all([row[2] for row in entries]), strict=True
    ):
        ranges = [
            (raw_index, [next(iter(event.items())) for event in range_["events"]])
            for raw_index, range_ in enumerate(raw_ranges)
            if range_.get("type") in _EVALUATED_RANGES
        ]
        for _, events in ranges:
            for event in events:
                if event not in _OPEN_EVENTS:
                    strings.setdefault(event[1], len(strings))
        listed = [strings.setdefault(item, len(strings)) for item in _listed(versions)]
        parsed.append((affected_id, record_id, ranges, listed))
    texts = list(strings)
    ranks, errors = rank_strings(texts, scheme)
    rank_count = max(ranks, default=-1) + 1
    positions = [2 * rank + 1 for rank in ranks]
    rungs: list[str | None] = [None] * rank_count
    for text, rank in zip(texts, ranks, strict=True):
        if rank >= 0 and rungs[rank] is None:
            rungs[rank] = text
    compiled: list[list[Any]] = []
    affected: list[tuple[int, int]] = []
    check: list[int] = []
    for affected_id, record_id, ranges, listed in parsed:
        entry_ranges = [
            _compile_range(index, events, strings, positions, errors, 2 * rank_count + 2)
            for index, events in ranges
        ]
        fixed = [strings[value] for _, events in ranges for kind, value in events if kind == "fixed"]
        if any(range_[1] for range_ in entry_ranges):
            check.append(len(compiled))
        affected += [interval for range_ in entry_ranges if not range_[1] for interval in _intervals(range_)]
        if not entry_ranges:  # a list-only entry matches the listed versions by order too
            affected += [(positions[index], positions[index] + 1) for index in listed if positions[index] > 0]
        compiled.append(
            [affected_id, record_id, entry_ranges, listed, [i for i in fixed if positions[i] > 0]]
        )
    summary = {
        "rungs": rungs,
        "affected": [bound for interval in _merge(affected) for bound in interval],
        "listed": sorted({texts[index] for _, _, _, listed in parsed for index in listed}),
        "check": check,
    }
    return Compiled(
        _compact(summary), _compact({"strings": texts, "positions": positions, "entries": compiled})
    )


def decode_all(texts: list[str]) -> list[Any]:
    """Many JSON documents decoded in one call (the per-call cost dominates small documents)."""
    return json.loads(f"[{','.join(texts)}]")


_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _intervals(range_: list[Any]) -> tuple[tuple[int, int], ...]:
    """The positions ``contains`` accepts, as [start, end) intervals."""
    return _event_intervals(tuple(range_[2:]))


@functools.lru_cache(maxsize=1 << 16)
def _event_intervals(events: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    # ``contains`` can only change value where an event's bound is reached (``at >= position``)
    # or passed (``at > position``); ranges of one shape recur across packages, hence the cache.
    compiled = [0, "", *events]
    bounds = sorted(
        {0} | {bound for position in events[1::2] for bound in (position, position + 1) if bound > 0}
    )
    return tuple(
        (start, end)
        for start, end in zip(bounds, [*bounds[1:], _END], strict=True)
        if contains(compiled, start)
    )


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _compile_range(
    index: int,
    events: list[tuple[str, str]],
    strings: dict[str, int],
    positions: list[int],
    errors: dict[int, str],
    after_all: int,
) -> list[Any]:
    """[range index, error or "", kind, position, kind, position, ...] with events in the schema's order."""
    keyed = []
    for kind, value in events:
        if kind == "introduced" and value == "0":
            keyed.append((_BEFORE_ALL, INTRODUCED))
        elif kind == "limit" and value == "*":
            keyed.append((after_all, LIMIT))
        elif (position := positions[strings[value]]) > 0:
            keyed.append((position, _KIND_CODES[kind]))
        else:
            reason = errors[strings[value]]
            return [index, reason if reason == NO_SCHEME else f"{kind} bound of a range: {reason}"]
    keyed.sort(key=_first)  # stable: equal versions keep the record's order
    compiled: list[Any] = [index, ""]
    for position, kind_code in keyed:
        compiled += (kind_code, position)
    return compiled


def rank_strings(strings: list[str], scheme: Any) -> tuple[list[int], dict[int, str]]:
    """Each string's rank in ``scheme``'s order (-1: unparsable) and why the unparsable are."""
    ranks = [_UNPARSABLE] * len(strings)
    errors: dict[int, str] = {}
    keyed = []
    for index, text in enumerate(strings):
        if scheme is None:
            errors[index] = NO_SCHEME
            continue
        try:
            keyed.append((scheme.key(text), index))
        except InvalidVersion as error:
            errors[index] = str(error)
    keyed.sort(key=_first)
    rank, previous = -1, None
    for position, (key, index) in enumerate(keyed):
        if position == 0 or key != previous:
            rank, previous = rank + 1, key
        ranks[index] = rank
    return ranks, errors


def _first(item: tuple[Any, Any]) -> Any:
    return item[0]


def _listed(versions: str) -> list[str]:
    return versions.split("\n") if versions else []


def contains(events: list[Any], at: int) -> bool:
    """The OSV schema's range evaluation for a version at position ``at``; ``events`` is a
    compiled range: [index, error, kind, position, kind, position, ...] in the schema's order."""
    affected = False
    for offset in range(2, len(events), 2):
        kind, position = events[offset], events[offset + 1]
        if kind == INTRODUCED:
            if at >= position:
                affected = True
        elif kind == FIXED:
            if at >= position:
                affected = False
        elif kind == LAST_AFFECTED:
            if at > position:
                affected = False
        elif at >= position:  # limit
            return False
    return affected


class PackageIndex:
    """A package's compiled entries, ready to place versions and evaluate.

    The summary: ``rungs``, one version per rank in ascending order (the binary search parses
    only these); ``affected``, the positions any entry's ranges or list-only entries accept, as
    flat [start, end) bounds; ``listed``, every version the entries' ``versions`` lists name;
    ``check``, the entries with a range that cannot be evaluated (they are always reported). A
    version outside all of these cannot be affected, so the entries are not even decoded.

    The entries: ``strings`` (every version named) and their ``positions`` (-1: unparsable), and
    ``entries``, each [affected id, record id, ranges, listed string indices, fixed string
    indices], a range being [index in the entry's ``ranges``, error or "", kind, position, ...]
    with events in the schema's order.
    """

    __slots__ = ("_entries", "_index_of", "_scheme", "_summary")

    def __init__(self, summary: dict[str, Any], scheme: Any, entries: str | None = None) -> None:
        self._summary = summary
        self._scheme = scheme
        self._entries: str | dict[str, Any] | None = entries
        self._index_of: dict[str, int] | None = None

    @property
    def has_entries(self) -> bool:
        return self._entries is not None

    def provide(self, entries: str) -> None:
        """The compiled entries, fetched once :meth:`needs_entries` said so."""
        self._entries = entries

    def _decoded(self) -> dict[str, Any]:
        if isinstance(self._entries, str):
            self._entries = json.loads(self._entries)
        assert isinstance(self._entries, dict), "entries needed but not provided"
        return self._entries

    def place(self, text: str) -> Placed:
        """``text`` as a position between or on the package's versions."""
        if self._scheme is None:
            return Placed(text, None, NO_SCHEME)
        rungs, scheme_key = self._summary["rungs"], self._scheme.key
        if text in rungs:  # a version the advisories name, as an installed version often is: no parsing
            return Placed(text, 2 * rungs.index(text) + 1)
        try:
            key = scheme_key(text)
        except InvalidVersion as error:
            return Placed(text, None, str(error))
        low, high = 0, len(rungs)
        while low < high:  # how many ranks sort below ``key``
            middle = (low + high) // 2
            if scheme_key(rungs[middle]) < key:
                low = middle + 1
            else:
                high = middle
        equal = low < len(rungs) and scheme_key(rungs[low]) == key
        return Placed(text, 2 * low + 1 if equal else 2 * low)

    def _rules_out(self, version: Placed) -> bool:
        """Whether no entry's ranges or list can take ``version``."""
        summary = self._summary
        return (
            version.position is not None
            and bisect.bisect_right(summary["affected"], version.position) % 2 == 0
            and version.text not in summary["listed"]
        )

    def needs_entries(self, version: Placed) -> bool:
        return bool(self._summary["check"]) or not self._rules_out(version)

    def candidates(self, version: Placed) -> list[list[Any]]:
        """The entries that can affect ``version`` or must report it as unverifiable."""
        if not self._rules_out(version):
            return self._decoded()["entries"]
        if not self._summary["check"]:
            return []
        entries = self._decoded()["entries"]
        return [entries[index] for index in self._summary["check"]]

    def affects(self, entry: list[Any], version: Placed) -> Verdict | None:
        """Whether ``version`` is affected by ``entry``; raises UnverifiableError when that cannot be
        decided. Ranges are tried first so a finding cites the range; the list decides the rest."""
        ranges, listed, at = entry[2], entry[3], version.position
        if at is not None:
            for range_ in ranges:
                if not range_[1] and contains(range_, at):
                    return Verdict(range_[0])
        if listed and self._ladder_index(version.text) in listed:
            return Verdict(None)
        if at is None:
            if ranges:
                raise UnverifiableError(version.error)
            return None
        if errors := [range_[1] for range_ in ranges if range_[1]]:
            raise UnverifiableError(errors[0])
        positions = self._decoded()["positions"]
        if not ranges and at in (positions[index] for index in listed):
            return Verdict(None)  # a list-only entry spelling the version differently ("1.0" / "1.0.0")
        return None

    def _ladder_index(self, text: str) -> int:
        if self._index_of is None:
            self._index_of = {string: index for index, string in enumerate(self._decoded()["strings"])}
        return self._index_of.get(text, -1)

    def fixed_after(self, entry: list[Any], version: Placed) -> dict[str, int]:
        """``fixed`` versions newer than ``version``, with their positions (which sort them)."""
        if version.position is None:
            return {}
        decoded = self._decoded()
        strings, positions = decoded["strings"], decoded["positions"]
        return {strings[index]: positions[index] for index in entry[4] if positions[index] > version.position}


def evaluate(entry: dict[str, Any], ecosystem: str, version: str) -> Verdict | None:
    """Whether ``version`` is affected by ``entry`` (one-off form of what the matcher does)."""
    from gate.versions import scheme_for_ecosystem

    scheme = scheme_for_ecosystem(ecosystem)
    item = (0, "", json.dumps(entry.get("ranges") or []), "\n".join(entry.get("versions") or []))
    compiled = compile_package([item], scheme)
    package = PackageIndex(json.loads(compiled.summary), scheme, compiled.entries)
    placed = package.place(version)
    return next((package.affects(item, placed) for item in package.candidates(placed)), None)
