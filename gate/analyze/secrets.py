"""Find secrets in every layer's files, in the image config and in the build history.

Every regular file of every layer is scanned, including files that later layers delete or
overwrite (they are still in the image for anyone who pulls it). Noise control: binary
files (sniffed, not judged by name), files installed by OS packages (unless a later layer
changed them), test/fixture directories of installed language packages (unless
``secrets_all``), and at most ``max_file_bytes`` per file. Inside installed language
packages only the precise rules run: the heuristic ones find nothing there but the examples
of public code.

Nothing here logs, prints or stores a secret: findings carry only the redacted form.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from gate.analyze.archives import MAX_ARCHIVE_BYTES, NotAnArchive, archive_members, is_archive
from gate.analyze.model import AnalysisOptions, SecretFinding, SecretStats, redact
from gate.analyze.rules import RuleSet, SecretRule
from gate.analyze.validators import is_placeholder
from gate.errors import GateError
from gate.image.filesystem import FileEntry, FileSystem
from gate.image.manifest import ImageConfig
from gate.model import Catalog
from gate.severity import Severity

SNIFF_BYTES = 8192
SMALL_FILE = 256 * 1024
MAX_CONTROL_RATIO = 0.05  # share of non-text control bytes above which text is binary
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\b\x1b")
_CONTROL_BYTES = bytes(b for b in range(32) if b not in _TEXT_CONTROLS) + b"\x7f"

PACKAGE_ROOTS = frozenset(
    {"site-packages", "dist-packages", "node_modules", "gems", "vendor", "bower_components"}
)
TEST_DIRS = frozenset(
    {
        "test",
        "tests",
        "testing",
        "testdata",
        "test_data",
        "fixture",
        "fixtures",
        "__tests__",
        "__fixtures__",
        "__mocks__",
        "spec",
        "specs",
        "example",
        "examples",
    }
)
_PACKAGE_ROOT = re.compile("(?:^|/)(?:" + "|".join(sorted(map(re.escape, PACKAGE_ROOTS))) + ")/")
AWS_PAIR = ("aws-access-key-id", "aws-secret-access-key")


@dataclass(frozen=True)
class Hit:
    """One match in a piece of text, before it is tied to a file or config field."""

    rule: SecretRule
    start: int
    end: int
    line: int
    severity: Severity
    redacted: str
    note: str


def looks_binary(head: bytes) -> bool:
    """NUL bytes or many control characters in the first bytes: not text (git's heuristic, widened)."""
    if b"\x00" in head:
        return True
    if not head:
        return False
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls / len(head) > MAX_CONTROL_RATIO


def scan_text(data: bytes, rules: RuleSet, name: str = "", *, in_package: bool = False) -> list[Hit]:
    """Every rule's matches in ``data`` (a file called ``name``), overlaps resolved by priority.

    ``in_package``: the file belongs to an installed language package, where heuristic rules
    (``in_packages=False``) only find the examples of public code.
    """
    hits: list[Hit] = []
    claimed = _Spans()
    lowered = data.lower()
    for rule, starts in rules.index.candidates(lowered, name, in_package=in_package):
        text = lowered if rule.lowered else data
        matches = _anchored_matches(rule.regex, text, starts) if rule.anchored else rule.regex.finditer(text)
        for match in matches:
            hit = _accept(rule, match, data, rules, name)
            if hit and claimed.claim(hit.start, hit.end):
                hits.append(hit)
    return _pair_aws_keys(_with_lines(hits, data))


def _anchored_matches(regex: re.Pattern[bytes], text: bytes, starts: list[int]) -> Iterator[re.Match[bytes]]:
    """Non-overlapping matches tried only where the rule's keywords start (as finditer would find)."""
    end = 0
    for start in starts:
        if start < end:
            continue
        match = regex.match(text, start)
        if match:
            end = max(match.end(), start + 1)
            yield match


class _Spans:
    """Disjoint claimed ranges, sorted: an earlier (higher-priority) rule's match hides overlaps."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def claim(self, start: int, end: int) -> bool:
        index = bisect.bisect_right(self._starts, start)
        if index and self._ends[index - 1] > start:
            return False
        if index < len(self._starts) and self._starts[index] < end:
            return False
        self._starts.insert(index, start)
        self._ends.insert(index, end)
        return True


def _with_lines(hits: list[Hit], data: bytes) -> list[Hit]:
    """Line numbers, counted in one pass over the text however many hits there are."""
    numbered, line, position = [], 1, 0
    for hit in sorted(hits, key=lambda h: h.start):
        line += data.count(b"\n", position, hit.start)
        position = hit.start
        numbered.append(replace(hit, line=line))
    return numbered


def _accept(rule: SecretRule, match: re.Match[bytes], data: bytes, rules: RuleSet, name: str) -> Hit | None:
    group = "secret" if "secret" in match.re.groupindex else 0
    start, end = match.span(group)
    value = data[start:end].decode("utf-8", "replace")
    if rule.placeholders and is_placeholder(value):
        return None
    if rules.value_allowed(value):
        return None
    severity, note, shown = rule.severity, "", value
    if rule.validate is not None:
        verdict = rule.validate(value, match, data, name)
        if verdict is None:
            return None
        severity = verdict.severity or severity
        note, shown = verdict.note, verdict.shown or value
    return Hit(rule, start, end, 0, severity, redact(shown), note)


def _pair_aws_keys(hits: list[Hit]) -> list[Hit]:
    """An access key id next to a secret key is a usable credential: both become critical."""
    found = {hit.rule.id for hit in hits}
    if not all(rule_id in found for rule_id in AWS_PAIR):
        return hits
    paired = []
    for hit in hits:
        if hit.rule.id in AWS_PAIR:
            hit = replace(hit, severity=Severity.CRITICAL, note="paired key id and secret")
        paired.append(hit)
    return paired


def owned_files(fs: FileSystem, catalog: Catalog) -> dict[str, int]:
    """Real path of each OS-package-owned file -> the last layer that recorded its package."""
    owned: dict[str, int] = {}
    for package in catalog.packages:
        if package.type not in ("deb", "apk", "rpm") or not package.locations:
            continue
        layer = max(location.layer_index for location in package.locations)
        for path in package.files:
            real = fs.resolve(path)
            owned[real] = max(owned.get(real, -1), layer)
    return owned


def package_part(path: str) -> tuple[bool, bool]:
    """(inside an installed language package, inside one of its test/fixture directories).

    ``.../site-packages/foo/tests/x.py`` -> (True, True); ``/app/tests/x.py`` -> (False, False).
    """
    root = _PACKAGE_ROOT.search(path)
    if root is None:
        return False, False
    return True, any(part in TEST_DIRS for part in path[root.end() :].split("/")[:-1])


def scan_filesystem(
    fs: FileSystem,
    rules: RuleSet,
    options: AnalysisOptions,
    owned: dict[str, int],
    stats: SecretStats,
    problems: list[str],
    notes: list[str],
) -> list[SecretFinding]:
    """Scan every regular file of every layer (deleted and overwritten ones included)."""
    findings: list[SecretFinding] = []
    for entry, visible in fs.all_layer_files():
        in_package, in_tests = package_part(entry.path)
        if not _should_scan(entry, rules, options, owned, stats, in_tests):
            continue
        try:
            if is_archive(entry.path) and entry.size <= MAX_ARCHIVE_BYTES:
                archived = _scan_archive(fs, entry, visible, rules, options, stats, in_package, problems)
                if archived is not None:
                    findings.extend(archived)
                    continue
            data = _read_text(fs, entry, options.max_file_bytes, stats)
        except GateError as error:
            problems.append(
                f"secrets: cannot read /{entry.path} (layer {entry.layer_index}): {error.message}"
            )
            continue
        if data is None:
            continue
        for hit in scan_text(data, rules, entry.path.rpartition("/")[2], in_package=in_package):
            findings.append(_file_finding(hit, entry, visible))
    if stats.truncated:
        notes.append(
            f"secrets: {stats.truncated} file(s) larger than {options.max_file_bytes} bytes "
            "were scanned only up to that size"
        )
    return findings


def _scan_archive(
    fs: FileSystem,
    entry: FileEntry,
    visible: bool,
    rules: RuleSet,
    options: AnalysisOptions,
    stats: SecretStats,
    in_package: bool,
    problems: list[str],
) -> list[SecretFinding] | None:
    """Findings in the members of an archive file; None when the file is no archive after all.

    An archive that hits a bound or is damaged part way is a problem (the analysis could not
    read all of it), and what was found in the members read before stays reported.
    """
    findings: list[SecretFinding] = []
    data = fs.read_bytes(entry, limit=MAX_ARCHIVE_BYTES)
    members = archive_members(data, "/" + entry.path, limit=options.max_file_bytes, is_text=_is_text)
    try:
        for member in members:
            if member.data is None:
                stats.skipped_binary += 1
                continue
            stats.files_scanned += 1
            stats.bytes_scanned += len(member.data)
            stats.truncated += member.size > len(member.data)
            name = member.path.rpartition("/")[2]
            for hit in scan_text(member.data, rules, name, in_package=in_package):
                findings.append(replace(_file_finding(hit, entry, visible), path=member.path))
    except NotAnArchive:
        return None
    except ValueError as error:  # ArchiveLimitError included
        problems.append(f"secrets: cannot read all of /{entry.path} (layer {entry.layer_index}): {error}")
    return findings


def _is_text(head: bytes) -> bool:
    return not looks_binary(head)


def _should_scan(
    entry: FileEntry,
    rules: RuleSet,
    options: AnalysisOptions,
    owned: dict[str, int],
    stats: SecretStats,
    in_tests: bool,
) -> bool:
    if entry.size == 0:
        return False
    if entry.layer_index <= owned.get(entry.path, -1):
        stats.skipped_package_owned += 1
        return False
    if not options.secrets_all and in_tests:
        stats.skipped_test_dirs += 1
        return False
    if rules.allow_paths and rules.path_allowed("/" + entry.path):
        stats.skipped_allowlisted += 1
        return False
    return True


def _read_text(fs: FileSystem, entry: FileEntry, limit: int, stats: SecretStats) -> bytes | None:
    # small files are read once; a large one is sniffed first, so big binaries are not read whole
    head = fs.read_bytes(entry, limit=min(limit, SMALL_FILE if entry.size <= SMALL_FILE else SNIFF_BYTES))
    if looks_binary(head[:SNIFF_BYTES]):
        stats.skipped_binary += 1
        return None
    data = head if entry.size <= len(head) else fs.read_bytes(entry, limit=limit)
    if entry.size > limit:
        stats.truncated += 1
    stats.files_scanned += 1
    stats.bytes_scanned += len(data)
    return data


def _file_finding(hit: Hit, entry: FileEntry, visible: bool) -> SecretFinding:
    return SecretFinding(
        rule_id=hit.rule.id,
        title=hit.rule.title,
        severity=hit.severity,
        path="/" + entry.path,
        redacted=hit.redacted,
        line=hit.line,
        layer_index=entry.layer_index,
        layer_digest=entry.layer_digest,
        visible=visible,
        note=hit.note,
    )


@dataclass(frozen=True)
class ConfigText:
    """A piece of the image config to scan, named as findings show it."""

    where: str
    text: str
    layer_index: int | None = None


def config_texts(config: ImageConfig) -> Iterator[ConfigText]:
    """Env entries, labels, Cmd/Entrypoint and history lines (with the layer each step made)."""
    for item in config.env:
        yield ConfigText(f"config.Env[{item.split('=', 1)[0]}]", item)
    for key, value in sorted(config.labels.items()):
        yield ConfigText(f"config.Labels[{key}]", f"{key}={value}")
    if config.entrypoint:
        yield ConfigText("config.Entrypoint", " ".join(config.entrypoint))
    if config.cmd:
        yield ConfigText("config.Cmd", " ".join(config.cmd))
    layer = 0
    for index, step in enumerate(config.history):
        made_layer = None if step.empty_layer else layer
        text = "\n".join(part for part in (step.created_by, step.comment) if part)
        yield ConfigText(f"history[{index}]", text, made_layer)
        if not step.empty_layer:
            layer += 1


def scan_config(config: ImageConfig, rules: RuleSet, layer_digests: list[str]) -> list[SecretFinding]:
    """Secrets in the config: pairing (AWS) is judged across the whole config."""
    pieces = list(config_texts(config))
    text = "\n".join(piece.text for piece in pieces)  # one text, so key id and secret pair up
    starts = _piece_starts(pieces)
    findings = []
    for hit in scan_text(text.encode("utf-8", "surrogateescape"), rules):
        piece = _piece_at(pieces, starts, hit.line)
        index = piece.layer_index
        digest = layer_digests[index] if index is not None and index < len(layer_digests) else None
        findings.append(
            SecretFinding(
                rule_id=hit.rule.id,
                title=hit.rule.title,
                severity=hit.severity,
                path=piece.where,
                redacted=hit.redacted,
                layer_index=index if digest else None,
                layer_digest=digest,
                note=hit.note,
            )
        )
    return findings


def _piece_starts(pieces: Iterable[ConfigText]) -> list[int]:
    """The first line number (1-based) of each piece in the joined text."""
    starts, line = [], 1
    for piece in pieces:
        starts.append(line)
        line += piece.text.count("\n") + 1
    return starts


def _piece_at(pieces: list[ConfigText], starts: list[int], line: int) -> ConfigText:
    import bisect

    return pieces[bisect.bisect_right(starts, line) - 1]
