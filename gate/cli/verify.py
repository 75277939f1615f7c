"""`gate verify`: check an image's signature and attestations before pulling it (exit 2 if not verified)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gate.cli.db import AllowStaleOption, DbOption
from gate.cli.db import MaxAgeOption as MaxDbAgeOption
from gate.cli.options import FormatOption, ImageArgument, InsecureOption, OutputFormat, registry_client
from gate.cli.trust import trust_options
from gate.errors import GateClosed

if TYPE_CHECKING:
    from gate.verify import ExtraCheck, Verification, VerifyOptions
    from gate.verify.trust import Trust

RequireOption = Annotated[
    list[str] | None,
    typer.Option(
        "--require",
        metavar="TYPE[,TYPE]",
        help="Attestations that must be present, signed by the same trust and about this image: "
        "sbom, vuln, provenance, vsa, openvex or predicate type URIs.",
    ),
]
VsaPassedOption = Annotated[
    bool, typer.Option("--require-vsa-passed", help="The newest signed VSA must say PASSED.")
]
PolicyDigestOption = Annotated[
    str | None,
    typer.Option(
        "--policy-digest", help="With --require-vsa-passed: the VSA must be for this policy digest."
    ),
]
MaxAgeOption = Annotated[
    str | None,
    typer.Option("--max-age", help="With --require-vsa-passed: the VSA must be newer than this (24h, 7d)."),
]
PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="Re-evaluate this policy on the attested SBOM with today's database (no layer is pulled).",
    ),
]
LayoutOption = Annotated[
    Path | None,
    typer.Option(
        "--in-toto-layout",
        help="Also verify this in-toto supply-chain layout (with --layout-key and --links); "
        "its 'gate' step's link must name this image.",
    ),
]
LayoutKeyOption = Annotated[
    Path | None, typer.Option("--layout-key", help="The layout owner's public key (PEM).")
]
LinksOption = Annotated[
    Path | None, typer.Option("--links", help="Directory of the steps' in-toto link files.")
]
OfflineOption = Annotated[
    bool,
    typer.Option(
        "--offline",
        help="No network except the image's registry: keyless trust uses the pinned or given trusted root.",
    ),
]


@trust_options()
def verify_command(
    image: ImageArgument,
    trust: Trust,
    require: RequireOption = None,
    require_vsa_passed: VsaPassedOption = False,
    policy_digest: PolicyDigestOption = None,
    max_age: MaxAgeOption = None,
    policy: PolicyOption = None,
    db: DbOption = None,
    max_db_age: MaxDbAgeOption = "5d",
    allow_stale_db: AllowStaleOption = False,
    in_toto_layout: LayoutOption = None,
    layout_key: LayoutKeyOption = None,
    links: LinksOption = None,
    offline: OfflineOption = False,
    output_format: FormatOption = OutputFormat.table,
    insecure_registry: InsecureOption = None,
) -> None:
    """Verify an image before pulling it: signature, required attestations, VSA verdict.

    Exit 0 verified, 2 not verified (the reasons are printed), 1 error.
    """
    from gate.cli.progress import stage
    from gate.verify import verify_image

    options = verify_options(
        require,
        require_vsa_passed,
        policy_digest,
        max_age,
        policy=(policy, db, max_db_age, allow_stale_db),
        in_toto=(in_toto_layout, layout_key, links),
    )
    with stage(f"verify {image}"):
        result = verify_image(image, trust, options, client=registry_client(insecure_registry))
    render_verification(result, output_format)
    if not result.verified:
        raise GateClosed(f"{image} not verified: " + "; ".join(result.reasons))


def verify_options(
    require: list[str] | None,
    require_vsa_passed: bool,
    policy_digest: str | None,
    max_age: str | None,
    *,
    policy: tuple[Path | None, Path | None, str, bool] = (None, None, "5d", False),
    in_toto: tuple[Path | None, Path | None, Path | None] = (None, None, None),
) -> VerifyOptions:
    from gate.verify import VerifyOptions
    from gate.verify.requirements import normalise_policy_digest, parse_max_age, parse_required

    return VerifyOptions(
        require=parse_required(require or []),
        require_vsa_passed=require_vsa_passed or policy_digest is not None or max_age is not None,
        policy_digest=normalise_policy_digest(policy_digest) if policy_digest else None,
        max_age=parse_max_age(max_age) if max_age else None,
        extra_checks=_policy_checks(*policy) + _in_toto_checks(*in_toto),
    )


def _policy_checks(
    policy: Path | None, db: Path | None, max_db_age: str, allow_stale_db: bool
) -> tuple[ExtraCheck, ...]:
    from gate.errors import GateError

    if policy is None:
        if db is not None:
            raise GateError("--db is for --policy: give the policy to re-evaluate")
        return ()
    from gate.pipeline import ScanOptions
    from gate.verify.reevaluate import policy_check

    scan = ScanOptions(db_path=db, max_db_age=max_db_age, allow_stale_db=allow_stale_db)
    return (policy_check(policy, scan),)


def _in_toto_checks(layout: Path | None, key: Path | None, links: Path | None) -> tuple[ExtraCheck, ...]:
    from gate.errors import GateError

    if layout is None and key is None and links is None:
        return ()
    if layout is None or key is None or links is None:
        raise GateError("in-toto verification needs all of --in-toto-layout, --layout-key and --links")
    from gate.verify.intoto import InTotoLayout, layout_check

    return (layout_check(InTotoLayout(layout, key, links)),)


def render_verification(result: Verification, output_format: OutputFormat) -> None:
    if output_format is OutputFormat.json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    from gate.cli.render_verify import render_verification_table

    render_verification_table(result)
