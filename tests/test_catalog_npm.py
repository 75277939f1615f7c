"""The npm catalogers: a real ``npm install`` tree and real lockfiles checked against ``npm ls``,
upstream lockfile fixtures (syft, osv-scalibr; see fixtures/npm/NOTICE.md), layers, bad input.

The real trees need the npm registry (or the one npm is configured with) and ``npm`` on PATH;
without them the fixtures fail.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gate.catalog import catalog_filesystem, npm
from gate.image.build import LayerBuilder, build_image, layer_from_directory
from gate.image.image import open_image
from gate.image.layout import OciLayout
from gate.image.rootfs import DirFileSystem
from gate.model import Catalog

FIXTURES = Path(__file__).parent / "fixtures" / "npm"
APP = "srv/app"
DIRECT = ["express@4.18.2", "@babel/code-frame@7.23.5", "debug@4.3.4"]
DECLARED = ("evidence", "declared")


def run_npm(*args: str, cwd: Path) -> str:
    npm_binary = shutil.which("npm")
    assert npm_binary, "npm is not installed (apt-get install npm)"
    environment = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
    done = subprocess.run(
        [npm_binary, *args], cwd=cwd, check=True, capture_output=True, text=True, env=environment
    )
    return done.stdout


def npm_ls(project: Path, *extra: str) -> dict[str, Any]:
    return json.loads(run_npm("ls", "--all", "--json", "--long", *extra, cwd=project))


def tree_nodes(node: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(path, name, version) of every dependency in an ``npm ls --json --long`` tree."""
    found = set()
    for child in (node.get("dependencies") or {}).values():
        if "version" in child:  # {} is an optional peer dependency that is not installed
            found.add((child.get("path", ""), child["name"], child["version"]))
            found |= tree_nodes(child)
    return found


def catalog_dir(root: Path) -> Catalog:
    return catalog_filesystem(DirFileSystem(root), catalogers=npm.CATALOGERS)


def name_versions(catalog: Catalog) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in catalog.packages}


# -- a real installed tree --------------------------------------------------------------------


@pytest.fixture(scope="module")
def npm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("npm-root")
    project = root / APP
    project.mkdir(parents=True)
    (project / "package.json").write_text(json.dumps({"name": "app", "version": "1.0.0", "private": True}))
    run_npm("install", "--ignore-scripts", "--no-audit", "--save-exact", *DIRECT, cwd=project)
    return root


@pytest.fixture(scope="module")
def npm_catalog(npm_root: Path) -> Catalog:
    return catalog_dir(npm_root)


def test_installed_tree_matches_npm_ls_exactly(npm_root: Path, npm_catalog: Catalog) -> None:
    project = npm_root / APP
    truth = {
        (str(Path(path).relative_to(npm_root)), name, version)
        for path, name, version in tree_nodes(npm_ls(project))
    }
    found = {
        (p.locations[0].path.removeprefix("/").removesuffix("/package.json"), p.name, p.version)
        for p in npm_catalog.packages
    }
    assert len(truth) > 60
    assert any("/node_modules/" in path.split("node_modules", 1)[1] for path, _, _ in truth)  # nested
    assert found == truth  # 100 % recall and precision, each at its own path
    assert len(npm_catalog.packages) == len(truth)
    assert npm_catalog.unknowns == ()
    # the project's package.json and package-lock.json (beside node_modules) give nothing
    assert {p.found_by for p in npm_catalog.packages} == {"npm-package-json-cataloger"}


def test_installed_package_fields(npm_catalog: Catalog) -> None:
    top = {p.locations[0].path: p for p in npm_catalog.packages}
    express = top[f"/{APP}/node_modules/express/package.json"]
    assert express.purl == "pkg:npm/express@4.18.2"
    assert (express.type, express.ecosystem, express.licenses) == ("npm", "npm", ("MIT",))
    assert "body-parser" in express.dependencies and "cookie" in express.dependencies
    code_frame = top[f"/{APP}/node_modules/@babel/code-frame/package.json"]
    assert (code_frame.name, code_frame.purl) == ("@babel/code-frame", "pkg:npm/%40babel/code-frame@7.23.5")
    assert all(DECLARED not in p.metadata for p in npm_catalog.packages)


