"""Severity of an OSV record for one package: CVSS vectors scored, qualitative fallbacks.

Order of evidence: CVSS vectors on the matched ``affected[]`` entry, then the record's
top-level vectors (the newest CVSS version present wins: v4, then v3.x, then v2), then a
qualitative word from ``database_specific.severity`` (entry, then record), Ubuntu's
priority, Debian's urgency (``ecosystem_specific.urgency``), and the Red Hat style word
AlmaLinux and Rocky put in front of their summaries ("Important: ..."). Scores come from the
``cvss`` package (FIRST's reference formulas).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any


class Severity(enum.IntEnum):
    """One scale for vulnerabilities, secrets and configuration findings; higher is worse.

    ``INFO`` is also CVSS's "None" band (score 0.0); ``UNKNOWN`` is a vulnerability no source
    rates, which thresholds treat as failing (a gate cannot pass what it cannot rate).
    """

    UNKNOWN = 0
    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """``critical``/``high``/``medium``/``low``/``info`` (any case) -> Severity; ValueError."""
        try:
            level = cls[text.strip().upper()]
        except KeyError:
            level = cls.UNKNOWN
        if level is cls.UNKNOWN:
            raise ValueError(f"{text!r} is not one of {', '.join(SEVERITY_CHOICES)}")
        return level


SEVERITY_CHOICES = ("critical", "high", "medium", "low", "info")


@dataclass(frozen=True, slots=True)
class Rating:
    """A severity and where it came from."""

    severity: Severity
    score: float | None = None
    vector: str = ""
    source: str = ""  # "CVSS_V3", "database_specific", "Ubuntu", "Debian", "summary"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"level": self.severity.label, "source": self.source}
        if self.score is not None:
            data["score"] = self.score
        if self.vector:
            data["vector"] = self.vector
        return data


UNRATED = Rating(Severity.UNKNOWN)
_CVSS_PREFERENCE = {"CVSS_V4": 3, "CVSS_V3": 2, "CVSS_V2": 1}
_WORDS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.LOW,
    "unimportant": Severity.LOW,
    "none": Severity.INFO,
}
_SUMMARY_WORD = re.compile(r"(Critical|Important|Moderate|Low):\s")


def band(score: float) -> Severity:
    """CVSS v3.x / v4.0 qualitative severity rating scale."""
    if score == 0:
        return Severity.INFO
    if score < 4:
        return Severity.LOW
    if score < 7:
        return Severity.MEDIUM
    if score < 9:
        return Severity.HIGH
    return Severity.CRITICAL


def score_vector(kind: str, vector: str) -> Rating | None:
    """Score one OSV ``severity`` entry; None when the vector does not parse."""
    from cvss import CVSS2, CVSS3, CVSS4, CVSSError

    try:
        if kind == "CVSS_V4":
            score = float(CVSS4(vector).base_score)
        elif kind == "CVSS_V3":
            score = float(CVSS3(vector).base_score)
        elif kind == "CVSS_V2":
            score = float(CVSS2(vector).base_score)
            return Rating(_v2_band(score), score, vector, kind)
        else:
            return None
    except (CVSSError, ValueError, KeyError, IndexError):
        return None
    return Rating(band(score), score, vector, kind)


def _v2_band(score: float) -> Severity:
    return Severity.LOW if score < 4 else Severity.MEDIUM if score < 7 else Severity.HIGH


def rate(record: dict[str, Any], entry: dict[str, Any] | None = None) -> Rating:
    """The severity of ``record`` for the package of ``entry`` (an ``affected[]`` item)."""
    for holder in (entry or {}, record):
        if rating := _best_vector(holder.get("severity") or []):
            return rating
    for holder in (entry or {}, record):
        if rating := _qualitative(holder):
            return rating
    match = _SUMMARY_WORD.match(str(record.get("summary", "")))
    if match:
        return Rating(_WORDS[match.group(1).lower()], source="summary")
    return UNRATED


def _best_vector(entries: list[dict[str, Any]]) -> Rating | None:
    ranked = sorted(entries, key=lambda item: -_CVSS_PREFERENCE.get(str(item.get("type")), 0))
    for item in ranked:
        if rating := score_vector(str(item.get("type")), str(item.get("score", ""))):
            return rating
    return None


def _qualitative(holder: dict[str, Any]) -> Rating | None:
    specific = holder.get("database_specific")
    word = specific.get("severity") if isinstance(specific, dict) else None
    if isinstance(word, str) and word.strip().lower() in _WORDS:
        return Rating(_WORDS[word.strip().lower()], source="database_specific")
    for item in holder.get("severity") or []:
        if item.get("type") == "Ubuntu" and str(item.get("score", "")).lower() in _WORDS:
            return Rating(_WORDS[str(item["score"]).lower()], source="Ubuntu")
    # Per release, on an affected entry: Debian's tracker urgency, Ubuntu's priority (schema 1.6).
    # "not yet assigned" and "end-of-life" are no rating.
    specific = holder.get("ecosystem_specific")
    if isinstance(specific, dict):
        for key, source in (("urgency", "Debian"), ("ubuntu_priority", "Ubuntu")):
            word = specific.get(key)
            if isinstance(word, str) and word.strip().lower() in _WORDS:
                return Rating(_WORDS[word.strip().lower()], source=source)
    return None
