"""VEX input: OpenVEX and CycloneDX VEX documents, normalised to :class:`VexStatement`.

A statement applies to a vulnerability finding when one of its names (name or aliases) is the
finding's id or an alias, and one of its products is the image (by digest: ``pkg:oci/...@sha256%3A``,
``name@sha256:...``, a ``sha-256`` hash) with no subcomponents or with a subcomponent matching
the finding's package, or is the package itself (by purl; a purl without a version matches every
version). Of the statements that apply, the newest wins (OpenVEX's rule), so a later ``affected``
undoes an earlier ``not_affected``. ``not_affected`` and ``fixed`` suppress the finding before
the verdict.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gate.errors import PolicyError
from gate.policy.model import VexStatement
from gate.policy.patterns import split_purl
from gate.policy.schema import load_schema, validate

MAX_VEX_BYTES = 32 * 1024 * 1024
_DIGEST = re.compile(r"sha256(?::|%3[aA])([0-9a-f]{64})")
_CYCLONEDX_STATUS = {
    "not_affected": "not_affected",
    "false_positive": "not_affected",
    "resolved": "fixed",
    "resolved_with_pedigree": "fixed",
    "exploitable": "affected",
    "in_triage": "under_investigation",
}


def load_vex(path: Path) -> tuple[VexStatement, ...]:
    """Statements of an OpenVEX or CycloneDX VEX JSON file; a document that does not validate
    against its schema is an error naming the file and the key path."""
    document = _read_json(path)
    if isinstance(document, dict) and str(document.get("@context", "")).startswith("https://openvex.dev/ns"):
        _validate(document, "openvex.schema.json", path)
        return _openvex(document, path)
    if isinstance(document, dict) and document.get("bomFormat") == "CycloneDX":
        _validate(document, "cyclonedx-vex.schema.json", path)
        return _cyclonedx(document, path)
    raise PolicyError(f"{path}: neither an OpenVEX document (@context) nor a CycloneDX BOM (bomFormat)")


def load_vex_files(paths: Sequence[Path]) -> tuple[VexStatement, ...]:
    return tuple(statement for path in paths for statement in load_vex(path))


def image_digests_of(product: str) -> set[str]:
    return {f"sha256:{hex_}" for hex_ in _DIGEST.findall(product)}


def statement_applies(
    statement: VexStatement, names: frozenset[str], purl: str, image_digest: str | None
) -> bool:
    """Whether ``statement`` speaks about a finding (vulnerability ``names`` in package ``purl``)."""
    if not names & {statement.vulnerability, *statement.aliases}:
        return False
    for product in statement.products:
        if image_digest and image_digest in image_digests_of(product):
            if not statement.subcomponents or any(
                _same_package(sub, purl) for sub in statement.subcomponents
            ):
                return True
        elif _same_package(product, purl):
            return True
    return False


def _same_package(wanted: str, purl: str) -> bool:
    if not wanted.startswith("pkg:") or not purl:
        return False
    want_type, want_namespace, want_name, want_version = split_purl(wanted)
    have_type, have_namespace, have_name, have_version = split_purl(purl)
    return (
        want_type == have_type
        and (want_namespace or "").lower() == (have_namespace or "").lower()
        and want_name.lower() == have_name.lower()
        and (not want_version or want_version == have_version)
    )


def _read_json(path: Path) -> Any:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_VEX_BYTES + 1)
    except OSError as error:
        raise PolicyError(f"cannot read VEX file {path}: {error.strerror}") from None
    if len(data) > MAX_VEX_BYTES:
        raise PolicyError(f"{path}: VEX document larger than {MAX_VEX_BYTES} bytes")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:
        raise PolicyError(f"{path}: not valid JSON: {error}") from None


def _validate(document: Any, schema: str, path: Path) -> None:
    validate(document, load_schema(f"schemas/{schema}"), where=str(path), what="not a valid VEX document: ")


def _openvex(document: dict[str, Any], path: Path) -> tuple[VexStatement, ...]:
    default_time = _time(document.get("timestamp"))
    statements = []
    for index, item in enumerate(document["statements"]):
        vulnerability = item["vulnerability"]
        products = [_component_ids(product) for product in item.get("products", [])]
        subcomponents = [
            ident
            for product in item.get("products", [])
            for sub in product.get("subcomponents", [])
            for ident in _component_ids(sub)
        ]
        statements.append(
            VexStatement(
                vulnerability=vulnerability["name"],
                aliases=tuple(vulnerability.get("aliases", ())),
                products=tuple(ident for ids in products for ident in ids),
                subcomponents=tuple(subcomponents),
                status=item["status"],
                justification=item.get("justification", ""),
                impact_statement=item.get("impact_statement", ""),
                timestamp=_time(item.get("timestamp")) or default_time,
                source=f"{path}: statements[{index}]",
            )
        )
    return tuple(statements)


def _component_ids(component: dict[str, Any]) -> list[str]:
    ids = [component.get("@id", ""), component.get("identifiers", {}).get("purl", "")]
    if sha256 := component.get("hashes", {}).get("sha-256"):
        ids.append(f"sha256:{sha256}")
    return [ident for ident in ids if ident]


def _cyclonedx(document: dict[str, Any], path: Path) -> tuple[VexStatement, ...]:
    components = _bom_refs(document)
    default_time = _time(document.get("metadata", {}).get("timestamp"))
    statements = []
    for index, item in enumerate(document.get("vulnerabilities", [])):
        analysis = item.get("analysis", {})
        state = analysis.get("state")
        if state is None:
            continue  # a vulnerability listed without analysis states nothing
        products = [components.get(_ref(affect["ref"]), affect["ref"]) for affect in item.get("affects", [])]
        statements.append(
            VexStatement(
                vulnerability=item["id"],
                aliases=tuple(ref["id"] for ref in item.get("references", []) if "id" in ref),
                products=tuple(products),
                subcomponents=(),
                status=_CYCLONEDX_STATUS[state],
                justification=analysis.get(
                    "justification", "false_positive" if state == "false_positive" else ""
                ),
                impact_statement=analysis.get("detail", ""),
                timestamp=_time(analysis.get("lastUpdated") or analysis.get("firstIssued")) or default_time,
                source=f"{path}: vulnerabilities[{index}]",
            )
        )
    return tuple(statements)


def _bom_refs(document: dict[str, Any]) -> dict[str, str]:
    """bom-ref -> what identifies it (purl, else a sha-256 hash as a digest)."""
    refs: dict[str, str] = {}
    pending = [document.get("metadata", {}).get("component") or {}, *document.get("components", [])]
    while pending:
        component = pending.pop()
        pending.extend(component.get("components", []))
        ref = component.get("bom-ref")
        if not ref:
            continue
        hashes = {item.get("alg"): item.get("content") for item in component.get("hashes", [])}
        ident = component.get("purl") or (f"sha256:{hashes['SHA-256']}" if hashes.get("SHA-256") else ref)
        refs[ref] = ident
    return refs


def _ref(ref: str) -> str:
    """A BOM-Link (``urn:cdx:serial/version#bom-ref``) names a component by its bom-ref."""
    return ref.split("#", 1)[1] if ref.startswith("urn:cdx:") and "#" in ref else ref


def _time(text: Any) -> datetime.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
