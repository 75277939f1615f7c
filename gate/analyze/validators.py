"""Validators of the built-in secret rules: checks a format allows, and the placeholder filter.

A validator gets the matched value, the match, the whole text and the file name, and returns
a :class:`~gate.analyze.rules.Verdict` (optionally a new severity and a note) or None to drop
the match: a checksum that does not add up, a PEM body that does not decode, a JWT whose
header is not JSON, a generic assignment whose value is code, a placeholder or low-entropy.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import zlib
from collections import Counter

from gate import safejson
from gate.analyze.pgp import secret_key_encrypted
from gate.analyze.rules import Verdict
from gate.severity import Severity

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

PLACEHOLDER_WORDS = (
    "example",
    "changeme",
    "change_me",
    "change-me",
    "placeholder",
    "dummy",
    "sample",
    "your_",
    "your-",
    "yourtoken",
    "yourpassword",
    "redacted",
    "xxxx",
    "****",
    "....",
    "<",
    "${",
    "{{",
    "%(",
    "replace",
    "insert",
    "fake",
    "notreal",
    "not_real",
    "not-a-",
)
PLACEHOLDER_VALUES = {
    "password",
    "passwd",
    "secret",
    "token",
    "test",
    "testing",
    "none",
    "null",
    "nil",
    "true",
    "false",
    "undefined",
    "required",
    "optional",
    "string",
    "pass",
    "admin",
    "root",
    "user",
    "username",
}


def is_placeholder(value: str) -> bool:
    """``changeme``, ``${TOKEN}``, ``<password>``, ``xxxx``, ``AKIAIOSFODNN7EXAMPLE`` and friends."""
    lowered = value.lower()
    if lowered in PLACEHOLDER_VALUES or len(set(lowered)) <= 2:
        return True
    if value[:1] in ("$", "%", "{", "<", "@", "&", "*"):
        return True
    return any(word in lowered for word in PLACEHOLDER_WORDS)


def shannon_entropy(value: str) -> float:
    """Bits per character."""
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(_BASE62[remainder])
    return "".join(reversed(digits)).rjust(width, "0")


def base62_crc32_checksum(entropy: str) -> str:
    """The 6-character checksum GitHub and npm append to their tokens."""
    return _base62(zlib.crc32(entropy.encode("ascii")), 6)


def checksummed_token(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    prefix_length = 4  # "ghp_", "npm_"
    entropy, checksum = value[prefix_length:-6], value[-6:]
    return Verdict() if base62_crc32_checksum(entropy) == checksum else None


def _b64decode(text: str) -> bytes | None:
    cleaned = "".join(text.split())
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _armored_body(block: str) -> str:
    """The base64 of a PEM/armored body: no header lines, no CRC line, ``\\n`` escapes (JSON) undone."""
    lines = block.replace("\\r", "\n").replace("\\n", "\n").splitlines()
    return "".join(line.strip() for line in lines if ":" not in line and not line.strip().startswith("="))


def pem_private_key(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    body = _armored_body(match.group("body").decode("ascii", "replace"))
    decoded = _b64decode(body)
    if decoded is None or len(decoded) < 32:
        return None  # documentation ("-----BEGIN RSA PRIVATE KEY-----\n...\n"), not a key
    label = match.group("label").decode("ascii")
    encrypted = "ENCRYPTED" in label or match.group("proc") is not None
    if label.startswith("OPENSSH"):
        encrypted = _openssh_cipher(decoded) not in (b"none", None)
    if encrypted:
        return Verdict(Severity.MEDIUM, "encrypted with a passphrase", shown=body)
    return Verdict(note="not encrypted", shown=body)


def _openssh_cipher(decoded: bytes) -> bytes | None:
    magic = b"openssh-key-v1\x00"
    if not decoded.startswith(magic) or len(decoded) < len(magic) + 4:
        return None
    length = int.from_bytes(decoded[len(magic) : len(magic) + 4], "big")
    return decoded[len(magic) + 4 : len(magic) + 4 + length]


def pgp_private_key(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    block = match.group("body").decode("ascii", "replace")
    # armor headers ("Comment: ...") end at the first blank line; the base64 follows
    body = _armored_body(block.split("\n\n", 1)[-1] if "\n\n" in block else block)
    decoded = _b64decode(body)
    if decoded is None or len(decoded) < 32:
        return None
    encrypted = secret_key_encrypted(decoded)
    if encrypted is None:
        return Verdict(Severity.HIGH, "whether a passphrase protects it is not known", shown=body)
    if encrypted:
        return Verdict(Severity.MEDIUM, "encrypted with a passphrase", shown=body)
    return Verdict(note="not encrypted", shown=body)


def jwt(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    header, payload, _signature = value.split(".")
    for part in (header, payload):
        try:
            decoded = safejson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except (ValueError, binascii.Error):
            return None
        if not isinstance(decoded, dict):
            return None
    return Verdict()


def docker_auth(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    if match.group("field") != b"auth":
        return Verdict()  # identitytoken / registrytoken: opaque
    decoded = _b64decode(value)
    if decoded is None or b":" not in decoded:
        return None
    _user, _, password = decoded.partition(b":")
    if not password or is_placeholder(password.decode("utf-8", "replace")):
        return None
    return Verdict(note="base64 user:password")


def stripe_key(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    if "_test_" in value[:8]:
        return Verdict(Severity.LOW, "test-mode key")
    return Verdict()


def slack_token(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    parts = value.split("-")
    return Verdict() if len(parts) >= 3 and parts[1].isdigit() else None


def kubeconfig_credential(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    if match.group("field") == b"client-key-data":
        decoded = _b64decode(value)
        if decoded is None or b"PRIVATE KEY" not in decoded:
            return None
        return Verdict(Severity.CRITICAL, "client private key")
    return Verdict()


_CODE_LIKE = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+|[A-Za-z_]+")
GENERIC_MIN_ENTROPY = 3.0
_IGNORED_NAME_SUFFIXES = (
    "file",
    "path",
    "dir",
    "url",
    "uri",
    "name",
    "field",
    "type",
    "len",
    "length",
    "size",
    "prompt",
    "label",
    "header",
    "env",
    "id",
    "count",
    "endpoint",
    "class",
)


CODE_SUFFIXES = (
    ".py",
    ".js",
    ".mjs",
    ".cjs",
    ".jsx",
    ".ts",
    ".tsx",
    ".rb",
    ".go",
    ".java",
    ".kt",
    ".scala",
    ".php",
    ".c",
    ".h",
    ".cc",
    ".cpp",
    ".cs",
    ".rs",
    ".swift",
    ".map",
)
_WORDS = re.compile(r"[a-z]+(?:[-_.][a-z]+)*")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def _is_next_assignment(value: str) -> bool:
    """``scmVersion=`` in ``password= scmVersion=``: the next assignment, not base64 padding."""
    name, equals, rest = value.partition("=")
    if not equals or not name.isidentifier():
        return False
    padding = not rest.strip("=") and len(value) % 4 == 0
    return not padding


def generic_assignment(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    suffix = (match.group("suffix") or b"").decode("ascii", "replace")
    if re.split(r"[_.-]", suffix)[-1] in _IGNORED_NAME_SUFFIXES:
        return None
    if match.group("op") == b":" and not match.group("keyquote") and not match.group("space"):
        return None  # "a:b" inside a word (URLs, ARNs, times), not a "key: value" pair
    if value.lower().startswith("arn:"):
        return None  # an AWS resource name, not a secret
    quote = match.group("quote")
    if quote:
        if data[match.end("secret") : match.end("secret") + 1] != quote:
            return None  # the literal goes on (spaces, an expression): not one opaque value
    elif name.endswith(CODE_SUFFIXES):
        return None  # in code, an unquoted right-hand side is an expression, not a literal
    if _CODE_LIKE.fullmatch(value) or _UUID.fullmatch(value) or value[:1] in "/.~!" or value.isdigit():
        return None  # an identifier, attribute access, identifier-like UUID, path or number
    if _is_next_assignment(value):
        return None
    if not any(c.isdigit() for c in value) and (value.isalnum() or _WORDS.fullmatch(value)):
        return None  # a word or words-with-dashes ("elevated-privileges"), not a random value
    if shannon_entropy(value) < GENERIC_MIN_ENTROPY:
        return None
    return Verdict()
