"""Reading policy and waiver files: YAML, validated by the shipped JSON Schema, then by meaning.

The schema (``policy.schema.json``, shipped as ``policies/schema.json``) catches unknown keys,
wrong types and invalid values; what a schema cannot check (dates, SPDX ids, purl patterns,
version ranges, Rego) is checked here. Every error names the file and the key path:
``policy.yaml: rules[3].vulnerabilities.severity: 'hgh' is not one of critical, high, ...``.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rfc8785
import yaml

from gate.errors import GateError, PolicyError
from gate.policy.licenses import ids_of
from gate.policy.model import (
    AnalyzerRule,
    BaseImageRule,
    LicensesRule,
    PackagePattern,
    PackagesRule,
    Policy,
    RegoModule,
    Rule,
    RuleCondition,
    SbomRule,
    VulnerabilitiesRule,
    Waiver,
)
from gate.policy.patterns import parse_package_pattern
from gate.policy.rego import load_rego
from gate.policy.schema import RULE_KINDS, load_schema, validate
from gate.severity import SEVERITY_CHOICES, Severity

MAX_POLICY_BYTES = 4 * 1024 * 1024


def load_policy(path: Path, *, rego: Sequence[Path] = ()) -> Policy:
    """Read, validate and compile a policy file (plus extra Rego files or directories)."""
    document = _read_yaml(path)
    _validate(document, path, "#")
    where = str(path)
    rules = tuple(_rule(item, f"rules[{index}]", where) for index, item in enumerate(document["rules"]))
    _unique_ids(rules, where)
    waivers = waivers_from(document.get("waivers", []), where, "waivers")
    modules = load_rego([path.parent / entry for entry in document.get("rego", [])] + list(rego))
    metadata = document.get("metadata", {})
    return Policy(
        name=metadata.get("name") or path.stem,
        rules=rules,
        waivers=waivers,
        rego=modules,
        digest=_digest(document, modules),
        source=where,
    )


def load_waivers(path: Path) -> tuple[Waiver, ...]:
    """A waivers file (``kind: Waivers``), as ``--waivers FILE`` gives it."""
    document = _read_yaml(path)
    _validate(document, path, "#/$defs/waiversFile")
    return waivers_from(document["waivers"], str(path), "waivers")


def document_kind(path: Path) -> str:
    """The ``kind`` a policy-format file declares (``Policy``, ``Waivers``), or ""."""
    document = _read_yaml(path)
    kind = document.get("kind") if isinstance(document, dict) else None
    return kind if isinstance(kind, str) else ""


def policy_for_fail_on(severity: Severity) -> Policy:
    """``--fail-on SEVERITY``: block vulnerabilities (and unrated ones), secrets and configuration
    findings at or above it, and files the analyzers could not read."""
    document: dict[str, Any] = {
        "apiVersion": "gate/v1",
        "kind": "Policy",
        "metadata": {"name": f"fail-on-{severity.label}"},
        "rules": [
            {
                "id": kind,
                "action": "block",
                "description": f"{kind} at or above {severity.label}",
                kind: {"severity": severity.label},
            }
            for kind in ("vulnerabilities", "secrets", "config")
        ],
    }
    rules = tuple(_rule(item, f"rules[{index}]", "--fail-on") for index, item in enumerate(document["rules"]))
    return Policy(
        name=f"fail-on-{severity.label}",
        rules=rules,
        waivers=(),
        rego=(),
        digest=_digest(document, ()),
        source=f"--fail-on {severity.label}",
    )


def parse_fail_on(text: str) -> Severity:
    """The one ``--fail-on`` parser: ``high`` -> Severity.HIGH; an error lists the choices."""
    try:
        return Severity.parse(text)
    except ValueError:
        raise GateError(f"--fail-on: {text!r} is not one of {', '.join(SEVERITY_CHOICES)}") from None


def waivers_from(items: list[dict[str, Any]], where: str, key: str) -> tuple[Waiver, ...]:
    waivers = []
    for index, item in enumerate(items):
        at = f"{key}[{index}]"
        package = item.get("package")
        waivers.append(
            Waiver(
                reason=item["reason"],
                owner=item["owner"],
                expires=parse_expiry(item["expires"], where=f"{where}: {at}.expires"),
                vulnerability=item.get("vulnerability"),
                package=parse_package_pattern(package, where=f"{where}: {at}.package") if package else None,
                path=item.get("path"),
                rule=item.get("rule"),
                source=f"{where}: {at}",
            )
        )
    return tuple(waivers)


def parse_expiry(text: str, *, where: str) -> datetime.datetime:
    """``2026-12-31`` -> the end of that day in UTC (exclusive); a date-time must carry an offset."""
    try:
        if len(text) == 10:
            day = datetime.date.fromisoformat(text)
            return datetime.datetime.combine(day, datetime.time(), datetime.UTC) + datetime.timedelta(days=1)
        moment = datetime.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise PolicyError(f"{where}: {text!r} is not a valid date") from None
    if moment.tzinfo is None:
        raise PolicyError(f"{where}: {text!r} needs a UTC offset (Z or +HH:MM)")
    return moment


class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps dates as text: the schema and :func:`parse_expiry` read them."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_yaml(path: Path) -> Any:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)
    except OSError as error:
        raise PolicyError(f"cannot read {path}: {error.strerror}") from None
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(f"{path}: larger than {MAX_POLICY_BYTES} bytes")
    try:
        return yaml.load(data, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise PolicyError(f"{path}:{line}: not valid YAML: {problem}") from None


def _validate(document: Any, path: Path, pointer: str) -> None:
    schema = load_schema("policy.schema.json")
    if pointer != "#":
        schema = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": pointer}
    validate(document, schema, where=str(path))


def _rule(item: dict[str, Any], at: str, where: str) -> Rule:
    kind = next(key for key in RULE_KINDS if key in item)
    body = item[kind]
    return Rule(
        item["id"], kind, item["action"], item["description"], _condition(kind, body, f"{where}: {at}.{kind}")
    )


def _condition(kind: str, body: dict[str, Any], where: str) -> RuleCondition:
    if kind == "vulnerabilities":
        return VulnerabilitiesRule(
            severity=Severity.parse(body["severity"]) if "severity" in body else None,
            unrated=body.get("unrated", True),
            fix=body.get("fix", "any"),
            max_cvss=body.get("max-cvss"),
            known_exploited=body.get("known-exploited", False),
            older_than_days=body.get("older-than-days"),
            scope=body.get("scope", "all"),
            ecosystems=tuple(value.split(":", 1)[0].lower() for value in body.get("ecosystems", ())),
            layers=body.get("layers", "all"),
        )
    if kind == "packages":
        return PackagesRule(
            deny=_patterns(body.get("deny", ()), f"{where}.deny"),
            allow=_patterns(body.get("allow", ()), f"{where}.allow"),
        )
    if kind == "licenses":
        return LicensesRule(
            deny=ids_of(body.get("deny", ()), where=f"{where}.deny"),
            allow=ids_of(body.get("allow", ()), where=f"{where}.allow"),
            unknown=body.get("unknown", "ignore"),
        )
    if kind in ("secrets", "config"):
        return AnalyzerRule(
            severity=Severity.parse(body.get("severity", "info")), rules=frozenset(body.get("rules", ()))
        )
    if kind == "base-image":
        return BaseImageRule(
            allowed=tuple(body.get("allowed", ())),
            must_be_current=body.get("must-be-current", False),
            on_unknown=body.get("on-unknown", "warn"),
        )
    return SbomRule(
        require_os=body.get("require-os", False),
        min_packages=body.get("min-packages", 0),
        allow_incomplete=frozenset(body.get("allow-incomplete", ())),
    )


def _patterns(items: Sequence[Any], where: str) -> tuple[PackagePattern, ...]:
    patterns = []
    for index, item in enumerate(items):
        text, versions = (item, None) if isinstance(item, str) else (item["purl"], item.get("versions"))
        patterns.append(parse_package_pattern(text, versions, where=f"{where}[{index}]"))
    return tuple(patterns)


def _unique_ids(rules: tuple[Rule, ...], where: str) -> None:
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.id in seen:
            raise PolicyError(f"{where}: rules[{index}].id: {rule.id!r} is used by an earlier rule")
        seen.add(rule.id)


def _digest(document: dict[str, Any], modules: Sequence[RegoModule]) -> str:
    """sha256 of the canonical JSON (RFC 8785) of the policy and the text of its Rego modules."""
    canonical = rfc8785.dumps({"policy": document, "rego": [module.source for module in modules]})
    return "sha256:" + hashlib.sha256(canonical).hexdigest()
