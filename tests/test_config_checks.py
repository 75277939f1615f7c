"""Configuration checks: each rule fires on an image that has the problem and not on one without.

Images are built here with gate's LayerBuilder/build_image and read back through an OCI
layout, as users' images are.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gate.analyze import AnalysisOptions, ConfigFinding, Severity, analyze_image
from gate.analyze.config import CONFIG_RULES, parse_created
from gate.image import OciLayout, open_image
from gate.image.build import LayerBuilder, build_image
from tests.test_cli import run_gate

NOW = datetime.datetime(2026, 11, 29, tzinfo=datetime.UTC)
CREATED_RECENTLY = "2026-11-20T10:00:00.123456789Z"  # docker writes nanoseconds


def base_layer(**extra: bytes) -> LayerBuilder:
    layer = LayerBuilder()
    layer.add_file("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')
    layer.add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/false\n")
    for path, data in extra.items():
        layer.add_file(path.replace("__", "/"), data)
    return layer


def good_config(**changes: object) -> dict[str, object]:
    config: dict[str, object] = {
        "User": "1000:1000",
        "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LOG_LEVEL=info"],
        "ExposedPorts": {"8080/tcp": {}},
        "Healthcheck": {"Test": ["CMD", "/app/healthcheck"], "Interval": 30_000_000_000},
    }
    config.update(changes)
    return config


def check(
    tmp_path: Path,
    layers: list[LayerBuilder] | None = None,
    config: dict[str, object] | None = None,
    *,
    created: str = CREATED_RECENTLY,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    options: AnalysisOptions | None = None,
) -> list[ConfigFinding]:
    built = build_image(
        [layer.build() for layer in (layers or [base_layer()])],
        config=config if config is not None else good_config(),
        labels=labels,
        annotations=annotations,
    )
    document = json.loads(built.config)
    document["created"] = created
    from gate.image.build import BuiltImage
    from gate.image.digest import digest_of
    from gate.image.manifest import canonical_json

    config_raw = canonical_json(document)
    manifest = json.loads(built.manifest)
    manifest["config"].update(digest=digest_of(config_raw), size=len(config_raw))
    image = BuiltImage(canonical_json(manifest), config_raw, built.layers)
    layout = tmp_path / "layout"
    image.push(OciLayout.create(layout), tag="t")
    with open_image(f"oci:{layout}:t") as opened, opened.filesystem() as fs:
        result = analyze_image(opened, fs, options or AnalysisOptions(secrets=False, now=NOW))
    assert result.problems == []
    return result.config


def ids(findings: list[ConfigFinding]) -> set[str]:
    return {finding.rule_id for finding in findings}


def test_a_well_configured_minimal_image_has_no_findings(tmp_path: Path) -> None:
    assert check(tmp_path) == []


def with_app_layer(build: Callable[[LayerBuilder], object]) -> list[LayerBuilder]:
    app = LayerBuilder()
    build(app)
    return [base_layer(), app]


POSITIVE: dict[str, dict[str, Any]] = {
    "root-user": {"config": good_config(User="")},
    "sensitive-port": {"config": good_config(ExposedPorts={"22/tcp": {}, "8080/tcp": {}})},
    "secret-env-name": {"config": good_config(Env=["PATH=/usr/bin:/bin", "DB_PASSWORD=s3cr3t-test-only"])},
    "setuid-added": {"layers": with_app_layer(lambda a: a.add_file("usr/bin/helper", b"x", mode=0o4755))},
    "world-writable-in-path": {
        "layers": with_app_layer(lambda a: a.add_file("usr/bin/tool", b"x", mode=0o777))
    },
    "ssh-server-installed": {
        "layers": with_app_layer(lambda a: a.add_file("usr/sbin/sshd", b"x", mode=0o755))
    },
    "sudo-installed": {"layers": with_app_layer(lambda a: a.add_file("usr/bin/sudo", b"x", mode=0o755))},
    "package-manager-cache": {
        "layers": with_app_layer(
            lambda a: a.add_file(
                "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", b"x" * 10
            )
        )
    },
    "shell-present": {"layers": with_app_layer(lambda a: a.add_file("bin/sh", b"x", mode=0o755))},
    "package-manager-present": {
        "layers": with_app_layer(lambda a: a.add_file("usr/bin/apt-get", b"x", mode=0o755))
    },
    "no-healthcheck": {"config": good_config(Healthcheck={"Test": ["NONE"]})},
    "image-too-old": {"created": "2025-01-01T00:00:00Z"},
    "base-image-not-pinned": {
        "annotations": {"org.opencontainers.image.base.name": "docker.io/library/debian:12"}
    },
}

NEGATIVE: dict[str, dict[str, Any]] = {
    "root-user": {"config": good_config(User="app")},  # a name with uid 1000 in /etc/passwd
    "sensitive-port": {"config": good_config(ExposedPorts={"8443/tcp": {}, "2222/udp": {}})},
    "secret-env-name": {
        "config": good_config(
            Env=["PATH=/usr/bin:/bin", "DB_PASSWORD_FILE=/run/secrets/db", "TOKEN_URL=https://x"]
        )
    },
    "setuid-added": {"layers": [base_layer(usr__bin__passwd=b"x")]},  # base layer only (mode 0644 here)
    "world-writable-in-path": {
        "layers": with_app_layer(lambda a: a.add_file("opt/data/shared", b"x", mode=0o666))
    },
    "ssh-server-installed": {"layers": with_app_layer(lambda a: a.add_file("usr/bin/ssh", b"x", mode=0o755))},
    "sudo-installed": {"layers": with_app_layer(lambda a: a.add_file("usr/bin/su-exec", b"x", mode=0o755))},
    "package-manager-cache": {
        "layers": with_app_layer(lambda a: a.add_file("var/lib/apt/lists/lock", b"").add_dir("var/cache/apk"))
    },
    "shell-present": {"layers": with_app_layer(lambda a: a.add_file("app/shell.txt", b"x"))},
    "package-manager-present": {
        "layers": with_app_layer(lambda a: a.add_file("usr/share/doc/apt/README", b"x"))
    },
    "no-healthcheck": {"config": good_config()},
    "image-too-old": {"created": "2026-09-01T00:00:00Z"},
    "base-image-not-pinned": {
        "labels": {
            "org.opencontainers.image.base.name": "docker.io/library/debian:12",
            "org.opencontainers.image.base.digest": "sha256:" + "a" * 64,
        }
    },
}


def test_every_rule_has_a_positive_and_a_negative_case() -> None:
    assert set(POSITIVE) == set(NEGATIVE) == {rule.id for rule in CONFIG_RULES}


@pytest.mark.parametrize("rule_id", sorted(POSITIVE))
def test_rule_fires_on_its_positive_case(tmp_path: Path, rule_id: str) -> None:
    findings = check(tmp_path, **POSITIVE[rule_id])
    assert ids(findings) == {rule_id}
    (finding,) = findings
    rule = next(r for r in CONFIG_RULES if r.id == rule_id)
    assert finding.title == rule.title and finding.explanation == rule.explanation
    assert finding.evidence and all(finding.evidence)


@pytest.mark.parametrize("rule_id", sorted(NEGATIVE))
def test_rule_stays_quiet_on_its_negative_case(tmp_path: Path, rule_id: str) -> None:
    assert rule_id not in ids(check(tmp_path, **NEGATIVE[rule_id]))


def test_evidence_names_the_thing_and_never_an_env_value(tmp_path: Path) -> None:
    findings = check(
        tmp_path,
        with_app_layer(lambda a: a.add_file("usr/bin/helper", b"x", mode=0o2755)),
        good_config(User="0", Env=["API_TOKEN=value-never-shown-123"], ExposedPorts={"5432/tcp": {}}),
    )
    by_id = {f.rule_id: f for f in findings}
    assert by_id["root-user"].evidence == ("User is '0'",)
    assert by_id["secret-env-name"].evidence == ("Env API_TOKEN is set (value not shown)",)
    assert by_id["sensitive-port"].evidence == ("ExposedPorts 5432/tcp (PostgreSQL)",)
    assert by_id["sensitive-port"].severity is Severity.MEDIUM
    assert "setgid (mode 2755), added by layer 1" in by_id["setuid-added"].evidence[0]
    assert by_id["setuid-added"].layer_digest and by_id["setuid-added"].layer_digest.startswith("sha256:")
    assert "value-never-shown" not in repr(findings)


def test_root_by_uid_zero_user_name(tmp_path: Path) -> None:
    layer = base_layer(etc__passwd=b"root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n")
    assert ids(check(tmp_path, [layer], good_config(User="toor"))) == {"root-user"}


def test_world_writable_path_directory_without_sticky_bit(tmp_path: Path) -> None:
    layers = with_app_layer(lambda a: a.add_dir("usr/local/bin", mode=0o777))
    findings = check(tmp_path, layers)
    assert [f.evidence for f in findings] == [("/usr/local/bin (in PATH) is world-writable (mode 0777)",)]
    sticky = with_app_layer(lambda a: a.add_dir("usr/local/bin", mode=0o1777))
    assert check(tmp_path / "sticky", sticky) == []


def test_base_layers_option_moves_the_base_boundary(tmp_path: Path) -> None:
    layers = with_app_layer(lambda a: a.add_file("usr/bin/helper", b"x", mode=0o4755))
    options = AnalysisOptions(secrets=False, now=NOW, base_layers=2)
    assert check(tmp_path, layers, options=options) == []


def test_created_timestamps_with_nanoseconds_and_offsets() -> None:
    assert parse_created("2026-11-20T10:00:00.123456789Z") == datetime.datetime(
        2026, 11, 20, 10, 0, 0, 123456, tzinfo=datetime.UTC
    )
    assert parse_created("2026-11-20T12:00:00+02:00") == datetime.datetime(
        2026, 11, 20, 10, tzinfo=datetime.UTC
    )
    assert parse_created("yesterday") is None


def test_dir_sources_run_filesystem_checks_and_say_the_rest_did_not_apply(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "sh").write_bytes(b"x")
    with open_image(f"dir:{root}") as image, image.filesystem() as fs:
        result = analyze_image(image, fs, AnalysisOptions(secrets=False, now=NOW))
    assert ids(result.config) == {"shell-present"}
    assert result.notes == ["config: a dir: source has no image config; only filesystem checks ran"]


def test_cli_config_check_json_table_and_fail_on(tmp_path: Path) -> None:
    built = build_image(
        [base_layer().build()], config=good_config(User="", ExposedPorts={"3389/tcp": {}}, Healthcheck=None)
    )
    layout = tmp_path / "layout"
    built.push(OciLayout.create(layout), tag="t")
    reference = f"oci:{layout}:t"
    result = run_gate("config-check", reference, "--format", "json", "--max-age-days", "100000")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {f["ruleId"] for f in document["config"]} == {"root-user", "sensitive-port", "no-healthcheck"}
    assert all(f["explanation"] and f["evidence"] for f in document["config"])
    table = run_gate("config-check", reference, "--max-age-days", "100000")
    assert (
        table.returncode == 0
        and "Exposes a sensitive port" in table.stdout
        and "3389/tcp (RDP)" in table.stdout
    )
    closed = run_gate("config-check", reference, "--fail-on", "high", "--max-age-days", "100000")
    assert closed.returncode == 2
    open_ = run_gate("config-check", reference, "--fail-on", "critical", "--max-age-days", "100000")
    assert open_.returncode == 0
