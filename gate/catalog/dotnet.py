""".NET packages from the ``<app>.deps.json`` file the SDK writes beside every built application.

``libraries`` maps ``"Name/Version"`` to ``{"type": ..., "sha512": "sha512-<base64>", ...}``;
``type`` ``package`` is a NuGet package and ``runtimepack`` the runtime a self-contained app
carries (itself a NuGet package with advisories); ``project`` entries are the application and
its own projects, and ``reference`` / ``referenceassembly`` are framework facades, none of
which is a package. Dependencies come from the entry for the same key under
``targets[<runtimeTarget.name>]``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from packageurl import PackageURL

from gate import safejson
from gate.catalog import CatalogContext, Cataloger, read_whole
from gate.image.filesystem import FileEntry, FileSystem
from gate.model import Package, PackageLocation

NAME = "dotnet-deps-cataloger"
ECOSYSTEM = "NuGet"
MAX_DEPS_JSON = 64 * 1024 * 1024
PACKAGE_TYPES = frozenset({"package", "runtimepack"})


def parse_deps_json(fs: FileSystem, context: CatalogContext, entry: FileEntry) -> list[Package]:
    """The NuGet packages one ``.deps.json`` lists."""
    try:
        document = safejson.loads(read_whole(fs, entry, MAX_DEPS_JSON))
    except (ValueError, RecursionError) as error:
        raise ValueError(f"not valid JSON: {error}") from None
    libraries = document.get("libraries") if isinstance(document, dict) else None
    if not isinstance(libraries, dict):
        raise ValueError("no libraries object: not a .deps.json file")
    targets = _runtime_target(document)
    location = context.location_of(entry)
    packages = []
    for key, library in libraries.items():
        name, _, version = str(key).partition("/")
        if isinstance(library, dict) and library.get("type") in PACKAGE_TYPES and name and version:
            packages.append(_package(name, version, library, targets.get(key), location))
    return packages


def _runtime_target(document: dict[str, Any]) -> dict[str, Any]:
    """The ``targets`` entry the app runs with (``runtimeTarget.name``), else the first one."""
    targets = document.get("targets")
    if not isinstance(targets, dict) or not targets:
        return {}
    runtime = document.get("runtimeTarget")
    wanted = runtime.get("name") if isinstance(runtime, dict) else None
    chosen = targets.get(wanted) if wanted in targets else next(iter(targets.values()))
    return chosen if isinstance(chosen, dict) else {}


def _package(
    name: str, version: str, library: dict[str, Any], target: Any, location: PackageLocation
) -> Package:
    dependencies = target.get("dependencies") if isinstance(target, dict) else None
    return Package(
        name=name,
        version=version,
        type="nuget",
        purl=PackageURL(type="nuget", name=name, version=version).to_string(),
        found_by=NAME,
        locations=(location,),
        ecosystem=ECOSYSTEM,
        dependencies=tuple(sorted(dependencies)) if isinstance(dependencies, dict) else (),
        hashes=_sha512(library.get("sha512")),
        metadata=(("dotnet-library-type", str(library["type"])),),
    )


def _sha512(value: Any) -> tuple[tuple[str, str], ...]:
    """``sha512-<base64>`` (the .nupkg's hash) as ``("sha512", hex)``; () when absent or malformed."""
    if not isinstance(value, str) or not value.startswith("sha512-"):
        return ()
    try:
        digest = base64.b64decode(value[len("sha512-") :], validate=True)
    except (binascii.Error, ValueError):
        return ()
    return (("sha512", digest.hex()),) if len(digest) == 64 else ()


CATALOGERS: list[Cataloger] = [Cataloger(NAME, ("**/*.deps.json",), parse_deps_json)]
