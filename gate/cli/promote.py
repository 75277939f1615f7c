"""`gate promote`: verify SRC, copy it with everything attached to DST, attest the promotion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gate.cli.db import AllowStaleOption, DbOption
from gate.cli.db import MaxAgeOption as MaxDbAgeOption
from gate.cli.options import FormatOption, InsecureOption, OutputFormat, registry_client
from gate.cli.trust import trust_options
from gate.cli.verify import (
    LayoutKeyOption,
    LayoutOption,
    LinksOption,
    MaxAgeOption,
    OfflineOption,
    PolicyDigestOption,
    PolicyOption,
    RequireOption,
    VsaPassedOption,
    verify_options,
)
from gate.errors import GateClosed

if TYPE_CHECKING:
    from gate.verify.trust import Trust

SourceArgument = Annotated[
    str,
    typer.Argument(metavar="SRC", help="Image to promote (REGISTRY/REPO[:TAG][@DIGEST] or oci:DIR[:TAG])."),
]
DestinationArgument = Annotated[
    str,
    typer.Argument(
        metavar="DST", help="Where to copy it: REGISTRY/REPO[:TAG] (default tag: SRC's) or oci:DIR."
    ),
]


@trust_options()
def promote_command(
    source: SourceArgument,
    destination: DestinationArgument,
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
    signing_key: Annotated[
        Path | None,
        typer.Option(
            "--signing-key",
            help="Private key that signs the promotion attestation (password from GATE_PASSWORD).",
        ),
    ] = None,
    keyless: Annotated[
        bool, typer.Option("--keyless", help="Sign the promotion attestation keylessly (Sigstore).")
    ] = False,
    identity_token_file: Annotated[
        Path | None, typer.Option("--identity-token-file", help="Keyless: file holding the OIDC token.")
    ] = None,
    trust_config: Annotated[
        Path | None,
        typer.Option("--trust-config", help="Keyless: sigstore client trust config to sign with."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Verify and list what would be copied; change nothing.")
    ] = False,
    output_format: FormatOption = OutputFormat.table,
    insecure_registry: InsecureOption = None,
) -> None:
    """Promote an image between repositories or registries, only if it verifies.

    SRC is verified with the same trust flags as `gate verify` (exit 2 if it does not verify);
    then the manifest or index, every blob, every referrer and cosign tag are copied with their
    digests, and a promotion attestation signed with --signing-key or --keyless is added.
    """
    from gate.cli.progress import stage
    from gate.promote import promote
    from gate.signing import load_signer

    options = verify_options(
        require,
        require_vsa_passed,
        policy_digest,
        max_age,
        policy=(policy, db, max_db_age, allow_stale_db),
        in_toto=(in_toto_layout, layout_key, links),
    )
    signer = None
    if signing_key is not None or keyless:
        token = _read_token(identity_token_file)
        signer = load_signer(signing_key, keyless, identity_token=token, trust_config=trust_config)
    with stage(f"promote {source} -> {destination}"):
        promotion = promote(
            source,
            destination,
            trust,
            options,
            signer=signer,
            dry_run=dry_run,
            client=registry_client(insecure_registry),
        )
    if output_format is OutputFormat.json:
        typer.echo(json.dumps(promotion.to_json(), indent=2))
    else:
        from gate.cli.render_verify import render_promotion_table, render_verification_table

        render_verification_table(promotion.verification)
        if not promotion.refused:
            render_promotion_table(promotion)
    if promotion.refused:
        raise GateClosed(f"promotion refused: {'; '.join(promotion.verification.reasons)}")


def _read_token(path: Path | None) -> str | None:
    from gate.errors import GateError

    if path is None:
        return None
    try:
        return path.read_text().strip()
    except OSError as error:
        raise GateError(f"cannot read {path}: {error.strerror}") from None
