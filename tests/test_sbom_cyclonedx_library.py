"""gate's CycloneDX output, checked by cyclonedx-python-lib: a second judge beside the schema test.

gate writes CycloneDX JSON by hand (the library's model is quadratic at thousands of
components, see benchmarks/cyclonedx_lib.py), so the reference implementation is asked twice:
its own strict JSON validator (the schema it bundles, with its format checks) must accept the
document, and its model must read the document back with the same components, purls and
dependency graph.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from cyclonedx.model.bom import Bom
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from gate.model import Catalog, Distro, Package, PackageLocation
from gate.sbom import SbomFormat, encode
from tests.test_sbom_formats import make_catalog

LAYER = "sha256:" + "cd" * 32


def _odd_catalog() -> Catalog:
    odd = [
        Package("weird name/with spaces", "", "generic", "", "", ()),
        Package("twin", "1", "deb", "pkg:deb/debian/twin@1", "x", ()),
        Package("twin", "1", "deb", "pkg:deb/debian/twin@1", "x", ()),  # identical: refs stay unique
        Package(
            "meta",
            "1",
            "npm",
            "pkg:npm/meta@1",
            "npm-cataloger",
            (PackageLocation("app/node_modules/meta/package.json", 1, LAYER),),
            metadata=(("z", "1"), ("a", "2")),
            licenses=("(MIT)", "LicenseRef-custom"),
            dependencies=("twin", "absent"),
            hashes=(("sha256", "ab" * 32), ("md5", "cd" * 16)),
        ),
    ]
    return Catalog(packages=tuple(odd), distro=Distro("alpine", "3.19", ""), source={"reference": "x"})


CATALOGS = {"rich": make_catalog, "odd": _odd_catalog}


@pytest.fixture(scope="module")
def validator() -> JsonStrictValidator:
    return JsonStrictValidator(SchemaVersion.V1_6)


def _graph(document: dict[str, Any]) -> dict[str, set[str]]:
    return {entry["ref"]: set(entry.get("dependsOn", ())) for entry in document["dependencies"]}


@pytest.mark.parametrize("name", sorted(CATALOGS))
def test_the_libraries_strict_validator_accepts_gates_output(
    name: str, validator: JsonStrictValidator
) -> None:
    document = encode(CATALOGS[name](), SbomFormat.CYCLONEDX_JSON).decode()
    assert validator.validate_str(document) is None


def test_the_validator_is_a_real_check(validator: JsonStrictValidator) -> None:
    document = json.loads(encode(make_catalog(), SbomFormat.CYCLONEDX_JSON))
    document["components"][0]["type"] = "not-a-type"
    assert validator.validate_str(json.dumps(document)) is not None
    del document["bomFormat"]
    assert validator.validate_str(json.dumps(document)) is not None


@pytest.mark.parametrize("name", sorted(CATALOGS))
def test_the_libraries_model_reads_back_the_same_bom(name: str) -> None:
    data = json.loads(encode(CATALOGS[name](), SbomFormat.CYCLONEDX_JSON))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the library warns about fields CycloneDX 1.6 deprecates
        bom = Bom.from_json(data)  # type: ignore[attr-defined]  # added by py_serializable's decorator
    assert bom is not None
    components = {str(c.bom_ref): c for c in bom.components}
    assert set(components) == {c["bom-ref"] for c in data["components"]}
    for expected in data["components"]:
        component = components[expected["bom-ref"]]
        assert (component.name, component.version or "") == (expected["name"], expected.get("version", ""))
        assert (str(component.purl) if component.purl else "") == expected.get("purl", "")
    read_graph = {
        str(dependency.ref): {str(d.ref) for d in dependency.dependencies} for dependency in bom.dependencies
    }
    assert read_graph == _graph(data)
    assert str(bom.metadata.component.bom_ref) == data["metadata"]["component"]["bom-ref"]
