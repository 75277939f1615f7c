"""`gate run` as a library call: read the image once, decide, and only on pass attest, sign, publish.

    from gate.run import RunOptions, decide_with_policy, run_image
    decide, policy = decide_with_policy(Path("policy.yaml"))
    result = run_image("registry.example/app:1", decide, policy, KeySigner(key), RunOptions(report_dir=out))
    result.passed, result.published, result.to_json()

For each platform chosen (one image, ``platform``, or every platform of an index) the image is
read once (:func:`gate.pipeline.scan_read_image`) and the decision made. Only when every
platform passes (and every required platform exists) are the attestations built (CycloneDX
SBOM, vulnerability scan, SLSA provenance v1, SLSA VSA v1, OpenVEX of the applied waivers) and
signed, then published: the platform manifests first, the index last, each with attestations
before its signature (:func:`gate.signing.sign_and_attest`). A failed run publishes nothing.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gate import __version__
from gate.attest._time import now_rfc3339
from gate.attest.cyclonedx import cyclonedx_predicate
from gate.attest.openvex import VexStatement, openvex_predicate
from gate.attest.provenance import provenance_predicate
from gate.attest.types import COSIGN_VULN, CYCLONEDX, OPENVEX, SLSA_PROVENANCE_V1, SLSA_VSA_V1
from gate.attest.vsa import Verdict, vsa_predicate
from gate.attest.vuln import ScanRun, vuln_predicate
from gate.errors import GateError, NotFoundError
from gate.image import DirImage, Image, RegistryClient, open_image
from gate.image.attachments import attestation_tag, signature_tag
from gate.image.image import index_platforms
from gate.image.manifest import Descriptor, Platform
from gate.image.reference import LayoutRef, RegistryRef, parse_reference
from gate.image.store import Store
from gate.intoto import write_link
from gate.match import MatchResult
from gate.model import Catalog
from gate.pipeline import (
    Judgement,
    Progress,
    Scan,
    ScanOptions,
    decide,
    no_progress,
    open_db,
    platform_report,
    read_opened,
    scan_read_image,
)
from gate.policy import Decision, load_policy, load_vex_files, load_waivers, waived_statements
from gate.publish import Published, Target, open_target
from gate.report.files import CYCLONEDX_FILE, DECISION_FILE, SCAN_FILE, SPDX_FILE, write_file, write_formats
from gate.report.model import RunReport, Signed
from gate.sbom import SbomFormat, encode
from gate.signing import Attestation, KeySigner, Signer, sign_and_attest
from gate.vulndb import VulnDB

VERIFIER_ID = "urn:gate:verifier"  # who reached the verdict (the VSA verifier, the OpenVEX author)
SCANNER_URI = f"pkg:pypi/gate@{__version__}"


@dataclass(frozen=True)
class Evidence:
    """What the policy is evaluated on for one platform: the scan and the image it came from."""

    scan: Scan
    image: Image | DirImage
    platform: str


@dataclass(frozen=True)
class Ruling:
    """A decision and what the attestations say about it."""

    decision: Decision
    waived: tuple[VexStatement, ...] = ()  # the applied waivers, as the OpenVEX attestation states them


Decide = Callable[[Evidence], Ruling]


@dataclass(frozen=True)
class PolicyRef:
    """The policy as the VSA names it."""

    uri: str
    digest: str  # "sha256:<hex>"


@dataclass(frozen=True)
class RunOptions:
    scan: ScanOptions = field(default_factory=ScanOptions)
    platform: str | None = None  # one platform of an index; None: the host's default
    all_platforms: bool = False
    required_platforms: tuple[str, ...] = ()  # must exist in the index (implies all_platforms)
    sign: bool = True  # False: verdict only (merge-request pipelines)
    dry_run: bool = False  # everything but signing and publishing
    identity: str | None = None  # the repository an oci: layout is signed as
    report_dir: Path | None = None
    in_toto_links: Path | None = None  # write a signed in-toto link for the gate step here
    command: tuple[str, ...] = ()  # the invocation, for local provenance and the in-toto link


@dataclass(frozen=True)
class PlatformRun:
    platform: str  # "linux/amd64", or "" for an image that is no index
    subject: Descriptor  # the platform's manifest
    config: str  # its config digest ("" for a directory)
    scan: Scan
    ruling: Ruling
    started_on: str
    finished_on: str

    @property
    def passed(self) -> bool:
        return self.ruling.decision.passed


@dataclass
class RunResult:
    reference: str  # pinned
    repository: str
    subject: Descriptor  # the top-level manifest or index
    platforms: list[PlatformRun]
    missing_platforms: tuple[str, ...] = ()
    whole_index: bool = False  # every platform of an index was decided on, so the index may be signed
    published: list[Published] = field(default_factory=list)
    would_publish: list[str] = field(default_factory=list)  # --dry-run: what a real run would attest
    reports: list[Path] = field(default_factory=list)
    link: Path | None = None
    signing: str = ""  # what happened about signing, for the reports

    @property
    def passed(self) -> bool:
        return bool(self.platforms) and not self.missing_platforms and all(p.passed for p in self.platforms)

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": self.subject.digest,
            "verdict": "pass" if self.passed else "fail",
            "missing_platforms": list(self.missing_platforms),
            "blocking": [  # first, so a reader sees why before the details
                {"platform": run.platform, **outcome.to_json()}
                for run in self.platforms
                for outcome in run.ruling.decision.blocking
            ],
            "platforms": [
                {
                    "platform": run.platform,
                    "digest": run.subject.digest,
                    "verdict": "pass" if run.passed else "fail",
                    "decision": run.ruling.decision.to_json(),
                }
                for run in self.platforms
            ],
            "published": [
                {"kind": p.kind, "reference": p.reference, "digest": p.digest} for p in self.published
            ],
            "would_publish": list(self.would_publish),
        }


def run_image(
    reference: str,
    decide: Decide,
    policy: PolicyRef,
    signer: Signer | None,
    options: RunOptions | None = None,
    *,
    client: RegistryClient | None = None,
    progress: Progress = no_progress,
) -> RunResult:
    """Decide on ``reference`` and, only if it passes, attest, sign and publish (see the module doc).

    The reports are written as soon as the decision is made (so they exist even if publishing
    fails) and again once signing is done, to say what was published.
    """
    options = options or RunOptions()
    publishing = options.sign and not options.dry_run
    if publishing:
        _check_publishable(reference, signer, options)
    with open_db(options.scan) as db:
        result = _decide_platforms(reference, decide, db, options, client, progress)
    result.signing = _before_signing(result, options)
    if options.report_dir is not None:
        result.reports = write_reports(options.report_dir, result)
    if not result.passed or not options.sign:
        return result
    attestations = {
        run.subject.digest: _attestations(run, result, policy, options) for run in result.platforms
    }
    top = _top_attestations(result, policy, options)
    if options.dry_run:
        result.would_publish = _dry_run_listing(result, attestations, top)
        result.signing = "dry run: nothing was signed"
    else:
        assert signer is not None
        _publish_and_link(result, signer, policy, attestations, top, options, client, progress)
        result.signing = "signed" if result.published else "already signed: nothing new to publish"
    if options.report_dir is not None:
        result.reports = write_reports(options.report_dir, result)  # now with what was published
    return result


def _before_signing(result: RunResult, options: RunOptions) -> str:
    if not result.passed:
        return "not signed: the gate is closed"
    if not options.sign:
        return "not signed (--no-sign)"
    return "not signed: signing did not finish"


def _publish_and_link(
    result: RunResult,
    signer: Signer,
    policy: PolicyRef,
    attestations: dict[str, list[Attestation]],
    top: list[Attestation],
    options: RunOptions,
    client: RegistryClient | None,
    progress: Progress,
) -> None:
    target, repository = open_target(result.reference, client=client, identity=options.identity)
    if target.subject.digest != result.subject.digest:
        raise GateError(f"{result.reference} changed while it was being decided on; nothing was published")
    result.published = _publish(target, repository, result, signer, attestations, top, progress)
    if options.in_toto_links is not None:
        result.link = _write_link(options.in_toto_links, signer, result, policy, options, target.store)


def _check_publishable(reference: str, signer: Signer | None, options: RunOptions) -> None:
    """Refuse before reading anything what could not be signed or published after a pass."""
    if signer is None:
        raise GateError("give --key FILE or --keyless to sign, or --no-sign for a verdict only")
    if options.in_toto_links is not None and not isinstance(signer, KeySigner):
        raise GateError("--in-toto-link needs --key: the link is signed with the functionary's key")
    ref = parse_reference(reference)
    if isinstance(ref, LayoutRef) and not options.identity:
        raise GateError(f"{reference} is an OCI layout: give --identity REPOSITORY to sign it as")
    if not isinstance(ref, RegistryRef | LayoutRef):
        raise GateError(
            f"cannot sign {reference}: only registry images and oci: layouts carry signatures",
            hint="use --no-sign for a verdict only",
        )


# -- deciding ---------------------------------------------------------------------------------


def decide_with_policy(
    path: Path,
    *,
    waivers: Sequence[Path] = (),
    vex: Sequence[Path] = (),
    offline: bool = False,
    client: RegistryClient | None = None,
    now: datetime.datetime | None = None,
) -> tuple[Decide, PolicyRef]:
    """The policy file at ``path`` (plus waiver and VEX files) as ``gate run``'s decision step."""
    policy = load_policy(path)
    judgement = Judgement(
        policy,
        tuple(waiver for file in waivers for waiver in load_waivers(file)),
        load_vex_files(vex),
        offline=offline,
    )

    def decide_one(evidence: Evidence) -> Ruling:
        decision = decide(
            evidence.scan, judgement, client=client, platform=evidence.platform or None, now=now
        )
        return Ruling(decision, tuple(waived_statements(decision)))

    return decide_one, PolicyRef(str(path), policy.digest)


