"""The Composer cataloger: a vendor tree written by the real ``composer`` checked against
``composer show``, and syft's Composer 1 and 2 fixtures (see fixtures/php/NOTICE.md).

Packagist is not reachable here, so the packages Composer installs come from local path
repositories; their composer.json files are made up, but ``vendor/composer/installed.json``
is Composer's own output. ``composer`` must be installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gate.catalog import catalog_filesystem, php
from gate.image.rootfs import DirFileSystem
from gate.model import Catalog

FIXTURES = Path(__file__).parent / "fixtures" / "php"
APP = "var/www/app"
LIBRARIES: dict[str, dict[str, Any]] = {
    "acme/lib-a": {"version": "1.2.0", "license": "MIT", "require": {"php": ">=7.4", "acme/lib-b": "^2.0"}},
    "acme/lib-b": {"version": "2.0.1", "license": ["Apache-2.0", "MIT"]},
    "acme/tool": {"version": "0.3.0", "license": "BSD-3-Clause"},
}


def composer(*args: str, cwd: Path) -> str:
    binary = shutil.which("composer")
    assert binary, "composer is not installed (apt-get install composer)"
    environment = {**os.environ, "COMPOSER_ALLOW_SUPERUSER": "1", "COMPOSER_HOME": str(cwd / ".composer")}
    done = subprocess.run(
        [binary, *args, "--no-interaction"],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env=environment,
    )
    return done.stdout


def shown(project: Path, *extra: str) -> set[tuple[str, str]]:
    listing = json.loads(composer("show", "--format=json", *extra, cwd=project))
    return {(item["name"], item["version"]) for item in listing["installed"]}


@pytest.fixture(scope="module")
def composer_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("composer-root")
    sources = root.parent / f"{root.name}-sources"
    for name, manifest in LIBRARIES.items():
        (sources / name).mkdir(parents=True)
        (sources / name / "composer.json").write_text(json.dumps({"name": name, **manifest}))
    project = root / APP
    project.mkdir(parents=True)
    repositories = [
        {"type": "path", "url": f"{sources}/*/*", "options": {"symlink": False}},
        {"packagist.org": False},
    ]
    manifest = {
        "name": "acme/app",
        "repositories": repositories,
        "require": {"acme/lib-a": "^1.2"},
        "require-dev": {"acme/tool": "^0.3"},
    }
    (project / "composer.json").write_text(json.dumps(manifest))
    composer("install", "--no-scripts", "--no-progress", cwd=project)
    return root


@pytest.fixture(scope="module")
def composer_catalog(composer_root: Path) -> Catalog:
    return catalog_filesystem(DirFileSystem(composer_root), catalogers=php.CATALOGERS)


def test_composer_vendor_matches_composer_show(composer_root: Path, composer_catalog: Catalog) -> None:
    project = composer_root / APP
    truth = shown(project)
    assert truth == {("acme/lib-a", "1.2.0"), ("acme/lib-b", "2.0.1"), ("acme/tool", "0.3.0")}
    assert {(p.name, p.version) for p in composer_catalog.packages} == truth
    dev_only = truth - shown(project, "--no-dev")
    assert {
        (p.name, p.version) for p in composer_catalog.packages if ("dev", "true") in p.metadata
    } == dev_only
    assert composer_catalog.unknowns == ()


def test_composer_package_fields(composer_catalog: Catalog) -> None:
    packages = {p.name: p for p in composer_catalog.packages}
    lib_a = packages["acme/lib-a"]
    assert lib_a.purl == "pkg:composer/acme/lib-a@1.2.0"
    assert (lib_a.type, lib_a.ecosystem, lib_a.found_by) == (
        "composer",
        "Packagist",
        "php-composer-installed-cataloger",
    )
    assert lib_a.dependencies == ("acme/lib-b",)  # "php" is a platform requirement
    assert lib_a.locations[0].path == f"/{APP}/vendor/composer/installed.json"
    assert packages["acme/lib-b"].licenses == ("Apache-2.0", "MIT")


@pytest.mark.parametrize("fixture", ["composer_1", "composer_2"])
def test_syft_installed_json(tmp_path: Path, fixture: str) -> None:
    target = tmp_path / "app/vendor/composer/installed.json"
    target.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "syft" / fixture / "installed.json", target)
    catalog = catalog_filesystem(DirFileSystem(tmp_path), catalogers=php.CATALOGERS)
    assert [(p.name, p.version, p.purl, p.licenses) for p in catalog.packages] == [
        ("asm89/stack-cors", "1.3.0", "pkg:composer/asm89/stack-cors@1.3.0", ("MIT",)),
        ("behat/mink", "v1.8.1", "pkg:composer/behat/mink@v1.8.1", ("MIT",)),
    ]
    cors, mink = catalog.packages
    assert cors.dependencies == ("symfony/http-foundation", "symfony/http-kernel")
    # only Composer 2 records which packages are dev-only
    assert (("dev", "true") in mink.metadata) is (fixture == "composer_2")
    assert ("dev", "true") not in cors.metadata


def test_bad_installed_json(tmp_path: Path) -> None:
    for app, content in (("a", b"{not json"), ("b", b'{"dev": true}'), ("c", b"[" * 50_000)):
        target = tmp_path / app / "vendor/composer/installed.json"
        target.parent.mkdir(parents=True)
        target.write_bytes(content)
    good = tmp_path / "d/vendor/composer/installed.json"
    good.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "syft/composer_2/installed.json", good)
    catalog = catalog_filesystem(DirFileSystem(tmp_path), catalogers=php.CATALOGERS)
    assert len(catalog.packages) == 2
    assert sorted(u.path for u in catalog.unknowns) == [
        f"/{app}/vendor/composer/installed.json" for app in ("a", "b", "c")
    ]
