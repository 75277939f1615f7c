"""`gate doctor` against the real CNCF distribution registry (which has no referrers API)."""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.servers import RegistryServer, free_port
from tests.test_cli import run_gate


def probes_of(*args: str, env: dict[str, str] | None = None) -> dict[str, dict]:
    result = run_gate("doctor", *args, "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    return {probe["feature"]: probe for probe in json.loads(result.stdout)["probes"]}


def test_distribution_registry_table(make_registry: Callable[..., RegistryServer]) -> None:
    registry = make_registry()
    probes = probes_of(f"{registry.host}/team/scratch")
    assert list(probes) == [
        "auth scheme",
        "push",
        "artifact media types",
        "manifest subject",
        "referrers API",
        "tag listing",
        "cross-repository mount",
        "delete",
    ]
    assert probes["auth scheme"]["detail"] == "none: anonymous access"
    assert probes["push"]["supported"] is True
    assert probes["artifact media types"]["supported"] is True
    subject = probes["manifest subject"]
    assert subject["supported"] is True and "not indexed (no OCI-Subject header)" in subject["detail"]
    referrers = probes["referrers API"]
    assert referrers["supported"] is False and referrers["detail"].startswith("no referrers API (404)")
    assert probes["tag listing"]["supported"] is True
    assert probes["cross-repository mount"]["supported"] is True
    assert probes["delete"]["supported"] is True  # the test registries enable deletion
    table = run_gate("doctor", registry.host)
    assert table.returncode == 0
    line = next(line for line in table.stdout.splitlines() if "referrers API" in line)
    assert "NO" in line


def test_authentication_schemes_are_named(
    basic_registry: RegistryServer, token_registry: RegistryServer
) -> None:
    basic = probes_of(basic_registry.host, env=_credentials(basic_registry))
    assert basic["auth scheme"]["detail"] == "Basic (realm gate-test)"
    assert basic["push"]["supported"] is True
    token = probes_of(token_registry.host, env=_credentials(token_registry))
    assert token["auth scheme"]["detail"].startswith("Bearer (realm http://127.0.0.1:")
    assert token["push"]["supported"] is True


def test_push_refused_leaves_the_rest_unknown(basic_registry: RegistryServer, tmp_path: Path) -> None:
    probes = probes_of(basic_registry.host, env={"DOCKER_CONFIG": str(tmp_path), "HOME": str(tmp_path)})
    assert probes["push"]["supported"] is False
    assert probes["referrers API"] == {
        "feature": "referrers API",
        "supported": None,
        "detail": "not probed: pushing failed",
    }


def test_a_tag_is_a_usage_error(registry: RegistryServer) -> None:
    result = run_gate("doctor", f"{registry.host}/team/app:1.0")
    assert result.returncode == 1 and "without a tag or digest" in result.stderr


def _credentials(server: RegistryServer) -> dict[str, str]:
    """A docker config with the server's user, the way a CI job would provide it."""
    directory = Path(tempfile.mkdtemp(prefix="gate-doctor-"))
    auth = base64.b64encode(f"{server.username}:{server.password}".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {server.host: {"auth": auth}}}))
    return {"DOCKER_CONFIG": str(directory)}


def test_unreachable_registry_is_an_error() -> None:
    result = run_gate("doctor", f"127.0.0.1:{free_port()}")
    assert result.returncode == 1 and result.stderr.startswith("gate: error: ")
