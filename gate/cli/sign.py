"""`gate keygen`, `gate sign` and `gate attest`: cosign-compatible keys, signatures and attestations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gate.cli.options import FormatOption, ImageArgument, InsecureOption, OutputFormat, registry_client

if TYPE_CHECKING:
    from gate.publish import Published
    from gate.signing import Signer

KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        help="Private key (cosign/skopeo encrypted key, or PKCS#8 PEM). "
        "Password from GATE_PASSWORD or COSIGN_PASSWORD, else a prompt.",
    ),
]
KeylessOption = Annotated[
    bool,
    typer.Option("--keyless", help="Sign with a sigstore certificate for your CI identity instead of a key."),
]
BundleOption = Annotated[
    bool,
    typer.Option(
        "--bundle", help="Also push a sigstore bundle v0.3 as an OCI 1.1 referrer (cosign v3 layout)."
    ),
]
IdentityOption = Annotated[
    str | None,
    typer.Option(
        "--identity", metavar="REPOSITORY", help="Repository name to sign as (required for oci: layouts)."
    ),
]
TokenFileOption = Annotated[
    Path | None,
    typer.Option(
        "--identity-token-file", help="Keyless: file holding the OIDC token (default: ambient CI token)."
    ),
]
TrustConfigOption = Annotated[
    Path | None,
    typer.Option("--trust-config", help="Keyless: sigstore client trust config of a private instance."),
]


def keygen_command(
    output_prefix: Annotated[
        str, typer.Option("--output-prefix", help="Write PREFIX.key (private) and PREFIX.pub (public).")
    ] = "cosign",
    cosign_label: Annotated[
        bool,
        typer.Option(
            "--cosign-label",
            help="Label the key ENCRYPTED COSIGN PRIVATE KEY, for skopeo < 1.12 / containers/image < 5.25.",
        ),
    ] = False,
) -> None:
    """Create an ECDSA P-256 key pair in cosign's format (encrypted private key, PEM public key)."""
    from gate.sign.keys import COSIGN_LABEL, SIGSTORE_LABEL, encrypt_private_key, generate_signing_key
    from gate.sign.password import read_password

    private_path, public_path = Path(f"{output_prefix}.key"), Path(f"{output_prefix}.pub")
    _refuse_overwrite(private_path, public_path)
    password = read_password(confirm=True, purpose=str(private_path))
    key = generate_signing_key()
    label = COSIGN_LABEL if cosign_label else SIGSTORE_LABEL
    _write_new(private_path, encrypt_private_key(key, password, label=label), 0o600)
    _write_new(public_path, key.public_key.pem(), 0o644)
    typer.echo(f"Private key written to {private_path}\nPublic key written to {public_path}")


def sign_command(
    image: ImageArgument,
    key: KeyOption = None,
    keyless: KeylessOption = False,
    bundle: BundleOption = False,
    identity: IdentityOption = None,
    identity_token_file: TokenFileOption = None,
    trust_config: TrustConfigOption = None,
    output_format: FormatOption = OutputFormat.table,
    insecure_registry: InsecureOption = None,
) -> None:
    """Sign an image: a cosign `.sig` layer (key), and/or a sigstore bundle referrer (--bundle, --keyless).

    Signing again with the same key or identity adds nothing.
    """
    from gate.cli.progress import stage
    from gate.publish import open_target
    from gate.signing import sign_and_attest

    signer = signer_from_options(key, keyless, bundle, identity_token_file, trust_config)
    target, repository = open_target(image, client=registry_client(insecure_registry), identity=identity)
    digest = target.subject.digest
    with stage(f"sign {repository}@{digest}"):
        published = sign_and_attest(target, repository, signer)
    _report(published, digest, output_format)


def attest_command(
    image: ImageArgument,
    predicate: Annotated[Path, typer.Option("--predicate", help="JSON file holding the predicate.")],
    predicate_type: Annotated[
        str,
        typer.Option(
            "--type",
            help="cyclonedx, spdxjson, vuln, slsaprovenance1, openvex, vsa, or a predicate type URI.",
        ),
    ],
    key: KeyOption = None,
    keyless: KeylessOption = False,
    bundle: BundleOption = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Drop earlier attestations of this type by the same signer (tags and bundles)."
        ),
    ] = False,
    identity: IdentityOption = None,
    identity_token_file: TokenFileOption = None,
    trust_config: TrustConfigOption = None,
    output_format: FormatOption = OutputFormat.table,
    insecure_registry: InsecureOption = None,
) -> None:
    """Attest to an image: an in-toto Statement in a DSSE envelope, stored in the `.att` manifest.

    Attesting the same statement again adds nothing; --replace drops the signer's earlier
    attestations of this type, in the `.att` manifest and among the bundle referrers.
    """
    from gate.attest.statement import load_predicate
    from gate.attest.types import resolve_predicate_type
    from gate.cli.progress import stage
    from gate.publish import open_target
    from gate.signing import Attestation, sign_and_attest

    uri = resolve_predicate_type(predicate_type)
    document = load_predicate(_read(predicate), str(predicate))
    signer = signer_from_options(key, keyless, bundle, identity_token_file, trust_config)
    target, repository = open_target(image, client=registry_client(insecure_registry), identity=identity)
    digest = target.subject.digest
    with stage(f"attest {uri} for {repository}@{digest}"):
        published = sign_and_attest(
            target, repository, signer, attestations=[Attestation(uri, document)], sign=False, replace=replace
        )
    _report(published, digest, output_format)


def signer_from_options(
    key: Path | None, keyless: bool, bundle: bool, token_file: Path | None, trust_config: Path | None
) -> Signer:
    from gate.signing import load_signer

    token = _read(token_file).decode().strip() if token_file else None
    return load_signer(key, keyless, bundles=bundle, identity_token=token, trust_config=trust_config)


def _report(published: list[Published], digest: str, output_format: OutputFormat) -> None:
    if output_format is OutputFormat.json:
        rows = [{"kind": p.kind, "reference": p.reference, "digest": p.digest} for p in published]
        typer.echo(json.dumps({"subject": digest, "published": rows}, indent=2))
        return
    for item in published:
        typer.echo(f"{item.kind:9} {item.reference}  {item.digest}")


def _read(path: Path) -> bytes:
    from gate.errors import GateError

    try:
        return path.read_bytes()
    except OSError as error:
        raise GateError(f"cannot read {path}: {error.strerror}") from error


def _refuse_overwrite(*paths: Path) -> None:
    from gate.errors import GateError

    for path in paths:
        if path.exists():
            raise GateError(f"{path} already exists; remove it or choose another --output-prefix")


def _write_new(path: Path, data: bytes, mode: int) -> None:
    import os

    from gate.errors import GateError

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as error:
        raise GateError(f"cannot create {path}: {error.strerror}") from error
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
