"""Rule tuning from a YAML file: disable rules, change severities, allowlist, add rules.

    disable: [jwt]
    severity: {generic-secret-assignment: low}
    allow:
      paths: ["/usr/share/doc/*"]          # image-path globs never scanned (* spans /)
      values: ["^sk_test_"]                # regexes; a matching secret value is not reported
    rules:
      - id: acme-api-key
        title: ACME API key
        severity: high
        regex: "acme_[0-9a-f]{32}"         # bytes regex; group (?P<secret>...) if not the whole match
        keywords: ["acme_"]                # the regex runs only on files containing one (case-insensitive)
        paths: ["*.env"]                   # optional file-name globs

Every regex, built-in or not, must pass the backtracking guard in ``rules.py``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from gate.analyze.builtin_rules import BUILTIN_RULES
from gate.analyze.rules import RuleSet, SecretRule, check_regex_safety
from gate.errors import GateError
from gate.severity import Severity

_TOP_KEYS = {"disable", "severity", "allow", "rules"}
_RULE_KEYS = {"id", "title", "severity", "regex", "keywords", "paths"}
_RULE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def default_rules() -> RuleSet:
    return RuleSet(BUILTIN_RULES)


def load_rules(path: Path | None) -> RuleSet:
    """The built-in rules, tuned by the YAML file at ``path`` when given."""
    if path is None:
        return default_rules()
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise GateError(f"cannot read rules file {path}: {error.strerror}") from error
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise GateError(f"rules file {path} is not valid YAML: {' '.join(str(error).split())}") from error
    return tune(default_rules(), document or {}, str(path))


def tune(base: RuleSet, document: Any, where: str) -> RuleSet:
    if not isinstance(document, dict):
        raise GateError(f"{where}: expected a mapping at the top level")
    unknown = set(document) - _TOP_KEYS
    if unknown:
        raise GateError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    known = {rule.id for rule in base.rules}
    custom = [
        _custom_rule(item, f"{where}: rules[{i}]") for i, item in enumerate(_list(document, "rules", where))
    ]
    known |= {rule.id for rule in custom}
    disabled = {_known_id(item, known, f"{where}: disable") for item in _list(document, "disable", where)}
    severities = _severities(document.get("severity") or {}, known, where)
    rules = [
        replace(rule, severity=severities.get(rule.id, rule.severity))
        for rule in (*base.rules, *custom)
        if rule.id not in disabled
    ]
    allow = document.get("allow") or {}
    if not isinstance(allow, dict) or set(allow) - {"paths", "values"}:
        raise GateError(f"{where}: allow takes only 'paths' and 'values'")
    paths = tuple(str(p) for p in _list(allow, "paths", f"{where}: allow"))
    values = tuple(
        _value_pattern(v, f"{where}: allow.values") for v in _list(allow, "values", f"{where}: allow")
    )
    return RuleSet(tuple(rules), base.allow_paths + paths, base.allow_values + values)


def _list(document: dict[str, Any], key: str, where: str) -> list[Any]:
    value = document.get(key) or []
    if not isinstance(value, list):
        raise GateError(f"{where}: {key} must be a list")
    return value


def _known_id(value: Any, known: set[str], where: str) -> str:
    if value not in known:
        raise GateError(f"{where}: no rule {value!r}")
    return str(value)


def _severity(value: Any, where: str) -> Severity:
    try:
        return Severity.parse(str(value))
    except ValueError as error:
        raise GateError(f"{where}: severity {error}") from None


def _severities(value: Any, known: set[str], where: str) -> dict[str, Severity]:
    if not isinstance(value, dict):
        raise GateError(f"{where}: severity must map rule ids to severities")
    return {
        _known_id(rule_id, known, f"{where}: severity"): _severity(level, f"{where}: severity.{rule_id}")
        for rule_id, level in value.items()
    }


def _value_pattern(value: Any, where: str) -> re.Pattern[str]:
    check_regex_safety(str(value), where)
    return re.compile(str(value))


def _custom_rule(item: Any, where: str) -> SecretRule:
    if not isinstance(item, dict) or set(item) - _RULE_KEYS or not {"id", "regex", "keywords"} <= set(item):
        raise GateError(f"{where}: a rule needs id, regex and keywords (and may have title, severity, paths)")
    rule_id = str(item["id"])
    if not _RULE_ID.fullmatch(rule_id):
        raise GateError(f"{where}: rule id {rule_id!r} must be lowercase letters, digits and dashes")
    pattern = str(item["regex"])
    check_regex_safety(pattern, f"{where} ({rule_id})")
    keywords = tuple(str(k).lower().encode() for k in item["keywords"] or ())
    if not keywords:
        raise GateError(f"{where} ({rule_id}): give at least one keyword")
    return SecretRule(
        id=rule_id,
        title=str(item.get("title") or rule_id),
        severity=_severity(item.get("severity", "high"), f"{where} ({rule_id})"),
        regex=re.compile(pattern.encode()),
        keywords=keywords,
        paths=tuple(str(p) for p in item.get("paths") or ()),
    )
