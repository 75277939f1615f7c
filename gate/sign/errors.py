"""Errors of signing and key-based verification (all one-line :class:`~gate.errors.GateError`\\ s)."""

from __future__ import annotations

from gate.errors import GateError


class KeyError_(GateError):
    """A key file that cannot be read: wrong password, wrong kind of key, unsupported algorithm."""


class SigningError(GateError):
    """Signing or publishing a signature failed; nothing claims the image is signed."""


class VerificationError(GateError):
    """No signature or attestation verified, or one verified but its claims do not match the image."""
