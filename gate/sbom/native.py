"""gate's native JSON: a plain dump of the Catalog dataclasses, versioned ``gate-catalog/1``.

Lossless and order-preserving: ``decode(encode(catalog)) == catalog``.
"""

from __future__ import annotations

from gate.model import Catalog, Unknown
from gate.sbom._common import (
    SbomError,
    distro_from_dict,
    distro_to_dict,
    dump_json,
    load_json,
    merged_source,
    package_from_dict,
    package_to_dict,
)

SCHEMA = "gate-catalog/1"


def encode(catalog: Catalog, *, source: dict | None = None) -> bytes:
    """``catalog`` as gate JSON (UTF-8 bytes); ``source`` adds to ``catalog.source``."""
    document = {
        "schema": SCHEMA,
        "source": dict(sorted(merged_source(catalog, source).items())),
        "distro": distro_to_dict(catalog.distro) if catalog.distro else None,
        "packages": [package_to_dict(package) for package in catalog.packages],
        "unknowns": [{"path": u.path, "found_by": u.found_by, "reason": u.reason} for u in catalog.unknowns],
    }
    return dump_json(document)


def decode(data: bytes) -> Catalog:
    """Read gate JSON back into the Catalog it was made from."""
    document = load_json(data, "gate catalog")
    if document.get("schema") != SCHEMA:
        raise SbomError(f"unsupported gate catalog schema {document.get('schema')!r} (expected {SCHEMA})")
    try:
        distro = document.get("distro")
        return Catalog(
            packages=tuple(package_from_dict(item) for item in document.get("packages") or ()),
            distro=distro_from_dict(distro) if distro is not None else None,
            unknowns=tuple(
                Unknown(str(u["path"]), str(u["found_by"]), str(u["reason"]))
                for u in document.get("unknowns") or ()
            ),
            source={str(k): str(v) for k, v in (document.get("source") or {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise SbomError(f"malformed gate catalog: {type(error).__name__}: {error}") from error