def _decide_platforms(
    reference: str,
    decide: Decide,
    db: VulnDB | None,
    options: RunOptions,
    client: RegistryClient | None,
    progress: Progress,
) -> RunResult:
    every = options.all_platforms or bool(options.required_platforms)
    pinned, offered = index_platforms(reference, client=client) if every else (reference, [])
    missing = tuple(
        name
        for name in options.required_platforms
        if not any(Platform.parse(name).matches(o) for o in offered)
    )
    chosen: list[Platform | str | None] = list(offered) if offered else [options.platform]
    runs = []
    top: Descriptor | None = None
    repository = ""
    for platform in chosen:
        with open_image(pinned, platform=platform, client=client) as image:
            top = top or _top_descriptor(image)
            pinned, repository = image.ref, _repository(image, options.identity)
            runs.append(_decide_one(image, decide, db, options, client, progress))
    assert top is not None
    return RunResult(str(pinned), repository, top, runs, missing, whole_index=bool(offered))


def _decide_one(
    image: Image | DirImage,
    decide: Decide,
    db: VulnDB | None,
    options: RunOptions,
    client: RegistryClient | None,
    progress: Progress,
) -> PlatformRun:
    started = now_rfc3339()
    platform = str(image.platform) if isinstance(image, Image) and image.index is not None else ""
    with read_opened(
        image, client=client, base_reference=options.scan.base_reference, progress=progress
    ) as read:
        scan = scan_read_image(read, db, options.scan, progress=progress)
        with progress(f"evaluate policy{' for ' + platform if platform else ''}"):
            ruling = decide(Evidence(scan, image, platform))
    if isinstance(image, Image):
        subject, config = _bare(image.manifest.descriptor), image.manifest.config.digest
    else:
        subject, config = _dir_descriptor(image), ""
    return PlatformRun(platform, subject, config, scan, ruling, started, now_rfc3339())