# -- real lockfiles, every lockfileVersion ---------------------------------------------------


@pytest.mark.parametrize("lockfile_version", ["1", "2", "3"])
def test_package_lock_matches_npm_ls(tmp_path: Path, npm_root: Path, lockfile_version: str) -> None:
    project = tmp_path / APP
    project.mkdir(parents=True)
    shutil.copyfile(npm_root / APP / "package.json", project / "package.json")
    shutil.copyfile(npm_root / APP / "package-lock.json", project / "package-lock.json")
    run_npm(
        "install",
        "--package-lock-only",
        "--ignore-scripts",
        "--no-audit",
        "--lockfile-version",
        lockfile_version,
        cwd=project,
    )
    assert json.loads((project / "package-lock.json").read_text())["lockfileVersion"] == int(lockfile_version)
    truth = {(name, version) for _, name, version in tree_nodes(npm_ls(project, "--package-lock-only"))}
    catalog = catalog_dir(tmp_path)
    assert name_versions(catalog) == truth
    assert len(truth) > 60
    for package in catalog.packages:
        assert package.found_by == "npm-lockfile-cataloger"
        assert DECLARED in package.metadata
        assert package.locations[0].path == f"/{APP}/package-lock.json"


def test_lockfile_beside_an_installed_tree_is_not_read(npm_root: Path, npm_catalog: Catalog) -> None:
    assert (npm_root / APP / "package-lock.json").is_file()
    assert (npm_root / APP / "node_modules" / ".package-lock.json").is_file()  # npm's hidden lockfile
    assert not any(p.locations[0].path.endswith("package-lock.json") for p in npm_catalog.packages)


# -- upstream fixtures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("alias", {("@babel/code-frame", "7.0.0"), ("string-width", "4.2.0"), ("string-width", "5.1.2")}),
        ("scoped-packages", {("@babel/code-frame", "7.0.0"), ("wrappy", "1.0.2")}),
        (
            "nested-dependencies",
            {
                ("postcss", "6.0.23"),
                ("postcss", "7.0.16"),
                ("postcss-calc", "7.0.1"),
                ("supports-color", "5.5.0"),
                ("supports-color", "6.1.0"),
            },
        ),
        ("two-packages", None),
        ("optional-package", None),
        ("same-package-different-groups", None),
        ("one-package-dev", None),
    ],
)
def test_scalibr_lockfiles_v1_and_v2_agree(fixture: str, expected: set[tuple[str, str]] | None) -> None:
    # the same project locked by npm 6 (v1, nested tree) and npm 7+ (v2, flat "packages")
    v1 = set(npm.package_lock_packages(json.loads((FIXTURES / "scalibr" / f"{fixture}.v1.json").read_text())))
    v2 = set(npm.package_lock_packages(json.loads((FIXTURES / "scalibr" / f"{fixture}.v2.json").read_text())))
    assert v1 == v2 and v1
    if expected is not None:
        assert v1 == expected


def test_scalibr_v3_and_local_file_dependencies() -> None:
    v3 = json.loads((FIXTURES / "scalibr" / "bundled-dependencies.v3.json").read_text())
    assert set(npm.package_lock_packages(v3)) == {
        ("ansi-regex", "6.2.2"),
        ("semver", "7.7.2"),
        ("strip-ansi", "7.1.2"),
    }
    # "file:" versions (v1) and entries outside node_modules (v2) are folders of the project itself
    v1 = json.loads((FIXTURES / "scalibr" / "files.v1.json").read_text())
    assert set(npm.package_lock_packages(v1)) == {("lodash", "1.3.1")}  # not other_package@file:...
    v2 = json.loads((FIXTURES / "scalibr" / "files.v2.json").read_text())
    assert set(npm.package_lock_packages(v2)) == {("abbrev", "1.0.9"), ("abbrev", "2.3.4")}  # not deps/etag


