"""PHP packages Composer installed: ``vendor/composer/installed.json``.

Composer 1 writes a JSON list of package objects; Composer 2 writes ``{"packages": [...],
"dev": bool, "dev-package-names": [...]}``. Packages installed only for development are
still on disk and reported, with the metadata ``("dev", "true")``. Platform requirements
(``php``, ``ext-json``, ``composer-plugin-api``: names without a vendor) are not packages.
"""

from __future__ import annotations

from typing import Any

from packageurl import PackageURL

from gate import safejson
from gate.catalog import CatalogContext, Cataloger, read_whole
from gate.catalog.licenses import normalize_license
from gate.image.filesystem import FileEntry, FileSystem
from gate.model import Package, PackageLocation

NAME = "php-composer-installed-cataloger"
ECOSYSTEM = "Packagist"
MAX_INSTALLED_JSON = 64 * 1024 * 1024


def parse_installed_json(fs: FileSystem, context: CatalogContext, entry: FileEntry) -> list[Package]:
    """Every package of one ``installed.json`` (Composer 1 or 2)."""
    try:
        document = safejson.loads(read_whole(fs, entry, MAX_INSTALLED_JSON))
    except (ValueError, RecursionError) as error:
        raise ValueError(f"not valid JSON: {error}") from None
    if isinstance(document, dict) and isinstance(document.get("packages"), list):
        packages, dev_names = document["packages"], set(document.get("dev-package-names") or ())
    elif isinstance(document, list):
        packages, dev_names = document, set()
    else:
        raise ValueError("neither a Composer 1 list nor a Composer 2 {packages: [...]} document")
    location = context.location_of(entry)
    return [
        _package(item, location, item["name"] in dev_names)
        for item in packages
        if isinstance(item, dict)
        and isinstance(item.get("name"), str)
        and "/" in item["name"]
        and isinstance(item.get("version"), str)
        and item["version"]
    ]


def _package(item: dict[str, Any], location: PackageLocation, dev: bool) -> Package:
    name, version = item["name"], item["version"]
    vendor, _, project = name.partition("/")
    return Package(
        name=name,
        version=version,
        type="composer",
        purl=PackageURL(type="composer", namespace=vendor, name=project, version=version).to_string(),
        found_by=NAME,
        locations=(location,),
        ecosystem=ECOSYSTEM,
        licenses=_licenses(item.get("license")),
        dependencies=_dependencies(item.get("require")),
        metadata=(("dev", "true"),) if dev else (),
    )


def _licenses(declared: Any) -> tuple[str, ...]:
    """``license`` is one SPDX id or a list of them (Composer schema: alternatives, i.e. OR)."""
    names = declared if isinstance(declared, list) else [declared]
    return tuple(sorted({normalize_license(n) for n in names if isinstance(n, str) and n.strip()}))


def _dependencies(require: Any) -> tuple[str, ...]:
    if not isinstance(require, dict):
        return ()
    return tuple(sorted(name for name in require if isinstance(name, str) and "/" in name))


CATALOGERS: list[Cataloger] = [
    Cataloger(NAME, ("**/vendor/composer/installed.json",), parse_installed_json),
]
