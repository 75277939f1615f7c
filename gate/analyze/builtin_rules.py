"""The built-in secret rules, in priority order (an earlier rule's match hides a later one's).

Each pattern is written so that it cannot backtrack much: a literal prefix, bounded
character-class runs (possessive where the next token cannot overlap), no nested or
alternating repetition. Validators check what the format allows (GitHub/npm CRC32
checksums, decodable PEM bodies and JWT headers, base64 ``user:password`` in docker auths).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib
from collections import Counter

from gate.analyze.model import Severity
from gate.analyze.rules import SecretRule, Verdict

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


def _checksummed_token(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
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


def _pem_private_key(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
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


def _pgp_private_key(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    block = match.group("body").decode("ascii", "replace")
    # armor headers ("Comment: ...") end at the first blank line; the base64 follows
    body = _armored_body(block.split("\n\n", 1)[-1] if "\n\n" in block else block)
    decoded = _b64decode(body)
    if decoded is None or len(decoded) < 32:
        return None
    return Verdict(note="whether a passphrase protects it is not checked", shown=body)


def _jwt(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    header, payload, _signature = value.split(".")
    for part in (header, payload):
        try:
            decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except (ValueError, binascii.Error):
            return None
        if not isinstance(decoded, dict):
            return None
    return Verdict()


def _docker_auth(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    if match.group("field") != b"auth":
        return Verdict()  # identitytoken / registrytoken: opaque
    decoded = _b64decode(value)
    if decoded is None or b":" not in decoded:
        return None
    _user, _, password = decoded.partition(b":")
    if not password or is_placeholder(password.decode("utf-8", "replace")):
        return None
    return Verdict(note="base64 user:password")


def _stripe(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    if "_test_" in value[:8]:
        return Verdict(Severity.LOW, "test-mode key")
    return Verdict()


def _slack_token(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
    parts = value.split("-")
    return Verdict() if len(parts) >= 3 and parts[1].isdigit() else None


def _kubeconfig(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
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


def _generic_assignment(value: str, match: re.Match[bytes], data: bytes, name: str) -> Verdict | None:
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


def _rule(
    rule_id: str,
    title: str,
    severity: Severity,
    pattern: bytes,
    keywords: tuple[bytes, ...],
    **extra: object,
) -> SecretRule:
    return SecretRule(rule_id, title, severity, re.compile(pattern), keywords, **extra)  # type: ignore[arg-type]


_VALUE_END = rb"(?![A-Za-z0-9_])"

BUILTIN_RULES: tuple[SecretRule, ...] = (
    _rule(
        "private-key",
        "PEM private key",
        Severity.CRITICAL,
        rb"-----BEGIN (?P<label>(?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY)-----"
        rb"(?P<proc>[\s\\n]{1,8}Proc-Type: 4,ENCRYPTED[\s\\n]{1,8}DEK-Info: [A-Z0-9,-]{1,200}+)?"
        rb"(?P<body>[^-]{32,65536}+)-----END ",
        (b"private key-----",),
        validate=_pem_private_key,
        placeholders=False,
    ),
    _rule(
        "pgp-private-key",
        "PGP private key block",
        Severity.HIGH,
        rb"-----BEGIN PGP PRIVATE KEY BLOCK-----(?P<body>[^-]{32,131072}+)"
        rb"-----END PGP PRIVATE KEY BLOCK-----",
        (b"pgp private key block",),
        validate=_pgp_private_key,
        placeholders=False,
    ),
    _rule(
        "aws-access-key-id",
        "AWS access key id",
        Severity.MEDIUM,
        # a literal first lets re skip ahead fast; the lookbehind then checks the character before it
        rb"(?P<secret>A(?<![A-Z0-9]A)(?:KIA|SIA|BIA|CCA)[A-Z2-7]{16})(?![A-Z0-9])",
        (b"akia", b"asia", b"abia", b"acca"),
    ),
    _rule(
        "aws-secret-access-key",
        "AWS secret access key",
        Severity.HIGH,
        rb"aws[a-z0-9_.-]{0,20}secret[a-z0-9_.-]{0,20}[\"']?[ \t]{0,8}(?::=|=>|=|:)[ \t]{0,8}[\"']?"
        rb"(?P<secret>[a-z0-9/+]{40})(?![a-z0-9/+=])",
        (b"aws",),
        lowered=True,
    ),
    _rule(
        "github-token",
        "GitHub token",
        Severity.CRITICAL,
        rb"(?<![A-Za-z0-9_])(?P<secret>gh[pousr]_[A-Za-z0-9]{36})" + _VALUE_END,
        (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"),
        validate=_checksummed_token,
    ),
    _rule(
        "github-fine-grained-token",
        "GitHub fine-grained personal access token",
        Severity.CRITICAL,
        rb"(?<![A-Za-z0-9_])(?P<secret>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})" + _VALUE_END,
        (b"github_pat_",),
    ),
    _rule(
        "gitlab-token",
        "GitLab token",
        Severity.CRITICAL,
        rb"(?<![A-Za-z0-9_-])(?P<secret>(?:gl(?:pat|dt|rt|soat|ffct|agent|cbt|oas|ft|imt|wt)-[0-9A-Za-z_.-]{20,200}+"
        rb"|glptt-[0-9a-f]{40}|GR1348941[0-9A-Za-z_-]{20}))" + _VALUE_END,
        (
            b"glpat-",
            b"gldt-",
            b"glrt-",
            b"glsoat-",
            b"glffct-",
            b"glagent-",
            b"glcbt-",
            b"gloas-",
            b"glft-",
            b"glimt-",
            b"glwt-",
            b"glptt-",
            b"gr1348941",
        ),
    ),
    _rule(
        "slack-token",
        "Slack token",
        Severity.HIGH,
        rb"(?<![A-Za-z0-9_-])(?P<secret>xox[abposre]-[0-9A-Za-z-]{10,250}+)",
        (b"xoxa-", b"xoxb-", b"xoxp-", b"xoxo-", b"xoxs-", b"xoxr-", b"xoxe-"),
        validate=_slack_token,
    ),
    _rule(
        "slack-webhook",
        "Slack incoming webhook URL",
        Severity.MEDIUM,
        rb"hooks\.slack\.com/(?:services|workflows)/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/(?P<secret>[A-Za-z0-9]{20,40})"
        + _VALUE_END,
        (b"hooks.slack.com",),
    ),
    _rule(
        "stripe-secret-key",
        "Stripe secret or restricted key",
        Severity.CRITICAL,
        rb"(?<![A-Za-z0-9_])(?P<secret>(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,99})" + _VALUE_END,
        (b"sk_live_", b"sk_test_", b"rk_live_", b"rk_test_"),
        validate=_stripe,
    ),
    _rule(
        "google-api-key",
        "Google API key",
        Severity.HIGH,
        rb"(?<![A-Za-z0-9_-])(?P<secret>AIza[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])",
        (b"aiza",),
    ),
    _rule(
        "npm-token",
        "npm access token",
        Severity.HIGH,
        rb"(?<![A-Za-z0-9_])(?P<secret>npm_[A-Za-z0-9]{36})" + _VALUE_END,
        (b"npm_",),
        validate=_checksummed_token,
    ),
    _rule(
        "pypi-token",
        "PyPI API token",
        Severity.CRITICAL,
        rb"(?P<secret>pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,1000})" + _VALUE_END,
        (b"pypi-age",),
    ),
    _rule(
        "npmrc-auth",
        "npm registry credential in .npmrc",
        Severity.HIGH,
        rb"_(?:authToken|auth|password)[ \t]{0,8}=[ \t]{0,8}[\"']?(?P<secret>[^\s\"']{6,1024}+)",
        (b"_auth", b"_password"),
        paths=(".npmrc", "npmrc"),
    ),
    _rule(
        "docker-config-auth",
        "Registry credential in a docker/podman auth file",
        Severity.HIGH,
        rb"\"(?P<field>auth|identitytoken|registrytoken)\"[ \t]{0,8}:[ \t]{0,8}"
        rb"\"(?P<secret>[A-Za-z0-9+/=._-]{8,8192}+)\"",
        (b'"auth"', b'"identitytoken"', b'"registrytoken"'),
        requires=(b'"auths"',),
        validate=_docker_auth,
    ),
    _rule(
        "pypirc-password",
        "Package index password in .pypirc",
        Severity.HIGH,
        rb"(?m)^[ \t]{0,16}password[ \t]{0,8}[:=][ \t]{0,8}(?P<secret>\S{4,1024}+)",
        (b"password",),
        paths=(".pypirc",),
        lowered=True,
    ),
    _rule(
        "netrc-password",
        "Password in .netrc",
        Severity.HIGH,
        rb"(?<![A-Za-z0-9_])password[ \t\r\n]{1,16}(?P<secret>\S{1,1024}+)",
        (b"password",),
        paths=(".netrc", "_netrc"),
    ),
    _rule(
        "kubeconfig-credential",
        "Kubernetes credential in a kubeconfig",
        Severity.HIGH,
        rb"(?m)^[ \t-]{0,32}(?P<field>token|client-key-data|password)[ \t]{0,8}:[ \t]{0,8}[\"']?"
        rb"(?P<secret>[^\s\"']{8,65536}+)",
        (b"token", b"client-key-data", b"password"),
        requires=(b"kind: config", b"users:"),
        validate=_kubeconfig,
    ),
    _rule(
        "jwt",
        "JSON Web Token",
        Severity.MEDIUM,
        rb"(?<![A-Za-z0-9_-])(?P<secret>eyJ[A-Za-z0-9_-]{8,4096}+\.eyJ[A-Za-z0-9_-]{8,16384}+\.[A-Za-z0-9_-]{16,4096}+)"
        rb"(?![A-Za-z0-9_.-])",
        (b"eyj",),
        validate=_jwt,
        in_packages=False,
    ),
    _rule(
        "database-url-password",
        "Database URL with a password",
        Severity.HIGH,
        rb"(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver"
        rb"|oracle|cockroachdb|clickhouse)://[^\s:/@\"'`<>]{1,128}+:(?P<secret>[^\s:/@\"'`<>]{1,256}+)@[a-z0-9\[]",
        (b"://",),
        lowered=True,
        in_packages=False,
    ),
    _rule(
        "generic-secret-assignment",
        "Password, secret, token or API key assigned a high-entropy value",
        Severity.MEDIUM,
        rb"(?:password|passwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|private[_-]?key"
        rb"|client[_-]?secret|credentials?)(?P<suffix>[a-z0-9_.-]{1,32}+)?"
        rb"(?P<keyquote>[\"']?)[ \t]{0,8}(?P<op>:=|=>|=|:)(?P<space>[ \t]{0,8})(?P<quote>[\"'`]?)"
        rb"(?P<secret>[^\s\"'`;,<>(){}\[\]\\]{8,256}+)",
        (
            b"password",
            b"passwd",
            b"secret",
            b"token",
            b"api_key",
            b"api-key",
            b"apikey",
            b"access_key",
            b"access-key",
            b"accesskey",
            b"auth_key",
            b"authkey",
            b"private_key",
            b"privatekey",
            b"credential",
        ),
        validate=_generic_assignment,
        lowered=True,
        in_packages=False,
    ),
)
