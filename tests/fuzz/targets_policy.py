"""Policy YAML (with its JSON schema and rules) and VEX documents (OpenVEX, CycloneDX)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from gate.policy.load import load_policy
from gate.policy.vex import load_vex
from tests.fuzz.runner import FUZZ_DIR, target

POLICIES = FUZZ_DIR.parent.parent / "policies"


def _policy_seeds() -> list[bytes]:
    paths = [*sorted(POLICIES.glob("*.yaml")), *sorted((POLICIES / "examples").glob("*.yaml"))]
    return [path.read_bytes() for path in paths]


def _load_from_file(data: bytes, name: str, load: Callable[[Path], object]) -> object:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_bytes(data)
        return load(path)


@target("policy-yaml", _policy_seeds)
def policy_yaml(data: bytes) -> object:
    return _load_from_file(data, "policy.yaml", load_policy)


IMAGE = "pkg:oci/app@sha256%3A" + "ab" * 32


def _vex_seeds() -> list[bytes]:
    openvex = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "security@example.com",
        "timestamp": "2026-01-01T00:00:00Z",
        "version": 1,
        "statements": [
            {
                "vulnerability": {"name": "CVE-2024-0001"},
                "products": [{"@id": IMAGE, "subcomponents": [{"@id": "pkg:pypi/flask@2.0.0"}]}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            },
            {
                "vulnerability": {"name": "CVE-2024-0002"},
                "products": [{"@id": IMAGE}],
                "status": "affected",
                "action_statement": "upgrade",
            },
        ],
    }
    cyclonedx = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {"component": {"type": "container", "name": "app", "bom-ref": "image", "purl": IMAGE}},
        "components": [{"type": "library", "name": "lib", "bom-ref": "lib", "purl": "pkg:pypi/lib@1.0.0"}],
        "vulnerabilities": [
            {
                "id": "CVE-2024-0003",
                "analysis": {"state": "not_affected", "justification": "code_not_reachable"},
                "affects": [{"ref": "lib"}],
            }
        ],
    }
    return [json.dumps(document).encode() for document in (openvex, cyclonedx)]


@target("vex", _vex_seeds)
def vex(data: bytes) -> object:
    return _load_from_file(data, "vex.json", load_vex)
