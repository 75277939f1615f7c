"""TLS policy, challenge parsing and token handling; credentials found the way users keep them."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from gate.errors import AuthenticationError, RegistryError
from gate.image.auth import RegistryAuth, parse_challenge
from gate.image.credentials import Credentials
from gate.image.transport import RetryPolicy, Transport, insecure_hosts_from_env, is_loopback, origin_of
from gate.sample import build_sample
from tests.servers import RegistryServer


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("127.8.9.1", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("10.0.0.1:5000", False),
        ("registry.example", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_plain_http_only_for_loopback_and_named_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATE_INSECURE_REGISTRIES", raising=False)
    transport = Transport(insecure_hosts=["reg.internal:5000"])
    assert transport.base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert transport.base_url("reg.internal:5000") == "http://reg.internal:5000"
    assert transport.base_url("reg.internal:5001") == "https://reg.internal:5001"
    assert transport.base_url("ghcr.io") == "https://ghcr.io"
    monkeypatch.setenv("GATE_INSECURE_REGISTRIES", "a.example, b.example:81")
    assert insecure_hosts_from_env() == {"a.example", "b.example:81"}
    assert Transport().base_url("a.example:443") == "http://a.example:443"


def test_retry_policy_caps_backoff_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=5)
    assert [policy.delay(n, None) for n in range(5)] == [1, 2, 4, 5, 5]
    assert policy.delay(0, 3.0) == 3.0
    assert policy.delay(0, 10_000) == 15  # a server cannot park us for hours


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        (
            'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
            "bearer",
            {
                "realm": "https://auth.example/token",
                "service": "registry.example",
                "scope": "repository:a/b:pull",
            },
        ),
        ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
        (
            'bearer realm="https://x/t", scope="repository:a:pull,push repository:b:pull"',
            "bearer",
            {"realm": "https://x/t", "scope": "repository:a:pull,push repository:b:pull"},
        ),
        ("Bearer realm=https://x/t,service=svc", "bearer", {"realm": "https://x/t", "service": "svc"}),
    ],
)
def test_parse_challenge(header: str, scheme: str, params: dict[str, str]) -> None:
    challenge = parse_challenge(header)
    assert challenge is not None
    assert (challenge.scheme, challenge.params) == (scheme, params)


def _response(header: str) -> SimpleNamespace:
    return SimpleNamespace(headers={"WWW-Authenticate": header}, status_code=401)


def test_token_realm_over_plain_http_is_refused_for_remote_hosts() -> None:
    auth = RegistryAuth(
        host="registry.example", transport=Transport(), credentials=Credentials("u", "p", source="test")
    )
    with pytest.raises(AuthenticationError, match="over plain HTTP"):
        auth.answer_challenge(_response('Bearer realm="http://auth.example/token"'), frozenset())


def test_unknown_challenge_scheme_and_missing_challenge() -> None:
    auth = RegistryAuth(host="r.example", transport=Transport())
    with pytest.raises(AuthenticationError, match="unsupported authentication 'negotiate'"):
        auth.answer_challenge(_response("Negotiate abc"), frozenset())
    with pytest.raises(AuthenticationError, match="without an authentication challenge"):
        auth.answer_challenge(_response(""), frozenset())


def test_credentials_from_docker_config_reach_the_registry(
    basic_registry: RegistryServer, tmp_path: Path
) -> None:
    """`docker login`'s config.json is all a user needs: gate inspect against an htpasswd registry."""
    host = basic_registry.host
    user, password = basic_registry.username, basic_registry.password
    assert user and password
    from gate.image import RegistryClient
    from gate.image.reference import parse_registry_reference

    client = RegistryClient(credentials={host: Credentials(user, password, source="test")})
    digest = build_sample().push(
        client.repository(parse_registry_reference(f"{host}/cfg/sample")), tag="demo"
    )

    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (config_dir / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    env = {**os.environ, "DOCKER_CONFIG": str(config_dir), "NO_COLOR": "1"}
    env.pop("REGISTRY_AUTH_FILE", None)
    result = subprocess.run(
        [sys.executable, "-m", "gate", "inspect", "-f", "json", f"{host}/cfg/sample:demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["digest"] == digest
    assert password not in result.stdout + result.stderr

    (config_dir / "config.json").write_text(json.dumps({"auths": {}}))
    refused = subprocess.run(
        [sys.executable, "-m", "gate", "inspect", f"{host}/cfg/sample:demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("gate: error:") and "requires a login" in refused.stderr


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://ghcr.io/v2/x", "https://ghcr.io:443"),
        ("https://GHCR.io:443/v2/x", "https://ghcr.io:443"),
        ("http://127.0.0.1:5000/v2/", "http://127.0.0.1:5000"),
        ("http://[::1]/v2/", "http://[::1]:80"),
        ("https://ghcr.io:8443/v2/", "https://ghcr.io:8443"),
    ],
)
def test_origin_makes_default_ports_explicit(url: str, origin: str) -> None:
    assert origin_of(url) == origin


def test_url_policy_for_server_supplied_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATE_INSECURE_REGISTRIES", raising=False)
    transport = Transport(insecure_hosts=["reg.internal:5000"])
    transport.check_url("https://storage.example/blob?sig=1")
    transport.check_url("http://127.0.0.1:9/x")
    transport.check_url("http://reg.internal:5000/x")
    for refused in ("http://storage.example/blob", "http://reg.internal:5001/x", "file:///etc/passwd", "ftp://x/y"):
        with pytest.raises(RegistryError, match="refusing"):
            transport.check_url(refused, named_by="a test")


def test_registry_deadline_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_REGISTRY_DEADLINE", "7.5")
    assert Transport().deadline == 7.5
    monkeypatch.setenv("GATE_REGISTRY_DEADLINE", "soon")
    with pytest.raises(RegistryError, match="GATE_REGISTRY_DEADLINE='soon' is not a number of seconds"):
        Transport()
