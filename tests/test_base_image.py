"""Base-image attribution: which packages an image inherited, from annotations, labels or --base-image."""

from __future__ import annotations

import json

from gate.image import RegistryClient, Transport, open_image
from gate.image.base import find_base_image
from gate.image.build import LayerBuilder, build_image
from gate.image.reference import parse_registry_reference
from tests.servers import RegistryServer
from tests.test_cli import run_gate

OS_RELEASE = b'ID=debian\nVERSION_ID="12"\n'
BASE_STATUS = b"Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4\n"
APP_STATUS = (
    BASE_STATUS + b"\nPackage: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1\n"
)


def _layers() -> tuple[bytes, bytes]:
    base = LayerBuilder().add_file("etc/os-release", OS_RELEASE).add_file("var/lib/dpkg/status", BASE_STATUS)
    app = LayerBuilder().add_file("var/lib/dpkg/status", APP_STATUS).add_file("app/run", b"#!/bin/sh\n")
    return base.build(), app.build()


def _push(
    registry: RegistryServer, name: str, layers: list[bytes], labels: dict[str, str] | None = None
) -> str:
    client = RegistryClient(transport=Transport(), credentials={registry.host: None})
    ref = f"{registry.host}/{name}"
    build_image(layers, labels=labels).push(client.repository(parse_registry_reference(ref)), tag="v1")
    return ref


def _locations(result_stdout: str) -> dict[str, dict[str, object]]:
    packages = json.loads(result_stdout)["packages"]
    return {p["name"]: p["locations"][0] for p in packages}


def test_base_layers_from_labels_mark_inherited_packages(registry: RegistryServer) -> None:
    base_layer, app_layer = _layers()
    base_ref = _push(registry, "base/debian", [base_layer])
    with open_image(f"{base_ref}:v1") as base:
        base_digest = base.digest
    labels = {
        "org.opencontainers.image.base.name": f"{base_ref}:v1",
        "org.opencontainers.image.base.digest": base_digest,
    }
    app_ref = _push(registry, "app/with-labels", [base_layer, app_layer], labels=labels)

    result = run_gate("sbom", "-f", "json", f"{app_ref}:v1")
    assert result.returncode == 0, result.stderr
    locations = _locations(result.stdout)
    # the dpkg status that lists both packages lives in the app's own layer
    assert locations["curl"]["in_base_image"] is False
    assert json.loads(result.stdout)["source"]["baseLayers"] == "1"
    assert json.loads(result.stdout)["source"]["baseImage"] == f"{base_ref}:v1@{base_digest}"


def test_explicit_base_image_and_a_base_that_shares_nothing(registry: RegistryServer) -> None:
    base_layer, app_layer = _layers()
    base_ref = _push(registry, "base/plain", [base_layer])
    other_ref = _push(registry, "base/other", [LayerBuilder().add_file("x", b"x").build()])
    app_ref = _push(registry, "app/plain", [base_layer, app_layer])
    with open_image(f"{app_ref}:v1") as app:
        assert find_base_image(app) is None  # nothing declared
        assert find_base_image(app, reference=f"{base_ref}:v1").layer_count == 1
        # a base with other layers shares none: never marks the app's layers as inherited
        assert find_base_image(app, reference=f"{other_ref}:v1").layer_count == 0
        assert find_base_image(app, reference=f"{registry.host}/missing/base:v1") is None


def test_package_only_in_base_layer_is_marked_inherited(registry: RegistryServer) -> None:
    base_layer, _ = _layers()
    app_only = LayerBuilder().add_file("app/run", b"#!/bin/sh\n").build()
    base_ref = _push(registry, "base/only", [base_layer])
    app_ref = _push(registry, "app/only", [base_layer, app_only])
    result = run_gate("sbom", "-f", "json", "--base-image", f"{base_ref}:v1", f"{app_ref}:v1")
    assert result.returncode == 0, result.stderr
    assert _locations(result.stdout)["base-files"]["in_base_image"] is True
    unknown = run_gate("sbom", "-f", "json", f"{app_ref}:v1")
    assert _locations(unknown.stdout)["base-files"]["in_base_image"] is None


def test_config_check_takes_the_base_from_labels(registry: RegistryServer) -> None:
    os_layer = LayerBuilder().add_file("etc/os-release", OS_RELEASE).build()
    su_layer = LayerBuilder().add_file("usr/bin/su", b"\x7fELF", mode=0o4755).build()
    base_ref = _push(registry, "base/with-su", [os_layer, su_layer])
    with open_image(f"{base_ref}:v1") as base:
        labels = {
            "org.opencontainers.image.base.name": base_ref,
            "org.opencontainers.image.base.digest": base.digest,
        }
    app_layer = LayerBuilder().add_file("app/run", b"#!/bin/sh\n").build()
    app_ref = _push(registry, "app/on-su-base", [os_layer, su_layer, app_layer], labels=labels)

    def setuid_findings(*extra: str) -> list[dict[str, object]]:
        result = run_gate("config-check", "-f", "json", *extra, f"{app_ref}:v1")
        assert result.returncode == 0, result.stderr
        return [f for f in json.loads(result.stdout)["config"] if f["ruleId"] == "setuid-added"]

    assert setuid_findings() == []  # the base's own su is inherited, not added
    assert len(setuid_findings("--base-layers", "1")) == 1
