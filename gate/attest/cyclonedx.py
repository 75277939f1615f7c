"""CycloneDX SBOM predicate (``https://cyclonedx.org/bom``): the BOM itself, as gate.sbom writes it."""

from __future__ import annotations

import json
from typing import Any

from gate.model import Catalog
from gate.sbom import SbomFormat, encode


def cyclonedx_predicate(catalog: Catalog, *, source: dict | None = None) -> dict[str, Any]:
    """The CycloneDX 1.6 document for ``catalog``, as the predicate object."""
    return json.loads(encode(catalog, SbomFormat.CYCLONEDX_JSON, source=source))
