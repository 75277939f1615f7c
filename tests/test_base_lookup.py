"""The base-image lookup is optional: fail fast, a short total budget, a cache, and --offline (issue 15).

Real registries hold the images; a FakeRegistry stands for a base-image registry that drips or
that must never be contacted (it records every request).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path

import pytest

from gate.image import Image, RegistryClient, Transport, open_image
from gate.image.base import BASE_DIGEST, BASE_NAME, find_base_image
from gate.image.build import LayerBuilder, build_image
from gate.image.manifest import OCI_MANIFEST
from gate.image.reference import parse_registry_reference
from gate.image.transport import RetryPolicy
from tests.servers import FakeRegistry, RegistryServer
from tests.test_cli import run_gate

BASE_LAYER = LayerBuilder().add_file("etc/os-release", b"ID=debian\n").build()
APP_LAYER = LayerBuilder().add_file("app/run", b"#!/bin/sh\n").build()


def _push(registry: RegistryServer, layers: list[bytes], labels: dict[str, str] | None = None) -> str:
    """Push an image to a fresh repository; returns ``host/repo@digest``."""
    ref = f"{registry.host}/lookup/{uuid.uuid4().hex[:10]}"
    repository = RegistryClient().repository(parse_registry_reference(ref))
    digest = build_image(layers, labels=labels).push(repository, tag="v1")
    return f"{ref}@{digest}"


def _app_naming(registry: RegistryServer, base: str) -> str:
    return _push(registry, [BASE_LAYER, APP_LAYER], labels={BASE_NAME: base})


def _open(reference: str) -> Image:
    image = open_image(reference)
    assert isinstance(image, Image)
    return image


def test_unreachable_base_registry_fails_fast(
    registry: RegistryServer, caplog: pytest.LogCaptureFixture
) -> None:
    waits: list[float] = []
    client = RegistryClient(transport=Transport(sleep=waits.append))
    for base in ("registry.invalid/base:1", "127.0.0.1:9/base:1"):
        with _open(_app_naming(registry, base)) as image, caplog.at_level(logging.WARNING):
            assert find_base_image(image, client=client) is None
    assert waits == []  # no retries: before, each unreachable host cost 4 sleeps (about 8 s)
    assert "layer attribution unknown" in caplog.text


def test_base_lookup_has_a_short_total_budget(registry: RegistryServer, fake_registry: FakeRegistry) -> None:
    fake_registry.route(
        "GET",
        r"/v2/base/manifests/1",
        headers={"Content-Type": OCI_MANIFEST, "Content-Length": "555"},
        stream=lambda: (b" " for _ in range(555)),
        chunk_delay=0.2,
    )
    client = RegistryClient(transport=Transport(retry=RetryPolicy(base_delay=0.01)))
    with _open(_app_naming(registry, f"{fake_registry.host}/base:1")) as image:
        started = time.monotonic()
        assert find_base_image(image, client=client, budget=1.0) is None
    assert time.monotonic() - started < 10  # a bound, not a benchmark: the drip needs 111 s


@pytest.mark.parametrize("pinned", [True, False])
def test_base_lookup_is_cached_and_answers_offline(
    registry: RegistryServer, tmp_path: Path, pinned: bool
) -> None:
    base_ref = _push(registry, [BASE_LAYER])
    name, digest = base_ref.split("@")
    labels = {BASE_NAME: f"{name}:v1", BASE_DIGEST: digest} if pinned else {BASE_NAME: f"{name}:v1"}
    app = _push(registry, [BASE_LAYER, APP_LAYER], labels=labels)
    cache = tmp_path / "cache"
    with _open(app) as image:
        online = find_base_image(image, client=RegistryClient(), cache_dir=cache)
        assert online is not None and online.layer_count == 1
        assert online.reference.endswith(f"@{digest}")
        [entry] = cache.iterdir()
        assert json.loads(entry.read_text())["diff_ids"] == list(image.config.diff_ids[:1])

        offline = RegistryClient(offline=True)
        assert find_base_image(image, client=offline, cache_dir=cache) == online
        assert find_base_image(image, client=offline, cache_dir=tmp_path / "empty") is None


def test_damaged_cache_entry_is_a_miss(registry: RegistryServer, tmp_path: Path) -> None:
    base_ref = _push(registry, [BASE_LAYER])
    with _open(_app_naming(registry, base_ref)) as image:
        assert find_base_image(image, client=RegistryClient(), cache_dir=tmp_path) is not None
        [entry] = tmp_path.iterdir()
        entry.write_text('{"key": "something else", "reference": 1}')
        assert find_base_image(image, client=RegistryClient(offline=True), cache_dir=tmp_path) is None
        entry.write_text("[" * 10_000)
        assert find_base_image(image, client=RegistryClient(offline=True), cache_dir=tmp_path) is None


def test_offline_flag_and_env_skip_the_base_lookup(
    registry: RegistryServer, fake_registry: FakeRegistry, tmp_path: Path
) -> None:
    app = _app_naming(registry, f"{fake_registry.host}/base:1")
    env = {"XDG_CACHE_HOME": str(tmp_path), "GATE_OFFLINE": ""}
    for args, extra in ((["--offline"], {}), ([], {"GATE_OFFLINE": "1"})):
        for command in (["sbom", "-f", "json"], ["scan", "--scanners", "secret,config", "-f", "json"]):
            result = run_gate(*command, *args, app, env={**env, **extra})
            assert result.returncode == 0, result.stderr
    assert fake_registry.requests == []
    online = run_gate("sbom", "-f", "json", app, env=env)
    assert online.returncode == 0, online.stderr
    assert fake_registry.requests  # the same command online does look the base up
