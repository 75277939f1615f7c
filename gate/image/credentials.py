"""Find the credentials a user already has for a container registry.

gate never asks for a password: it reuses what ``docker login``, ``podman login`` or the
CI system already set up. :func:`lookup_credentials` looks, in order, at

1. ``$REGISTRY_AUTH_FILE`` (containers-auth.json: ``{"auths": {...}}``),
2. the Docker config (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``):
   ``credHelpers``, then ``auths``, then ``credsStore``,
3. CI conventions: GitLab's ``CI_REGISTRY_USER``/``CI_REGISTRY_PASSWORD`` and GitHub's
   ``GITHUB_TOKEN`` for ghcr.io,

and returns ``None`` (anonymous access) when none of them has an entry for the registry.

Secrets never appear in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.errors import CredentialsError
from gate.image.reference import DOCKER_HUB, DOCKER_HUB_ALIASES

DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/"
GITHUB_REGISTRY = "ghcr.io"

HELPER_PREFIX = "docker-credential-"
HELPER_TIMEOUT_SECONDS = 30.0
HELPER_NOT_FOUND = "credentials not found"
IDENTITY_TOKEN_USERNAME = "<token>"  # noqa: S105 - a marker, not a secret


@dataclass(frozen=True)
class Credentials:
    """A username and secret for one registry, and where they were found.

    ``password`` and ``identity_token`` are left out of ``repr`` so that credentials can be
    logged safely. ``identity_token`` is the OAuth2 refresh token that ``docker login``
    stores as ``identitytoken``; when it is set, ``password`` is usually empty.
    """

    username: str
    password: str = field(repr=False)
    identity_token: str | None = field(default=None, repr=False)
    source: str = ""


def lookup_credentials(registry: str, *, env: Mapping[str, str] | None = None) -> Credentials | None:
    """Return the credentials configured for ``registry``, or ``None`` for anonymous access.

    ``registry`` is a host as written in image references: ``ghcr.io``,
    ``127.0.0.1:5000``, or ``docker.io`` (``index.docker.io`` and
    ``registry-1.docker.io`` mean the same) for Docker Hub. ``env`` replaces
    ``os.environ``, including ``HOME`` and ``PATH``.

    Raises :class:`~gate.errors.CredentialsError` when an auth file is unreadable or
    malformed, or a credential helper is missing, fails or times out.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    host = normalise_registry(registry)
    return (
        _from_registry_auth_file(host, environ)
        or _from_docker_config(host, environ)
        or _from_ci_environment(host, environ)
    )


def normalise_registry(value: str) -> str:
    """Reduce a registry host or auth-file key to a comparable host.

    Drops an ``http(s)://`` scheme and any path, lowercases, and maps every Docker Hub
    alias (``https://index.docker.io/v1/``, ``registry-1.docker.io``, ...) to ``docker.io``.
    """
    host = value.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme) :]
            break
    host = host.split("/", 1)[0].lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


# --- auth files -------------------------------------------------------------------------


def _from_registry_auth_file(host: str, env: Mapping[str, str]) -> Credentials | None:
    """Credentials from ``$REGISTRY_AUTH_FILE``, which must be readable when it is set."""
    location = env.get("REGISTRY_AUTH_FILE")
    if not location:
        return None
    path = Path(location)
    config = _load_json_object(path, missing_ok=False)
    assert config is not None  # not missing_ok: an absent file raised
    return _from_auths(config, host, path)


def _from_docker_config(host: str, env: Mapping[str, str]) -> Credentials | None:
    """Credentials from the Docker config: ``credHelpers``, ``auths``, then ``credsStore``."""
    path = _docker_config_path(env)
    if path is None:
        return None
    config = _load_json_object(path, missing_ok=True)
    if config is None:
        return None
    helper = _credential_helper_for(config, host, path)
    if helper:
        found = _run_helper(helper, host, env)
        if found is not None:
            return found
    found = _from_auths(config, host, path)
    if found is not None:
        return found
    store = config.get("credsStore")
    if store is not None and not isinstance(store, str):
        raise CredentialsError(f"{path}: credsStore must be a string")
    return _run_helper(store, host, env) if store else None


