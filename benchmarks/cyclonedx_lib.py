"""gate's hand-written CycloneDX encoder against cyclonedx-python-lib on the same BOM.

    .venv/bin/pip install -e '.[test]'               # cyclonedx-python-lib is a test extra
    .venv/bin/python benchmarks/cyclonedx_lib.py     # --counts 1000,2500,5000 --runs 3

For each count it builds one deterministic catalog of that many packages (name, version, purl,
an SPDX license, a location property, up to three dependencies each) and turns it into a
CycloneDX 1.6 JSON document twice: with ``gate.sbom.encode`` and with cyclonedx-python-lib's
model (``Component`` per package, ``Bom.register_dependency`` per package, ``JsonV1Dot6``).
Times are process CPU seconds (the machine is shared), best of ``--runs``; the library's
model and its serialisation are timed together and apart. The ratio is library / gate.
Why gate writes JSON itself: the library's model grows quadratically with the component
count (CycloneDX/cyclonedx-python-lib#1006), which the rising ratio shows. A measurement,
not a test: the exit status is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from gate.model import Catalog, Package, PackageLocation
from gate.sbom import SbomFormat, encode

LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", "GPL-2.0-only", "ISC")
LAYER = "sha256:" + "ab" * 32


def catalog(count: int) -> Catalog:
    rng = random.Random(count)
    packages = []
    for index in range(count):
        name = f"package-{index:05d}"
        version = f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}"
        picks = {f"package-{rng.randrange(count):05d}" for _ in range(rng.randint(0, 3))}
        dependencies = tuple(sorted(picks))
        packages.append(
            Package(
                name,
                version,
                "npm",
                f"pkg:npm/{name}@{version}",
                "npm-cataloger",
                (PackageLocation(f"app/node_modules/{name}/package.json", 1, LAYER),),
                ecosystem="npm",
                licenses=(rng.choice(LICENSES),),
                dependencies=dependencies,
            )
        )
    return Catalog(tuple(packages), None)


def with_gate(built: Catalog) -> Callable[[], bytes]:
    return lambda: encode(built, SbomFormat("cyclonedx-json"))


def library_model(built: Catalog) -> Bom:
    bom = Bom()
    components = {}
    for package in built.packages:
        location = package.locations[0]
        component = Component(
            type=ComponentType.LIBRARY,
            name=package.name,
            version=package.version,
            purl=PackageURL.from_string(package.purl),
            bom_ref=package.purl,
            licenses=[DisjunctiveLicense(id=package.licenses[0])],
            properties=[
                Property(name="gate:found-by", value=package.found_by),
                Property(name="gate:location", value=location.path),
                Property(name="gate:layer-index", value=str(location.layer_index)),
                Property(name="gate:layer-digest", value=location.layer_digest),
            ],
        )
        bom.components.add(component)
        components[package.name] = component
    for package in built.packages:
        depends_on = [components[name] for name in package.dependencies if name != package.name]
        bom.register_dependency(components[package.name], depends_on)
    return bom


def with_library(built: Catalog) -> Callable[[], bytes]:
    return lambda: JsonV1Dot6(library_model(built)).output_as_string().encode()


def best_of(runs: int, action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        action()
        best = min(best, time.process_time() - started)
    return best


def components_in(document: bytes) -> int:
    return len(json.loads(document)["components"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="1000,2500,5000", help="component counts, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'components':>10} {'library model s':>15} {'library JSON s':>14} {'library s':>9} "
        f"{'gate s':>7} {'library/gate':>12}"
    )
    for count in (int(text) for text in args.counts.split(",")):
        built = catalog(count)
        gate_document, library_document = with_gate(built)(), with_library(built)()
        assert components_in(gate_document) == components_in(library_document) == count
        gate_seconds = best_of(args.runs, with_gate(built))
        model_seconds = best_of(args.runs, functools.partial(library_model, built))
        library_seconds = best_of(args.runs, with_library(built))
        print(
            f"{count:>10} {model_seconds:>15.2f} {library_seconds - model_seconds:>14.2f} "
            f"{library_seconds:>9.2f} {gate_seconds:>7.2f} {library_seconds / gate_seconds:>11.1f}x"
        )


if __name__ == "__main__":
    main()
