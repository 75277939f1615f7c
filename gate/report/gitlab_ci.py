"""GitLab CI: collapsible log sections, and where report files go (``$CI_PROJECT_DIR``)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path

_SECTION_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def active(env: Mapping[str, str]) -> bool:
    return env.get("GITLAB_CI") == "true"


def project_dir(env: Mapping[str, str]) -> Path | None:
    """Where GitLab looks for report artifacts by default."""
    directory = env.get("CI_PROJECT_DIR")
    return Path(directory) if directory else None


def section_name(title: str) -> str:
    """A section id GitLab accepts (letters, digits, ``_ . -``), unique enough per stage."""
    return "gate_" + _SECTION_NAME.sub("_", title)[:60]


def section_start(name: str, title: str, *, collapsed: bool = True) -> str:
    options = "[collapsed=true]" if collapsed else ""
    header = _CONTROL.sub(" ", title)  # the header is shown raw: no escape may end the marker early
    return f"\x1b[0Ksection_start:{int(time.time())}:{name}{options}\r\x1b[0K{header}"


def section_end(name: str) -> str:
    return f"\x1b[0Ksection_end:{int(time.time())}:{name}\r\x1b[0K"
