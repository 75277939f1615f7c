"""npm packages: installed ones from ``node_modules``, declared ones from lockfiles.

Installed: every ``node_modules/<name>/package.json`` and ``node_modules/@scope/<name>/package.json``
at any depth (npm nests a package's own ``node_modules`` when versions conflict; pnpm keeps
its store under ``node_modules/.pnpm/<id>/node_modules``). A package.json outside any
``node_modules`` is an application's own manifest, not a dependency, and is not reported.

Declared: ``package-lock.json`` / ``npm-shrinkwrap.json`` (lockfileVersion 1-3), ``yarn.lock``
(classic v1 and berry) and ``pnpm-lock.yaml`` are read only when no ``node_modules`` directory
sits beside them, since an installed tree is the better evidence; their packages carry the
metadata ``("evidence", "declared")``. Lockfiles shipped inside an installed package of any
ecosystem (``node_modules``, Python's ``site-packages`` / ``dist-packages``, Composer's
``vendor``) describe how that package was developed or built (jupyterlab ships its
``staging/yarn.lock`` and test fixtures), not what the image runs, and are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import yaml
from packageurl import PackageURL

from gate import safejson
from gate.catalog import CatalogContext, Cataloger, read_whole
from gate.catalog.licenses import normalize_license
from gate.image.filesystem import FileEntry, FileSystem
from gate.model import Package

INSTALLED = "npm-package-json-cataloger"
LOCKFILE = "npm-lockfile-cataloger"
ECOSYSTEM = "npm"
MAX_PACKAGE_JSON = 4 * 1024 * 1024
MAX_LOCKFILE = 64 * 1024 * 1024
DECLARED = ("evidence", "declared")
# a lockfile below one of these belongs to an installed package, not to the image's project
PACKAGE_DIRECTORIES = frozenset({"node_modules", "site-packages", "dist-packages", "vendor"})

_YARN_VERSION = re.compile(r'^\s+version:?\s+"?([^"\s]+)"?\s*$')
_PNPM_PEER_SUFFIX = re.compile(r"\(.*$")

NameVersion = tuple[str, str]


def parse_package_json(fs: FileSystem, context: CatalogContext, entry: FileEntry) -> list[Package]:
    """The package installed in ``node_modules/[@scope/]name``, from its package.json."""
    parts = entry.path.split("/")
    scoped = parts[-3].startswith("@") and len(parts) >= 4 and parts[-4] == "node_modules"
    if parts[-2].startswith("@") or (parts[-3] != "node_modules" and not scoped):
        return []  # node_modules/@scope/package.json, or a package's nested manifest
    document = _read_json(fs, entry, MAX_PACKAGE_JSON)
    if not isinstance(document, dict):
        raise ValueError("package.json is not a JSON object")
    name, version = document.get("name"), document.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return []  # a directory npm would not load as a package either
    return [
        _package(
            name,
            version,
            INSTALLED,
            context.location_of(entry),
            licenses=_licenses(document),
            dependencies=_dependency_names(document.get("dependencies")),
        )
    ]


def parse_lockfile(fs: FileSystem, context: CatalogContext, entry: FileEntry) -> list[Package]:
    """Declared packages of a lockfile whose project has no installed ``node_modules``."""
    directory, _, filename = entry.path.rpartition("/")
    if not PACKAGE_DIRECTORIES.isdisjoint(directory.split("/")):
        return []
    beside = fs.stat(f"{directory}/node_modules" if directory else "node_modules")
    if beside is not None and not beside.is_file:
        return []
    if filename == "yarn.lock":
        text = _read_text(fs, entry)
        found: Iterable[NameVersion] = (
            yarn_berry_packages(text) if "__metadata:" in text else yarn_classic_packages(text)
        )
    elif filename == "pnpm-lock.yaml":
        found = pnpm_packages(_read_text(fs, entry))
    else:
        found = package_lock_packages(_read_json(fs, entry, MAX_LOCKFILE))
    location = context.location_of(entry)
    return [
        _package(name, version, LOCKFILE, location, metadata=(DECLARED,))
        for name, version in sorted(set(found))
    ]


def package_lock_packages(document: Any) -> Iterator[NameVersion]:
    """``packages`` (lockfileVersion 2 and 3) or the nested ``dependencies`` tree (version 1)."""
    if not isinstance(document, dict):
        raise ValueError("lockfile is not a JSON object")
    packages = document.get("packages")
    if isinstance(packages, dict):
        for path, info in packages.items():
            if "node_modules/" not in path or not isinstance(info, dict) or info.get("link"):
                continue  # "" is the project itself; links point at workspace folders
            name = info.get("name") or path.rsplit("node_modules/", 1)[1]
            version = info.get("version")
            if isinstance(name, str) and isinstance(version, str) and version:
                yield _unalias(name, version)
        return
    yield from _v1_dependencies(document.get("dependencies"), depth=0)


def _v1_dependencies(tree: Any, depth: int) -> Iterator[NameVersion]:
    if not isinstance(tree, dict) or depth > 256:
        return
    for name, info in tree.items():
        if not isinstance(info, dict):
            continue
        version = info.get("version")
        if isinstance(version, str) and version and not version.startswith("file:"):
            # a "file:" version is a folder of the project, not a package
            yield _unalias(name.rsplit("node_modules/", 1)[-1], version)
        yield from _v1_dependencies(info.get("dependencies"), depth + 1)


def _unalias(name: str, version: str) -> NameVersion:
    """``"npm:string-width@4.2.3"`` (an alias) names the real package and version."""
    if version.startswith("npm:"):
        real_name, _, real_version = version[len("npm:") :].rpartition("@")
        if real_name and real_version:
            return real_name, real_version
    return name, version


def yarn_classic_packages(text: str) -> Iterator[NameVersion]:
    """Yarn v1: ``"a@^1", a@~1.2:`` keys, each followed by an indented ``version "1.2.3"``."""
    name = ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line[0].isspace():
            first_spec = line.rstrip(":").split(",")[0].strip().strip('"')
            name = _real_name(first_spec)
            continue
        match = _YARN_VERSION.match(line)
        if name and match and line.startswith("  ") and not line.startswith("   "):
            yield name, match.group(1)
            name = ""


def yarn_berry_packages(text: str) -> Iterator[NameVersion]:
    """Yarn 2+ (YAML): entries with a ``version``; workspace and link entries are the project."""
    documents = _yaml_documents(text, "yarn.lock")
    document = documents[0] if len(documents) == 1 else None
    if not isinstance(document, dict):
        raise ValueError("yarn.lock is not a mapping")
    for key, info in document.items():
        if key == "__metadata" or not isinstance(info, dict):
            continue
        resolution = str(info.get("resolution", key))
        if "@workspace:" in resolution or "@link:" in resolution:
            continue
        version = info.get("version")
        if version is not None:
            yield _real_name(resolution.split(",")[0].strip()), str(version)


def pnpm_packages(text: str) -> Iterator[NameVersion]:
    """``packages`` keys: ``/name/1.0.0_peer`` (v5), ``/name@1.0.0(peer)`` (v6), ``name@1.0.0`` (v9).

    pnpm 10 may write two YAML documents: first the lockfile of its own config and package
    manager dependencies (pnpm itself), then the project's; only the project's is read.
    """
    documents = _yaml_documents(text, "pnpm-lock.yaml")
    document = documents[-1] if documents else None
    if not isinstance(document, dict):
        raise ValueError("pnpm-lock.yaml is not a mapping")
    lockfile_version = str(document.get("lockfileVersion", ""))
    packages = document.get("packages") or {}
    if not isinstance(packages, dict):
        raise ValueError("pnpm-lock.yaml: packages is not a mapping")
    for key, info in packages.items():
        key = _PNPM_PEER_SUFFIX.sub("", str(key)).lstrip("/")
        if isinstance(info, dict) and info.get("name") and info.get("version"):
            yield str(info["name"]), str(info["version"])  # tarball and git dependencies
        elif lockfile_version.startswith("5"):
            name, _, version = key.rpartition("/")
            if name and version:
                yield name, version.split("_", 1)[0]
        else:
            name, _, version = key.rpartition("@")
            if name and version:
                yield name, version


def _spec_name(spec: str) -> str:
    """``@scope/name@^1.0`` -> ``@scope/name``; ``name@npm:1.0`` -> ``name``."""
    at = spec.find("@", 1)
    return spec[:at] if at > 0 else spec


def _real_name(spec: str) -> str:
    """The package a spec installs: ``alias@npm:real@^1.0`` installs ``real``."""
    name = _spec_name(spec)
    target = spec[len(name) + 1 :]
    if target.startswith("npm:") and target.find("@", len("npm:") + 1) > 0:
        return _spec_name(target[len("npm:") :])
    return name


def _package(
    name: str,
    version: str,
    found_by: str,
    location: Any,
    *,
    licenses: tuple[str, ...] = (),
    dependencies: tuple[str, ...] = (),
    metadata: tuple[tuple[str, str], ...] = (),
) -> Package:
    scope, _, bare = name.rpartition("/")
    purl = PackageURL(type="npm", namespace=scope or None, name=bare, version=version).to_string()
    return Package(
        name=name,
        version=version,
        type="npm",
        purl=purl,
        found_by=found_by,
        locations=(location,),
        ecosystem=ECOSYSTEM,
        licenses=licenses,
        dependencies=dependencies,
        metadata=metadata,
    )


def _licenses(document: dict[str, Any]) -> tuple[str, ...]:
    """``license`` (an SPDX expression, or the legacy ``{type}`` object) or legacy ``licenses``."""
    declared = document.get("license")
    if declared is None:
        declared = document.get("licenses")
    items = declared if isinstance(declared, list) else [declared]
    names = []
    for item in items:
        value = item.get("type") if isinstance(item, dict) else item
        if isinstance(value, str) and value.strip():
            names.append(normalize_license(value))
    return tuple(sorted(set(names)))


def _dependency_names(dependencies: Any) -> tuple[str, ...]:
    return tuple(sorted(dependencies)) if isinstance(dependencies, dict) else ()


def _read_json(fs: FileSystem, entry: FileEntry, limit: int) -> Any:
    data = read_whole(fs, entry, limit)
    try:
        return safejson.loads(data)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"not valid JSON: {error}") from None


def _yaml_documents(text: str, what: str) -> list[Any]:
    try:
        return list(yaml.safe_load_all(text))
    except (yaml.YAMLError, RecursionError) as error:
        raise ValueError(f"{what} is not valid YAML: {' '.join(str(error).split())[:200]}") from None


def _read_text(fs: FileSystem, entry: FileEntry) -> str:
    return read_whole(fs, entry, MAX_LOCKFILE).decode("utf-8", "replace")


CATALOGERS: list[Cataloger] = [
    Cataloger(
        INSTALLED,
        ("**/node_modules/*/package.json", "**/node_modules/@*/*/package.json"),
        parse_package_json,
    ),
    Cataloger(
        LOCKFILE,
        ("**/package-lock.json", "**/npm-shrinkwrap.json", "**/yarn.lock", "**/pnpm-lock.yaml"),
        parse_lockfile,
    ),
]
