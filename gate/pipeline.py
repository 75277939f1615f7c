"""The scanning half of the gate as one library call: read the image once, catalog, match, analyze.

    from gate.pipeline import ScanOptions, scan_image
    scan = scan_image("oci:out/app:1", ScanOptions(db_path=Path("vulns.db")))
    scan.matches.findings, scan.analysis.secrets, scan.database.digest, scan.report()

``gate scan``, ``gate run`` and the tests all go through :func:`scan_image` (or
:func:`scan_read_image` when the caller already holds the image open, as ``gate run`` does for
each platform of an index). Progress is reported through a :data:`Progress` callback: the library
names the stages, the CLI decides how they look.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gate.analyze import AnalysisOptions, AnalysisResult, analyze_image
from gate.catalog import catalog_image
from gate.errors import GateError
from gate.image import DirImage, FileSystem, Image, RegistryClient, open_image
from gate.image.base import BaseImage, find_base_image
from gate.match import Matcher, MatchResult
from gate.model import Catalog
from gate.policy import (
    BaseFreshness,
    DatabaseIdentity,
    Decision,
    Policy,
    PolicyInput,
    VexStatement,
    Waiver,
    check_base_freshness,
    evaluate,
)
from gate.report.model import PlatformReport, RunReport
from gate.report.scan import DatabaseInfo, analysis_json, scan_report
from gate.sbom import decode
from gate.vulndb import VulnDB, resolve_db_path
from gate.vulndb.status import check_fresh

SCANNERS = ("vuln", "secret", "config")

Advance = Callable[[int], None]
Progress = Callable[..., AbstractContextManager[Advance]]
"""``progress(name, total=None)`` wraps one stage; the yielded callback advances it."""


@contextlib.contextmanager
def no_progress(name: str, *, total: int | None = None) -> Iterator[Advance]:
    yield lambda _step: None


@dataclass(frozen=True)
class ImageRead:
    """An image opened and pinned, its filesystem built once, and its base image (when declared)."""

    image: Image | DirImage
    fs: FileSystem
    base: BaseImage | None


@contextlib.contextmanager
def read_image(
    reference: str,
    *,
    platform: str | None = None,
    client: RegistryClient | None = None,
    base_reference: str | None = None,
    progress: Progress = no_progress,
) -> Iterator[ImageRead]:
    """Pin and open the image, build its filesystem (one progress stage), find its base image."""
    with (
        open_image(reference, platform=platform, client=client) as image,
        read_opened(image, client=client, base_reference=base_reference, progress=progress) as read,
    ):
        yield read


@contextlib.contextmanager
def read_opened(
    image: Image | DirImage,
    *,
    client: RegistryClient | None = None,
    base_reference: str | None = None,
    progress: Progress = no_progress,
) -> Iterator[ImageRead]:
    """Build the filesystem of an image that is already open and find its base image."""
    layer_count = len(getattr(image, "layers", ())) or None
    with progress(f"read {layer_count or 1} layer(s) of {image.ref}", total=layer_count) as advance:
        fs = image.filesystem(progress=advance)
    with fs:
        yield ImageRead(image, fs, find_base_image(image, reference=base_reference, client=client))


def read_sbom(path: Path) -> Catalog:
    """The packages of a CycloneDX or SPDX JSON SBOM (gate's, syft's or trivy's)."""
    try:
        return decode(path.read_bytes())
    except OSError as error:
        raise GateError(f"cannot read {path}: {error.strerror}") from error


def catalog_reference(
    reference: str,
    *,
    platform: str | None = None,
    client: RegistryClient | None = None,
    base_reference: str | None = None,
    progress: Progress = no_progress,
) -> Catalog:
    """Read an image once and catalog its packages (what ``gate sbom`` writes)."""
    with (
        read_image(
            reference, platform=platform, client=client, base_reference=base_reference, progress=progress
        ) as read,
        progress("catalog packages"),
    ):
        return catalog_image(read.image, read.fs, base=read.base)


@dataclass(frozen=True)
class ScanOptions:
    scanners: frozenset[str] = frozenset(SCANNERS)
    db_path: Path | None = None  # None: $GATE_DB, else the user cache
    max_db_age: str = "5d"
    allow_stale_db: bool = False
    platform: str | None = None
    base_reference: str | None = None  # the base image, when the image does not declare it
    analysis: AnalysisOptions = field(default_factory=AnalysisOptions)  # which analyzers from scanners


@dataclass(frozen=True)
class Scan:
    """What one read of an image (or one SBOM) found."""

    catalog: Catalog
    target: dict[str, str]  # kind image (reference, digest) or sbom (path)
    matches: MatchResult
    analysis: AnalysisResult | None  # None for an SBOM, or when neither secret nor config was scanned
    base: BaseImage | None
    database: DatabaseInfo | None  # None when the vuln scanner did not run
    scanners: frozenset[str]

    def report(self) -> dict[str, Any]:
        """The native JSON scan report (docs/scan-report.schema.json)."""
        report = scan_report(
            self.matches, packages=len(self.catalog.packages), database=self.database, target=self.target
        )
        if self.analysis is not None:
            report |= analysis_json(
                self.analysis, secrets="secret" in self.scanners, config="config" in self.scanners
            )
        return report


def platform_report(scan: Scan, digest: str, platform: str, decision: Decision | None) -> PlatformReport:
    """One scan (and the decision on it) as the report formats take it."""
    return PlatformReport(
        platform=platform,
        digest=digest,
        catalog=scan.catalog,
        findings=scan.matches.findings,
        analysis=scan.analysis,
        database=scan.database,
        base=scan.base,
        decision=decision,
    )


def scan_run_report(scan: Scan, decision: Decision | None, *, started: str, finished: str) -> RunReport:
    """One scan (of an image or an SBOM) as the report formats take it: a run of one platform."""
    target = scan.target
    digest = target.get("digest", "")
    return RunReport(
        reference=target.get("reference") or target.get("path", ""),
        digest=digest,
        platforms=(platform_report(scan, digest, "", decision),),
        started=started,
        finished=finished,
        signing="not signed (a scan signs nothing)",
    )


def parse_scanners(text: str) -> frozenset[str]:
    """``vuln,secret`` -> the scanners to run; an error names unknown ones."""
    chosen = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = chosen - set(SCANNERS)
    if unknown or not chosen:
        raise GateError(
            f"unknown scanner(s) {', '.join(sorted(unknown)) or '(none)'} in --scanners",
            hint="choose from " + ", ".join(SCANNERS),
        )
    return chosen


@contextlib.contextmanager
def open_db(options: ScanOptions) -> Iterator[VulnDB | None]:
    """The vulnerability database (checked for freshness), or None when vuln is not scanned."""
    if "vuln" not in options.scanners:
        yield None
        return
    with VulnDB.open(resolve_db_path(options.db_path)) as db:
        check_fresh(db, options.max_db_age, allow_stale=options.allow_stale_db)
        yield db


def scan_image(
    reference: str,
    options: ScanOptions | None = None,
    *,
    client: RegistryClient | None = None,
    progress: Progress = no_progress,
) -> Scan:
    """Read ``reference`` once and run the chosen scanners over it."""
    options = options or ScanOptions()
    with (
        open_db(options) as db,
        read_image(
            reference,
            platform=options.platform,
            client=client,
            base_reference=options.base_reference,
            progress=progress,
        ) as read,
    ):
        return scan_read_image(read, db, options, progress=progress)


def scan_read_image(
    read: ImageRead, db: VulnDB | None, options: ScanOptions, *, progress: Progress = no_progress
) -> Scan:
    """Catalog an image already read, match it against ``db`` and run the analyzers."""
    with progress("catalog packages"):
        catalog = catalog_image(read.image, read.fs, base=read.base)
    analysis = None
    if options.scanners & {"secret", "config"}:
        analysis_options = replace(
            options.analysis,
            secrets="secret" in options.scanners,
            config="config" in options.scanners,
            base_layers=read.base.layer_count if read.base else options.analysis.base_layers,
        )
        with progress("analyze secrets and configuration"):
            analysis = analyze_image(read.image, read.fs, analysis_options, catalog=catalog)
    target = {"kind": "image", "reference": str(read.image.ref), "digest": read.image.digest}
    return _matched(catalog, target, db, options.scanners, analysis, read.base, progress)


def scan_catalog(
    catalog: Catalog,
    target: dict[str, str],
    options: ScanOptions | None = None,
    *,
    progress: Progress = no_progress,
) -> Scan:
    """Match packages that come from an SBOM (vulnerabilities only: an SBOM holds no files)."""
    options = replace(options or ScanOptions(), scanners=frozenset({"vuln"}))
    with open_db(options) as db:
        return _matched(catalog, target, db, options.scanners, None, None, progress)


def scan_sbom(path: Path, options: ScanOptions | None = None, *, progress: Progress = no_progress) -> Scan:
    return scan_catalog(read_sbom(path), {"kind": "sbom", "path": str(path)}, options, progress=progress)


def _matched(
    catalog: Catalog,
    target: dict[str, str],
    db: VulnDB | None,
    scanners: frozenset[str],
    analysis: AnalysisResult | None,
    base: BaseImage | None,
    progress: Progress,
) -> Scan:
    if db is None:
        return Scan(catalog, target, MatchResult((), ()), analysis, base, None, scanners)
    with progress(f"match {len(catalog.packages)} packages"):
        matches = Matcher(db).match(catalog.packages)
    database = DatabaseInfo.of(db)
    return Scan(catalog, target, matches, analysis, base, database, scanners)


@dataclass(frozen=True)
class Judgement:
    """A policy and what adjusts it for one run: extra waivers, VEX statements, offline."""

    policy: Policy
    waivers: tuple[Waiver, ...] = ()
    vex: tuple[VexStatement, ...] = ()
    offline: bool = False  # the base image's tag is not resolved (must-be-current is "unknown")


def policy_input(scan: Scan, *, base_freshness: BaseFreshness | None = None) -> PolicyInput:
    """What the policy is evaluated over, from one scan (``None`` sections were not scanned)."""
    analysis = scan.analysis
    image = scan.target.get("kind") == "image"
    return PolicyInput(
        catalog=scan.catalog,
        vulnerabilities=scan.matches.findings if scan.database is not None else None,
        secrets=tuple(analysis.secrets) if analysis is not None and "secret" in scan.scanners else None,
        config=tuple(analysis.config) if analysis is not None and "config" in scan.scanners else None,
        analysis_problems=tuple(analysis.problems) if analysis is not None else (),
        reference=scan.target.get("reference") if image else None,
        digest=scan.target.get("digest") if image else None,
        base=scan.base,
        base_freshness=base_freshness,
        database=DatabaseIdentity(scan.database.digest, scan.database.built_at) if scan.database else None,
    )


def decide(
    scan: Scan,
    judgement: Judgement,
    *,
    client: RegistryClient | None = None,
    platform: str | None = None,
    now: datetime.datetime | None = None,
) -> Decision:
    """Evaluate the policy over a scan; resolves the base image's tag first when a rule needs it."""
    freshness = None
    if judgement.policy.needs_base_freshness:
        freshness = check_base_freshness(
            scan.base, client=client, platform=platform, offline=judgement.offline, now=now
        )
    inputs = policy_input(scan, base_freshness=freshness)
    return evaluate(judgement.policy, inputs, waivers=judgement.waivers, vex=judgement.vex, now=now)
