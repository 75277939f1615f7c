"""False-positive checks on real trees: zero secret findings on what a clean image contains.

* real installed PyPI and npm trees (``pip install --target`` / ``npm install
  --ignore-scripts`` of pinned popular packages, laid out where an image has them);
* a clean Debian 12 base made by ``debootstrap --variant=minbase bookworm`` (root, network,
  about a minute), packed into a one-layer OCI layout.

These need the network (and debootstrap, and root): they FAIL, never skip, without them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gate.analyze import AnalysisOptions, AnalysisResult, analyze_image
from gate.image import open_image
from tests.debian import Debootstrapped
from tests.fixtures.analyze.material import Material

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PYPI_PACKAGES = (
    "requests==2.32.3",
    "urllib3==2.3.0",
    "flask==3.0.3",
    "django==5.1.4",
    "sqlalchemy==2.0.36",
    "pyjwt==2.10.1",
    "paramiko==3.5.0",
    "boto3==1.35.90",
    "botocore==1.35.90",
)
NPM_PACKAGES = (
    "express@4.21.2",
    "axios@1.7.9",
    "jsonwebtoken@9.0.2",
    "pg@8.13.1",
    "dotenv@16.4.7",
    "mongoose@8.9.3",
)


def run(command: list[str], cwd: Path | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command[:3])} failed ({result.returncode}):\n{result.stderr[-3000:]}")


def analyze_dir(root: Path, **options: Any) -> AnalysisResult:
    with open_image(f"dir:{root}") as image, image.filesystem() as fs:
        return analyze_image(image, fs, AnalysisOptions(config=False, **options))


@pytest.fixture(scope="module")
def pypi_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sys

    root = tmp_path_factory.mktemp("pypi")
    target = root / "usr/local/lib/python3.11/site-packages"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            *PYPI_PACKAGES,
        ]
    )
    return root


@pytest.fixture(scope="module")
def npm_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: install nodejs/npm (this test never skips)")
    root = tmp_path_factory.mktemp("npm")
    app = root / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "fp-check", "version": "1.0.0", "private": true}\n')
    run(
        [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--save-exact", *NPM_PACKAGES],
        cwd=app,
    )
    return root


def test_installed_pypi_packages_have_no_secret_findings(pypi_tree: Path) -> None:
    result = analyze_dir(pypi_tree)
    assert [(f.rule_id, f.path, f.line) for f in result.secrets] == []
    assert result.problems == []
    assert result.stats.files_scanned > 3000  # the whole tree was read, not skipped


def test_installed_npm_packages_have_no_secret_findings(npm_tree: Path) -> None:
    result = analyze_dir(npm_tree)
    assert [(f.rule_id, f.path, f.line) for f in result.secrets] == []
    assert result.problems == []
    assert result.stats.files_scanned > 1000


def test_a_token_planted_in_an_installed_package_is_still_found(npm_tree: Path) -> None:
    """The quiet result above comes from precise rules, not from skipping packages."""
    token = Material(12).github_token()
    planted = npm_tree / "app/node_modules/express/lib/deploy.js"
    planted.write_text(f"const token = '{token}';\n")
    try:
        result = analyze_dir(npm_tree)
    finally:
        planted.unlink()
    assert [(f.rule_id, f.path) for f in result.secrets] == [
        ("github-token", "/app/node_modules/express/lib/deploy.js")
    ]


@pytest.fixture(scope="module")
def debian_layout(debian_bookworm: Debootstrapped) -> Path:
    return debian_bookworm.layout


def test_clean_debian_base_has_no_secret_findings(debian_layout: Path) -> None:
    with open_image(f"oci:{debian_layout}:bookworm") as image, image.filesystem() as fs:
        result = analyze_image(image, fs, AnalysisOptions(secrets_all=True))
    assert [(f.rule_id, f.path, f.line) for f in result.secrets] == []
    assert result.problems == []
    assert result.stats.skipped_package_owned > 2000  # dpkg's file lists, resolved through usrmerge
    config_ids = {f.rule_id for f in result.config}
    # a base image is a root, shell-equipped image with apt: what minimal-image policies look for
    assert {"root-user", "shell-present", "package-manager-present", "no-healthcheck"} <= config_ids
    assert not config_ids & {
        "setuid-added",
        "ssh-server-installed",
        "sudo-installed",
        "world-writable-in-path",
    }


def test_clean_debian_base_scanned_without_package_ownership_is_still_clean(debian_layout: Path) -> None:
    """Even the files dpkg owns hold nothing that looks like a secret (no shipped test keys)."""
    from gate.model import Catalog

    with open_image(f"oci:{debian_layout}:bookworm") as image, image.filesystem() as fs:
        result = analyze_image(image, fs, AnalysisOptions(config=False), catalog=Catalog((), None))
    assert [(f.rule_id, f.path, f.line) for f in result.secrets] == []
    assert result.stats.files_scanned > 1500  # every text file, dpkg-owned ones included
