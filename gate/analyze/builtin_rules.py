"""The built-in secret rules, in priority order (an earlier rule's match hides a later one's).

Each pattern is written so that it cannot backtrack much: a literal prefix, bounded
character-class runs (possessive where the next token cannot overlap), no nested or
alternating repetition. Validators (validators.py) check what the format allows (GitHub/npm
CRC32 checksums, decodable PEM bodies and JWT headers, base64 ``user:password`` in docker
auths).
"""

from __future__ import annotations

import re
from typing import Any

from gate.analyze import validators
from gate.analyze.rules import SecretRule
from gate.severity import Severity


def _rule(
    rule_id: str,
    title: str,
    severity: Severity,
    pattern: bytes,
    keywords: tuple[bytes, ...],
    **extra: Any,
) -> SecretRule:
    return SecretRule(rule_id, title, severity, re.compile(pattern), keywords, **extra)


_VALUE_END = rb"(?![A-Za-z0-9_])"
_DB_SCHEMES = (
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "mongodb",
    "mongodb+srv",
    "redis",
    "rediss",
    "amqp",
    "amqps",
    "mssql",
    "sqlserver",
    "oracle",
    "cockroachdb",
    "clickhouse",
)
_DB_URL_KEYWORDS = tuple(f"{scheme}://".encode() for scheme in _DB_SCHEMES)

BUILTIN_RULES: tuple[SecretRule, ...] = (
    _rule(
        "private-key",
        "PEM private key",
        Severity.CRITICAL,
        rb"-----BEGIN (?P<label>(?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY)-----"
        rb"(?P<proc>[\s\\n]{1,8}Proc-Type: 4,ENCRYPTED[\s\\n]{1,8}DEK-Info: [A-Z0-9,-]{1,200}+)?"
        rb"(?P<body>[^-]{32,65536}+)-----END ",
        (b"private key-----",),
        validate=validators.pem_private_key,
        placeholders=False,
    ),
    _rule(
        "pgp-private-key",
        "PGP private key block",
        Severity.CRITICAL,
        rb"-----BEGIN PGP PRIVATE KEY BLOCK-----(?P<body>[^-]{32,131072}+)"
        rb"-----END PGP PRIVATE KEY BLOCK-----",
        (b"pgp private key block",),
        validate=validators.pgp_private_key,
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
        validate=validators.checksummed_token,
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
        validate=validators.slack_token,
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
        validate=validators.stripe_key,
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
        validate=validators.checksummed_token,
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
        validate=validators.docker_auth,
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
        validate=validators.kubeconfig_credential,
    ),
    _rule(
        "jwt",
        "JSON Web Token",
        Severity.MEDIUM,
        rb"(?<![A-Za-z0-9_-])(?P<secret>eyJ[A-Za-z0-9_-]{8,4096}+\.eyJ[A-Za-z0-9_-]{8,16384}+\.[A-Za-z0-9_-]{16,4096}+)"
        rb"(?![A-Za-z0-9_.-])",
        (b"eyj",),
        validate=validators.jwt,
        in_packages=False,
    ),
    _rule(
        "database-url-password",
        "Database URL with a password",
        Severity.HIGH,
        rb"(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver"
        rb"|oracle|cockroachdb|clickhouse)://[^\s:/@\"'`<>]{1,128}+:(?P<secret>[^\s:/@\"'`<>]{1,256}+)@[a-z0-9\[]",
        _DB_URL_KEYWORDS,
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
            b"auth-key",
            b"authkey",
            b"private_key",
            b"private-key",
            b"privatekey",
            b"credential",
        ),
        validate=validators.generic_assignment,
        lowered=True,
        in_packages=False,
        anchored=True,
    ),
)