def _top_descriptor(image: Image | DirImage) -> Descriptor:
    if isinstance(image, DirImage):
        return _dir_descriptor(image)
    top = image.index.descriptor if image.index is not None else image.manifest.descriptor
    return _bare(top)


def _dir_descriptor(image: DirImage) -> Descriptor:
    return Descriptor("application/vnd.gate.directory", image.digest, 0)


def _bare(descriptor: Descriptor) -> Descriptor:
    return Descriptor(descriptor.media_type, descriptor.digest, descriptor.size)


def _repository(image: Image | DirImage, identity: str | None) -> str:
    if identity:
        return identity
    if isinstance(image.ref, RegistryRef):
        return image.ref.name
    return ""


# -- reports ----------------------------------------------------------------------------------


def write_reports(directory: Path, result: RunResult) -> list[Path]:
    """Every report of the run under its fixed name (:mod:`gate.report.files`).

    decision.json, the SARIF, GitLab, JUnit, Markdown, HTML and dotenv reports cover the whole
    run; scan.json, sbom.cdx.json and sbom.spdx.json are per platform, and with several
    platforms each one's go into a subdirectory named after it (``linux-amd64/scan.json``).
    """
    written = [write_file(directory / DECISION_FILE, _json(result.to_json()))]
    written += write_formats(directory, run_report(result))
    for run in result.platforms:
        folder = directory / run.platform.replace("/", "-") if len(result.platforms) > 1 else directory
        source = {"reference": result.reference}
        written += [
            write_file(folder / SCAN_FILE, _json(run.scan.report())),
            write_file(
                folder / CYCLONEDX_FILE, encode(run.scan.catalog, SbomFormat.CYCLONEDX_JSON, source=source)
            ),
            write_file(folder / SPDX_FILE, encode(run.scan.catalog, SbomFormat.SPDX_JSON, source=source)),
        ]
    return written


