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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache

from gate.errors import GateError
from gate.severity import Severity


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
    anchored: bool = False  # a match always starts where a keyword does: try only there

    def applies_to(self, name: str) -> bool:
        return not self.paths or _glob_regex(self.paths).fullmatch(name) is not None


@lru_cache(maxsize=256)
def _glob_regex(globs: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs))


@dataclass(frozen=True)
class RuleSet:
    """The rules in priority order, plus the allowlists of a tuning file."""

    rules: tuple[SecretRule, ...]
    allow_paths: tuple[str, ...] = ()  # image-path globs never scanned
    allow_values: tuple[re.Pattern[str], ...] = ()  # secret values never reported

    @cached_property
    def index(self) -> RuleIndex:
        return RuleIndex(self.rules)

    def path_allowed(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, glob) for glob in self.allow_paths)

    def value_allowed(self, value: str) -> bool:
        return any(pattern.search(value) for pattern in self.allow_values)


class RuleIndex:
    """Which rules to run on a file: one Aho-Corasick pass finds the keywords present.

    Rules are bits of an int in priority order; each keyword maps to the rules it triggers,
    so picking the candidates for a file is a few integer ORs, not a loop over every rule.
    """

    def __init__(self, rules: tuple[SecretRule, ...]) -> None:
        import ahocorasick_rs

        self.rules = rules
        self.keywords = sorted({k for rule in rules for k in (*rule.keywords, *rule.requires)})
        position = {keyword: i for i, keyword in enumerate(self.keywords)}
        self._automaton = ahocorasick_rs.BytesAhoCorasick(self.keywords) if self.keywords else None
        self._triggers = [0] * len(self.keywords)
        for bit, rule in enumerate(rules):
            for keyword in rule.keywords:
                self._triggers[position[keyword]] |= 1 << bit
        self._required = [frozenset(position[k] for k in rule.requires) for rule in rules]
        self._own_keywords = [frozenset(position[k] for k in rule.keywords) for rule in rules]
        self._always = _mask(rules, lambda rule: not rule.keywords)
        self._heuristic = _mask(rules, lambda rule: not rule.in_packages)
        self._limited = [(bit, rule) for bit, rule in enumerate(rules) if rule.paths]

    def candidates(
        self, lowered: bytes, name: str, *, in_package: bool
    ) -> Iterator[tuple[SecretRule, list[int]]]:
        """Rules to run, in priority order, each with where its keywords start (for anchored rules)."""
        matches = (
            self._automaton.find_matches_as_indexes(lowered, overlapping=True) if self._automaton else []
        )
        present = {index for index, _start, _end in matches}
        wanted = self._always
        for index in present:
            wanted |= self._triggers[index]
        for bit, rule in self._limited:
            if wanted >> bit & 1 and not rule.applies_to(name):
                wanted &= ~(1 << bit)
        if in_package:
            wanted &= ~self._heuristic
        while wanted:
            bit = (wanted & -wanted).bit_length() - 1
            wanted &= wanted - 1
            if self._required[bit] <= present:
                rule = self.rules[bit]
                own = self._own_keywords[bit]
                starts = (
                    sorted(start for index, start, _end in matches if index in own) if rule.anchored else []
                )
                yield rule, starts


def _mask(rules: tuple[SecretRule, ...], chosen: Callable[[SecretRule], bool]) -> int:
    return sum(1 << bit for bit, rule in enumerate(rules) if chosen(rule))


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
    import re._parser as sre_parse  # type: ignore[import-not-found]  # re's own parser (no public equivalent) has no stubs

    text = pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern
    try:
        tree = sre_parse.parse(text)
    except re.error as error:
        raise GateError(f"{what}: invalid regex: {error}") from error
    problem = _unsafe_part(tree, inside_repeat=False)
    if problem:
        raise UnsafeRegexError(f"{what}: {problem} may backtrack catastrophically; bound or remove it")


def _unsafe_part(tree: object, *, inside_repeat: bool) -> str | None:
    for op, arg in tree:  # type: ignore[attr-defined]  # a re._parser SubPattern, which has no stubs
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
