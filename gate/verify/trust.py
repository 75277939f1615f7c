"""Whom a consumer trusts: public keys, or a keyless identity (certificate SAN and OIDC issuer).

    trust = Trust(keys=(load_public_key(pem),))
    trust = Trust.keyless(identity_regexp=r"^https://github\\.com/acme/app/", issuer=GITHUB_ISSUER)
    trust = github_trust("acme/app")

Each ``accepts_*`` function answers one question about one signed thing and raises
:class:`~gate.errors.VerificationError` with the reason when the answer is no, so a
rejection always says why (another key, a modified payload, another identity, another image).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from gate import safejson
from gate.errors import GateError, VerificationError
from gate.sign.bundle import BundleVerificationError, bundle_envelope, verify_bundle
from gate.sign.dsse import Envelope, pae
from gate.sign.keys import PublicKey, load_public_key

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
MODIFIED_OR_OTHER_KEY = "its payload was modified, or another key signed it"
_OWNER_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_GITLAB_PATH = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+")


@dataclass(frozen=True)
class Trust:
    """Keys (any one may sign), or a keyless identity; never both."""

    keys: tuple[PublicKey, ...] = ()
    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    trusted_root: Path | None = None

    def __post_init__(self) -> None:
        keyless = self.identity is not None or self.identity_regexp is not None
        if bool(self.keys) == keyless:
            raise GateError(
                "give either --key FILE or a keyless identity (--certificate-identity, "
                "--certificate-identity-regexp, --github-repo or --gitlab-project), not both and not neither"
            )
        if not keyless and (self.issuer or self.trusted_root):
            raise GateError("--certificate-oidc-issuer and --trusted-root are for keyless trust, not --key")
        if keyless and not self.issuer:
            raise GateError("a keyless identity needs its OIDC issuer: give --certificate-oidc-issuer")
        if self.identity is not None and self.identity_regexp is not None:
            raise GateError("give --certificate-identity or --certificate-identity-regexp, not both")
        if self.identity_regexp is not None:
            try:
                re.compile(self.identity_regexp)
            except re.error as error:
                raise GateError(
                    f"--certificate-identity-regexp is not a regular expression: {error}"
                ) from None

    @property
    def keyless(self) -> bool:
        return not self.keys

    def describe(self) -> str:
        """Who must have signed, for messages and reports."""
        if self.keys:
            return "key " + " or ".join(key.key_id for key in self.keys)
        who = self.identity if self.identity is not None else f"identity matching {self.identity_regexp}"
        return f"{who} (issuer {self.issuer})"


def github_trust(repository: str, *, trusted_root: Path | None = None) -> Trust:
    """Any workflow of ``OWNER/REPO`` on GitHub Actions (the certificate SAN is the workflow URI)."""
    if not _OWNER_REPO.fullmatch(repository):
        raise GateError(f"--github-repo {repository!r} is not OWNER/REPO")
    pattern = f"^https://github\\.com/{re.escape(repository)}/\\.github/workflows/"
    return Trust(identity_regexp=pattern, issuer=GITHUB_ISSUER, trusted_root=trusted_root)


def gitlab_trust(project: str, *, trusted_root: Path | None = None) -> Trust:
    """Any pipeline of ``GROUP/PROJECT`` on gitlab.com (SAN ``https://gitlab.com/GROUP/PROJECT//…``)."""
    if not _GITLAB_PATH.fullmatch(project):
        raise GateError(f"--gitlab-project {project!r} is not GROUP/PROJECT")
    pattern = f"^https://gitlab\\.com/{re.escape(project)}//"
    return Trust(identity_regexp=pattern, issuer=GITLAB_ISSUER, trusted_root=trusted_root)


@dataclass(frozen=True)
class Accepted:
    """A signed payload the trust accepts, and who signed it."""

    payload: bytes
    signer: str


def accepts_envelope(trust: Trust, envelope: Envelope) -> Accepted:
    """A key-signed DSSE envelope (a cosign ``.att`` layer): some trusted key signed its PAE."""
    if trust.keyless:
        raise VerificationError(f"it is signed with a key, not by {trust.describe()}")
    signed = pae(envelope.payload_type, envelope.payload)
    for key in trust.keys:
        if any(key.verifies(signature.sig, signed) for signature in envelope.signatures):
            return Accepted(envelope.payload, f"key {key.key_id}")
    raise VerificationError(
        f"its signature does not verify with {trust.describe()} ({MODIFIED_OR_OTHER_KEY})"
    )


def accepts_bundle(trust: Trust, bundle: bytes, digest: str) -> Accepted:
    """A sigstore bundle referrer: key-signed (public-key hint) or keyless, about ``digest``."""
    if trust.keyless:
        return _accepts_keyless_bundle(trust, bundle, digest)
    envelope = bundle_envelope(bundle)
    hint = _public_key_hint(bundle)
    for key in trust.keys:
        if hint is not None and hint != _hint_of(key):
            continue
        try:
            return accepts_envelope(Trust(keys=(key,)), envelope)
        except VerificationError:
            if hint is not None:
                raise VerificationError(
                    f"its signature does not verify with key {key.key_id}, the key it names: "
                    "its payload was modified"
                ) from None
    if hint is not None:
        raise VerificationError(f"it is signed by another key (hint {hint}), not {trust.describe()}")
    raise VerificationError(f"its signature does not verify with {trust.describe()}")


def _accepts_keyless_bundle(trust: Trust, bundle: bytes, digest: str) -> Accepted:
    try:
        verified = verify_bundle(
            bundle,
            artifact_digest=digest,
            trusted_root=trust.trusted_root,
            identity=trust.identity,
            issuer=trust.issuer,
        )
    except BundleVerificationError as error:
        raise VerificationError(_keyless_reason(error, trust)) from None
    if trust.identity_regexp is not None and not re.search(trust.identity_regexp, verified.identity):
        raise VerificationError(
            f"it is signed by {verified.identity}, which does not match {trust.identity_regexp}"
        )
    if verified.payload is None:
        raise VerificationError("it is a message signature, not a signed in-toto statement")
    return Accepted(verified.payload, f"{verified.identity} (issuer {verified.issuer})")


def _keyless_reason(error: BundleVerificationError, trust: Trust) -> str:
    detail = error.message.removeprefix("sigstore bundle ")
    if error.check == "identity":
        return f"its certificate is not for {trust.describe()}: {detail}"
    if error.check == "subject":
        return f"it is about another image: {detail}"
    if error.check == "signature":
        return f"its signature does not verify (the payload was modified): {detail}"
    if error.check in ("timestamp", "transparency-log") and "expired" in detail.lower():
        return (
            "its certificate had expired when the log recorded the signature, and no timestamp "
            f"proves it was signed while the certificate was valid: {detail}"
        )
    if error.check == "certificate" and ("expired" in detail.lower() or "not valid" in detail.lower()):
        return (
            "its certificate was not valid at the time the signature was recorded, and no timestamp "
            f"proves otherwise: {detail}"
        )
    if error.check == "certificate" and "candidates exhausted" in detail:
        return f"its certificate does not chain to the trusted root (another Sigstore instance): {detail}"
    return detail


def _public_key_hint(bundle: bytes) -> str | None:
    try:
        material = safejson.loads(bundle).get("verificationMaterial") or {}
        hint = (material.get("publicKey") or {}).get("hint")
    except (ValueError, AttributeError):
        return None
    return hint if isinstance(hint, str) and hint else None


def _hint_of(key: PublicKey) -> str:
    return base64.b64encode(hashlib.sha256(key.der()).digest()).decode()


def build_trust(
    *,
    keys: list[Path] | None = None,
    identity: str | None = None,
    identity_regexp: str | None = None,
    issuer: str | None = None,
    github_repo: str | None = None,
    gitlab_project: str | None = None,
    trusted_root: Path | None = None,
) -> Trust:
    """The trust the command-line flags describe (shortcuts fill identity and issuer)."""
    shortcuts = [value for value in (github_repo, gitlab_project) if value]
    if shortcuts and (keys or identity or identity_regexp or issuer):
        raise GateError("--github-repo and --gitlab-project replace the key and identity flags; give one")
    if len(shortcuts) > 1:
        raise GateError("give --github-repo or --gitlab-project, not both")
    if github_repo:
        return github_trust(github_repo, trusted_root=trusted_root)
    if gitlab_project:
        return gitlab_trust(gitlab_project, trusted_root=trusted_root)
    public_keys = tuple(load_public_key(_read(path), source=str(path)) for path in keys or ())
    return Trust(
        keys=public_keys,
        identity=identity,
        identity_regexp=identity_regexp,
        issuer=issuer,
        trusted_root=trusted_root,
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise GateError(f"cannot read {path}: {error.strerror}") from None