def run_report(result: RunResult) -> RunReport:
    """The run as the report formats take it."""
    platforms = tuple(
        platform_report(run.scan, run.subject.digest, run.platform, run.ruling.decision)
        for run in result.platforms
    )
    return RunReport(
        reference=result.reference,
        digest=result.subject.digest,
        platforms=platforms,
        started=min((run.started_on for run in result.platforms), default=now_rfc3339()),
        finished=max((run.finished_on for run in result.platforms), default=now_rfc3339()),
        missing_platforms=result.missing_platforms,
        signed=tuple(Signed(p.kind, p.reference, p.digest) for p in result.published),
        would_sign=tuple(result.would_publish),
        signing=result.signing,
    )


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()


# -- attestations -----------------------------------------------------------------------------


def _attestations(
    run: PlatformRun, result: RunResult, policy: PolicyRef, options: RunOptions
) -> list[Attestation]:
    """What a passing platform (or a whole index, see :func:`_index_run`) is attested with."""
    scan = run.scan
    database = scan.database
    found = [
        Attestation(CYCLONEDX, cyclonedx_predicate(scan.catalog, source={"reference": result.reference})),
    ]
    if database is not None:
        scan_run = ScanRun(
            scanner_uri=SCANNER_URI,
            scanner_version=__version__,
            db_uri=f"gate-vulndb:schema-{database.schema_version}",
            db_digest=database.digest,
            result=scan.report(),
            started_on=run.started_on,
            finished_on=run.finished_on,
            parameters=tuple(options.command),
        )
        found.append(Attestation(COSIGN_VULN, vuln_predicate(scan_run)))
    found.append(_provenance(run.started_on, run.finished_on, options))
    found.append(_vsa(result, run.subject, policy, database_json(scan), run.passed))
    if run.ruling.waived:
        predicate = openvex_predicate(list(run.ruling.waived), author=VERIFIER_ID, timestamp=run.finished_on)
        found.append(Attestation(OPENVEX, predicate))
    return found


def _top_attestations(result: RunResult, policy: PolicyRef, options: RunOptions) -> list[Attestation]:
    """An index whose every platform passed is attested like a platform, over all of them.

    Consumers verify the digest a tag names, which for a multi-platform image is the index's.
    With one platform chosen (``--platform``, or the host's by default) only that platform's
    manifest is signed: the index's other platforms were not looked at.
    """
    if not result.whole_index:
        return []
    return _attestations(_index_run(result), result, policy, options)


def _index_run(result: RunResult) -> PlatformRun:
    """The platforms of an index as one run: every package and finding, the earliest start."""
    runs = result.platforms
    first = runs[0].scan
    catalog = Catalog(
        packages=tuple(p for run in runs for p in run.scan.catalog.packages),
        distro=first.catalog.distro,
        unknowns=tuple(u for run in runs for u in run.scan.catalog.unknowns),
        source={"reference": result.reference, "digest": result.subject.digest},
    )
    matches = MatchResult(
        tuple(f for run in runs for f in run.scan.matches.findings),
        tuple(u for run in runs for u in run.scan.matches.unverified),
    )
    databases = {run.scan.database for run in runs}
    scan = Scan(
        catalog=catalog,
        target={"kind": "image", "reference": result.reference, "digest": result.subject.digest},
        matches=matches,
        analysis=None,
        base=None,
        database=databases.pop() if len(databases) == 1 else None,
        scanners=first.scanners,
    )
    waived = tuple(dict.fromkeys(statement for run in runs for statement in run.ruling.waived))
    ruling = Ruling(runs[0].ruling.decision, waived)
    started = min(run.started_on for run in runs)
    finished = max(run.finished_on for run in runs)
    return PlatformRun("", result.subject, "", scan, ruling, started, finished)


