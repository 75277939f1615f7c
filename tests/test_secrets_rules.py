"""Each built-in secret rule: a positive and a negative case, adversarial inputs, tuning files.

Secrets are real-format but test-only (tests/fixtures/analyze/material.py): keys generated
here with ``cryptography`` and gpg, tokens with correct prefixes and checksums.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gate.analyze import Severity, default_rules, load_rules
from gate.analyze.builtin_rules import BUILTIN_RULES
from gate.analyze.rules import RuleSet, UnsafeRegexError, check_regex_safety
from gate.analyze.secrets import looks_binary, scan_text
from gate.errors import GateError
from tests.fixtures.analyze.material import (
    Material,
    docker_auth,
    jwt_token,
    pem_private_key,
    pgp_private_key,
)

REPO = Path(__file__).resolve().parent.parent
ADVERSARIAL_BOUND_SECONDS = 2.0  # per input of ~100 kB; catastrophic backtracking takes hours


@dataclass(frozen=True)
class Case:
    text: str
    name: str = "app.cfg"  # the file's name (rules limited to .npmrc, .pypirc ... look at it)


def rule_ids(text: str, name: str = "app.cfg", rules: RuleSet | None = None) -> set[str]:
    return {hit.rule.id for hit in scan_text(text.encode(), rules or default_rules(), name)}


@pytest.fixture(scope="module")
def cases() -> dict[str, tuple[Case, Case]]:
    """rule id -> (a case it must find, a near miss it must not)."""
    m = Material(7)
    key_id, secret_key = m.aws_key_pair()
    github = m.github_token()
    npm = m.npm_token()
    pem = pem_private_key("rsa")
    import base64

    kube_key = base64.b64encode(pem.encode()).decode()
    webhook, _ = m.slack_webhook()
    password = m.password()
    return {
        "private-key": (
            Case(pem),
            Case("-----BEGIN RSA PRIVATE KEY-----\n...your key here...\n-----END RSA"),
        ),
        "pgp-private-key": (
            Case(pgp_private_key()),
            Case(
                "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n<paste the key>\n"
                "-----END PGP PRIVATE KEY BLOCK-----"
            ),
        ),
        "aws-access-key-id": (Case(f"key={key_id}"), Case("key=AKIAIOSFODNN7EXAMPLE")),
        "aws-secret-access-key": (
            Case(f"aws_secret_access_key = {secret_key}"),
            Case("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ),
        "github-token": (
            Case(f"token {github}"),
            Case(f"token {github[:-1]}{'A' if github[-1] != 'A' else 'B'}"),
        ),
        "github-fine-grained-token": (
            Case(m.github_fine_grained()),
            Case(f"github_pat_{m.chars(21)}_{m.chars(59)}"),
        ),
        "gitlab-token": (Case(m.gitlab_token()), Case("glpat-" + m.chars(10))),
        "slack-token": (Case(m.slack_token()), Case("xoxb-not-a-real-token-for-slack")),
        "slack-webhook": (Case(webhook), Case(webhook.rsplit("/", 1)[0] + "/short")),
        "stripe-secret-key": (Case(m.stripe_key()), Case("pk_live_" + m.chars(24))),
        "google-api-key": (Case(m.google_api_key()), Case("AIza" + m.chars(20))),
        "npm-token": (Case(npm), Case(npm[:-1] + ("A" if npm[-1] != "A" else "B"))),
        "pypi-token": (Case(m.pypi_token()), Case("pypi-AgEIcHlwaS5vcmc" + m.chars(10))),
        "npmrc-auth": (
            Case(f"//registry.example/:_authToken={m.chars(36)}\n", ".npmrc"),
            Case("//registry.example/:_authToken=${NPM_TOKEN}\n", ".npmrc"),
        ),
        "docker-config-auth": (
            Case(json.dumps({"auths": {"registry.example": {"auth": docker_auth("ci", password)}}})),
            Case(json.dumps({"auths": {"registry.example": {"auth": docker_auth("ci", "")}}})),
        ),
        "pypirc-password": (
            Case(f"[pypi]\nusername = alice\npassword = {password}\n", ".pypirc"),
            Case("[pypi]\nusername = alice\npassword = changeme\n", ".pypirc"),
        ),
        "netrc-password": (
            Case(f"machine git.example login bob password {password}\n", ".netrc"),
            Case("machine git.example login bob\n", ".netrc"),
        ),
        "kubeconfig-credential": (
            Case(
                "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n"
                f"    client-key-data: {kube_key}\n    token: {m.chars(40)}\n",
                "config",
            ),
            Case(f"apiVersion: v1\nkind: Secret\ndata:\n  token: {m.chars(40)}\n", "secret.yaml"),
        ),
        "jwt": (Case(jwt_token(m)), Case("eyJ" + m.chars(20) + ".eyJ" + m.chars(30) + "." + m.chars(30))),
        "database-url-password": (
            Case(f"DATABASE_URL=postgresql://app:{password}@db.internal:5432/app"),
            Case("DATABASE_URL=postgresql://app:${DB_PASSWORD}@db.internal:5432/app"),
        ),
        "generic-secret-assignment": (
            Case(f'API_KEY = "{m.generic_api_key()}"'),
            Case('password = "changeme"\ntoken = self.token_value\napi_key = os.environ.get("API_KEY")\n'),
        ),
    }


def test_every_builtin_rule_has_a_positive_and_a_negative_case(cases: dict[str, tuple[Case, Case]]) -> None:
    assert {rule.id for rule in BUILTIN_RULES} == set(cases)


@pytest.mark.parametrize("rule_id", [rule.id for rule in BUILTIN_RULES])
def test_rule_finds_its_positive_case(rule_id: str, cases: dict[str, tuple[Case, Case]]) -> None:
    positive, _ = cases[rule_id]
    assert rule_id in rule_ids(positive.text, positive.name)


@pytest.mark.parametrize("rule_id", [rule.id for rule in BUILTIN_RULES])
def test_rule_ignores_its_near_miss(rule_id: str, cases: dict[str, tuple[Case, Case]]) -> None:
    _, negative = cases[rule_id]
    assert rule_id not in rule_ids(negative.text, negative.name)


@pytest.mark.parametrize(
    ("kind", "passphrase", "severity", "first4"),
    [
        ("rsa", None, Severity.CRITICAL, "MIIE"),
        ("rsa", b"test-only", Severity.MEDIUM, None),
        ("pkcs8", None, Severity.CRITICAL, "MIIE"),
        ("pkcs8", b"test-only", Severity.MEDIUM, "MIIF"),
        ("ec", None, Severity.CRITICAL, "MHcC"),
        ("dsa", None, Severity.CRITICAL, "MIID"),
        ("openssh", None, Severity.CRITICAL, "b3Bl"),
        ("openssh", b"test-only", Severity.MEDIUM, "b3Bl"),
    ],
)
def test_private_keys_of_every_format_and_encrypted_ones_lower(
    kind: str, passphrase: bytes | None, severity: Severity, first4: str | None
) -> None:
    pem = pem_private_key(kind, passphrase=passphrase)
    for text in (pem, json.dumps({"private_key": pem})):  # also inside JSON, as in cloud key files
        hits = scan_text(text.encode(), default_rules())
        assert [(h.rule.id, h.severity) for h in hits] == [("private-key", severity)]
        assert hits[0].redacted.endswith("********")
        if first4:
            assert hits[0].redacted.startswith(first4)


@pytest.mark.parametrize("algorithm", ["ed25519", "rsa2048", "nistp256", "dsa2048"])
def test_pgp_keys_encrypted_ones_lower(algorithm: str) -> None:
    for passphrase, severity, note in (
        ("", Severity.CRITICAL, "not encrypted"),
        ("test-only", Severity.MEDIUM, "encrypted with a passphrase"),
    ):
        hits = scan_text(pgp_private_key(algorithm, passphrase).encode(), default_rules())
        assert [(h.rule.id, h.severity, h.note) for h in hits] == [("pgp-private-key", severity, note)]


def test_pgp_packets_that_cannot_be_parsed_are_reported_as_unknown() -> None:
    from gate.analyze.pgp import secret_key_encrypted

    assert secret_key_encrypted(b"\x95\x01") is None  # truncated
    assert secret_key_encrypted(b"\x99\x00\x05\x04abcd") is None  # a public key packet (tag 6)
    assert secret_key_encrypted(b"\x00" * 40) is None  # not a packet


def test_aws_key_id_and_secret_together_are_critical() -> None:
    key_id, secret = Material(3).aws_key_pair()
    alone = scan_text(f"aws_secret_access_key={secret}\n".encode(), default_rules())
    assert [(h.rule.id, h.severity) for h in alone] == [("aws-secret-access-key", Severity.HIGH)]
    paired = scan_text(
        f"aws_access_key_id={key_id}\naws_secret_access_key={secret}\n".encode(), default_rules()
    )
    assert sorted((h.rule.id, h.severity, h.line) for h in paired) == [
        ("aws-access-key-id", Severity.CRITICAL, 1),
        ("aws-secret-access-key", Severity.CRITICAL, 2),
    ]


def test_stripe_test_mode_keys_are_low() -> None:
    hits = scan_text(Material(4).stripe_key("test").encode(), default_rules())
    assert [(h.rule.id, h.severity) for h in hits] == [("stripe-secret-key", Severity.LOW)]


def test_a_specific_rule_hides_the_generic_one_on_the_same_text() -> None:
    token = Material(5).github_token()
    hits = scan_text(f"GITHUB_TOKEN={token}".encode(), default_rules())
    assert [h.rule.id for h in hits] == ["github-token"]


@pytest.mark.parametrize(("secret", "shown"), [("abc", "a"), ("s3cr3t", "s3"), ("hunter2hunter", "hunt")])
def test_short_secrets_show_at_most_a_third(secret: str, shown: str) -> None:
    from gate.analyze import redact

    assert redact(secret) == shown + "********"


def test_redacted_match_shows_four_characters_and_a_fixed_mask() -> None:
    token = Material(6).github_token()
    (hit,) = scan_text(token.encode(), default_rules())
    assert hit.redacted == token[:4] + "********"
    assert token[4:8] not in hit.redacted


@pytest.mark.parametrize(
    "code",
    [
        "tokenizer = AutoTokenizer.from_pretrained(name)",
        "password_field = PasswordField('Password', validators=[Required()])",
        "secret_key_file = /etc/app/secret.key",
        'token: "{{ .Values.token }}"',
        "API_KEY=${API_KEY}",
        "passwordHash = bcrypt.hash(password)",
        "const token = req.headers.authorization;",
        "password = getpass.getpass()",
        "SECRET_KEY = 'django-insecure-changeme-please'",
        'mvncomp "username= message= passphrase= password= scmVersion= $(__mvnlist_prefix',
        "passwd: elevated-privileges 4755 root/shadow [usr/bin/chfn]",
        '"SecretId": "MyTestDatabaseSecret",',
        '"SecretARN": "arn:aws:secretsmanager:us-west-2:123456789012:secret:MyTestDatabaseSecret-a1b2c3"',
        '"ChangeToken": "abcd12f2-46da-4fdb-b8d5-fbd4c466928f"',
    ],
)
def test_generic_rule_ignores_code_and_placeholders(code: str) -> None:
    assert rule_ids(code) == set()


@pytest.mark.parametrize(
    "data",
    [
        b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 100 + b"ghp_",
        bytes(range(1, 32)) * 300,  # control characters without a NUL: still not text
    ],
)
def test_binary_sniffing(data: bytes) -> None:
    assert looks_binary(data[:8192])


def test_text_with_utf8_and_tabs_is_text() -> None:
    assert not looks_binary("clé = valeur\t# commentaire\r\n".encode() * 200)


# -- regex safety ----------------------------------------------------------------------------


@pytest.mark.parametrize("rule", BUILTIN_RULES, ids=lambda rule: rule.id)
def test_builtin_patterns_pass_the_backtracking_guard(rule) -> None:
    check_regex_safety(rule.regex.pattern, rule.id)


@pytest.mark.parametrize("pattern", [r"(a+)+b", r"(?:\w+\s?)*$", r"(a|ab)*c", r"(?:x{1,5}){2,}", r"((a*)*)"])
def test_backtracking_guard_refuses_nested_and_alternating_repetition(pattern: str) -> None:
    with pytest.raises(UnsafeRegexError, match="backtrack catastrophically"):
        check_regex_safety(pattern, "test")


@pytest.mark.parametrize("pattern", [r"acme_[0-9a-f]{32}", r"(?:a++)*b", r"(?>a+)+b", r"ab(?:cd)?e{2,3}"])
def test_backtracking_guard_accepts_linear_patterns(pattern: str) -> None:
    check_regex_safety(pattern, "test")


@pytest.mark.parametrize("rule_id", [rule.id for rule in BUILTIN_RULES])
def test_rule_runs_in_bounded_time_on_adversarial_input(rule_id: str) -> None:
    """100k-character lines of keywords, near-matches, separators: each well under the bound.

    Runs in a child process so a rule that did backtrack catastrophically is killed (and the
    test fails) instead of hanging the suite.
    """
    result = subprocess.run(
        [sys.executable, "-m", "tests.fixtures.analyze.adversarial", rule_id],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    timings = json.loads(result.stdout)
    assert len(timings) >= 20
    slow = [(what, round(seconds, 2)) for what, seconds in timings if seconds > ADVERSARIAL_BOUND_SECONDS]
    assert slow == []


def test_megabyte_lines_binary_lookalikes_and_invalid_utf8_with_every_rule() -> None:
    import time

    token = Material(8).github_token()
    blobs = [
        b"x" * (4 << 20) + b" " + token.encode(),  # a 4 MiB line, the token at its end
        b"\xff\xfe\xfd" * 300_000 + b"\n" + token.encode(),  # invalid UTF-8
        bytes(range(32, 127)) * 20_000 + token.encode(),  # printable noise
    ]
    for blob in blobs:
        started = time.perf_counter()
        hits = scan_text(blob, default_rules())
        assert time.perf_counter() - started < 10 * ADVERSARIAL_BOUND_SECONDS
        assert [h.rule.id for h in hits] == ["github-token"]


# -- tuning files ----------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_tuning_disables_rules_changes_severity_and_adds_a_rule(tmp_path: Path) -> None:
    m = Material(9)
    rules = load_rules(
        write(
            tmp_path,
            "disable: [jwt]\n"
            "severity: {google-api-key: low}\n"
            "rules:\n"
            "  - id: acme-key\n"
            "    title: ACME key\n"
            "    severity: critical\n"
            "    regex: 'acme_(?P<secret>[0-9a-f]{32})'\n"
            "    keywords: [ACME_]\n",
        )
    )
    text = f"{jwt_token(m)}\n{m.google_api_key()}\nacme_{m.chars(32, '0123456789abcdef')}\n"
    hits = {(h.rule.id, h.severity) for h in scan_text(text.encode(), rules)}
    assert hits == {("google-api-key", Severity.LOW), ("acme-key", Severity.CRITICAL)}


def test_tuning_allowlists_values_and_paths(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, "allow:\n  values: ['^sk_test_']\n  paths: ['/usr/share/doc/*']\n"))
    assert rule_ids(Material(10).stripe_key("test"), rules=rules) == set()
    assert rules.path_allowed("/usr/share/doc/app/README")
    assert not rules.path_allowed("/app/README")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("disable: [no-such-rule]\n", "no rule 'no-such-rule'"),
        ("severity: {jwt: urgent}\n", "severity 'urgent' is not one of"),
        ("rules:\n  - id: x\n    regex: '(a+)+'\n    keywords: [a]\n", "backtrack catastrophically"),
        ("rules:\n  - id: x\n    regex: '('\n    keywords: [a]\n", "invalid regex"),
        ("rules:\n  - id: x\n    regex: 'a'\n", "needs id, regex and keywords"),
        ("colour: red\n", "unknown key(s) colour"),
        ("disable: [jwt\n", "not valid YAML"),
        ("- just a list\n", "mapping at the top level"),
    ],
)
def test_bad_tuning_files_fail_with_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(GateError, match=r"rules\.yaml") as raised:
        load_rules(write(tmp_path, text))
    assert message in raised.value.diagnostics()
    assert "\n" not in raised.value.diagnostics()


def test_missing_tuning_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GateError, match="cannot read rules file"):
        load_rules(tmp_path / "absent.yaml")


def test_heuristic_rules_do_not_run_inside_installed_packages_but_precise_ones_do() -> None:
    m = Material(13)
    text = f'API_KEY = "{m.generic_api_key()}"\nGITHUB = "{m.github_token()}"\n'.encode()
    assert {h.rule.id for h in scan_text(text, default_rules(), "app.py")} == {
        "generic-secret-assignment",
        "github-token",
    }
    in_package = scan_text(text, default_rules(), "app.py", in_package=True)
    assert {h.rule.id for h in in_package} == {"github-token"}


def test_unquoted_values_in_code_files_are_expressions() -> None:
    value = Material(14).generic_api_key()
    assert rule_ids(f"api_key = {value}", "settings.py") == set()
    assert rule_ids(f"api_key = {value}", "settings.env") == {"generic-secret-assignment"}
    assert rule_ids(f'api_key = "{value}"', "settings.py") == {"generic-secret-assignment"}


@pytest.mark.parametrize(
    "name",
    ["client_secret", "AUTH-KEY", "privateKey", "db.password", "x-api-key", "accessToken", "CREDENTIALS"],
)
def test_generic_rule_matches_every_spelling_of_its_names(name: str) -> None:
    value = Material(15).generic_api_key()
    assert rule_ids(f'{name}: "{value}"', "config.yaml") == {"generic-secret-assignment"}
