"""Secret rules: what one looks like, how a set of them is tuned, and a backtracking guard.

A rule is a bytes regex with a named group ``secret``, the lowercase keywords that must
occur in a file before the regex runs at all (a cheap prefilter, as gitleaks does), and an
optional validator that checks the format (a checksum, a decodable key) and may lower the
severity. Every pattern must pass :func:`check_regex_safety`: no nested or alternating
repetition that could backtrack exponentially.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

from gate.analyze.model import Severity
from gate.errors import GateError


@dataclass(frozen=True)
class Verdict:
    """A validator's acceptance: an optional new severity, a note, and what to redact from."""

    severity: Severity | None = None
    note: str = ""
    shown: str | None = None  # the text whose first characters the finding shows (default: the secret)


Validator = Callable[[str, "re.Match[bytes]", bytes, str], "Verdict | None"]  # value, match, data, file name


@dataclass(frozen=True)
class SecretRule:
    id: str
    title: str
    severity: Severity
    regex: re.Pattern[bytes]
    keywords: tuple[bytes, ...]  # lowercase; the regex runs only where one occurs
    validate: Validator | None = None
    paths: tuple[str, ...] = ()  # file-name globs the rule is limited to; () = every file
    requires: tuple[bytes, ...] = ()  # lowercase substrings that must all occur in the content
    placeholders: bool = True  # drop values that look like placeholders (changeme, ${VAR}, ...)
    lowered: bool = False  # match the lowercased content; groups are read from the original bytes
    in_packages: bool = True  # also run inside installed language packages (site-packages, node_modules)

    def applies_to(self, name: str) -> bool:
        return not self.paths or any(fnmatch.fnmatchcase(name, glob) for glob in self.paths)


@dataclass(frozen=True)
class RuleSet:
    """The rules in priority order, plus the allowlists of a tuning file."""

    rules: tuple[SecretRule, ...]
    allow_paths: tuple[str, ...] = ()  # image-path globs never scanned
    allow_values: tuple[re.Pattern[str], ...] = ()  # secret values never reported
    _by_name: dict[str, tuple[SecretRule, ...]] = field(default_factory=dict, compare=False, repr=False)

    def for_file(self, name: str) -> tuple[SecretRule, ...]:
        """The rules that apply to a file called ``name`` (cached: few distinct names matter)."""
        if any(rule.paths for rule in self.rules):
            cached = self._by_name.get(name)
            if cached is None:
                cached = tuple(rule for rule in self.rules if rule.applies_to(name))
                if len(self._by_name) < 4096:
                    self._by_name[name] = cached
            return cached
        return self.rules

    @cached_property
    def keywords(self) -> KeywordIndex:
        return KeywordIndex({k for rule in self.rules for k in (*rule.keywords, *rule.requires)})

    def path_allowed(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, glob) for glob in self.allow_paths)

    def value_allowed(self, value: str) -> bool:
        return any(pattern.search(value) for pattern in self.allow_values)

    def without(self, rule_ids: set[str]) -> RuleSet:
        return replace(self, rules=tuple(r for r in self.rules if r.id not in rule_ids), _by_name={})


class KeywordIndex:
    """Which keywords occur in a text: one Aho-Corasick pass instead of one search per keyword."""

    def __init__(self, keywords: set[bytes]) -> None:
        import ahocorasick_rs

        self._keywords = sorted(keywords)
        self._automaton = ahocorasick_rs.BytesAhoCorasick(self._keywords) if keywords else None

    def present(self, lowered: bytes) -> set[bytes]:
        if self._automaton is None:
            return set()
        matches = self._automaton.find_matches_as_indexes(lowered, overlapping=True)
        return {self._keywords[index] for index, _start, _end in matches}


class UnsafeRegexError(GateError):
    """A pattern that could backtrack catastrophically."""


_REPEATS = ("MAX_REPEAT", "MIN_REPEAT")


def check_regex_safety(pattern: str | bytes, what: str) -> None:
    """Refuse nested repetition (``(a+)+``) and repeated alternation (``(a|ab)*``).

    Both can backtrack exponentially in a backtracking engine such as Python's ``re``.
    Possessive quantifiers and atomic groups never backtrack, so they are allowed.
    Polynomial cases (``\\w*\\w*x``) are not caught here; the built-in rules are also
    tested against adversarial inputs.
    """
    import re._parser as sre_parse  # the parser ``re`` itself uses; no public equivalent

    text = pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern
    try:
        tree = sre_parse.parse(text)
    except re.error as error:
        raise GateError(f"{what}: invalid regex: {error}") from error
    problem = _unsafe_part(tree, inside_repeat=False)
    if problem:
        raise UnsafeRegexError(f"{what}: {problem} may backtrack catastrophically; bound or remove it")


def _unsafe_part(tree: object, *, inside_repeat: bool) -> str | None:
    for op, arg in tree:  # type: ignore[attr-defined]
        name = str(op)
        if name in _REPEATS:
            _low, high, body = arg
            repeats = high > 1
            if repeats and inside_repeat:
                return "a repetition inside a repetition"
            found = _unsafe_part(body, inside_repeat=inside_repeat or repeats)
            if found:
                return found
        elif name == "BRANCH":
            if inside_repeat:
                return "an alternation inside a repetition"
            for branch in arg[1]:
                found = _unsafe_part(branch, inside_repeat=inside_repeat)
                if found:
                    return found
        elif name == "SUBPATTERN":
            found = _unsafe_part(arg[-1], inside_repeat=inside_repeat)
            if found:
                return found
        elif name in ("ASSERT", "ASSERT_NOT"):
            found = _unsafe_part(arg[1], inside_repeat=inside_repeat)
            if found:
                return found
        elif name in ("POSSESSIVE_REPEAT", "ATOMIC_GROUP"):
            # never backtracked into once matched: safe inside a repetition, but check their body
            found = _unsafe_part(arg[-1] if name == "POSSESSIVE_REPEAT" else arg, inside_repeat=False)
            if found:
                return found
    return None