def test_syft_yarn_classic_and_berry() -> None:
    classic = set(npm.yarn_classic_packages((FIXTURES / "syft/yarn/yarn.lock").read_text()))
    berry = set(npm.yarn_berry_packages((FIXTURES / "syft/yarn-berry/yarn.lock").read_text()))
    assert len(classic) == 9
    assert ("@babel/code-frame", "7.10.4") in classic and ("ajv", "6.12.3") in classic
    # the same dependencies; berry records the project as a workspace, which is not a package
    assert berry == classic - {("c0n-fab_u.laTION", "7.7.7")}


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("pnpm", {("@bcoe/v8-coverage", "0.2.3")}),  # v5.4: /name/version
        ("pnpm-v5-peer-suffix", {("acorn", "8.8.0"), ("acorn-jsx", "5.3.2"), ("webpack-cli", "4.10.0")}),
        ("pnpm-multi-doc", {("minimist", "1.2.0")}),  # pnpm 10: the project document, not pnpm's own
    ],
)
def test_syft_pnpm_locks(fixture: str, expected: set[tuple[str, str]]) -> None:
    assert set(npm.pnpm_packages((FIXTURES / "syft" / fixture / "pnpm-lock.yaml").read_text())) == expected


def test_syft_pnpm_v6_and_v9_keys() -> None:
    v6 = set(npm.pnpm_packages((FIXTURES / "syft/pnpm-v6/pnpm-lock.yaml").read_text()))
    assert ("@testing-library/react", "13.4.0") in v6 and ("@babel/core", "7.21.4") in v6
    assert not any("(" in version or "_" in version for _, version in v6)
    v9 = set(npm.pnpm_packages((FIXTURES / "syft/pnpm-v9/pnpm-lock.yaml").read_text()))
    assert v9 == {
        ("@babel/core", "7.24.7"),
        ("@babel/helper-plugin-utils", "7.24.7"),
        ("is-positive", "3.1.0"),
        ("rollup", "4.18.0"),
    }


def test_lockfiles_in_an_image_tree(tmp_path: Path) -> None:
    for fixture, name in (("yarn", "yarn.lock"), ("pnpm-v9", "pnpm-lock.yaml")):
        target = tmp_path / "srv" / fixture / name
        target.parent.mkdir(parents=True)
        shutil.copyfile(FIXTURES / "syft" / fixture / name, target)
    # a lockfile a dependency ships inside node_modules is how it was developed, not what is installed
    shipped = tmp_path / "srv/other/node_modules/left-pad/package-lock.json"
    shipped.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "scalibr" / "two-packages.v2.json", shipped)
    # ... and so is one inside a Python distribution (jupyterlab ships staging/yarn.lock)
    staging = tmp_path / "usr/local/lib/python3.11/site-packages/jupyterlab/staging/yarn.lock"
    staging.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "syft/yarn/yarn.lock", staging)
    catalog = catalog_dir(tmp_path)
    by_path: dict[str, set[tuple[str, str]]] = {}
    for package in catalog.packages:
        by_path.setdefault(package.locations[0].path, set()).add((package.name, package.version))
        assert DECLARED in package.metadata
    assert sorted(by_path) == ["/srv/pnpm-v9/pnpm-lock.yaml", "/srv/yarn/yarn.lock"]
    assert len(by_path["/srv/yarn/yarn.lock"]) == 9 and len(by_path["/srv/pnpm-v9/pnpm-lock.yaml"]) == 4


# -- bad input --------------------------------------------------------------------------------


