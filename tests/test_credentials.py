"""Tests for gate.image.credentials: every source, their order, and secrecy."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from gate.errors import CredentialsError
from gate.image import credentials as credentials_module
from gate.image.credentials import Credentials, lookup_credentials, normalise_registry

PASSWORD = "s3cr3t-Pa55word"
HELPER_SECRET = "helper-Secret-value"
TOKEN_SECRET = "identity-Token-value"

requires_posix = pytest.mark.skipif(os.name != "posix", reason="helper scripts are /bin/sh scripts")


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def bindir(tmp_path: Path) -> Path:
    path = tmp_path / "bin"
    path.mkdir()
    return path


@pytest.fixture
def env(home: Path, bindir: Path) -> dict[str, str]:
    """An isolated environment: no real HOME, no real helpers, no CI variables."""
    return {"HOME": str(home), "PATH": f"{bindir}{os.pathsep}/usr/bin{os.pathsep}/bin"}


def write_docker_config(home: Path, config: object) -> Path:
    path = home / ".docker" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


def write_helper(bindir: Path, name: str, body: str) -> Path:
    path = bindir / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def helper_answer(username: str, secret: str) -> str:
    """A shell printf that echoes the server URL back with ``username`` and ``secret``."""
    answer = json.dumps({"ServerURL": "%s", "Username": username, "Secret": secret})
    return f"printf '{answer}' \"$url\""


# A helper that knows one secret per server URL it is asked about, and logs what it got.
STORE_HELPER = f"""\
[ "$1" = get ] || exit 3
url=$(cat)
printf '%s' "$url" >> "$HELPER_LOG"
case "$url" in
  https://index.docker.io/v1/) {helper_answer("hubuser", HELPER_SECRET)} ;;
  ghcr.io|127.0.0.1:5000) {helper_answer("helperuser", HELPER_SECRET)} ;;
  token.example) {helper_answer("<token>", TOKEN_SECRET)} ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"""
NOT_FOUND_HELPER = 'cat >/dev/null\necho "credentials not found in native keychain"\nexit 1\n'
GARBAGE_HELPER = f"cat >/dev/null\necho 'garbage {PASSWORD}'\necho 'more garbage {PASSWORD}' >&2\nexit 1\n"
NOT_JSON_HELPER = f"cat >/dev/null\necho 'Username: x Secret: {PASSWORD}'\n"


@pytest.fixture
def store_helper(bindir: Path, tmp_path: Path, env: dict[str, str]) -> Path:
    """Install docker-credential-test; returns the file where it logs the URLs it was given."""
    write_helper(bindir, "test", STORE_HELPER)
    log = tmp_path / "helper.log"
    env["HELPER_LOG"] = str(log)
    return log


def assert_secret_free(error: CredentialsError, *secrets: str) -> None:
    texts = [str(error), error.message, error.diagnostics(), repr(error)]
    cause = error.__cause__ or error.__context__
    if cause is not None:
        texts.append(str(cause))
    for secret in (PASSWORD, HELPER_SECRET, TOKEN_SECRET, *secrets):
        for text in texts:
            assert secret not in text


# --- Credentials ------------------------------------------------------------------------


def test_repr_hides_password_and_identity_token() -> None:
    creds = Credentials("alice", PASSWORD, identity_token=TOKEN_SECRET, source="somewhere")
    for text in (repr(creds), str(creds), f"{creds}"):
        assert PASSWORD not in text
        assert TOKEN_SECRET not in text
        assert "alice" in text
        assert "somewhere" in text


# --- nothing configured -----------------------------------------------------------------


def test_nothing_configured_is_anonymous(env: dict[str, str]) -> None:
    assert lookup_credentials("ghcr.io", env=env) is None


def test_without_home_or_docker_config_is_anonymous() -> None:
    assert lookup_credentials("ghcr.io", env={"PATH": "/usr/bin"}) is None


def test_other_registry_entries_do_not_match(env: dict[str, str], home: Path) -> None:
    write_docker_config(home, {"auths": {"quay.io": {"auth": basic("u", PASSWORD)}}})
    assert lookup_credentials("ghcr.io", env=env) is None


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "CI_REGISTRY", "GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    write_docker_config(home, {"auths": {"ghcr.io": {"auth": basic("alice", PASSWORD)}}})
    creds = lookup_credentials("ghcr.io")
    assert creds is not None
    assert creds.password == PASSWORD


# --- auths entries ----------------------------------------------------------------------


def test_auths_basic_auth(env: dict[str, str], home: Path) -> None:
    path = write_docker_config(home, {"auths": {"ghcr.io": {"auth": basic("alice", PASSWORD)}}})
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds == Credentials("alice", PASSWORD, source=f"{path} auths")


def test_auths_password_may_contain_colons(env: dict[str, str], home: Path) -> None:
    write_docker_config(home, {"auths": {"ghcr.io": {"auth": basic("alice", "a:b:c")}}})
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert (creds.username, creds.password) == ("alice", "a:b:c")


def test_auths_username_and_password_fields(env: dict[str, str], home: Path) -> None:
    write_docker_config(home, {"auths": {"ghcr.io": {"username": "bob", "password": PASSWORD}}})
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert (creds.username, creds.password, creds.identity_token) == ("bob", PASSWORD, None)


def test_auths_identity_token(env: dict[str, str], home: Path) -> None:
    write_docker_config(home, {"auths": {"ghcr.io": {"identitytoken": TOKEN_SECRET}}})
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert creds.identity_token == TOKEN_SECRET
    assert creds.password == ""


def test_auths_identity_token_alongside_auth(env: dict[str, str], home: Path) -> None:
    entry = {"auth": basic("carol", ""), "identitytoken": TOKEN_SECRET}
    write_docker_config(home, {"auths": {"ghcr.io": entry}})
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert (creds.username, creds.identity_token) == ("carol", TOKEN_SECRET)


def test_auths_registry_with_port(env: dict[str, str], home: Path) -> None:
    write_docker_config(home, {"auths": {"127.0.0.1:5000": {"auth": basic("local", PASSWORD)}}})
    creds = lookup_credentials("127.0.0.1:5000", env=env)
    assert creds is not None
    assert creds.username == "local"
    assert lookup_credentials("127.0.0.1:5001", env=env) is None
    assert lookup_credentials("127.0.0.1", env=env) is None


@pytest.mark.parametrize(
    "key", ["https://ghcr.io", "https://ghcr.io/", "http://ghcr.io", "https://ghcr.io/v2/", "GHCR.IO"]
)
def test_auths_url_shaped_keys(env: dict[str, str], home: Path, key: str) -> None:
    write_docker_config(home, {"auths": {key: {"auth": basic("alice", PASSWORD)}}})
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert creds.username == "alice"


def test_exact_key_wins_over_url_shaped_key(env: dict[str, str], home: Path) -> None:
    auths = {
        "https://ghcr.io/": {"auth": basic("url", PASSWORD)},
        "ghcr.io": {"auth": basic("exact", PASSWORD)},
    }
    write_docker_config(home, {"auths": auths})
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert creds.username == "exact"


def test_empty_auths_entry_is_skipped(env: dict[str, str], home: Path) -> None:
    write_docker_config(home, {"auths": {"ghcr.io": {}}})
    assert lookup_credentials("ghcr.io", env=env) is None


@pytest.mark.parametrize(
    "key", ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
)
@pytest.mark.parametrize("registry", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_aliases(env: dict[str, str], home: Path, key: str, registry: str) -> None:
    write_docker_config(home, {"auths": {key: {"auth": basic("hubber", PASSWORD)}}})
    creds = lookup_credentials(registry, env=env)
    assert creds is not None
    assert creds.username == "hubber"


def test_docker_hub_key_does_not_match_other_registries(env: dict[str, str], home: Path) -> None:
    write_docker_config(home, {"auths": {"https://index.docker.io/v1/": {"auth": basic("hub", PASSWORD)}}})
    assert lookup_credentials("ghcr.io", env=env) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ghcr.io", "ghcr.io"),
        ("https://ghcr.io/v2/", "ghcr.io"),
        ("http://Localhost:5000", "localhost:5000"),
        ("https://index.docker.io/v1/", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
    ],
)
def test_normalise_registry(value: str, expected: str) -> None:
    assert normalise_registry(value) == expected


@pytest.mark.parametrize("auth", ["not base64 at all!", basic("nocolon", "")[:-4] + "@@@@", "bm9jb2xvbg=="])
def test_malformed_basic_auth_is_an_error(env: dict[str, str], home: Path, auth: str) -> None:
    path = write_docker_config(home, {"auths": {"ghcr.io": {"auth": auth}}})
    with pytest.raises(CredentialsError) as info:
        lookup_credentials("ghcr.io", env=env)
    assert str(path) in str(info.value)
    assert auth not in str(info.value)
    assert_secret_free(info.value)


def test_malformed_basic_auth_does_not_echo_password(env: dict[str, str], home: Path) -> None:
    # Valid base64, but of a string with no colon: the decoded text is the secret.
    auth = base64.b64encode(PASSWORD.encode()).decode()
    write_docker_config(home, {"auths": {"ghcr.io": {"auth": auth}}})
    with pytest.raises(CredentialsError) as info:
        lookup_credentials("ghcr.io", env=env)
    assert_secret_free(info.value, auth)


@pytest.mark.parametrize(
    "config",
    [[1, 2], {"auths": []}, {"auths": {"ghcr.io": "x"}}, {"auths": {"ghcr.io": {"auth": 5}}}],
)
def test_config_with_wrong_shape_is_an_error(env: dict[str, str], home: Path, config: object) -> None:
    path = write_docker_config(home, config)
    with pytest.raises(CredentialsError, match=r"config\.json") as info:
        lookup_credentials("ghcr.io", env=env)
    assert str(path) in str(info.value)


# --- config file locations --------------------------------------------------------------


def test_docker_config_variable_overrides_home(env: dict[str, str], home: Path, tmp_path: Path) -> None:
    write_docker_config(home, {"auths": {"ghcr.io": {"auth": basic("from-home", PASSWORD)}}})
    elsewhere = tmp_path / "dockercfg"
    elsewhere.mkdir()
    (elsewhere / "config.json").write_text(
        json.dumps({"auths": {"ghcr.io": {"auth": basic("from-docker-config", PASSWORD)}}})
    )
    env["DOCKER_CONFIG"] = str(elsewhere)
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert creds.username == "from-docker-config"
    assert creds.source == f"{elsewhere / 'config.json'} auths"


def test_docker_config_directory_without_file_is_fine(env: dict[str, str], tmp_path: Path) -> None:
    env["DOCKER_CONFIG"] = str(tmp_path / "empty")
    assert lookup_credentials("ghcr.io", env=env) is None


def test_invalid_docker_config_json_names_the_file(env: dict[str, str], home: Path) -> None:
    path = home / ".docker" / "config.json"
    path.parent.mkdir()
    path.write_text(f'{{"auths": {{"ghcr.io": {{"password": "{PASSWORD}" ')
    with pytest.raises(CredentialsError) as info:
        lookup_credentials("ghcr.io", env=env)
    assert str(path) in str(info.value)
    assert_secret_free(info.value)


def test_registry_auth_file(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"ghcr.io": {"auth": basic("podman", PASSWORD)}}}))
    env["REGISTRY_AUTH_FILE"] = str(path)
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds == Credentials("podman", PASSWORD, source=f"{path} auths")


def test_registry_auth_file_without_entry_falls_through(
    env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"quay.io": {"auth": basic("podman", PASSWORD)}}}))
    env["REGISTRY_AUTH_FILE"] = str(path)
    write_docker_config(home, {"auths": {"ghcr.io": {"auth": basic("docker", PASSWORD)}}})
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert creds.username == "docker"


def test_missing_registry_auth_file_is_an_error(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    env["REGISTRY_AUTH_FILE"] = str(path)
    with pytest.raises(CredentialsError) as info:
        lookup_credentials("ghcr.io", env=env)
    assert str(path) in str(info.value)


def test_unreadable_registry_auth_file_is_an_error(env: dict[str, str], tmp_path: Path) -> None:
    env["REGISTRY_AUTH_FILE"] = str(tmp_path)  # a directory cannot be read as a file
    with pytest.raises(CredentialsError) as info:
        lookup_credentials("ghcr.io", env=env)
    assert str(tmp_path) in str(info.value)


def test_invalid_registry_auth_file_json_names_the_file(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(f"auths: {PASSWORD}")
    env["REGISTRY_AUTH_FILE"] = str(path)
    with pytest.raises(CredentialsError) as info:
        lookup_credentials("ghcr.io", env=env)
    assert str(path) in str(info.value)
    assert_secret_free(info.value)


# --- credential helpers -----------------------------------------------------------------


@requires_posix
def test_cred_helper(env: dict[str, str], home: Path, store_helper: Path) -> None:
    write_docker_config(home, {"credHelpers": {"ghcr.io": "test"}})
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds == Credentials(
        "helperuser", HELPER_SECRET, source="credential helper docker-credential-test"
    )
    assert store_helper.read_text() == "ghcr.io"


@requires_posix
def test_cred_helper_for_registry_with_port(env: dict[str, str], home: Path, store_helper: Path) -> None:
    write_docker_config(home, {"credHelpers": {"127.0.0.1:5000": "test"}})
    creds = lookup_credentials("127.0.0.1:5000", env=env)
    assert creds is not None
    assert creds.password == HELPER_SECRET
    assert store_helper.read_text() == "127.0.0.1:5000"


@requires_posix
def test_cred_helper_for_docker_hub_gets_index_url(
    env: dict[str, str], home: Path, store_helper: Path
) -> None:
    write_docker_config(home, {"credHelpers": {"docker.io": "test"}})
    creds = lookup_credentials("registry-1.docker.io", env=env)
    assert creds is not None
    assert creds.username == "hubuser"
    assert store_helper.read_text() == "https://index.docker.io/v1/"


@requires_posix
def test_cred_helper_identity_token(env: dict[str, str], home: Path, store_helper: Path) -> None:
    write_docker_config(home, {"credHelpers": {"token.example": "test"}})
    creds = lookup_credentials("token.example", env=env)
    assert creds is not None
    assert creds.identity_token == TOKEN_SECRET
    assert creds.password == ""
    assert creds.username != "<token>"


@requires_posix
def test_creds_store(env: dict[str, str], home: Path, store_helper: Path) -> None:
    write_docker_config(home, {"auths": {"ghcr.io": {}}, "credsStore": "test"})
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert creds.source == "credential helper docker-credential-test"
    assert creds.password == HELPER_SECRET


@requires_posix
def test_creds_store_not_found_is_anonymous(env: dict[str, str], home: Path, store_helper: Path) -> None:
    write_docker_config(home, {"credsStore": "test"})
    assert lookup_credentials("quay.io", env=env) is None
    assert store_helper.read_text() == "quay.io"


@requires_posix
def test_cred_helper_not_found_falls_through_to_auths(env: dict[str, str], home: Path, bindir: Path) -> None:
    write_helper(bindir, "test", NOT_FOUND_HELPER)
    config = {"credHelpers": {"ghcr.io": "test"}, "auths": {"ghcr.io": {"auth": basic("alice", PASSWORD)}}}
    write_docker_config(home, config)
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert creds.username == "alice"


@requires_posix
def test_cred_helper_not_found_falls_through_to_ci(env: dict[str, str], home: Path, bindir: Path) -> None:
    write_helper(bindir, "test", NOT_FOUND_HELPER)
    write_docker_config(home, {"credsStore": "test"})
    env["GITHUB_TOKEN"] = PASSWORD
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert creds.source == "GITHUB_TOKEN"


@requires_posix
def test_failing_cred_helper_is_an_error(env: dict[str, str], home: Path, bindir: Path) -> None:
    write_helper(bindir, "test", GARBAGE_HELPER)
    write_docker_config(home, {"credHelpers": {"ghcr.io": "test"}})
    with pytest.raises(CredentialsError, match="docker-credential-test") as info:
        lookup_credentials("ghcr.io", env=env)
    assert "garbage" not in str(info.value)
    assert_secret_free(info.value)


@requires_posix
def test_cred_helper_printing_non_json_is_an_error(env: dict[str, str], home: Path, bindir: Path) -> None:
    write_helper(bindir, "test", NOT_JSON_HELPER)
    write_docker_config(home, {"credHelpers": {"ghcr.io": "test"}})
    with pytest.raises(CredentialsError, match="docker-credential-test") as info:
        lookup_credentials("ghcr.io", env=env)
    assert_secret_free(info.value)


def test_missing_cred_helper_is_an_error(env: dict[str, str], home: Path) -> None:
    write_docker_config(home, {"credHelpers": {"ghcr.io": "absent"}})
    with pytest.raises(CredentialsError, match="docker-credential-absent"):
        lookup_credentials("ghcr.io", env=env)


def test_missing_creds_store_is_an_error(env: dict[str, str], home: Path) -> None:
    write_docker_config(home, {"credsStore": "absent"})
    with pytest.raises(CredentialsError, match="docker-credential-absent"):
        lookup_credentials("ghcr.io", env=env)


def test_cred_helper_name_with_path_is_refused(env: dict[str, str], home: Path) -> None:
    write_docker_config(home, {"credHelpers": {"ghcr.io": "../../bin/sh"}})
    with pytest.raises(CredentialsError, match="path separator"):
        lookup_credentials("ghcr.io", env=env)


@requires_posix
def test_non_executable_cred_helper_is_an_error(env: dict[str, str], home: Path, bindir: Path) -> None:
    path = bindir / "docker-credential-test"
    path.write_text("#!/bin/sh\nexit 0\n")  # not executable: which() does not find it
    write_docker_config(home, {"credHelpers": {"ghcr.io": "test"}})
    with pytest.raises(CredentialsError, match="docker-credential-test"):
        lookup_credentials("ghcr.io", env=env)


@requires_posix
def test_slow_cred_helper_times_out(
    env: dict[str, str], home: Path, bindir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The helper's child keeps stdout open: the timeout must kill the whole process group.
    write_helper(bindir, "test", "sleep 30\n")
    write_docker_config(home, {"credHelpers": {"ghcr.io": "test"}})
    monkeypatch.setattr(credentials_module, "HELPER_TIMEOUT_SECONDS", 0.5)
    with pytest.raises(CredentialsError, match=r"docker-credential-test.*0\.5 s"):
        lookup_credentials("ghcr.io", env=env)


@requires_posix
def test_python_cred_helper(env: dict[str, str], home: Path, bindir: Path) -> None:
    path = bindir / "docker-credential-py"
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "url = sys.stdin.read()\n"
        f"print(json.dumps({{'ServerURL': url, 'Username': 'py-' + url, 'Secret': {PASSWORD!r}}}))\n"
    )
    path.chmod(0o755)
    write_docker_config(home, {"credHelpers": {"https://ghcr.io": "py"}})
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert (creds.username, creds.password) == ("py-ghcr.io", PASSWORD)


# --- CI conventions ---------------------------------------------------------------------


def gitlab_env(env: dict[str, str], registry: str) -> dict[str, str]:
    return {
        **env,
        "CI_REGISTRY": registry,
        "CI_REGISTRY_USER": "gitlab-ci-token",
        "CI_REGISTRY_PASSWORD": PASSWORD,
    }


def test_gitlab_ci_registry(env: dict[str, str]) -> None:
    creds = lookup_credentials("registry.gitlab.com", env=gitlab_env(env, "registry.gitlab.com"))
    assert creds == Credentials("gitlab-ci-token", PASSWORD, source="CI_REGISTRY_USER/CI_REGISTRY_PASSWORD")


def test_gitlab_ci_registry_with_port(env: dict[str, str]) -> None:
    ci_env = gitlab_env(env, "gitlab.example.com:5050")
    creds = lookup_credentials("gitlab.example.com:5050", env=ci_env)
    assert creds is not None
    assert creds.password == PASSWORD
    assert lookup_credentials("gitlab.example.com", env=ci_env) is None


def test_gitlab_ci_registry_other_registry(env: dict[str, str]) -> None:
    assert lookup_credentials("quay.io", env=gitlab_env(env, "registry.gitlab.com")) is None


def test_gitlab_ci_registry_needs_user_and_password(env: dict[str, str]) -> None:
    ci_env = {**env, "CI_REGISTRY": "registry.gitlab.com", "CI_REGISTRY_USER": "gitlab-ci-token"}
    assert lookup_credentials("registry.gitlab.com", env=ci_env) is None


def test_github_token_for_ghcr(env: dict[str, str]) -> None:
    creds = lookup_credentials("ghcr.io", env={**env, "GITHUB_TOKEN": PASSWORD, "GITHUB_ACTOR": "octocat"})
    assert creds == Credentials("octocat", PASSWORD, source="GITHUB_TOKEN")


def test_github_token_without_actor(env: dict[str, str]) -> None:
    creds = lookup_credentials("ghcr.io", env={**env, "GITHUB_TOKEN": PASSWORD})
    assert creds is not None
    assert creds.username == "token"


def test_github_token_only_for_ghcr(env: dict[str, str]) -> None:
    assert lookup_credentials("docker.io", env={**env, "GITHUB_TOKEN": PASSWORD}) is None


# --- precedence -------------------------------------------------------------------------


def test_registry_auth_file_beats_docker_config(env: dict[str, str], home: Path, tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"ghcr.io": {"auth": basic("podman", PASSWORD)}}}))
    write_docker_config(home, {"auths": {"ghcr.io": {"auth": basic("docker", PASSWORD)}}})
    creds = lookup_credentials("ghcr.io", env={**env, "REGISTRY_AUTH_FILE": str(path)})
    assert creds is not None
    assert creds.username == "podman"


def test_docker_config_beats_ci(env: dict[str, str], home: Path) -> None:
    write_docker_config(home, {"auths": {"ghcr.io": {"auth": basic("docker", PASSWORD)}}})
    creds = lookup_credentials("ghcr.io", env={**env, "GITHUB_TOKEN": "gh-token"})
    assert creds is not None
    assert creds.username == "docker"


def test_gitlab_beats_github_for_ghcr(env: dict[str, str]) -> None:
    ci_env = {**gitlab_env(env, "ghcr.io"), "GITHUB_TOKEN": "gh-token"}
    creds = lookup_credentials("ghcr.io", env=ci_env)
    assert creds is not None
    assert creds.source == "CI_REGISTRY_USER/CI_REGISTRY_PASSWORD"


@requires_posix
def test_cred_helper_beats_auths(env: dict[str, str], home: Path, store_helper: Path) -> None:
    config = {"credHelpers": {"ghcr.io": "test"}, "auths": {"ghcr.io": {"auth": basic("alice", PASSWORD)}}}
    write_docker_config(home, config)
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert creds.username == "helperuser"


@requires_posix
def test_auths_beat_creds_store(env: dict[str, str], home: Path, store_helper: Path) -> None:
    config = {"credsStore": "test", "auths": {"ghcr.io": {"auth": basic("alice", PASSWORD)}}}
    write_docker_config(home, config)
    creds = lookup_credentials("ghcr.io", env=env)
    assert creds is not None
    assert creds.username == "alice"
    assert not store_helper.exists()  # the store was never asked
