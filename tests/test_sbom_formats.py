"""SBOM encoders and decoders: schema validity, determinism, lossless round trips, foreign BOMs.

Schemas (CycloneDX 1.6 with the SPDX licence list and JSF it references; SPDX 2.3) live in
tests/fixtures/schemas and are resolved offline through a ``referencing.Registry``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

import gate
from gate.errors import GateError
from gate.model import Catalog, Distro, Package, PackageLocation, Unknown
from gate.sbom import SbomError, SbomFormat, canonical, cyclonedx, decode, encode, identify, spdx

SCHEMAS = Path(__file__).parent / "fixtures" / "schemas"
EXAMPLES = SCHEMAS / "examples"
BASE = "sha256:" + "a" * 64
APP = "sha256:" + "b" * 64
IMAGE_DIGEST = "sha256:" + "c" * 64


# -- schemas ---------------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


@pytest.fixture(scope="module")
def cyclonedx_validator() -> jsonschema.protocols.Validator:
    resources = []
    for name in ("bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"):
        schema = _load(name)
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)
    main = _load("bom-1.6.schema.json")
    return jsonschema.Draft7Validator(main, registry=registry, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def spdx_validator() -> jsonschema.protocols.Validator:
    schema = _load("spdx-2.3.schema.json")
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def _assert_valid(validator: jsonschema.protocols.Validator, data: bytes) -> dict[str, Any]:
    document = json.loads(data)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:10])
    return document


# -- a realistic catalog ---------------------------------------------------------------------


def _loc(path: str, layer: int = 0, *, base: bool | None = True) -> PackageLocation:
    return PackageLocation(path, layer, BASE if layer == 0 else APP, base)


DPKG = "/var/lib/dpkg/status"
PY = "python-installed-package-cataloger"


def _packages() -> list[Package]:
    deb = "distro=debian-12"
    return [
        Package(
            "libc6",
            "2.36-9+deb12u4",
            "deb",
            f"pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&{deb}",
            "dpkg-db-cataloger",
            (_loc(DPKG),),
            ecosystem="Debian:12",
            arch="amd64",
            licenses=("LGPL-2.1-or-later", "GPL-2.0-only"),
            source_name="glibc",
            source_version="2.36-9+deb12u4",
            files=("/lib/x86_64-linux-gnu/libc.so.6", "/usr/share/doc/libc6/copyright"),
            dependencies=("libgcc-s1",),
            metadata=(
                ("maintainer", "GNU Libc Maintainers <debian-glibc@lists.debian.org>"),
                ("installed-size", "12986"),
            ),
        ),
        Package(
            "libgcc-s1",
            "12.2.0-14",
            "deb",
            f"pkg:deb/debian/libgcc-s1@12.2.0-14?arch=amd64&{deb}",
            "dpkg-db-cataloger",
            (_loc(DPKG),),
            ecosystem="Debian:12",
            arch="amd64",
            licenses=("GPL-3.0-or-later WITH GCC-exception-3.1",),
            source_name="gcc-12",
            source_version="12.2.0-14",
            dependencies=("gcc-12-base", "libc6"),
        ),
        Package(
            "libssl3",
            "3.0.11-1~deb12u2",
            "deb",
            f"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&{deb}",
            "dpkg-db-cataloger",
            (_loc(DPKG), _loc(DPKG, 1, base=False)),
            ecosystem="Debian:12",
            arch="amd64",
            licenses=("Apache-2.0",),
            source_name="openssl",
            source_version="3.0.11-1~deb12u2",
            dependencies=("libc6",),
            hashes=(("md5", "0123456789abcdef0123456789abcdef"),),
        ),
        Package(
            "busybox",
            "1.36.1-r15",
            "apk",
            "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1",
            "apk-db-cataloger",
            (_loc("/lib/apk/db/installed", 1, base=None),),
            ecosystem="Alpine:v3.19",
            arch="x86_64",
            licenses=("GPL-2.0-only",),
            source_name="busybox",
            source_version="1.36.1-r15",
            files=("/bin/busybox",),
            dependencies=("musl",),
            hashes=(("sha1", "Q1w0SXq9XP1xkDqVbmAcx1XyK8Fqg="),),
        ),
        Package(
            "musl",
            "1.2.4_git20230717-r4",
            "apk",
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1",
            "apk-db-cataloger",
            (_loc("/lib/apk/db/installed", 1, base=False),),
            ecosystem="Alpine:v3.19",
            arch="x86_64",
            licenses=("MIT",),
            source_name="musl",
        ),
        Package(
            "bash",
            "5.1.8-6.el9",
            "rpm",
            "pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&distro=rhel-9.3",
            "rpm-db-cataloger",
            (_loc("/var/lib/rpm/rpmdb.sqlite"),),
            ecosystem="Red Hat:9",
            arch="x86_64",
            licenses=("GPLv3+",),
            source_name="bash",
            source_version="5.1.8-6.el9",
            hashes=(("SHA-256", "ab" * 32),),
            metadata=(("vendor", "Red Hat, Inc."),),
        ),
        Package(
            "requests",
            "2.31.0",
            "pypi",
            "pkg:pypi/requests@2.31.0",
            PY,
            (_loc("/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", 1, base=False),),
            ecosystem="PyPI",
            licenses=("Apache-2.0",),
            dependencies=("urllib3", "idna", "not-installed"),
        ),
        Package(
            "urllib3",
            "2.0.7",
            "pypi",
            "pkg:pypi/urllib3@2.0.7",
            PY,
            (_loc("/usr/lib/python3/dist-packages/urllib3-2.0.7.dist-info/METADATA", 1, base=False),),
            ecosystem="PyPI",
            licenses=("MIT OR Apache-2.0",),
        ),
        # the same distribution found twice (two site-packages): duplicate purl
        Package(
            "idna",
            "3.6",
            "pypi",
            "pkg:pypi/idna@3.6",
            PY,
            (_loc("/usr/lib/python3/dist-packages/idna-3.6.dist-info/METADATA", 1, base=False),),
            ecosystem="PyPI",
            licenses=("BSD-3-Clause",),
        ),
        Package(
            "idna",
            "3.6",
            "pypi",
            "pkg:pypi/idna@3.6",
            PY,
            (_loc("/opt/venv/lib/python3.11/site-packages/idna-3.6.dist-info/METADATA", 1, base=False),),
            ecosystem="PyPI",
            licenses=("BSD License", "mit"),
        ),
    ]


def make_catalog(packages: list[Package] | None = None) -> Catalog:
    return Catalog(
        packages=tuple(packages if packages is not None else _packages()),
        distro=Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)", ("linux",), "bookworm"),
        unknowns=(
            Unknown("/var/lib/rpm/Packages", "rpm-db-cataloger", "unsupported rpmdb: bdb hash: bad magic"),
        ),
        source={
            "reference": "registry.example/app:1.0",
            "digest": IMAGE_DIGEST,
            "media_type": "application/vnd.oci.image.manifest.v1+json",
        },
    )


@pytest.fixture
def epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")


FORMATS = list(SbomFormat)


# -- validity --------------------------------------------------------------------------------


def test_cyclonedx_validates_against_schema(cyclonedx_validator: Any, epoch: None) -> None:
    bom = _assert_valid(cyclonedx_validator, encode(make_catalog(), SbomFormat.CYCLONEDX_JSON))
    assert bom["specVersion"] == "1.6"
    assert bom["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    assert bom["metadata"]["tools"]["components"][0] == {
        "type": "application",
        "authors": [{"name": "gate"}],
        "name": "gate",
        "version": gate.__version__,
    }
    image = bom["metadata"]["component"]
    assert (image["type"], image["name"], image["version"]) == (
        "container",
        "registry.example/app:1.0",
        IMAGE_DIGEST,
    )
    os_component = next(c for c in bom["components"] if c["type"] == "operating-system")
    assert (os_component["name"], os_component["version"], os_component["description"]) == (
        "debian",
        "12",
        "Debian GNU/Linux 12 (bookworm)",
    )
    props = {p["name"]: p["value"] for p in bom["metadata"]["properties"]}
    assert props["gate:unknown"] == "/var/lib/rpm/Packages: unsupported rpmdb: bdb hash: bad magic"
    ssl = next(c for c in bom["components"] if c["name"] == "libssl3")
    names = [p["name"] for p in ssl["properties"]]
    assert names == sorted(names)
    facts = {p["name"]: p["value"] for p in ssl["properties"]}
    assert facts["gate:source-package"] == "openssl"
    assert facts["gate:layer-digest"] in (BASE, APP)
    assert facts["gate:found-by"] == "dpkg-db-cataloger"
    assert facts["gate:ecosystem"] == "Debian:12"
    assert ssl["hashes"] == [{"alg": "MD5", "content": "0123456789abcdef0123456789abcdef"}]


def test_spdx_validates_against_schema(spdx_validator: Any, epoch: None) -> None:
    doc = _assert_valid(spdx_validator, encode(make_catalog(), SbomFormat.SPDX_JSON))
    assert (doc["spdxVersion"], doc["dataLicense"]) == ("SPDX-2.3", "CC0-1.0")
    assert doc["SPDXID"] == "SPDXRef-DOCUMENT"
    assert doc["creationInfo"] == {
        "created": "2023-11-14T22:13:20Z",
        "creators": [f"Tool: gate-{gate.__version__}"],
    }
    assert doc["documentNamespace"].startswith("https://gate.invalid/spdx/registry.example-app-1.0-")
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(ids) == len(set(ids))
    for spdx_id in ids:
        assert spdx_id.startswith("SPDXRef-")
        assert all(ch.isalnum() or ch in ".-" for ch in spdx_id[len("SPDXRef-") :]), spdx_id
    purposes = {p["name"]: p["primaryPackagePurpose"] for p in doc["packages"]}
    assert purposes["registry.example/app:1.0"] == "CONTAINER"
    assert purposes["debian"] == "OPERATING_SYSTEM"
    assert purposes["libc6"] == "LIBRARY"
    relations = {
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]) for r in doc["relationships"]
    }
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", spdx.IMAGE_ID) in relations
    for spdx_id in ids:
        if spdx_id != spdx.IMAGE_ID:
            assert (spdx.IMAGE_ID, "CONTAINS", spdx_id) in relations
    known = set(ids) | {"SPDXRef-DOCUMENT"}
    assert all(a in known and b in known for a, _, b in relations)
    by_name = {p["name"]: p for p in doc["packages"]}
    assert (by_name["requests"]["SPDXID"], "DEPENDS_ON", by_name["urllib3"]["SPDXID"]) in relations
    assert by_name["libc6"]["externalRefs"] == [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": _packages()[0].purl,
        }
    ]
    assert "layer 0 " + BASE in by_name["libc6"]["sourceInfo"]


def test_catalog_without_image_or_distro_validates(cyclonedx_validator: Any, spdx_validator: Any) -> None:
    catalog = Catalog(packages=tuple(_packages()[:2]), distro=None)
    bom = _assert_valid(cyclonedx_validator, encode(catalog, SbomFormat.CYCLONEDX_JSON))
    assert "component" not in bom["metadata"]
    _assert_valid(spdx_validator, encode(catalog, SbomFormat.SPDX_JSON))
    empty = Catalog(packages=(), distro=None)
    _assert_valid(cyclonedx_validator, encode(empty, SbomFormat.CYCLONEDX_JSON))
    _assert_valid(spdx_validator, encode(empty, SbomFormat.SPDX_JSON))


# -- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [SbomFormat.CYCLONEDX_JSON, SbomFormat.SPDX_JSON])
def test_same_catalog_gives_identical_bytes(fmt: SbomFormat, epoch: None) -> None:
    first = encode(make_catalog(), fmt)
    assert encode(make_catalog(), fmt) == first
    shuffled = make_catalog(list(reversed(_packages())))
    assert encode(shuffled, fmt) == first
    rotated = make_catalog(_packages()[3:] + _packages()[:3])
    assert encode(rotated, fmt) == first


def test_serial_number_and_namespace_depend_on_content(epoch: None) -> None:
    one = json.loads(encode(make_catalog(), SbomFormat.CYCLONEDX_JSON))
    other = json.loads(encode(make_catalog(_packages()[:-1]), SbomFormat.CYCLONEDX_JSON))
    assert one["serialNumber"].startswith("urn:uuid:")
    assert one["serialNumber"] != other["serialNumber"]
    one_spdx = json.loads(encode(make_catalog(), SbomFormat.SPDX_JSON))
    other_spdx = json.loads(encode(make_catalog(_packages()[:-1]), SbomFormat.SPDX_JSON))
    assert one_spdx["documentNamespace"] != other_spdx["documentNamespace"]


def test_timestamp_without_epoch_is_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    stamp = json.loads(encode(make_catalog(), SbomFormat.CYCLONEDX_JSON))["metadata"]["timestamp"]
    assert stamp.endswith("Z")
    assert stamp[:4] >= "2024"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(SbomError, match="SOURCE_DATE_EPOCH"):
        encode(make_catalog(), SbomFormat.CYCLONEDX_JSON)


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_is_lossless(fmt: SbomFormat, epoch: None) -> None:
    catalog = make_catalog()
    data = encode(catalog, fmt)
    assert identify(data) is fmt
    decoded = decode(data)
    expected = catalog if fmt is SbomFormat.JSON else canonical(catalog)
    for got, want in zip(decoded.packages, expected.packages, strict=True):
        assert got == want
    assert decoded == expected
    # already canonical: plain equality, and re-encoding gives the same bytes
    assert decode(encode(canonical(catalog), fmt)) == canonical(catalog)
    assert encode(decoded, fmt) == encode(catalog, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_odd_packages(fmt: SbomFormat) -> None:
    odd = [
        Package("weird name/with spaces", "", "generic", "", "", ()),
        Package("twin", "1", "deb", "pkg:deb/debian/twin@1", "x", ()),
        Package("twin", "1", "deb", "pkg:deb/debian/twin@1", "x", ()),  # exactly identical
        Package(
            "meta",
            "1",
            "npm",
            "pkg:npm/meta@1",
            "npm-cataloger",
            (),
            metadata=(("z", "1"), ("a", "2"), ("z", "3")),
            licenses=("(MIT)", "LicenseRef-custom"),
        ),
    ]
    catalog = Catalog(packages=tuple(odd), distro=Distro("alpine", "", ""), source={"reference": "x"})
    assert decode(encode(catalog, fmt)) == (catalog if fmt is SbomFormat.JSON else canonical(catalog))


def test_source_argument_is_added(epoch: None) -> None:
    catalog = Catalog(packages=(), distro=None)
    for fmt in FORMATS:
        decoded = decode(encode(catalog, fmt, source={"reference": "r/x:1", "digest": IMAGE_DIGEST}))
        assert decoded.source == {"reference": "r/x:1", "digest": IMAGE_DIGEST}


# -- licences --------------------------------------------------------------------------------


def _licenses_of(bom: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return next(c for c in bom["components"] if c["name"] == name).get("licenses", [])


def test_cyclonedx_license_shapes(epoch: None) -> None:
    bom = json.loads(encode(make_catalog(), SbomFormat.CYCLONEDX_JSON))
    assert _licenses_of(bom, "urllib3") == [{"expression": "MIT OR Apache-2.0"}]
    assert _licenses_of(bom, "libgcc-s1") == [{"expression": "GPL-3.0-or-later WITH GCC-exception-3.1"}]
    assert _licenses_of(bom, "musl") == [{"license": {"id": "MIT"}}]
    assert _licenses_of(bom, "libc6") == [
        {"license": {"id": "LGPL-2.1-or-later"}},
        {"license": {"id": "GPL-2.0-only"}},
    ]
    assert _licenses_of(bom, "bash") == [{"license": {"name": "GPLv3+"}}]
    twin = [c for c in bom["components"] if c["name"] == "idna"]
    shapes = sorted(json.dumps(c["licenses"]) for c in twin)
    assert json.dumps([{"license": {"name": "BSD License"}}, {"license": {"id": "MIT"}}]) in shapes


def test_spdx_license_shapes(epoch: None) -> None:
    doc = json.loads(encode(make_catalog(), SbomFormat.SPDX_JSON))
    declared = {p["name"] + p.get("versionInfo", ""): p["licenseDeclared"] for p in doc["packages"]}
    assert declared["urllib32.0.7"] == "MIT OR Apache-2.0"
    assert declared["musl1.2.4_git20230717-r4"] == "MIT"
    assert declared["libc62.36-9+deb12u4"] == "LGPL-2.1-or-later AND GPL-2.0-only"
    assert declared["bash5.1.8-6.el9"] == "LicenseRef-GPLv3"
    assert declared["debian12"] == "NOASSERTION"
    extracted = {e["licenseId"]: e["extractedText"] for e in doc["hasExtractedLicensingInfos"]}
    assert extracted == {"LicenseRef-GPLv3": "GPLv3+", "LicenseRef-BSD-License": "BSD License"}
    assert all(p["licenseConcluded"] == "NOASSERTION" for p in doc["packages"])


def test_mixed_licenses_become_one_expression(cyclonedx_validator: Any) -> None:
    package = Package("x", "1", "npm", "pkg:npm/x@1", "", (), licenses=("MIT OR ISC", "BSD-2-Clause"))
    data = encode(Catalog(packages=(package,), distro=None), SbomFormat.CYCLONEDX_JSON)
    bom = _assert_valid(cyclonedx_validator, data)
    assert bom["components"][0]["licenses"] == [{"expression": "(MIT OR ISC) AND BSD-2-Clause"}]
    assert decode(data).packages[0].licenses == ("MIT OR ISC", "BSD-2-Clause")


# -- dependencies ----------------------------------------------------------------------------


def test_cyclonedx_dependency_refs_exist(epoch: None) -> None:
    bom = json.loads(encode(make_catalog(), SbomFormat.CYCLONEDX_JSON))
    refs = [c["bom-ref"] for c in bom["components"]] + [bom["metadata"]["component"]["bom-ref"]]
    assert len(refs) == len(set(refs))
    for entry in bom["dependencies"]:
        assert entry["ref"] in refs
        assert set(entry.get("dependsOn", [])) <= set(refs)
    graph = {e["ref"]: e.get("dependsOn", []) for e in bom["dependencies"]}
    image_ref = bom["metadata"]["component"]["bom-ref"]
    assert set(graph[image_ref]) == {c["bom-ref"] for c in bom["components"]}
    by_name = {c["name"]: c["bom-ref"] for c in bom["components"]}
    requests_deps = graph[by_name["requests"]]
    assert by_name["urllib3"] in requests_deps
    assert sum("pkg:pypi/idna@3.6" in ref for ref in requests_deps) == 2  # both copies
    assert len(requests_deps) == 3  # "not-installed" dropped
    assert graph[by_name["libgcc-s1"]] == [by_name["libc6"]]  # gcc-12-base is not in the image
    assert graph[by_name["busybox"]] == [by_name["musl"]]  # only within the same type


# -- foreign SBOMs ---------------------------------------------------------------------------


SYFT_CDX = {
    "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "serialNumber": "urn:uuid:1b6a2a3c-9d4e-4f0a-8a51-1f1f1f1f1f1f",
    "version": 1,
    "metadata": {
        "timestamp": "2024-05-02T10:00:00Z",
        "tools": {
            "components": [{"type": "application", "author": "anchore", "name": "syft", "version": "1.4.1"}]
        },
        "component": {
            "bom-ref": "f0e3b8d6a6b2c1d0",
            "type": "container",
            "name": "debian:12",
            "version": "sha256:" + "d" * 64,
        },
    },
    "components": [
        {
            "bom-ref": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12&package-id=9c1",
            "type": "library",
            "publisher": "GNU Libc Maintainers <debian-glibc@lists.debian.org>",
            "name": "libc6",
            "version": "2.36-9+deb12u7",
            "licenses": [{"license": {"id": "GPL-2.0-only"}}, {"license": {"id": "LGPL-2.1-only"}}],
            "cpe": "cpe:2.3:a:libc6:libc6:2.36-9\\+deb12u7:*:*:*:*:*:*:*",
            "purl": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12",
            "properties": [
                {"name": "syft:package:foundBy", "value": "dpkg-db-cataloger"},
                {"name": "syft:package:type", "value": "deb"},
                {"name": "syft:location:0:layerID", "value": "sha256:" + "e" * 64},
                {"name": "syft:location:0:path", "value": "/var/lib/dpkg/status"},
                {"name": "syft:metadata:source", "value": "glibc"},
            ],
        },
        {
            "bom-ref": "pkg:deb/debian/libgcc-s1@12.2.0-14?arch=amd64&distro=debian-12&package-id=4a2",
            "type": "library",
            "name": "libgcc-s1",
            "version": "12.2.0-14",
            "licenses": [{"expression": "GPL-3.0-or-later WITH GCC-exception-3.1"}],
            "purl": "pkg:deb/debian/libgcc-s1@12.2.0-14?arch=amd64&distro=debian-12",
            "properties": [{"name": "syft:package:foundBy", "value": "dpkg-db-cataloger"}],
        },
        {
            "bom-ref": "os-debian",
            "type": "operating-system",
            "name": "debian",
            "version": "12",
            "description": "Debian GNU/Linux 12 (bookworm)",
            "properties": [
                {"name": "syft:distro:id", "value": "debian"},
                {"name": "syft:distro:versionCodename", "value": "bookworm"},
            ],
        },
    ],
    "dependencies": [
        {
            "ref": "pkg:deb/debian/libgcc-s1@12.2.0-14?arch=amd64&distro=debian-12&package-id=4a2",
            "dependsOn": ["pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12&package-id=9c1"],
        },
    ],
}

TRIVY_SPDX = {
    "spdxVersion": "SPDX-2.3",
    "dataLicense": "CC0-1.0",
    "SPDXID": "SPDXRef-DOCUMENT",
    "name": "alpine:3.19",
    "documentNamespace": "http://aquasecurity.github.io/trivy/container_image/alpine:3.19-0f4c",
    "creationInfo": {
        "creators": ["Organization: aquasecurity", "Tool: trivy-0.51.1"],
        "created": "2024-05-02T10:00:00Z",
    },
    "packages": [
        {
            "name": "alpine:3.19",
            "SPDXID": "SPDXRef-ContainerImage-6a1f",
            "downloadLocation": "NONE",
            "primaryPackagePurpose": "CONTAINER",
            "filesAnalyzed": False,
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": "pkg:oci/alpine@sha256%3A" + "f" * 64 + "?arch=amd64",
                }
            ],
        },
        {
            "name": "alpine",
            "SPDXID": "SPDXRef-OperatingSystem-2b9c",
            "versionInfo": "3.19.1",
            "downloadLocation": "NONE",
            "primaryPackagePurpose": "OPERATING-SYSTEM",
            "filesAnalyzed": False,
        },
        {
            "name": "busybox",
            "SPDXID": "SPDXRef-Package-1c2d",
            "versionInfo": "1.36.1-r15",
            "supplier": "NOASSERTION",
            "downloadLocation": "NONE",
            "filesAnalyzed": False,
            "licenseConcluded": "GPL-2.0-only",
            "licenseDeclared": "GPL-2.0-only",
            "copyrightText": "",
            "primaryPackagePurpose": "LIBRARY",
            "checksums": [{"algorithm": "SHA1", "checksumValue": "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"}],
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=3.19.1",
                }
            ],
            "sourceInfo": "built package from: busybox 1.36.1-r15",
        },
        {
            "name": "musl",
            "SPDXID": "SPDXRef-Package-3e4f",
            "versionInfo": "1.2.4_git20230717-r4",
            "downloadLocation": "NONE",
            "filesAnalyzed": False,
            "licenseConcluded": "MIT",
            "licenseDeclared": "LicenseRef-5e2b",
            "copyrightText": "",
            "primaryPackagePurpose": "LIBRARY",
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64",
                }
            ],
        },
    ],
    "hasExtractedLicensingInfos": [
        {"licenseId": "LicenseRef-5e2b", "extractedText": "MIT-like", "name": "MIT-like"}
    ],
    "relationships": [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relatedSpdxElement": "SPDXRef-ContainerImage-6a1f",
            "relationshipType": "DESCRIBES",
        },
        {
            "spdxElementId": "SPDXRef-ContainerImage-6a1f",
            "relatedSpdxElement": "SPDXRef-OperatingSystem-2b9c",
            "relationshipType": "CONTAINS",
        },
        {
            "spdxElementId": "SPDXRef-OperatingSystem-2b9c",
            "relatedSpdxElement": "SPDXRef-Package-1c2d",
            "relationshipType": "CONTAINS",
        },
        {
            "spdxElementId": "SPDXRef-Package-1c2d",
            "relatedSpdxElement": "SPDXRef-Package-3e4f",
            "relationshipType": "DEPENDS_ON",
        },
    ],
}


def test_decode_syft_style_cyclonedx(cyclonedx_validator: Any) -> None:
    data = json.dumps(SYFT_CDX).encode()
    _assert_valid(cyclonedx_validator, data)  # the hand-written sample is itself valid
    catalog = decode(data)
    by_name = {p.name: p for p in catalog.packages}
    libc = by_name["libc6"]
    assert (libc.version, libc.type, libc.arch) == ("2.36-9+deb12u7", "deb", "amd64")
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12"
    assert libc.licenses == ("GPL-2.0-only", "LGPL-2.1-only")
    assert libc.found_by == "dpkg-db-cataloger"
    assert libc.ecosystem == "Debian:12"  # filled from the document's distro: syft writes none
    assert by_name["libgcc-s1"].licenses == ("GPL-3.0-or-later WITH GCC-exception-3.1",)
    assert by_name["libgcc-s1"].dependencies == ("libc6",)
    assert catalog.distro == Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)", (), "bookworm")
    assert catalog.source == {"reference": "debian:12", "digest": "sha256:" + "d" * 64}


def test_decode_trivy_style_spdx() -> None:
    # not schema-validated: like trivy's real output it spells the purpose "OPERATING-SYSTEM"
    data = json.dumps(TRIVY_SPDX).encode()
    assert identify(data) is SbomFormat.SPDX_JSON
    catalog = decode(data)
    assert [(p.name, p.version, p.type) for p in catalog.packages] == [
        ("busybox", "1.36.1-r15", "apk"),
        ("musl", "1.2.4_git20230717-r4", "apk"),
    ]
    busybox, musl = catalog.packages
    assert busybox.licenses == ("GPL-2.0-only",)
    assert musl.licenses == ("MIT-like",)  # LicenseRef resolved through hasExtractedLicensingInfos
    assert busybox.dependencies == ("musl",)
    assert busybox.hashes == (("SHA1", "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"),)
    assert catalog.distro is not None
    assert (catalog.distro.id, catalog.distro.version_id) == ("alpine", "3.19.1")
    assert catalog.source == {"reference": "alpine:3.19"}


def test_decode_real_syft_made_cyclonedx() -> None:
    """syft test data (graalvm native-image SBOM carrying syft properties), copied verbatim."""
    catalog = decode((EXAMPLES / "syft-graalvm-micronaut.cdx.json").read_bytes())
    by_name = {p.name: p for p in catalog.packages}
    assert set(by_name) == {"netty-codec-http2", "core", "basic-lib"}
    netty = by_name["netty-codec-http2"]
    assert (netty.type, netty.purl) == ("maven", "pkg:maven/io.netty/netty-codec-http2@4.1.104.Final")
    assert by_name["core"].dependencies == ("netty-codec-http2",)
    assert catalog.source == {}  # the described component is an application, not an image


@pytest.mark.parametrize("name", ["valid-bom-1.6.json", "valid-dependency-1.6.json"])
def test_decode_cyclonedx_spec_examples(name: str) -> None:
    catalog = decode((EXAMPLES / name).read_bytes())
    assert catalog.packages
    assert all(p.name for p in catalog.packages)
    if name == "valid-bom-1.6.json":
        licenses = {p.name: p.licenses for p in catalog.packages}
        assert licenses["tomcat-catalina"] == ("Apache-2.0",)
        assert licenses["mylibrary"] == ("EPL-2.0 OR GPL-2.0-with-classpath-exception",)
        assert licenses["myframework"] == ("Some random license",)
    if name == "valid-dependency-1.6.json":
        assert {p.name: p.dependencies for p in catalog.packages}["library-b"] == ("library-c",)


# -- errors and sniffing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\xff garbage",
        b"not json at all",
        b"[1, 2, 3]",
        b'{"hello": "world"}',
        b'{"bomFormat": "CycloneDX", "components": [{"type": "library"}]}',
        b'{"bomFormat": "CycloneDX", "components": "nope"}',
        b'{"spdxVersion": "SPDX-2.3", "packages": [{"SPDXID": "x", "comment": "gate:{not json"}]}',
        b'{"schema": "gate-catalog/1", "packages": [{"version": "1"}]}',
        b'{"schema": "gate-catalog/9"}',
        b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [',
    ],
)
def test_garbage_raises_sbom_error(data: bytes) -> None:
    with pytest.raises(SbomError) as caught:
        decode(data)
    assert isinstance(caught.value, GateError)
    assert "\n" not in caught.value.diagnostics()


def test_identify() -> None:
    assert identify(b"") is None
    assert identify(b"garbage") is None
    assert identify(b'  {"bomFormat" : "CycloneDX"}') is SbomFormat.CYCLONEDX_JSON
    assert identify(b'{"spdxVersion":"SPDX-2.2"}') is SbomFormat.SPDX_JSON
    assert identify(b'{"schema": "gate-catalog/1"}') is SbomFormat.JSON
    with pytest.raises(SbomError, match="unknown SBOM format"):
        encode(make_catalog(), "xml")


def test_module_level_codecs_match_dispatch(epoch: None) -> None:
    catalog = make_catalog()
    assert cyclonedx.encode(catalog) == encode(catalog, "cyclonedx-json")
    assert spdx.encode(catalog) == encode(catalog, SbomFormat.SPDX_JSON)


# -- performance -----------------------------------------------------------------------------


def _big_catalog(count: int = 5000) -> Catalog:
    licenses = [("MIT",), ("GPL-2.0-only", "LGPL-2.1-or-later"), ("MIT OR Apache-2.0",), ("Artistic",), ()]
    packages = []
    for i in range(count):
        name = f"pkg{i:05d}"
        packages.append(
            Package(
                name,
                f"1.{i % 17}.{i}-1",
                "deb",
                f"pkg:deb/debian/{name}@1.{i % 17}.{i}-1?arch=amd64&distro=debian-12",
                "dpkg-db-cataloger",
                (_loc(DPKG, i % 3, base=i % 3 == 0),),
                ecosystem="Debian:12",
                arch="amd64",
                licenses=licenses[i % len(licenses)],
                source_name=f"src{i // 3:05d}",
                source_version="1.0",
                files=tuple(f"/usr/lib/{name}/file{j}" for j in range(10)),
                dependencies=tuple(f"pkg{(i * 7 + k) % count:05d}" for k in range(3)),
                metadata=(("maintainer", "Someone <someone@example.org>"), ("installed-size", str(i))),
            )
        )
    return make_catalog(packages)


@pytest.mark.parametrize("fmt", [SbomFormat.CYCLONEDX_JSON, SbomFormat.SPDX_JSON, SbomFormat.JSON])
def test_five_thousand_packages_are_fast(fmt: SbomFormat, epoch: None) -> None:
    catalog = _big_catalog()
    start = time.perf_counter()
    data = encode(catalog, fmt)
    encoded = time.perf_counter() - start
    start = time.perf_counter()
    decoded = decode(data)
    decoded_in = time.perf_counter() - start
    print(f"\n{fmt}: encode {encoded:.2f}s, decode {decoded_in:.2f}s, {len(data) / 1e6:.1f} MB")
    assert len(decoded.packages) == 5000
    assert encoded < 5
    assert decoded_in < 5
    assert dataclasses.replace(decoded, packages=()) == dataclasses.replace(catalog, packages=())
