"""JSON Schema validation with one-line errors that name the file and the key path.

``rules[3].vulnerabilities.severity: 'hgh' is not one of critical, high, medium, low, info``:
of all the errors a document has, the deepest is reported (the most specific), in plain words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from gate.errors import PolicyError

SCHEMAS = Path(__file__).parent
_COMBINATORS = ("oneOf", "anyOf", "not")
_TYPE_NAMES = {
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
}
_PATTERN_NAMES = {
    "^pkg:": "a purl pattern such as pkg:npm/event-stream",
    "^[A-Za-z0-9][A-Za-z0-9._-]*$": "letters, digits, '.', '_' and '-'",
}
RULE_KINDS = ("vulnerabilities", "packages", "licenses", "secrets", "config", "base-image", "sbom")
WAIVER_SCOPES = ("vulnerability", "package", "path", "rule")


@cache
def load_schema(relative: str) -> dict[str, Any]:
    """A schema shipped in gate/policy (``policy.schema.json``, ``schemas/openvex.schema.json``)."""
    schema: dict[str, Any] = json.loads((SCHEMAS / relative).read_text())
    return schema


def validate(document: Any, schema: dict[str, Any], *, where: str, what: str = "") -> None:
    """Raise PolicyError ``{where}: {what}{key path}: {problem}`` for the most specific error."""
    errors = list(Draft202012Validator(schema).iter_errors(document))
    if errors:
        error = max(errors, key=lambda item: (len(item.absolute_path), item.validator not in _COMBINATORS))
        raise PolicyError(f"{where}: {what}{describe(error)}")


def key_path(parts: Sequence[str | int]) -> str:
    """``["rules", 3, "vulnerabilities"]`` -> ``rules[3].vulnerabilities``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe(error: ValidationError) -> str:
    """One line for a schema error: key path, then what is wrong in plain words."""
    where = key_path(list(error.absolute_path))
    message = _problem(error)
    return f"{where}: {message}" if where else message


def _problem(error: ValidationError) -> str:
    instance, kind = error.instance, error.validator
    schema: dict[str, Any] = dict(error.schema) if isinstance(error.schema, Mapping) else {}
    properties = schema.get("properties", {})
    if kind == "enum":
        return f"{instance!r} is not one of {', '.join(str(item) for item in schema['enum'])}"
    if kind == "const":
        return f"{instance!r} must be {schema['const']!r}"
    if kind == "additionalProperties":
        unknown = sorted(set(instance if isinstance(instance, dict) else ()) - set(properties))
        return f"unknown key {unknown[0]!r} (known: {', '.join(properties)})"
    if kind == "required":
        return f"missing key {error.message.split(' is a required')[0]}"
    if kind == "type":
        return f"{instance!r} is not {_TYPE_NAMES.get(str(error.validator_value), error.validator_value)}"
    if kind == "oneOf" and "action" in properties:
        return f"a rule needs exactly one of {', '.join(RULE_KINDS)}"
    if kind == "oneOf" and "deny" in properties:
        return "give exactly one of deny or allow"
    if kind == "not" and "deny" in properties:
        return "give deny or allow, not both"
    if kind == "anyOf" and "expires" in properties:
        return f"a waiver needs at least one of {', '.join(WAIVER_SCOPES)}"
    if kind in ("oneOf", "anyOf") and error.context:
        # The alternative the value was meant for is the one that failed on more than its type.
        return _problem(min(error.context, key=lambda item: item.validator == "type"))
    if kind == "minProperties":
        return "must not be empty"
    if kind == "pattern":
        expected = _PATTERN_NAMES.get(schema["pattern"], "the format in docs/policy.md")
        return f"{instance!r} is not valid here (expected {expected})"
    return error.message
