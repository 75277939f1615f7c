"""The Python cataloger: a real ``pip install --target`` tree checked against ``pip list``,
upstream fixtures (osv-scalibr, syft; see fixtures/python/NOTICE.md), layers and bad input.

The pip tree needs PyPI (or the index pip is configured with); without it the fixture fails.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gate.catalog import catalog_filesystem, python
from gate.catalog.python import canonical_name
from gate.image.build import LayerBuilder, build_image, layer_from_directory
from gate.image.image import open_image
from gate.image.layout import OciLayout
from gate.image.rootfs import DirFileSystem
from gate.model import Catalog, Package

FIXTURES = Path(__file__).parent / "fixtures" / "python"
SITE = "usr/local/lib/python3.11/site-packages"
PINNED = [
    "requests==2.31.0",
    "idna==3.6",
    "urllib3==2.2.1",
    "certifi==2024.2.2",
    "charset-normalizer==3.3.2",
    "PyYAML==6.0.1",
    "packaging==24.2",
    "attrs==25.3.0",
    "Jinja2==3.1.4",
    "MarkupSafe==2.1.5",
]


def catalog_dir(root: Path) -> Catalog:
    return catalog_filesystem(DirFileSystem(root), catalogers=python.CATALOGERS)


def by_name(catalog: Catalog) -> dict[str, Package]:
    return {package.name: package for package in catalog.packages}


def place(root: Path, source: Path, target: str) -> None:
    path = root / target
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, path)


# -- a real site-packages from pip ------------------------------------------------------------


@pytest.fixture(scope="module")
def pip_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pip-root")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"]
    command += ["--disable-pip-version-check", "--target", str(root / SITE), *PINNED]
    subprocess.run(command, check=True)
    return root


@pytest.fixture(scope="module")
def pip_catalog(pip_root: Path) -> Catalog:
    return catalog_dir(pip_root)


def test_pip_tree_matches_pip_list_exactly(pip_root: Path, pip_catalog: Catalog) -> None:
    pip_list = [sys.executable, "-m", "pip", "list", "--disable-pip-version-check", "--format", "json"]
    listed = subprocess.run(
        [*pip_list, "--path", str(pip_root / SITE)],
        check=True,
        capture_output=True,
        text=True,
    )
    truth = {(canonical_name(item["name"]), item["version"]) for item in json.loads(listed.stdout)}
    assert len(truth) == len(PINNED)
    assert {(p.name, p.version) for p in pip_catalog.packages} == truth  # 100 % recall and precision
    assert len(pip_catalog.packages) == len(truth)
    assert pip_catalog.unknowns == ()


def test_pip_tree_package_fields(pip_catalog: Catalog) -> None:
    packages = by_name(pip_catalog)
    requests = packages["requests"]
    assert requests.purl == "pkg:pypi/requests@2.31.0"
    assert (requests.type, requests.ecosystem, requests.found_by) == (
        "pypi",
        "PyPI",
        "python-installed-cataloger",
    )
    assert requests.locations[0].path == f"/{SITE}/requests-2.31.0.dist-info/METADATA"
    assert requests.dependencies == ("certifi", "charset-normalizer", "idna", "urllib3")  # not the extras
    assert f"/{SITE}/requests/__init__.py" in requests.files
    assert f"/{SITE}/requests-2.31.0.dist-info/METADATA" in requests.files
    # PEP 503 names; the name as published is kept beside it
    assert packages["pyyaml"].purl == "pkg:pypi/pyyaml@6.0.1"
    assert packages["pyyaml"].metadata_dict == {"declared-name": "PyYAML"}
    assert "jinja2" in packages and "markupsafe" in packages and "charset-normalizer" in packages
    assert f"/{SITE}/charset_normalizer/api.py" in packages["charset-normalizer"].files


def test_pip_tree_licenses(pip_catalog: Catalog) -> None:
    licenses = {p.name: p.licenses for p in pip_catalog.packages}
    assert licenses["attrs"] == ("MIT",)  # License-Expression (metadata 2.4)
    assert licenses["certifi"] == ("MPL-2.0",)  # License, already SPDX
    assert licenses["requests"] == ("Apache-2.0",)  # "License: Apache 2.0" loses to the classifier
    assert licenses["urllib3"] == ("MIT",)  # classifier only
    assert licenses["packaging"] == ("Apache-2.0", "BSD License")  # "BSD License" names no one license
    assert licenses["markupsafe"] == ("BSD-3-Clause",)


# -- upstream fixtures ------------------------------------------------------------------------


def test_scalibr_wheelegg_fixtures(tmp_path: Path) -> None:
    # names and versions from osv-scalibr's wheelegg_test.go, placed where pip would put them
    layout = {
        "distinfo_meta": "pip-22.2.2.dist-info/METADATA",
        "egginfo_pkginfo": "setuptools-57.4.0-py3.9.egg/EGG-INFO/PKG-INFO",
        "egginfo": "pycups-2.0.1.egg-info",
        "pkginfo": "httplib2-0.20.4.egg-info/PKG-INFO",
        "malformed_pkginfo": "passlib-1.7.4.egg-info/PKG-INFO",
        "mixed_case": "httplib2-1.0.dist-info/METADATA",
        "special_chars": "backports.ssl_match_hostname-3.5.0.1.dist-info/METADATA",
        "repeated_pkginfo": "root-1.0.0.dist-info/METADATA",
        "pyopenssl-26.0.0.dist-info": "pyOpenSSL-26.0.0.dist-info/METADATA",
        "empty": "empty-1.0.dist-info/METADATA",
    }
    for fixture, target in layout.items():
        place(tmp_path, FIXTURES / "scalibr" / fixture, f"{SITE}/{target}")
    catalog = catalog_dir(tmp_path)
    assert sorted((p.name, p.version) for p in catalog.packages) == [
        ("backports-ssl-match-hostname", "3.5.0.1"),  # PEP 503 from "backports.ssl_match_hostname"
        ("httplib2", "0.20.4"),
        ("httplib2", "1.0"),  # lower-case "name:" / "version:" headers
        ("passlib", "1.7.4"),
        ("pip", "22.2.2"),
        ("pycups", "2.0.1"),
        ("pyopenssl", "26.0.0"),
        ("root", "1.0.0"),  # the first of three Version headers
        ("setuptools", "57.4.0"),
    ]
    assert [u.path for u in catalog.unknowns] == [f"/{SITE}/empty-1.0.dist-info/METADATA"]
    licenses = {p.name: p.licenses for p in catalog.packages}
    assert licenses["pip"] == ("MIT",)
    assert licenses["pycups"] == ("GPL-2.0-or-later",)  # "GPLv2+"
    assert licenses["setuptools"] == ("MIT",)  # "License: UNKNOWN" falls through to the classifier
    assert licenses["pyopenssl"] == ("Apache-2.0",)  # "Apache License, Version 2.0" -> classifier
    assert by_name(catalog)["root"].dependencies == ("dep1", "dep2", "dep3")


def test_syft_fixtures_egg_info_forms_and_file_lists(tmp_path: Path) -> None:
    syft = FIXTURES / "syft"
    site = syft / "site-packages"
    place(tmp_path, site / "test/test.egg-info", f"{SITE}/requests-2.22.0.egg-info")  # file form
    place(tmp_path, site / "nested/dist-name/dist-info/METADATA", f"{SITE}/Pygments-2.6.1.dist-info/METADATA")
    place(tmp_path, site / "nested/dist-name/dist-info/RECORD", f"{SITE}/Pygments-2.6.1.dist-info/RECORD")
    place(
        tmp_path,
        site / "nested/egg-name/egg-info/PKG-INFO",
        f"{SITE}/requests-2.22.0-py3.8.egg-info/PKG-INFO",
    )
    place(
        tmp_path,
        syft / "installed-files/installed-files.txt",
        f"{SITE}/requests-2.22.0-py3.8.egg-info/installed-files.txt",
    )
    place(tmp_path, site / "malformed-record/dist-info/METADATA", f"{SITE}/malformed-1.0.dist-info/METADATA")
    place(tmp_path, site / "malformed-record/dist-info/RECORD", f"{SITE}/malformed-1.0.dist-info/RECORD")
    place(tmp_path, syft / "Python-2.7.egg-info", "usr/lib/python2.7/lib-dynload/Python-2.7.egg-info")
    place(tmp_path, site / "no-version/no-version-py3.8.egg-info", f"{SITE}/no-version-py3.8.egg-info")
    place(tmp_path, syft / "empty-1.0.0-py3.8.egg-info", f"{SITE}/empty-1.0.0-py3.8.egg-info")
    catalog = catalog_dir(tmp_path)
    names = sorted((p.name, p.version) for p in catalog.packages)
    assert names == [
        ("pygments", "2.6.1"),
        ("pygments", "2.6.1"),
        ("python", "2.7.13"),
        ("requests", "2.22.0"),
        ("requests", "2.22.0"),
    ]
    assert sorted(u.path for u in catalog.unknowns) == [
        f"/{SITE}/empty-1.0.0-py3.8.egg-info",
        f"/{SITE}/no-version-py3.8.egg-info",
    ]
    pygments = next(p for p in catalog.packages if p.locations[0].path.startswith(f"/{SITE}/Pygments"))
    assert f"/{SITE}/pygments/util.py" in pygments.files
    assert f"/{SITE}/Pygments-2.6.1.dist-info/RECORD" in pygments.files
    assert "/usr/local/bin/pygmentize" in pygments.files  # ../../../bin/pygmentize, resolved
    assert pygments.licenses == ("BSD License",)
    # installed-files.txt is relative to the .egg-info directory
    egg_info = f"/{SITE}/requests-2.22.0-py3.8.egg-info"
    egg = next(p for p in catalog.packages if p.locations[0].path == f"{egg_info}/PKG-INFO")
    assert f"/{SITE}/dicttoxml.py" in egg.files and f"{egg_info}/PKG-INFO" in egg.files
    # a RECORD with merge-conflict markers keeps its real rows only
    malformed = f"/{SITE}/malformed-1.0.dist-info/METADATA"
    flask = next(p for p in catalog.packages if p.locations[0].path == malformed)
    assert flask.files == (
        "/usr/local/lib/Scripts/flask.exe",
        f"/{SITE}/Flask-1.0.2.dist-info/INSTALLER",
        f"/{SITE}/flask/json/tag.py",
    )


# -- bad input --------------------------------------------------------------------------------


def test_metadata_with_invalid_encoding_is_catalogued_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    real = (FIXTURES / "scalibr" / "pkginfo").read_bytes()
    latin1 = real.replace(b"Author: Joe Gregorio", "Author: Jo\u00eb Gr\u00e9gorio".encode("latin-1"))
    assert latin1 != real
    path = tmp_path / SITE / "httplib2-0.20.4.dist-info/METADATA"
    path.parent.mkdir(parents=True)
    path.write_bytes(latin1)
    place(tmp_path, FIXTURES / "scalibr" / "distinfo_meta", f"{SITE}/pip-22.2.2.dist-info/METADATA")
    with caplog.at_level(logging.WARNING, logger="gate.catalog.python"):
        catalog = catalog_dir(tmp_path)
    assert sorted((p.name, p.version) for p in catalog.packages) == [
        ("httplib2", "0.20.4"),
        ("pip", "22.2.2"),
    ]
    assert catalog.unknowns == ()
    assert any("httplib2-0.20.4.dist-info/METADATA" in r.getMessage() for r in caplog.records)


def test_binary_garbage_and_huge_description_are_bounded(tmp_path: Path) -> None:
    garbage = tmp_path / SITE / "garbage-1.0.dist-info/METADATA"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(bytes(range(256)) * 64)
    real = (FIXTURES / "scalibr" / "distinfo_meta").read_bytes()
    huge = tmp_path / SITE / "pip-22.2.2.dist-info/METADATA"
    huge.parent.mkdir(parents=True)
    huge.write_bytes(real + b"x" * (python.MAX_METADATA + 10))  # description past the read bound
    catalog = catalog_dir(tmp_path)
    assert [(p.name, p.version) for p in catalog.packages] == [("pip", "22.2.2")]
    assert [u.path for u in catalog.unknowns] == [f"/{SITE}/garbage-1.0.dist-info/METADATA"]


# -- layers -----------------------------------------------------------------------------------


def _metadata(name: str, version: str) -> bytes:
    real = (FIXTURES / "scalibr" / "distinfo_meta").read_text()
    return (
        real.replace("Name: pip", f"Name: {name}").replace("Version: 22.2.2", f"Version: {version}").encode()
    )


def test_layers_whiteout_and_replacement(tmp_path: Path, pip_root: Path) -> None:
    # layer 0: the real pip tree; layer 1: deletes PyYAML and upgrades idna 3.6 -> 3.7
    top = LayerBuilder()
    top.add_whiteout(f"{SITE}/PyYAML-6.0.1.dist-info")
    top.add_whiteout(f"{SITE}/idna-3.6.dist-info")
    top.add_file(f"{SITE}/idna-3.7.dist-info/METADATA", _metadata("idna", "3.7"))
    built = build_image([layer_from_directory(pip_root), top.build()])
    built.push(OciLayout.create(tmp_path / "layout"), tag="t")
    with open_image(f"oci:{tmp_path / 'layout'}:t") as image, image.filesystem() as fs:
        catalog = catalog_filesystem(fs, catalogers=python.CATALOGERS, base_layer_count=1)
        digests = fs.layer_digests
    packages = by_name(catalog)
    assert "pyyaml" not in packages
    assert [(p.name, p.version) for p in catalog.packages if p.name == "idna"] == [("idna", "3.7")]
    idna, requests = packages["idna"].locations[0], packages["requests"].locations[0]
    assert (idna.layer_index, idna.layer_digest, idna.in_base_image) == (1, digests[1], False)
    assert (requests.layer_index, requests.layer_digest, requests.in_base_image) == (0, digests[0], True)
    assert len(catalog.packages) == len(PINNED) - 1
