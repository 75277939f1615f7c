"""Rules of the code base that no linter enforces on its own."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    path for folder in ("gate", "tests", "benchmarks") for path in (ROOT / folder).rglob("*.py")
)
# written in two parts so that this file does not match itself
TYPE_IGNORE = "type:" + " ignore"
NOQA = "no" + "qa"
REASONED_IGNORE = re.compile(r"# " + TYPE_IGNORE + r"\[[a-z0-9, -]+\]\s+#\s*\S")
REASONED_NOQA = re.compile(r"# " + NOQA + r": [A-Z0-9, ]+?\s*(-|#|\()\s*\S")


def _lines_with(marker: str) -> list[tuple[str, int, str]]:
    return [
        (str(path.relative_to(ROOT)), number, line.strip())
        for path in SOURCES
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if marker in line
    ]


def test_every_type_ignore_names_its_code_and_says_why() -> None:
    bare = [hit for hit in _lines_with(TYPE_IGNORE) if not REASONED_IGNORE.search(hit[2])]
    assert bare == [], "write `# type: ignore[code]  # why` on the line"


def test_every_noqa_names_its_code_and_says_why() -> None:
    bare = [hit for hit in _lines_with("# " + NOQA) if not REASONED_NOQA.search(hit[2])]
    assert bare == [], "write `# noqa: CODE - why` on the line"


def test_the_rules_catch_bare_ignores() -> None:
    assert not REASONED_IGNORE.search("x = f()  # " + TYPE_IGNORE + "[arg-type]")
    assert REASONED_IGNORE.search("x = f()  # " + TYPE_IGNORE + "[arg-type]  # the stub is wrong")
    assert not REASONED_NOQA.search("import x  # " + NOQA + ": E402")
    assert REASONED_NOQA.search("import x  # " + NOQA + ": E402 - path set up above")
