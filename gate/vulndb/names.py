"""Package names as OSV files them: per-ecosystem normalisation and purl-type mapping."""

from __future__ import annotations

import re

from gate.vulndb.osv import base_ecosystem

# purl type -> OSV ecosystem, for language packages whose ``Package.ecosystem`` is empty.
ECOSYSTEM_BY_PURL_TYPE = {
    "pypi": "PyPI",
    "npm": "npm",
    "golang": "Go",
    "cargo": "crates.io",
    "maven": "Maven",
    "gem": "RubyGems",
    "composer": "Packagist",
    "nuget": "NuGet",
}
_PEP503 = re.compile(r"[-_.]+")


def normalise_name(ecosystem: str, name: str) -> str:
    """The form two spellings of one package share in ``ecosystem``.

    PyPI: PEP 503. NuGet and Packagist: case-insensitive registries. Everything else
    (npm, Go module paths, Maven group:artifact, crates, gems, distro packages) is exact.
    """
    match base_ecosystem(ecosystem):
        case "PyPI":
            return _PEP503.sub("-", name).lower()
        case "NuGet" | "Packagist":
            return name.lower()
    return name
