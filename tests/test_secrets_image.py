"""End to end: an image built here with test-only secrets everywhere a secret can hide.

Files of every layer (one deleted by a later layer, one overwritten), a package-owned file
changed by a later layer, the config's Env, Labels and Cmd, and the build history. Every
planted secret is found, nothing else is, and no output format ever shows a secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gate.analyze import AnalysisOptions, AnalysisResult, Severity, analyze_image
from gate.image import OciLayout, open_image
from gate.image.build import LayerBuilder, build_image
from tests.fixtures.analyze.material import (
    Material,
    docker_auth,
    jwt_token,
    pem_body_lines,
    pem_private_key,
    pgp_private_key,
)
from tests.test_cli import run_gate

SITE_PACKAGES_KEY = "/usr/local/lib/python3.11/site-packages/somepkg/tests/data/server.key"


@dataclass
class SecretImage:
    reference: str
    layer_digests: list[str]
    secrets: list[str] = field(default_factory=list)  # every planted value: never in any output
    expected: list[tuple[str, str, bool]] = field(default_factory=list)  # rule, path, visible


def dpkg_status(name: str) -> bytes:
    return (
        f"Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: misc\n"
        f"Maintainer: gate tests <gate@example.invalid>\nArchitecture: all\nVersion: 1.0-1\n"
        f"Description: test package\n\n"
    ).encode()


def build_secret_image(layout: Path) -> SecretImage:
    m = Material(11)
    planted: list[str] = []

    def plant(value: str) -> str:
        planted.append(value)
        return value

    base = LayerBuilder()
    base.add_file("etc/os-release", b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    base.add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n")
    base.add_file("var/lib/dpkg/status", dpkg_status("ssl-cert-test"))
    base.add_file(
        "var/lib/dpkg/info/ssl-cert-test.list",
        b"/.\n/usr/share/ssl-cert-test/test-key.pem\n/etc/ssl-cert-test/db.conf\n",
    )
    owned_key = pem_private_key("rsa")  # shipped by the package: not reported
    base.add_file("usr/share/ssl-cert-test/test-key.pem", owned_key.encode())
    base.add_file("etc/ssl-cert-test/db.conf", b"# filled in at deploy time\n")

    app = LayerBuilder()
    key_id, secret_key = m.aws_key_pair()
    password = plant(m.password())
    env_file = (
        f"AWS_ACCESS_KEY_ID={plant(key_id)}\nAWS_SECRET_ACCESS_KEY={plant(secret_key)}\n"
        f"DATABASE_URL=postgres://app:{password}@db.internal:5432/app\n"
        f"API_KEY={plant(m.generic_api_key())}\n"
    )
    app.add_file("app/.env", env_file.encode())
    settings = (
        f'GITHUB_TOKEN = "{plant(m.github_token())}"\n'
        f'STRIPE_KEY = "{plant(m.stripe_key())}"\n'
        f'SLACK_BOT = "{plant(m.slack_token())}"\n'
        f'MAPS_API_KEY = "{plant(m.google_api_key())}"\n'
    )
    app.add_file("app/settings.py", settings.encode())
    keys = {
        "root/.ssh/id_rsa": pem_private_key("rsa"),
        "root/.ssh/id_ed25519": pem_private_key("openssh"),
        "app/keys/encrypted.pem": pem_private_key("pkcs8", passphrase=b"test-only-passphrase"),
        "app/keys/signing.asc": pgp_private_key(),
        "app/deleted/id_ecdsa": pem_private_key("ec"),
        SITE_PACKAGES_KEY.lstrip("/"): pem_private_key("rsa"),
    }
    for path, pem in keys.items():
        planted.extend(pem_body_lines(pem))
        app.add_file(path, pem.encode(), mode=0o600)
    planted.extend(pem_body_lines(owned_key))
    registry_password = plant(m.password())
    app.add_file(
        "root/.docker/config.json",
        json.dumps(
            {"auths": {"registry.example": {"auth": plant(docker_auth("ci", registry_password))}}}
        ).encode(),
    )
    app.add_file("root/.npmrc", f"//registry.example/:_authToken={plant(m.chars(36))}\n".encode())
    app.add_file("root/.pypirc", f"[pypi]\nusername = alice\npassword = {plant(m.password())}\n".encode())
    app.add_file("app/publish.sh", f"TWINE_PASSWORD={plant(m.pypi_token())} twine upload dist/*\n".encode())
    app.add_file("root/.netrc", f"machine git.example login bob password {plant(m.password())}\n".encode())
    import base64

    client_key = pem_private_key("ec")
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n"
        f"    client-key-data: {plant(base64.b64encode(client_key.encode()).decode())}\n"
        f"    token: {plant(m.chars(40))}\n"
    )
    app.add_file("root/.kube/config", kubeconfig.encode())
    app.add_file("app/session.txt", f"cookie={plant(jwt_token(m))}\n".encode())
    webhook, webhook_secret = m.slack_webhook()
    plant(webhook_secret)
    notes = (
        f"# notes\n\ngitlab: {plant(m.gitlab_token())}\n"
        f"github: {plant(m.github_fine_grained())}\n"
        f"alerts: {webhook}\n"
    )
    app.add_file("app/NOTES.md", notes.encode())
    binary_token = plant(m.github_token())
    app.add_file(
        "app/bin/tool", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64 + binary_token.encode(), mode=0o755
    )
    big_token = plant(m.github_token())
    app.add_file("app/big.log", b"INFO ok\n" * 20_000 + f"token {big_token}\n".encode())  # past the cap
    owned_changed = plant(m.password())
    app.add_file("etc/ssl-cert-test/db.conf", f"url=mysql://cert:{owned_changed}@db:3306/certs\n".encode())

    cleanup = LayerBuilder()
    cleanup.add_whiteout("app/deleted/id_ecdsa")
    cleanup.add_file("app/.env", b"LOG_LEVEL=info\n")

    env_token = plant(m.github_token())
    env_password = plant(m.password())
    cmd_password = plant(m.password())
    npm_token = plant(m.npm_token())
    built = build_image(
        [base.build(), app.build(), cleanup.build()],
        config={
            "Env": ["PATH=/usr/bin:/bin", f"GITHUB_TOKEN={env_token}", f"DB_PASSWORD={env_password}"],
            "Cmd": ["app", "--db", f"mysql://root:{cmd_password}@db:3306/app"],
            "User": "1000",
        },
        labels={"org.opencontainers.image.title": "secret-test", "alerts.webhook": webhook},
        history=["debootstrap base", f"RUN |1 NPM_TOKEN={npm_token} /bin/sh -c npm publish", "RUN rm"],
    )
    built.push(OciLayout.create(layout), tag="secrets")
    with open_image(f"oci:{layout}:secrets") as image:
        digests = [layer.digest for layer in image.layers]
    expected = [
        ("aws-access-key-id", "/app/.env", False),
        ("aws-secret-access-key", "/app/.env", False),
        ("database-url-password", "/app/.env", False),
        ("generic-secret-assignment", "/app/.env", False),
        ("github-token", "/app/settings.py", True),
        ("stripe-secret-key", "/app/settings.py", True),
        ("slack-token", "/app/settings.py", True),
        ("google-api-key", "/app/settings.py", True),
        ("private-key", "/root/.ssh/id_rsa", True),
        ("private-key", "/root/.ssh/id_ed25519", True),
        ("private-key", "/app/keys/encrypted.pem", True),
        ("pgp-private-key", "/app/keys/signing.asc", True),
        ("private-key", "/app/deleted/id_ecdsa", False),
        ("docker-config-auth", "/root/.docker/config.json", True),
        ("npmrc-auth", "/root/.npmrc", True),
        ("pypirc-password", "/root/.pypirc", True),
        ("pypi-token", "/app/publish.sh", True),
        ("netrc-password", "/root/.netrc", True),
        ("kubeconfig-credential", "/root/.kube/config", True),
        ("kubeconfig-credential", "/root/.kube/config", True),
        ("jwt", "/app/session.txt", True),
        ("gitlab-token", "/app/NOTES.md", True),
        ("github-fine-grained-token", "/app/NOTES.md", True),
        ("slack-webhook", "/app/NOTES.md", True),
        ("database-url-password", "/etc/ssl-cert-test/db.conf", True),
        ("github-token", "config.Env[GITHUB_TOKEN]", True),
        ("generic-secret-assignment", "config.Env[DB_PASSWORD]", True),
        ("slack-webhook", "config.Labels[alerts.webhook]", True),
        ("database-url-password", "config.Cmd", True),
        ("npm-token", "history[1]", True),
    ]
    return SecretImage(f"oci:{layout}:secrets", digests, planted, sorted(expected))


@pytest.fixture(scope="module")
def secret_image(tmp_path_factory: pytest.TempPathFactory) -> SecretImage:
    return build_secret_image(tmp_path_factory.mktemp("secret-image") / "layout")


def analyze(reference: str, **options: Any) -> AnalysisResult:
    with open_image(reference) as image, image.filesystem() as fs:
        return analyze_image(image, fs, AnalysisOptions(config=False, max_file_bytes=64 * 1024, **options))


def found(result) -> list[tuple[str, str, bool]]:
    return sorted((f.rule_id, f.path, f.visible) for f in result.secrets)


def test_every_planted_secret_is_found_and_nothing_else(secret_image: SecretImage) -> None:
    result = analyze(secret_image.reference)
    assert found(result) == secret_image.expected
    assert result.problems == []


def test_findings_carry_layer_line_severity_and_redacted_match(secret_image: SecretImage) -> None:
    result = analyze(secret_image.reference)
    by_key = {(f.rule_id, f.path): f for f in result.secrets}
    deleted = by_key[("private-key", "/app/deleted/id_ecdsa")]
    assert (deleted.layer_index, deleted.layer_digest, deleted.visible) == (
        1,
        secret_image.layer_digests[1],
        False,
    )
    assert deleted.severity is Severity.CRITICAL and deleted.redacted == "MHcC********"
    assert by_key[("stripe-secret-key", "/app/settings.py")].line == 2
    assert by_key[("private-key", "/app/keys/encrypted.pem")].severity is Severity.MEDIUM
    assert by_key[("aws-access-key-id", "/app/.env")].severity is Severity.CRITICAL  # paired
    history = by_key[("npm-token", "history[1]")]
    assert (history.layer_index, history.layer_digest, history.line) == (
        1,
        secret_image.layer_digests[1],
        None,
    )
    env = by_key[("github-token", "config.Env[GITHUB_TOKEN]")]
    assert (env.layer_digest, env.redacted) == (None, "ghp_********")


def test_skips_are_counted_and_the_size_cap_is_noted(secret_image: SecretImage) -> None:
    result = analyze(secret_image.reference)
    assert result.stats.skipped_binary == 1
    assert result.stats.skipped_package_owned == 2  # the key and the original db.conf of layer 0
    assert result.stats.skipped_test_dirs == 1
    assert result.stats.truncated == 1
    assert any("scanned only up to that size" in note for note in result.notes)


def test_secrets_all_scans_test_dirs_of_installed_packages(secret_image: SecretImage) -> None:
    result = analyze(secret_image.reference, secrets_all=True)
    assert found(result) == sorted([*secret_image.expected, ("private-key", SITE_PACKAGES_KEY, True)])


def test_larger_cap_finds_the_secret_at_the_end_of_a_big_file(secret_image: SecretImage) -> None:
    with open_image(secret_image.reference) as image, image.filesystem() as fs:
        result = analyze_image(image, fs, AnalysisOptions(config=False))  # default cap: 2 MiB
    assert ("github-token", "/app/big.log", True) in found(result)


def assert_no_secret_in(text: str, secrets: list[str]) -> None:
    leaked = [s[:4] + "..." for s in secrets if s in text or (len(s) >= 12 and s[4:12] in text)]
    assert leaked == []


@pytest.mark.parametrize("output_format", ["json", "table"])
def test_cli_reports_every_secret_and_never_prints_one(secret_image: SecretImage, output_format: str) -> None:
    result = run_gate(
        "--debug",
        "secrets",
        secret_image.reference,
        "--format",
        output_format,
        env={"GATE_LOGLEVEL": "DEBUG"},
    )
    assert result.returncode == 0, result.stderr
    assert_no_secret_in(result.stdout + result.stderr, secret_image.secrets)
    if output_format == "json":
        document = json.loads(result.stdout)
        assert document["digest"].startswith("sha256:")
        reported = sorted((f["ruleId"], f["path"], f["visible"]) for f in document["secrets"])
        expected = sorted(
            (rule, path, visible)
            for rule, path, visible in [*secret_image.expected, ("github-token", "/app/big.log", True)]
        )
        assert reported == expected
        assert all(f["match"].endswith("********") for f in document["secrets"])
    else:
        assert "31 secret(s)" in result.stdout
        assert "deleted/overwritten by a later layer" in result.stdout


def test_cli_max_file_bytes_caps_the_scan(secret_image: SecretImage) -> None:
    result = run_gate("secrets", secret_image.reference, "--format", "json", "--max-file-bytes", "65536")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (
        sorted((f["ruleId"], f["path"], f["visible"]) for f in document["secrets"]) == secret_image.expected
    )
    assert document["stats"]["truncated"] == 1 and document["notes"]


def test_cli_fail_on_closes_the_gate(secret_image: SecretImage) -> None:
    closed = run_gate("secrets", secret_image.reference, "--format", "json", "--fail-on", "critical")
    assert closed.returncode == 2
    assert_no_secret_in(closed.stdout + closed.stderr, secret_image.secrets)


def test_cli_rules_file_tunes_the_scan(secret_image: SecretImage, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("disable: [private-key, pgp-private-key]\nallow:\n  paths: ['/root/*']\n")
    result = run_gate("secrets", secret_image.reference, "--format", "json", "--rules", str(rules))
    assert result.returncode == 0, result.stderr
    paths = {(f["ruleId"], f["path"]) for f in json.loads(result.stdout)["secrets"]}
    assert not any(rule.endswith("private-key") for rule, _ in paths)
    assert not any(path.startswith("/root/") for _, path in paths)
    assert ("github-token", "/app/settings.py") in paths


def test_cli_bad_rules_file_is_one_line_and_exit_1(secret_image: SecretImage, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: bad\n    regex: '(\\w+\\s?)*$'\n    keywords: [a]\n")
    result = run_gate("secrets", secret_image.reference, "--rules", str(rules))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "backtrack catastrophically" in result.stderr
    assert result.stdout == ""


def test_cli_missing_image_is_an_error() -> None:
    result = run_gate("secrets", "oci:/nonexistent/layout")
    assert result.returncode == 1
    assert result.stderr.startswith("gate: error:")


def test_a_file_that_cannot_be_read_is_a_problem_and_closes_the_gate(tmp_path: Path) -> None:
    from gate.model import Catalog
    from gate.policy import PolicyInput, evaluate, policy_for_fail_on
    from gate.severity import Severity

    root = tmp_path / "root"
    (root / "app").mkdir(parents=True)
    (root / "app" / "config.env").write_text("LOG_LEVEL=info\n")
    with open_image(f"dir:{root}") as image, image.filesystem() as fs:
        (root / "app" / "config.env").unlink()  # swapped for a directory after the listing
        (root / "app" / "config.env").mkdir()
        result = analyze_image(image, fs, AnalysisOptions(config=False))
    assert result.secrets == []
    assert (
        len(result.problems) == 1
        and "cannot read" in result.problems[0]
        and "/app/config.env" in result.problems[0]
    )
    policy = policy_for_fail_on(Severity.CRITICAL)
    assert evaluate(policy, PolicyInput(Catalog((), None), secrets=())).passed  # nothing found or missed
    given = PolicyInput(Catalog((), None), secrets=(), analysis_problems=tuple(result.problems))
    closed = evaluate(policy, given)
    assert not closed.passed
    assert [v.id for v in closed.blocking[0].violations] == ["not-analysed"]
