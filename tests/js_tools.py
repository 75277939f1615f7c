"""The npm tools the tests run, pinned in tests/js (package.json + package-lock.json).

``npm ci`` installs them into a temporary directory once per session (node_modules never lands
in the repository): npm @sigstore/verify, the independent verifier of keyless bundles, and
gitlab-ci-local, which runs the GitLab templates' jobs. node and npm are required: without
them the tests that use these tools fail, they do not skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).parent / "js"
INSTALL_HINT = "install node and npm (apt-get install nodejs npm); the tests run `npm ci` in tests/js"


def npm_ci(work: Path) -> Path:
    """tests/js copied to ``work`` and installed exactly as its lockfile says; returns ``work``."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.fail(f"node and npm are required: {INSTALL_HINT}", pytrace=False)
    for source in JS.iterdir():
        if source.is_file():
            shutil.copy(source, work / source.name)
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=work, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"npm ci in tests/js failed: {result.stderr[-2000:]}", pytrace=False)
    return work
