"""The HTML report (``report.html``): one self-contained page a person opens from CI artifacts.

Verdict, findings by severity and by layer (base image or the image's own), secrets,
configuration findings, waivers, what was signed, and the SBOM's package list with a search box.
No external request: styles and the one small script are inline, and a Content-Security-Policy
allows only that script (by its hash), no network, no other script. Every value is escaped
(package names, paths and advisory texts are hostile), so the policy is a second line only.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from gate import __version__
from gate.report.model import (
    PlatformReport,
    RunReport,
    blocking_violations,
    finding_order,
    in_base_image,
    layer_of,
    secret_in_base,
    severity_label,
)
from gate.severity import Severity

_LEVELS = tuple(reversed(Severity))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_VERDICT = {"pass": "PASS", "fail": "FAIL", "none": "SCANNED"}

SEARCH_SCRIPT = """
document.querySelectorAll("input.search").forEach(function (box) {
  var rows = document.getElementById(box.dataset.table).tBodies[0].rows;
  var count = document.getElementById(box.dataset.count);
  box.addEventListener("input", function () {
    var query = box.value.trim().toLowerCase();
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var hit = query === "" || rows[i].dataset.search.indexOf(query) !== -1;
      rows[i].hidden = !hit;
      if (hit) { shown++; }
    }
    count.textContent = String(shown);
  });
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; }
h1 { font-size: 1.4rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; }
.verdict { display: inline-block; padding: .2rem .8rem; border-radius: .3rem; color: #fff; }
.verdict.pass { background: #1a7f37; } .verdict.fail { background: #cf222e; }
.verdict.none { background: #57606a; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; }
.critical { color: #82071e; font-weight: bold; } .high { color: #cf222e; }
.medium { color: #9a6700; } .low, .info { color: #57606a; } .unknown { color: #cf222e; }
code { font-size: .85rem; word-break: break-all; }
input.search { padding: .3rem; width: 20rem; }
"""


def html_report(report: RunReport) -> str:
    script_hash = base64.b64encode(hashlib.sha256(SEARCH_SCRIPT.encode()).digest()).decode()
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>gate {_VERDICT[report.verdict]}: {_e(report.reference)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f'<h1>gate <span id="verdict" class="verdict {report.verdict}">{_VERDICT[report.verdict]}</span> '
        f"<code>{_e(report.reference)}</code></h1>",
        *_overview(report),
        *_severity_counts(report),
    ]
    for index, platform in enumerate(report.platforms):
        parts += _platform(report, platform, index)
    parts += _signing(report)
    parts += [
        f"<p>gate {__version__}, {_e(report.finished)}</p>",
        f"<script>{SEARCH_SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _e(value: object) -> str:
    return html.escape(_CONTROL.sub("\ufffd", str(value)), quote=True)


def _sev(severity: Severity | None) -> str:
    label = severity_label(severity)
    return f'<span class="{label}">{label}</span>'


def _origin(base: bool | None) -> str:
    return {True: "base image", False: "own", None: "unknown"}[base]


def _table(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, id_: str = "", search: Sequence[str] = ()
) -> str:
    """Cells are HTML already escaped by the caller; ``search`` gives each row's search text."""
    names = "".join(f"<th>{_e(name)}</th>" for name in header)
    head = f"<thead><tr>{names}</tr></thead>" if any(header) else ""
    body = []
    texts = list(search)
    for index, row in enumerate(rows):
        attribute = f' data-search="{_e(texts[index].lower())}"' if texts else ""
        body.append(f"<tr{attribute}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    ident = f' id="{id_}"' if id_ else ""
    return f"<table{ident}>{head}<tbody>{''.join(body)}</tbody></table>"


def _overview(report: RunReport) -> list[str]:
    rows = [
        ["digest", f"<code>{_e(report.digest)}</code>"],
        ["started", _e(report.started)],
        ["finished", _e(report.finished)],
    ]
    decision = next((p.decision for p in report.platforms if p.decision is not None), None)
    if decision is not None:
        rows.append(["policy", f"{_e(decision.policy_name)} <code>{_e(decision.policy_digest)}</code>"])
        reasons = [
            p.decision.reason() for p in report.platforms if p.decision is not None and not p.decision.passed
        ]
        if reasons:
            rows.append(["why", _e("; ".join(reasons))])
    database = next((p.database for p in report.platforms if p.database is not None), None)
    if database is not None:
        rows.append(["database", f"<code>{_e(database.digest)}</code> built {_e(database.built_at)}"])
    if report.missing_platforms:
        rows.append(["missing platforms", _e(", ".join(report.missing_platforms))])
    return [_table(["", ""], rows)]


def _severity_counts(report: RunReport) -> list[str]:
    rows = []
    for platform in report.platforms:
        counts = Counter(finding.rating.severity for finding in platform.findings)
        rows.append(
            [_e(platform.label)]
            + [str(counts.get(level, 0)) for level in _LEVELS]
            + [str(len(platform.secrets)), str(len(platform.config)), str(len(platform.catalog.packages))]
        )
    header = ["platform", *(level.label for level in _LEVELS), "secrets", "config", "packages"]
    return ["<h2>Findings by severity</h2>", _table(header, rows)]


def _platform(report: RunReport, platform: PlatformReport, index: int) -> list[str]:
    title = f" ({_e(platform.platform)})" if platform.platform else ""
    parts = [f"<h2>Image{title}</h2>", f"<p><code>{_e(report.repository)}@{_e(platform.digest)}</code></p>"]
    if platform.decision is not None:
        parts += _policy(platform)
    parts += _vulnerabilities(platform)
    parts += _layers(platform)
    parts += _secrets(platform)
    parts += _config(platform)
    parts += _packages(platform, index)
    return parts


def _policy(platform: PlatformReport) -> list[str]:
    decision = platform.decision
    assert decision is not None
    rules = [
        [
            _e(o.rule_id),
            _e(o.action),
            _e(o.status),
            str(len(o.violations)),
            str(len(o.waived)),
            _e(o.description or o.reason),
        ]
        for o in decision.outcomes
    ]
    parts = [
        "<h3>Policy rules</h3>",
        _table(["rule", "action", "status", "findings", "waived", "description"], rules),
    ]
    blocking = blocking_violations(decision)
    if blocking:
        rows = [[_e(o.rule_id), _sev(v.severity), _e(v.id), _e(v.message)] for o, v in blocking]
        parts += ["<h3>Blocking findings</h3>", _table(["rule", "severity", "finding", "detail"], rows)]
    waived = [(o, item) for o in decision.outcomes for item in o.waived]
    if waived:
        rows = [
            [
                _e(item.violation.id),
                _e(o.rule_id),
                _e(item.waiver.reason),
                _e(item.waiver.owner),
                _e(item.waiver.expires.date()),
            ]
            for o, item in waived
        ]
        parts += ["<h3>Waivers applied</h3>", _table(["finding", "rule", "reason", "owner", "expires"], rows)]
    return parts


def _vulnerabilities(platform: PlatformReport) -> list[str]:
    if platform.database is None:
        return ["<h3>Vulnerabilities</h3>", "<p>Not scanned.</p>"]
    rows = []
    for finding in sorted(platform.findings, key=finding_order):
        package = finding.package
        layer = layer_of(package)
        rows.append(
            [
                _e(finding.id),
                _sev(finding.rating.severity),
                _e(package.name),
                _e(package.version),
                _e(", ".join(finding.fixed_versions) or "-"),
                _e("-" if layer is None else layer),
                _e(_origin(in_base_image(package))),
                "yes" if finding.known_exploited else "",
                _e(finding.summary),
            ]
        )
    header = [
        "vulnerability",
        "severity",
        "package",
        "version",
        "fixed in",
        "layer",
        "from",
        "exploited",
        "summary",
    ]
    return [f"<h3>Vulnerabilities ({len(rows)})</h3>", _table(header, rows)]


def _layers(platform: PlatformReport) -> list[str]:
    """What each layer introduced: packages, vulnerabilities by severity, secrets."""
    packages: Counter[int | None] = Counter(layer_of(p) for p in platform.catalog.packages)
    vulnerable: dict[int | None, Counter[Severity]] = defaultdict(Counter)
    for finding in platform.findings:
        vulnerable[layer_of(finding.package)][finding.rating.severity] += 1
    secrets: Counter[int | None] = Counter(secret.layer_index for secret in platform.secrets)
    origin: dict[int | None, bool | None] = {layer_of(p): in_base_image(p) for p in platform.catalog.packages}
    origin |= {s.layer_index: secret_in_base(s, platform.base) for s in platform.secrets}
    layers = sorted(
        set(packages) | set(vulnerable) | set(secrets), key=lambda layer: -1 if layer is None else layer
    )
    rows = [
        [
            _e("-" if layer is None else layer),
            _e(_origin(origin.get(layer))),
            str(packages.get(layer, 0)),
            *(str(vulnerable[layer].get(level, 0)) for level in _LEVELS),
            str(secrets.get(layer, 0)),
        ]
        for layer in layers
    ]
    base = f" (base image: <code>{_e(platform.base.reference)}</code>)" if platform.base else ""
    header = ["layer", "from", "packages", *(level.label for level in _LEVELS), "secrets"]
    return [f"<h3>By layer{base}</h3>", _table(header, rows)]


def _secrets(platform: PlatformReport) -> list[str]:
    if platform.analysis is None:
        return []
    rows = [
        [
            _e(s.rule_id),
            _sev(s.severity),
            _e(s.path + (f":{s.line}" if s.line else "")),
            _e("-" if s.layer_index is None else s.layer_index),
            _e(_origin(secret_in_base(s, platform.base))),
            f"<code>{_e(s.redacted)}</code>",
            "yes" if s.visible else "no (deleted by a later layer)",
        ]
        for s in platform.secrets
    ]
    header = ["rule", "severity", "where", "layer", "from", "match (redacted)", "visible"]
    return [f"<h3>Secrets ({len(rows)})</h3>", _table(header, rows) if rows else "<p>None found.</p>"]


def _config(platform: PlatformReport) -> list[str]:
    if platform.analysis is None:
        return []
    rows = [
        [
            _e(c.rule_id),
            _sev(c.severity),
            _e(c.title),
            _e(c.explanation),
            "<br>".join(_e(line) for line in c.evidence),
        ]
        for c in platform.config
    ]
    header = ["rule", "severity", "finding", "why", "evidence"]
    return [f"<h3>Configuration ({len(rows)})</h3>", _table(header, rows) if rows else "<p>None found.</p>"]


def _packages(platform: PlatformReport, index: int) -> list[str]:
    packages = sorted(platform.catalog.packages, key=lambda p: (p.name, p.version, p.purl))
    rows, search = [], []
    for package in packages:
        layer = layer_of(package)
        rows.append(
            [
                _e(package.name),
                _e(package.version),
                _e(package.type),
                _e(" AND ".join(package.licenses)),
                _e("-" if layer is None else layer),
                _e(_origin(in_base_image(package))),
                f"<code>{_e(package.purl)}</code>",
            ]
        )
        search.append(
            f"{package.name} {package.version} {package.type} {package.purl} {' '.join(package.licenses)}"
        )
    table, count = f"packages-{index}", f"packages-{index}-shown"
    return [
        f'<h3>SBOM packages (<span id="{count}">{len(rows)}</span> of {len(rows)})</h3>',
        f'<p><input class="search" type="search" placeholder="Search packages" aria-label="Search packages" '
        f'data-table="{table}" data-count="{count}"></p>',
        _table(
            ["name", "version", "type", "licenses", "layer", "from", "purl"], rows, id_=table, search=search
        ),
    ]


def _signing(report: RunReport) -> list[str]:
    parts = ["<h2>Signing</h2>"]
    if report.signed:
        rows = [
            [_e(s.kind), f"<code>{_e(s.reference)}</code>", f"<code>{_e(s.digest)}</code>"]
            for s in report.signed
        ]
        parts.append(_table(["kind", "reference", "digest"], rows))
    elif report.would_sign:
        items = "".join(f"<li><code>{_e(line)}</code></li>" for line in report.would_sign)
        parts.append(f"<p>Dry run: nothing was signed. A real run would publish:</p><ul>{items}</ul>")
    else:
        parts.append(f"<p>{_e(report.signing or 'Nothing was signed.')}</p>")
    return parts
