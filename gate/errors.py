"""Errors gate reports to its users.

Every failure a user can cause or fix (a bad reference, a registry that refuses, a
corrupt layer, a wrong password) is a :class:`GateError`. The CLI prints its message on
one line and exits 1; ``--debug`` adds the traceback. Anything else is a bug in gate.

    GateError                       exit 1, one-line message
    ├── ReferenceError_             an image reference that cannot be parsed
    ├── CredentialsError            a credential store or helper that fails
    ├── RegistryError               the registry refused, lied or could not be reached
    │   ├── AuthenticationError     401/403 after every credential was tried
    │   └── NotFoundError           manifest, blob or tag absent
    ├── IntegrityError              content does not match its digest or size
    ├── ImageFormatError            a manifest, config, index or layout that is malformed
    ├── LayerError                  a layer tarball that is hostile or corrupt
    ├── KeyError_                   a key file that cannot be read
    ├── SigningError                signing or publishing a signature failed
    ├── VerificationError           nothing verified, or its claims do not match the image
    └── PolicyError                 a policy, waiver, VEX or Rego file that cannot be used

    GateClosed                      not an error: the verdict "do not ship" (exit 2)

"Gate closed" (policy or verification failed) is a result, not a failure of gate: a command
renders its report first, then raises :class:`GateClosed`, which ``main()`` maps to exit 2.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_GATE_CLOSED = 2


class GateError(Exception):
    """A failure with a message fit for the user; the CLI exits 1."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """The one-line message, with what to do about it when we know."""
        text = " ".join(self.message.split())
        return f"{text} ({self.hint})" if self.hint else text


class ReferenceError_(GateError):
    """An image reference that cannot be parsed."""


class CredentialsError(GateError):
    """A credential store, helper program or auth file that fails."""


class RegistryError(GateError):
    """The registry refused, answered nonsense, or could not be reached."""


class AuthenticationError(RegistryError):
    """The registry refused every credential we had."""


class NotFoundError(RegistryError):
    """A manifest, blob or tag does not exist."""


class RacedWriteError(RegistryError):
    """The registry refused a manifest write that raced another write to the same tag
    (distribution answers DIGEST_INVALID); read, merge and write again."""


class IntegrityError(GateError):
    """Content whose digest or size does not match what was promised."""


class ImageFormatError(GateError):
    """A manifest, index, config or layout that is malformed or unsupported."""


class LayerError(GateError):
    """A layer tarball that is corrupt or tries to escape the image root."""


class KeyError_(GateError):
    """A key file that cannot be read: wrong password, wrong kind of key, unsupported algorithm."""


class SigningError(GateError):
    """Signing or publishing a signature failed; nothing claims the image is signed."""


class VerificationError(GateError):
    """No signature or attestation verified, or one verified but its claims do not match the image."""


class PolicyError(GateError):
    """A policy, waiver, VEX or Rego file that cannot be read or evaluated: nothing is decided."""


class GateClosed(Exception):
    """The gate's verdict is "fail": the command has reported why; the CLI exits 2."""

    exit_code = EXIT_GATE_CLOSED

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