def database_json(scan: Scan) -> dict[str, Any] | None:
    if scan.database is None:
        return None
    return {
        "digest": scan.database.digest,
        "built_at": scan.database.built_at,
        "schema_version": scan.database.schema_version,
    }


def _provenance(started: str, finished: str, options: RunOptions) -> Attestation:
    predicate = provenance_predicate(
        os.environ, started_on=started, finished_on=finished, command=options.command
    )
    return Attestation(SLSA_PROVENANCE_V1, predicate)


def _vsa(
    result: RunResult,
    subject: Descriptor,
    policy: PolicyRef,
    database: dict[str, Any] | None,
    passed: bool,
) -> Attestation:
    algorithm, _, encoded = policy.digest.partition(":")
    verdict = Verdict(
        verifier_id=VERIFIER_ID,
        verifier_version=__version__,
        resource_uri=f"{result.repository or result.reference.split('@', 1)[0]}@{subject.digest}",
        policy_uri=policy.uri,
        policy_digest={algorithm: encoded},
        passed=passed,
        database=database,
    )
    return Attestation(SLSA_VSA_V1, vsa_predicate(verdict))


def _dry_run_listing(
    result: RunResult, per_platform: dict[str, list[Attestation]], top: list[Attestation]
) -> list[str]:
    lines = [
        f"{subject}: attest {item.predicate_type}"
        for subject, items in per_platform.items()
        for item in items
    ]
    lines += [f"{subject}: sign" for subject in per_platform]
    if top:
        lines += [f"{result.subject.digest}: attest {item.predicate_type}" for item in top]
        lines.append(f"{result.subject.digest}: sign")
    return lines


# -- publishing -------------------------------------------------------------------------------


def _publish(
    target: Target,
    repository: str,
    result: RunResult,
    signer: Signer,
    per_platform: dict[str, list[Attestation]],
    top: list[Attestation],
    progress: Progress,
) -> list[Published]:
    published: list[Published] = []
    for run in result.platforms:
        with progress(f"sign and attest {repository}@{run.subject.digest}"):
            published += sign_and_attest(
                replace(target, subject=run.subject),
                repository,
                signer,
                attestations=per_platform[run.subject.digest],
                replace=True,
            )
    if top:
        with progress(f"sign and attest the index {repository}@{target.subject.digest}"):
            published += sign_and_attest(target, repository, signer, attestations=top, replace=True)
    return published


def _cosign_tags(store: Store, digests: list[str]) -> dict[str, str]:
    """The ``.sig``/``.att`` manifests the subjects carry now (a re-run publishes none anew)."""
    found = {}
    for digest in dict.fromkeys(digests):
        for tag in (signature_tag(digest), attestation_tag(digest)):
            try:
                found[f"{tag.rsplit('.', 1)[1]}/{tag}"] = store.get_document(tag).digest
            except NotFoundError:
                continue
    return found


def _write_link(
    directory: Path, signer: Signer, result: RunResult, policy: PolicyRef, options: RunOptions, store: Store
) -> Path:
    assert isinstance(signer, KeySigner)  # checked before anything was read
    materials = {f"image/{result.repository}@{result.subject.digest}": result.subject.digest}
    for run in result.platforms:
        name = f"image/{run.platform or 'manifest'}"
        materials[name] = run.subject.digest
        if run.config:
            materials[f"{name}/config"] = run.config
    materials["policy"] = policy.digest
    databases = {run.scan.database.digest for run in result.platforms if run.scan.database}
    for digest in databases:
        materials["vulndb"] = digest
    products = {f"{p.kind}/{p.reference}": p.digest for p in result.published}
    products |= _cosign_tags(
        store, [run.subject.digest for run in result.platforms] + [result.subject.digest]
    )
    command = options.command or ("gate", "run", result.reference)
    return write_link(directory, signer.key, materials=materials, products=products, command=command)
