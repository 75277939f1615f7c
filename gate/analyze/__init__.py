"""Analyzers beyond packages: embedded secrets and risky image configuration.

    from gate.analyze import AnalysisOptions, analyze_image
    from gate.image import open_image

    with open_image("oci:layout:app") as image, image.filesystem() as fs:
        result = analyze_image(image, fs, AnalysisOptions(secrets_all=False))
    result.secrets   # list[SecretFinding]: rule, severity, layer, path or config field, line, redacted match
    result.config    # list[ConfigFinding]: rule, severity, title, explanation, evidence
    result.problems  # what could not be analysed, one line each (an error is never a pass)
    result.notes     # limits that applied (files scanned only up to the size cap, ...)

Pass the image's ``catalog`` when you already have it (``gate scan`` does): package-owned
files are then known without cataloguing the image a second time.
"""

from __future__ import annotations

from gate.analyze.model import (
    AnalysisOptions,
    AnalysisResult,
    ConfigFinding,
    SecretFinding,
    SecretStats,
    redact,
)
from gate.analyze.rules import RuleSet, SecretRule
from gate.analyze.tuning import default_rules, load_rules
from gate.image.filesystem import FileSystem
from gate.model import Catalog
from gate.severity import Severity

__all__ = [
    "AnalysisOptions",
    "AnalysisResult",
    "ConfigFinding",
    "RuleSet",
    "SecretFinding",
    "SecretRule",
    "SecretStats",
    "Severity",
    "analyze_image",
    "default_rules",
    "load_rules",
    "redact",
]


def analyze_image(
    image: object,
    fs: FileSystem,
    options: AnalysisOptions | None = None,
    *,
    catalog: Catalog | None = None,
    rules: RuleSet | None = None,
) -> AnalysisResult:
    """Secrets and configuration findings for an opened image (``Image`` or ``DirImage``).

    ``rules`` defaults to the built-in rules tuned by ``options.rules_file``.
    """
    from gate.analyze.config import check_image_config
    from gate.analyze.secrets import owned_files, scan_config, scan_filesystem

    options = options or AnalysisOptions()
    if catalog is None:
        from gate.catalog import catalog_filesystem

        catalog = catalog_filesystem(fs)
    result = AnalysisResult()
    config = getattr(image, "config", None)
    if options.secrets:
        ruleset = rules or load_rules(options.rules_file)
        owned = owned_files(fs, catalog)
        result.secrets = scan_filesystem(
            fs, ruleset, options, owned, result.stats, result.problems, result.notes
        )
        if config is not None:
            result.secrets += scan_config(config, ruleset, fs.layer_digests)
    if options.config:
        if config is None:
            result.notes.append("config: a dir: source has no image config; only filesystem checks ran")
        result.config = check_image_config(image, fs, catalog, options)
    return result
