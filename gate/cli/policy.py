"""`gate policy check | lint | vex`, and the policy options `gate scan` shares.

Exit codes: 0 the policy passes, 2 it fails (gate closed), 1 an error (a policy, waiver, VEX
or Rego file that cannot be used is an error, never a pass).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gate.cli.db import AllowStaleOption, DbOption, MaxAgeOption
from gate.cli.options import (
    BaseImageOption,
    InsecureOption,
    OfflineOption,
    OptionalImageArgument,
    OutputFormat,
    PlatformOption,
    ReportFormat,
    ReportFormatOption,
)
from gate.cli.trust import trust_options
from gate.cli.verify import (
    RequireOption,
    VsaPassedOption,
)
from gate.errors import GateError

if TYPE_CHECKING:
    from gate.pipeline import Judgement, Scan
    from gate.policy import Decision
    from gate.severity import Severity
    from gate.verify.trust import Trust

policy_app = typer.Typer(
    name="policy",
    help="Evaluate, validate and export policies (policies/, docs/policy.md).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

PolicyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        metavar="FILE",
        help="Policy file (YAML, apiVersion gate/v1; see policies/default.yaml and docs/policy.md).",
    ),
]
WaiversOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--waivers", metavar="FILE", help="Waivers file (kind: Waivers) added to the policy's (repeatable)."
    ),
]
VexOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--vex",
        metavar="FILE",
        help="OpenVEX or CycloneDX VEX document (repeatable): not_affected and fixed statements "
        "suppress findings before the verdict.",
    ),
]
RegoOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--rego", metavar="DIR", help="Rego v1 modules (a file or a directory of *.rego) to add (repeatable)."
    ),
]
FailOnOption = Annotated[
    str | None,
    typer.Option(
        "--fail-on",
        metavar="SEVERITY",
        help="Shorthand for a policy that blocks vulnerabilities (and unrated ones), secrets and "
        "configuration findings at or above SEVERITY (critical, high, medium, low, info).",
    ),
]
ReportOption = Annotated[
    Path | None,
    typer.Option("--report", metavar="SCAN.json", help="Decide on a saved `gate scan --format json` report."),
]
SbomOption = Annotated[
    Path | None,
    typer.Option("--sbom", metavar="FILE", help="Decide on the packages of a CycloneDX/SPDX SBOM."),
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write to FILE instead of stdout.")
]


def judgement_from_options(
    policy: Path | None,
    fail_on: str | None,
    waivers: list[Path] | None,
    vex: list[Path] | None,
    rego: list[Path] | None = None,
    *,
    offline: bool = False,
) -> Judgement | None:
    """Read the policy (or --fail-on), waivers and VEX before anything is scanned; None: neither
    --policy nor --fail-on was given (then waivers, VEX and Rego have nothing to apply to)."""
    from gate.errors import GateError
    from gate.pipeline import Judgement
    from gate.policy import load_policy, load_vex_files, load_waivers, policy_for_fail_on

    if policy is not None and fail_on is not None:
        raise GateError("give --policy FILE or --fail-on SEVERITY, not both")
    if policy is None and fail_on is None:
        if waivers or vex or rego:
            raise GateError("--waivers, --vex and --rego need --policy FILE (or --fail-on)")
        return None
    loaded = load_policy(policy, rego=rego or ()) if policy else policy_for_fail_on(_severity(fail_on))
    extra = tuple(waiver for path in waivers or () for waiver in load_waivers(path))
    return Judgement(loaded, extra, load_vex_files(vex or []), offline=offline)


def _severity(text: str | None) -> Severity:
    from gate.policy import parse_fail_on

    assert text is not None
    return parse_fail_on(text)


def check_command(
    image: OptionalImageArgument = None,
    policy: PolicyFileOption = None,
    report: ReportOption = None,
    sbom: SbomOption = None,
    fail_on: FailOnOption = None,
    waivers: WaiversOption = None,
    vex: VexOption = None,
    rego: RegoOption = None,
    db: DbOption = None,
    max_db_age: MaxAgeOption = "5d",
    allow_stale_db: AllowStaleOption = False,
    base_image: BaseImageOption = None,
    output_format: ReportFormatOption = ReportFormat.table,
    output: OutputOption = None,
    offline: OfflineOption = False,
    platform: PlatformOption = None,
    insecure_registry: InsecureOption = None,
) -> None:
    """Evaluate a policy on an image (scanned now), a saved scan report, or an SBOM.

    With --report the findings themselves are not at hand: --format gitlab and html need IMAGE
    or --sbom, and SARIF then carries the policy's results only.

    Exit 0 pass, 2 fail (the blocking rules are listed first), 1 error.
    """
    from gate.attest._time import now_rfc3339
    from gate.cli.reports import is_report, plain_format, write_report
    from gate.errors import GateError
    from gate.pipeline import scan_run_report
    from gate.report.model import decision_report

    if sum(item is not None for item in (image, report, sbom)) != 1:
        raise GateError("give exactly one of IMAGE, --report SCAN.json or --sbom FILE")
    judgement = judgement_from_options(policy, fail_on, waivers, vex, rego, offline=offline)
    if judgement is None:
        raise GateError("give --policy FILE (or --fail-on SEVERITY)")
    if report is not None and output_format in (ReportFormat.gitlab, ReportFormat.html):
        raise GateError(f"--format {output_format} needs the findings: give IMAGE or --sbom, not --report")
    started = now_rfc3339()
    scan, decision = _decide(
        judgement,
        image,
        report,
        sbom,
        db,
        max_db_age,
        allow_stale_db,
        base_image,
        platform,
        insecure_registry,
    )
    if is_report(output_format):
        finished = now_rfc3339()
        run = (
            scan_run_report(scan, decision, started=started, finished=finished)
            if scan is not None
            else decision_report(decision, started=started, finished=finished)
        )
        write_report(run, output_format, output)
    else:
        write_decision(decision, plain_format(output_format), output)
    close_if_failed(decision)


def _decide(
    judgement: Judgement,
    image: str | None,
    report: Path | None,
    sbom: Path | None,
    db: Path | None,
    max_db_age: str,
    allow_stale_db: bool,
    base_image: str | None,
    platform: str | None,
    insecure_registry: list[str] | None,
) -> tuple[Scan | None, Decision]:
    """The scan the decision was taken on (None for a saved report) and the decision."""
    from gate.cli.options import registry_client
    from gate.cli.progress import stage
    from gate.pipeline import ScanOptions, decide, scan_image, scan_sbom
    from gate.policy import evaluate, input_from_report

    if report is not None:
        with stage("evaluate policy"):
            inputs = input_from_report(report)
            return None, evaluate(judgement.policy, inputs, waivers=judgement.waivers, vex=judgement.vex)
    options = ScanOptions(
        db_path=db,
        max_db_age=max_db_age,
        allow_stale_db=allow_stale_db,
        platform=platform,
        base_reference=base_image,
    )
    client = registry_client(insecure_registry, offline=judgement.offline)
    scan: Scan
    if sbom is not None:
        scan = scan_sbom(sbom, options, progress=stage)
    else:
        assert image is not None
        scan = scan_image(image, options, client=client, progress=stage)
    with stage("evaluate policy"):
        return scan, decide(scan, judgement, client=client, platform=platform)


def lint_command(
    policy: Annotated[Path, typer.Argument(metavar="FILE", help="The policy file to validate.")],
    rego: RegoOption = None,
) -> None:
    """Validate a policy (or a waivers file): schema, dates, SPDX ids, purl patterns, version
    ranges and its Rego.

    Exit 0 valid, 1 not (the message names the file and the key path or line).
    """
    from gate.policy import load_policy, load_waivers
    from gate.policy.load import document_kind

    if document_kind(policy) == "Waivers":
        typer.echo(f"{policy}: valid: {len(load_waivers(policy))} waiver(s)")
        return
    loaded = load_policy(policy, rego=rego or ())
    kinds = ", ".join(sorted({rule.kind for rule in loaded.rules})) or "no rules"
    extra = f", {len(loaded.rego)} Rego module(s)" if loaded.rego else ""
    typer.echo(
        f"{policy}: valid: {len(loaded.rules)} rule(s) ({kinds}), {len(loaded.waivers)} waiver(s){extra}; "
        f"digest {loaded.digest}"
    )


def vex_command(
    image: OptionalImageArgument = None,
    policy: PolicyFileOption = None,
    report: ReportOption = None,
    sbom: SbomOption = None,
    waivers: WaiversOption = None,
    vex: VexOption = None,
    rego: RegoOption = None,
    db: DbOption = None,
    max_db_age: MaxAgeOption = "5d",
    allow_stale_db: AllowStaleOption = False,
    author: Annotated[str, typer.Option("--author", help="The OpenVEX document's author.")] = "gate",
    output: OutputOption = None,
    offline: OfflineOption = False,
    platform: PlatformOption = None,
    insecure_registry: InsecureOption = None,
) -> None:
    """Write the waivers the policy applied as an OpenVEX document (not_affected statements).

    Given back with --vex, the document suppresses the same findings, so a consumer without the
    waivers reaches the same verdict. Exit 0 (whatever the verdict), 1 error.
    """
    from gate.errors import GateError
    from gate.policy import openvex_for_waivers

    if sum(item is not None for item in (image, report, sbom)) != 1:
        raise GateError("give exactly one of IMAGE, --report SCAN.json or --sbom FILE")
    judgement = judgement_from_options(policy, None, waivers, vex, rego, offline=offline)
    if judgement is None:
        raise GateError("give --policy FILE")
    _, decision = _decide(
        judgement, image, report, sbom, db, max_db_age, allow_stale_db, None, platform, insecure_registry
    )
    _write_text(json.dumps(openvex_for_waivers(decision, author=author), indent=2) + "\n", output)


ExportFormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        metavar="containers-policy|policy-controller|kyverno",
        help="containers-policy: policy.json + registries.d/gate.yaml for podman, cri-o and skopeo "
        "(signature only, --key only); policy-controller: a sigstore ClusterImagePolicy; kyverno: a "
        "ClusterPolicy with verifyImages.",
    ),
]


@trust_options(trusted_root=False)
def export_command(
    output_format: ExportFormatOption,
    images: Annotated[
        str,
        typer.Option(
            "--images",
            metavar="REPOSITORY|GLOB",
            help="Images the policy covers: a repository (registry/path; the only form containers-policy "
            "takes) or a glob such as registry/team/* for the Kubernetes policies.",
        ),
    ],
    trust: Trust,
    require: RequireOption = None,
    require_vsa_passed: VsaPassedOption = False,
    name: Annotated[str, typer.Option("--name", help="metadata.name of the Kubernetes policy.")] = "gate",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Where to write: a directory for containers-policy (required), a file for the others "
            "[default: stdout].",
        ),
    ] = None,
) -> None:
    """Write what `gate verify` checks as configuration for the verifiers consumers already run.

    Takes the trust flags and --require/--require-vsa-passed of `gate verify`. Exit 0 written,
    1 error (a combination the target format cannot express is an error, never a weaker policy).
    """
    from gate.verify.export import ExportRequest, export_policy
    from gate.verify.requirements import parse_required

    request = ExportRequest(
        trust=trust,
        images=images,
        required=parse_required(require or []),
        require_vsa_passed=require_vsa_passed,
        name=name,
    )
    files = export_policy(request, output_format)
    if len(files) > 1 or (output is not None and output.is_dir()):
        if output is None:
            raise GateError(f"--format {output_format} writes {len(files)} files: give --output DIR")
        for relative, text in files.items():
            target = output / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return
    _write_text(next(iter(files.values())), output)


policy_app.command("check")(check_command)
policy_app.command("lint")(lint_command)
policy_app.command("vex")(vex_command)
policy_app.command("export")(export_command)


def write_decision(decision: Decision, output_format: OutputFormat, output: Path | None) -> None:
    if output_format is OutputFormat.json:
        _write_text(json.dumps(decision.to_json(), indent=2) + "\n", output)
        return
    from gate.cli.console import make_console
    from gate.cli.render_policy import render_decision

    if output:
        with output.open("w") as handle:
            render_decision(make_console(handle), decision)
    else:
        render_decision(make_console(), decision)


def close_if_failed(decision: Decision) -> None:
    from gate.errors import GateClosed

    if not decision.passed:
        raise GateClosed(decision.reason())


def _write_text(text: str, output: Path | None) -> None:
    if output:
        output.write_text(text)
    else:
        typer.echo(text, nl=False)
