"""What `gate run` publishes, checked by cosign 2.5 and skopeo 1.18 from Debian 13 (test_skopeo_interop)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.servers import RegistryServer
from tests.test_run import files, gate_run, push_sample  # noqa: F401 - the module fixture
from tests.test_sign import COSIGN_KEY, FIXTURES
from tests.test_skopeo_interop import Trixie, cosign, skopeo_verify, trixie  # noqa: F401 - the session fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_cosign_and_skopeo_accept_what_gate_run_published(
    trixie: Trixie,  # noqa: F811 - the fixture imported above
    registry: RegistryServer,
    files: Path,  # noqa: F811 - the fixture imported above
) -> None:
    _, reference, digest = push_sample(registry)
    name = reference.rsplit(":", 1)[0]
    host, inside = trixie.workdir()
    shutil.copy(FIXTURES / "cosign.pub", host / "cosign.pub")
    flags = ("--key", f"{inside}/cosign.pub", "--insecure-ignore-tlog", "--allow-http-registry")
    assert cosign(trixie, "verify", *flags, f"{name}@{digest}").returncode != 0  # before: unsigned
    result = gate_run(reference, files, "waived.yaml", "--key", COSIGN_KEY)
    assert result.returncode == 0, result.stderr
    verified = cosign(trixie, "verify", *flags, f"{name}@{digest}")
    assert verified.returncode == 0, verified.stderr
    for kind in (
        "cyclonedx",
        "vuln",
        "slsaprovenance1",
        "openvex",
        "https://slsa.dev/verification_summary/v1",
    ):
        checked = cosign(trixie, "verify-attestation", *flags, "--type", kind, f"{name}@{digest}")
        assert checked.returncode == 0, (kind, checked.stderr)
    accepted = skopeo_verify(trixie, registry, f"{name}@{digest}", (FIXTURES / "cosign.pub").read_bytes())
    assert accepted.returncode == 0, accepted.stderr
