"""Keyless signing with Sigstore: an OIDC identity token in, a sigstore bundle v0.3 out.

    token = detect_identity_token()          # GATE_IDENTITY_TOKEN, else the CI's ambient credential
    bundle = sign_dsse_keyless(statement, IN_TOTO_PAYLOAD_TYPE, identity_token=token, trust_config=None)

sigstore-python does the work, unmodified: Fulcio issues a short-lived certificate for the
token's identity, the statement is signed as a DSSE envelope with the ephemeral key, and Rekor
logs it; the bundle carries the certificate, the envelope and the log entry with its inclusion
proof. ``trust_config=None`` means Sigstore's public-good instance (its trust root is fetched
through TUF); a ``ClientTrustConfig`` file selects a private instance.

Public Rekor refuses entries over about 100 KB, so large predicates (SBOMs) must not be put
in the signed statement: :func:`needs_detached_predicate` says when to store the predicate as
its own artifact and sign a statement carrying its digest instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from gate.errors import SigningError
from gate.sign.bundle import VerifiedBundle, verify_bundle
from gate.sign.dsse import IN_TOTO_PAYLOAD_TYPE

if TYPE_CHECKING:  # sigstore is imported inside functions: it costs 0.4 s and `gate --help` stays fast
    from sigstore.dsse import Statement
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

__all__ = [
    "MAX_INLINE_STATEMENT_BYTES",
    "REKOR_PUBLIC_ENTRY_LIMIT",
    "KeylessError",
    "VerifiedBundle",
    "detect_identity_token",
    "needs_detached_predicate",
    "sign_dsse_keyless",
    "verify_bundle",
]

_logger = logging.getLogger(__name__)

REKOR_PUBLIC_ENTRY_LIMIT = 100_000
"""Bytes public Rekor accepts in one entry request (documented as "100KB", sigstore/rekor#1313)."""
MAX_INLINE_STATEMENT_BYTES = 64 * 1024
"""Largest statement signed inline: base64 in the DSSE entry (x4/3, 87.4 KB) plus the
certificate, signature and JSON (about 3 KB) stay under :data:`REKOR_PUBLIC_ENTRY_LIMIT`."""

IDENTITY_TOKEN_ENV = "GATE_IDENTITY_TOKEN"  # noqa: S105 - the variable's name, not a token
_HOW_TO_GET_AN_IDENTITY = (
    "keyless signing needs an OIDC identity token and none was found: on GitHub Actions give the job "
    "`permissions: id-token: write`; on GitLab CI add `id_tokens: SIGSTORE_ID_TOKEN: aud: sigstore` to the "
    "job in the project's own .gitlab-ci.yml; elsewhere put a token in the GATE_IDENTITY_TOKEN "
    "environment variable"
)


class KeylessError(SigningError):
    """Keyless signing failed (no token, a refused token, an unreachable Sigstore); nothing was signed."""


def needs_detached_predicate(statement_bytes: bytes) -> bool:
    """True when a statement is too large for public Rekor and its predicate must be stored apart."""
    return len(statement_bytes) > MAX_INLINE_STATEMENT_BYTES


def detect_identity_token() -> str | None:
    """An OIDC token for Sigstore, or ``None`` when there is none.

    ``GATE_IDENTITY_TOKEN`` when set (an explicit override), else the CI's ambient credential
    for audience ``sigstore`` as sigstore-python finds it (``sigstore.oidc.detect_credential``:
    GitHub Actions with ``id-token: write``, GitLab CI's ``SIGSTORE_ID_TOKEN``, Google Cloud,
    Buildkite, CircleCI).
    """
    explicit = os.environ.get(IDENTITY_TOKEN_ENV, "").strip()
    if explicit:
        return explicit
    from sigstore.oidc import IdentityError, detect_credential

    try:
        return detect_credential()
    except IdentityError as exc:  # the environment is a CI but its credential is unusable
        raise KeylessError(f"cannot get the CI's OIDC identity token: {_describe(exc)}") from None


def sign_dsse_keyless(
    payload: bytes, payload_type: str, *, identity_token: str | None, trust_config: Path | None
) -> bytes:
    """Sign an in-toto statement keylessly; return the sigstore bundle v0.3 JSON.

    ``identity_token=None`` looks in the environment (:func:`detect_identity_token`);
    ``trust_config=None`` signs with Sigstore's public-good instance.
    """
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise KeylessError(
            f"keyless signing signs in-toto statements ({IN_TOTO_PAYLOAD_TYPE}), not {payload_type}"
        )
    if trust_config is None and needs_detached_predicate(payload):
        raise KeylessError(
            f"the statement is {len(payload)} bytes and public Rekor refuses entries over "
            f"{REKOR_PUBLIC_ENTRY_LIMIT} bytes: store the predicate as its own artifact and sign its digest"
        )
    token = identity_token or detect_identity_token()
    if not token:
        raise KeylessError(_HOW_TO_GET_AN_IDENTITY)
    identity = _identity_token(token)
    _logger.info("keyless signing as %s (OIDC issuer %s)", identity.identity, identity.issuer)
    statement = _statement(payload)
    context = _signing_context(trust_config)
    try:
        with context.signer(identity) as signer:
            bundle = signer.sign_dsse(statement)
    except Exception as exc:  # sigstore's network and protocol errors, one line each
        raise KeylessError(f"keyless signing failed: {_describe(exc)}") from exc
    return bundle.to_json().encode()


def _identity_token(token: str) -> IdentityToken:
    from sigstore.oidc import IdentityError, IdentityToken

    try:
        return IdentityToken(token)
    except IdentityError as exc:
        # never echo the token itself
        raise KeylessError(
            f"the OIDC identity token is unusable: {_describe(exc)} (audience must be 'sigstore')"
        ) from None


def _statement(payload: bytes) -> Statement:
    from sigstore.dsse import Statement
    from sigstore.errors import Error

    try:
        return Statement(payload)
    except Error as exc:
        raise KeylessError(f"the payload is not an in-toto v1 statement: {_describe(exc)}") from None


def _signing_context(trust_config: Path | None) -> SigningContext:
    from sigstore.models import ClientTrustConfig
    from sigstore.sign import SigningContext

    try:
        if trust_config is None:
            config = ClientTrustConfig.production()
        else:
            config = ClientTrustConfig.from_json(trust_config.read_text())
        # @api private in sigstore 4.5, but the only constructor from a trust config (pinned ~=4.5)
        return SigningContext.from_trust_config(config)
    except OSError as exc:
        raise KeylessError(f"cannot read trust config {trust_config}: {exc.strerror}") from None
    except Exception as exc:
        if trust_config is None:
            raise KeylessError(
                "cannot load Sigstore's public-good trust root from https://tuf-repo-cdn.sigstore.dev "
                f"(is the network reachable?): {_describe(exc)}"
            ) from exc
        raise KeylessError(f"unusable Sigstore trust config {trust_config}: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    """One line for a sigstore exception: its message, else its cause's, else its type."""
    current: BaseException | None = exc
    while current is not None:
        text = " ".join(str(current).split())
        if text and text != "''":
            return f"{type(current).__name__}: {text}"[:300]
        current = current.__cause__ or current.__context__
    return type(exc).__name__
