"""What the analyzers report: secret and configuration findings, and the options they take.

A :class:`SecretFinding` never holds the secret: only a redacted form (its first four
characters, then ``*``), so no output, log or report built from findings can leak it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from gate.severity import Severity

REDACTED_VISIBLE = 4
REDACTED_MASK = "*" * 8  # fixed length: the mask does not reveal how long the secret is


def redact(secret: str) -> str:
    """``ghp_********``: the first four characters, then a fixed mask.

    A short secret shows at most a third of itself (a 6-character password shows 2).
    """
    return secret[: min(REDACTED_VISIBLE, len(secret) // 3)] + REDACTED_MASK


@dataclass(frozen=True, slots=True)
class SecretFinding:
    """A secret found in a file of some layer, in the image config or in the history.

    ``path`` is image-absolute for files (``/app/.env``) or names the config field
    (``config.Env[DB_PASSWORD]``, ``config.Labels[key]``, ``config.Cmd``, ``history[3]``).
    ``visible`` is False for a file deleted or overwritten by a later layer (still in the image).
    """

    rule_id: str
    title: str
    severity: Severity
    path: str
    redacted: str
    line: int | None = None
    layer_index: int | None = None
    layer_digest: str | None = None
    visible: bool = True
    note: str = ""  # why the severity is what it is (encrypted key, paired AWS key, ...)

    def to_dict(self) -> dict[str, object]:
        return {
            "ruleId": self.rule_id,
            "title": self.title,
            "severity": self.severity.label,
            "path": self.path,
            "line": self.line,
            "layerIndex": self.layer_index,
            "layerDigest": self.layer_digest,
            "visible": self.visible,
            "match": self.redacted,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class ConfigFinding:
    """A risky configuration of the image, with the evidence that shows it."""

    rule_id: str
    title: str
    severity: Severity
    explanation: str
    evidence: tuple[str, ...]
    layer_digest: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "ruleId": self.rule_id,
            "title": self.title,
            "severity": self.severity.label,
            "explanation": self.explanation,
            "evidence": list(self.evidence),
            "layerDigest": self.layer_digest,
        }


@dataclass(frozen=True)
class AnalysisOptions:
    """What to analyse and how; the defaults suit a CI gate."""

    secrets: bool = True
    config: bool = True
    secrets_all: bool = False  # also scan test/fixture directories of installed packages
    rules_file: Path | None = None  # YAML rule tuning (see docs/analyzers.md)
    max_file_bytes: int = 2 * 1024 * 1024  # bytes read per file; the rest is not scanned
    max_age_days: int = 90
    base_layers: int | None = None  # layers [0, n) are the base image; None: guess (see config.py)
    now: datetime.datetime | None = None  # the clock for the age check (tests pin it)


@dataclass
class SecretStats:
    """How much was scanned and why files were skipped (reported, so nothing is skipped silently)."""

    files_scanned: int = 0
    bytes_scanned: int = 0
    skipped_binary: int = 0
    skipped_package_owned: int = 0
    skipped_test_dirs: int = 0
    skipped_allowlisted: int = 0
    truncated: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "filesScanned": self.files_scanned,
            "bytesScanned": self.bytes_scanned,
            "skippedBinary": self.skipped_binary,
            "skippedPackageOwned": self.skipped_package_owned,
            "skippedTestDirs": self.skipped_test_dirs,
            "skippedAllowlisted": self.skipped_allowlisted,
            "truncated": self.truncated,
        }


@dataclass
class AnalysisResult:
    secrets: list[SecretFinding] = field(default_factory=list)
    config: list[ConfigFinding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what could not be analysed: fail closed on these
    notes: list[str] = field(default_factory=list)  # limits applied (caps, checks that do not apply)
    stats: SecretStats = field(default_factory=SecretStats)
