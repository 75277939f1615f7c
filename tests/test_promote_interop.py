"""What `gate promote` copied is accepted by cosign 2.5 and skopeo 1.18 (Debian 13) at the destination.

Uses the Debian 13 root of tests/test_skopeo_interop.py (``trixie`` fixture; debootstrap, root
and network needed; these tests fail, never skip, without them).

cosign-style signatures name the repository they were made for (``docker-reference``), so after a
promotion to another registry skopeo's ``matchRepository`` refuses them by design; a policy that
names the repository the signatures were made for (``exactRepository``) accepts them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gate.sign.keys import encrypt_private_key, generate_signing_key, load_private_key
from tests.servers import RegistryServer
from tests.signed_images import signed_image
from tests.test_cli import run_gate
from tests.test_sign import COSIGN_KEY, FIXTURES, KEY_ENV
from tests.test_skopeo_interop import Trixie, cosign, trixie  # noqa: F401 - the session fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def skopeo_copy(
    root: Trixie, registry: RegistryServer, reference: str, identity: dict[str, str]
) -> tuple[int, str]:
    host, inside = root.workdir()
    shutil.copy(FIXTURES / "cosign.pub", host / "cosign.pub")
    repository = (
        reference.split("@")[0].rsplit(":", 1)[0] if "@" not in reference else reference.split("@")[0]
    )
    policy = {
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {
                repository: [
                    {"type": "sigstoreSigned", "keyPath": f"{inside}/cosign.pub", "signedIdentity": identity}
                ]
            }
        },
    }
    (host / "policy.json").write_text(json.dumps(policy))
    (host / "registries.d").mkdir()
    (host / "registries.d" / "test.yaml").write_text(
        f"docker:\n  {registry.host}:\n    use-sigstore-attachments: true\n"
    )
    result = root.run(
        "skopeo",
        "--policy",
        f"{inside}/policy.json",
        "--registries.d",
        f"{inside}/registries.d",
        "copy",
        "--src-tls-verify=false",
        "--remove-signatures",
        f"docker://{reference}",
        f"oci:{inside}/out:x",
    )
    return result.returncode, result.stderr


def test_cosign_and_skopeo_accept_the_promoted_image(
    trixie: Trixie,  # noqa: F811 - the fixture imported above
    make_registry: Callable[..., RegistryServer],
    tmp_path: Path,
) -> None:
    staging, production = make_registry(), make_registry()
    key = load_private_key(Path(COSIGN_KEY).read_bytes(), lambda: KEY_ENV["GATE_PASSWORD"].encode())
    image = signed_image(staging, key)
    promoter = tmp_path / "promoter.key"
    promoter.write_bytes(encrypt_private_key(generate_signing_key(), b"p"))
    destination = f"{production.host}/prod/app"
    promoted = run_gate(
        "promote",
        image.reference,
        destination,
        "--key",
        str(FIXTURES / "cosign.pub"),
        "--require",
        "sbom",
        "--signing-key",
        str(promoter),
        env={"GATE_PASSWORD": "p"},
    )
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr

    host, inside = trixie.workdir()
    shutil.copy(FIXTURES / "cosign.pub", host / "cosign.pub")
    flags = ("--key", f"{inside}/cosign.pub", "--insecure-ignore-tlog", "--allow-http-registry")
    verified = cosign(trixie, "verify", *flags, f"{destination}@{image.digest}")
    assert verified.returncode == 0, verified.stderr
    attested = cosign(
        trixie, "verify-attestation", *flags, "--type", "cyclonedx", f"{destination}@{image.digest}"
    )
    assert attested.returncode == 0, attested.stderr

    strict, stderr = skopeo_copy(
        trixie, production, f"{destination}@{image.digest}", {"type": "matchRepository"}
    )
    assert strict != 0 and f'Signature for identity \\"{image.name}\\" is not accepted' in stderr, stderr
    named, stderr = skopeo_copy(
        trixie,
        production,
        f"{destination}@{image.digest}",
        {"type": "exactRepository", "dockerRepository": image.name},
    )
    assert named == 0, stderr