def _package_json(root: Path, relative: str, content: bytes) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def test_broken_and_huge_package_json_are_unknowns_the_rest_catalogued(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    modules = "app/node_modules"
    _package_json(
        tmp_path, f"{modules}/corrupt/package.json", (FIXTURES / "syft/corrupt/package.json").read_bytes()
    )
    _package_json(tmp_path, f"{modules}/good/package.json", b'{"name": "good", "version": "1.0.0"}')
    _package_json(tmp_path, f"{modules}/array/package.json", b"[1, 2]")
    _package_json(tmp_path, f"{modules}/deep/package.json", b"[" * 100_000 + b"]" * 100_000)
    huge = tmp_path / modules / "huge" / "package.json"
    huge.parent.mkdir(parents=True)
    with huge.open("wb") as handle:  # sparse: 1 GiB on paper, never read
        handle.truncate(1 << 30)
    # manifests that are not a package's root: nested ones, and a scope folder's own
    _package_json(tmp_path, f"{modules}/good/dist/esm/package.json", b'{"type": "module"}')
    _package_json(tmp_path, f"{modules}/@scope/package.json", b'{"name": "x", "version": "1"}')
    with caplog.at_level(logging.WARNING):
        catalog = catalog_dir(tmp_path)
    assert name_versions(catalog) == {("good", "1.0.0")}
    unknowns = {u.path: u.reason for u in catalog.unknowns}
    assert sorted(unknowns) == [
        f"/{modules}/array/package.json",
        f"/{modules}/corrupt/package.json",
        f"/{modules}/deep/package.json",
        f"/{modules}/huge/package.json",
    ]
    assert "over the" in unknowns[f"/{modules}/huge/package.json"]
    assert any("corrupt/package.json" in record.getMessage() for record in caplog.records)


def test_node_modules_thirty_levels_deep(tmp_path: Path) -> None:
    path = "app"
    expected = set()
    for level in range(30):
        name = f"@s{level}/p{level}" if level % 2 else f"p{level}"
        path = f"{path}/node_modules/{name}"
        expected.add((name, f"{level}.0.0"))
        _package_json(
            tmp_path, f"{path}/package.json", json.dumps({"name": name, "version": f"{level}.0.0"}).encode()
        )
    catalog = catalog_dir(tmp_path)
    assert name_versions(catalog) == expected
    deepest = max(catalog.packages, key=lambda p: p.locations[0].path.count("/"))
    assert deepest.locations[0].path.count("node_modules") == 30
    assert deepest.purl == "pkg:npm/%40s29/p29@29.0.0"


# -- layers -----------------------------------------------------------------------------------


def test_layers_whiteout_and_replacement(tmp_path: Path, npm_root: Path) -> None:
    modules = f"{APP}/node_modules"
    debug = json.loads((npm_root / modules / "debug/package.json").read_text())
    debug["version"] = "4.3.5"
    top = LayerBuilder()
    top.add_whiteout(f"{modules}/express")  # npm uninstall express, as a later layer
    top.add_file(f"{modules}/debug/package.json", json.dumps(debug).encode())  # an upgrade
    built = build_image([layer_from_directory(npm_root), top.build()])
    built.push(OciLayout.create(tmp_path / "layout"), tag="t")
    with open_image(f"oci:{tmp_path / 'layout'}:t") as image, image.filesystem() as fs:
        catalog = catalog_filesystem(fs, catalogers=npm.CATALOGERS, base_layer_count=1)
        digests = fs.layer_digests
    paths = {p.locations[0].path: p for p in catalog.packages}
    assert f"/{modules}/express/package.json" not in paths
    assert not any(path.startswith(f"/{modules}/express/") for path in paths)
    upgraded = paths[f"/{modules}/debug/package.json"]
    assert upgraded.version == "4.3.5"
    assert (upgraded.locations[0].layer_index, upgraded.locations[0].layer_digest) == (1, digests[1])
    assert upgraded.locations[0].in_base_image is False
    assert paths[f"/{modules}/@babel/code-frame/package.json"].locations[0].layer_index == 0