def _docker_config_path(env: Mapping[str, str]) -> Path | None:
    """``$DOCKER_CONFIG/config.json``, else ``$HOME/.docker/config.json``, else nothing."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]) / "config.json"
    if env.get("HOME"):
        return Path(env["HOME"]) / ".docker" / "config.json"
    return None


def _load_json_object(path: Path, *, missing_ok: bool) -> dict[str, Any] | None:
    """Parse ``path`` as a JSON object; ``None`` if it is absent and ``missing_ok``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise CredentialsError(f"auth file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise CredentialsError(f"cannot read auth file {path}: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # The position only: exc.doc holds the file's text, secrets included.
        raise CredentialsError(
            f"auth file {path} is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise CredentialsError(f"auth file {path} must hold a JSON object")
    return data


def _section(config: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    """The object ``config[name]``, empty when absent."""
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CredentialsError(f"{path}: {name} must be a JSON object")
    return value


def _matching(section: Mapping[str, Any], host: str) -> list[tuple[str, Any]]:
    """Entries whose key names ``host``, keys spelled exactly like it first."""
    matches = [(key, value) for key, value in section.items() if normalise_registry(key) == host]
    return sorted(matches, key=lambda item: item[0] != host)


def _credential_helper_for(config: Mapping[str, Any], host: str, path: Path) -> str | None:
    """The ``credHelpers`` helper name configured for ``host``, if any."""
    for key, name in _matching(_section(config, "credHelpers", path), host):
        if not isinstance(name, str):
            raise CredentialsError(f"{path}: credHelpers entry {key!r} must be a string")
        if name:
            return name
    return None


def _from_auths(config: Mapping[str, Any], host: str, path: Path) -> Credentials | None:
    """The first usable ``auths`` entry for ``host``; empty entries are skipped."""
    source = f"{path} auths"
    for key, entry in _matching(_section(config, "auths", path), host):
        found = _credentials_from_entry(entry, key=key, path=path, source=source)
        if found is not None:
            return found
    return None


def _credentials_from_entry(entry: Any, *, key: str, path: Path, source: str) -> Credentials | None:
    """Read ``auth``, ``username``/``password`` and ``identitytoken`` from one entry."""
    if not isinstance(entry, dict):
        raise CredentialsError(f"{path}: auths entry {key!r} must be a JSON object")
    auth = _string_field(entry, "auth", key=key, path=path)
    if auth:
        username, password = _decode_basic_auth(auth, key=key, path=path)
    else:
        username = _string_field(entry, "username", key=key, path=path)
        password = _string_field(entry, "password", key=key, path=path)
    token = _string_field(entry, "identitytoken", key=key, path=path) or None
    if not (username or password or token):
        return None
    return Credentials(username=username, password=password, identity_token=token, source=source)


def _string_field(entry: Mapping[str, Any], name: str, *, key: str, path: Path) -> str:
    """``entry[name]`` as a string, empty when absent."""
    value = entry.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CredentialsError(f"{path}: {name} of auths entry {key!r} must be a string")
    return value


def _decode_basic_auth(auth: str, *, key: str, path: Path) -> tuple[str, str]:
    """Split a base64 ``user:password`` into its halves, without echoing it on failure."""
    compact = "".join(auth.split())
    try:
        decoded = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = None
    if decoded is None or ":" not in decoded:
        raise CredentialsError(
            f"{path}: auth of auths entry {key!r} is not base64 of 'username:password'",
            hint="log in to the registry again",
        )
    username, password = decoded.split(":", 1)
    return username, password


# --- credential helpers -----------------------------------------------------------------


def _helper_server_url(host: str) -> str:
    """What Docker passes a helper: the legacy index URL for Docker Hub, else the host."""
    return DOCKER_HUB_SERVER_URL if host == DOCKER_HUB else host


def _run_helper(name: str, host: str, env: Mapping[str, str]) -> Credentials | None:
    """Ask ``docker-credential-<name>`` for ``host``; ``None`` if it has nothing stored."""
    program = HELPER_PREFIX + name
    if os.sep in name or (os.altsep and os.altsep in name):
        raise CredentialsError(f"credential helper name {name!r} must not contain a path separator")
    executable = shutil.which(program, path=env.get("PATH", os.defpath))
    if executable is None:
        raise CredentialsError(
            f"credential helper {program} is not on PATH",
            hint="install it, or remove it from the Docker config",
        )
    returncode, stdout, stderr = _invoke(executable, program, _helper_server_url(host), env)
    if returncode != 0:
        if HELPER_NOT_FOUND in (stdout + stderr).lower():
            return None
        raise CredentialsError(f"credential helper {program} failed with exit status {returncode}")
    return _parse_helper_output(stdout, program)


def _invoke(executable: str, program: str, server_url: str, env: Mapping[str, str]) -> tuple[int, str, str]:
    """Run ``<executable> get`` with ``server_url`` on stdin; kill its process group on timeout."""
    try:
        with subprocess.Popen(
            [executable, "get"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            text=True,
            start_new_session=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(server_url, timeout=HELPER_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                _kill_process_group(process)
                process.communicate()
                raise CredentialsError(
                    f"credential helper {program} did not answer within {HELPER_TIMEOUT_SECONDS:g} s"
                ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CredentialsError(f"cannot run credential helper {program}: {reason}") from None
    return process.returncode, stdout, stderr


def _kill_process_group(process: subprocess.Popen[str]) -> None:
    """Kill a helper together with anything it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (AttributeError, OSError):  # no process groups (Windows), or already gone
        process.kill()


def _parse_helper_output(stdout: str, program: str) -> Credentials | None:
    """Read ``{"ServerURL", "Username", "Secret"}``; ``<token>`` marks an identity token."""
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise CredentialsError(f"credential helper {program} did not print a JSON object")
    username = data.get("Username") or ""
    secret = data.get("Secret") or ""
    if not isinstance(username, str) or not isinstance(secret, str):
        raise CredentialsError(f"credential helper {program} printed a non-string Username or Secret")
    source = f"credential helper {program}"
    if not secret:
        return None
    if username == IDENTITY_TOKEN_USERNAME:
        return Credentials(username="", password="", identity_token=secret, source=source)
    return Credentials(username=username, password=secret, source=source)


# --- CI conventions ---------------------------------------------------------------------


def _from_ci_environment(host: str, env: Mapping[str, str]) -> Credentials | None:
    """GitLab's ``CI_REGISTRY_*`` for its own registry, GitHub's ``GITHUB_TOKEN`` for ghcr.io."""
    ci_registry = env.get("CI_REGISTRY")
    user, password = env.get("CI_REGISTRY_USER"), env.get("CI_REGISTRY_PASSWORD")
    if ci_registry and user and password and normalise_registry(ci_registry) == host:
        return Credentials(username=user, password=password, source="CI_REGISTRY_USER/CI_REGISTRY_PASSWORD")
    token = env.get("GITHUB_TOKEN")
    if host == GITHUB_REGISTRY and token:
        actor = env.get("GITHUB_ACTOR") or "token"
        return Credentials(username=actor, password=token, source="GITHUB_TOKEN")
    return None
