"""`gate verify --in-toto-layout`: a two-step layout (build, gate) verified by the in-toto package.

The links are made with the in-toto library through ``gate.intoto.write_link`` (what
``gate run --in-toto-link`` writes for the gate step); the image is real, in the real registry.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from in_toto.models.layout import Layout, Step
from in_toto.models.metadata import Metablock
from securesystemslib.signer import CryptoSigner

from gate.intoto import functionary_key, write_link
from gate.sign.keys import SigningKey, generate_signing_key
from tests.servers import RegistryServer
from tests.signed_images import POLICY_DIGEST, Pushed, signed_image
from tests.test_cli import run_gate


def key_document(key: SigningKey) -> dict:
    public = functionary_key(key)
    return {**public.to_dict(), "keyid": public.keyid}


class SupplyChain:
    """Keys of the layout owner and both functionaries, a signed layout and a links directory."""

    def __init__(self, directory: Path, image_key: SigningKey) -> None:
        self.directory = directory
        self.owner, self.builder, self.gate = generate_signing_key(), generate_signing_key(), image_key
        self.links = directory / "links"
        self.links.mkdir()
        (directory / "owner.pub").write_bytes(self.owner.public_key.pem())
        (directory / "release.pub").write_bytes(image_key.public_key.pem())
        self.layout = directory / "root.layout"
        self._write_layout()

    def _write_layout(self) -> None:
        layout = Layout()
        layout.set_relative_expiration(months=1)
        for key in (self.builder, self.gate):
            layout.add_functionary_key(key_document(key))
        build = Step(name="build", pubkeys=[functionary_key(self.builder).keyid], threshold=1)
        build.expected_products = [["CREATE", "image/manifest"], ["DISALLOW", "*"]]
        gate = Step(name="gate", pubkeys=[functionary_key(self.gate).keyid], threshold=1)
        gate.expected_materials = [
            ["MATCH", "image/manifest", "WITH", "PRODUCTS", "FROM", "build"],
            ["DISALLOW", "image/manifest"],
            ["ALLOW", "*"],
        ]
        gate.expected_products = [["ALLOW", "*"]]
        layout.steps = [build, gate]
        metablock = Metablock(signed=layout)
        metablock.create_signature(CryptoSigner(self.owner.key, functionary_key(self.owner)))
        metablock.dump(str(self.layout))

    def build_link(self, digest: str) -> Path:
        return write_link(
            self.links,
            self.builder,
            materials={},
            products={"image/manifest": digest},
            command=["build"],
            step="build",
        )

    def gate_link(self, digest: str, *, key: SigningKey | None = None) -> Path:
        return write_link(
            self.links,
            key or self.gate,
            materials={"image/manifest": digest, "policy": POLICY_DIGEST},
            products={"att/sha256-x.att": "sha256:" + hashlib.sha256(b"att").hexdigest()},
            command=["gate", "run"],
        )

    def verify(self, image: Pushed) -> tuple[int, dict, str]:
        result = run_gate(
            "verify",
            image.reference,
            "--key",
            str(self.directory / "release.pub"),
            "--in-toto-layout",
            str(self.layout),
            "--layout-key",
            str(self.directory / "owner.pub"),
            "--links",
            str(self.links),
            "--format",
            "json",
        )
        return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {}, result.stderr


@pytest.fixture
def chain(tmp_path: Path) -> SupplyChain:
    return SupplyChain(tmp_path, generate_signing_key())


def in_toto(document: dict) -> dict:
    [check] = [c for c in document["checks"] if c["name"] == "in-toto"]
    return check


def test_two_step_layout_passes(registry: RegistryServer, chain: SupplyChain) -> None:
    image = signed_image(registry, chain.gate, [])
    chain.build_link(image.digest)
    chain.gate_link(image.digest)
    code, document, stderr = chain.verify(image)
    assert code == 0, (document, stderr)
    assert in_toto(document)["passed"] and image.digest in in_toto(document)["detail"]


def test_missing_gate_link_fails(registry: RegistryServer, chain: SupplyChain) -> None:
    image = signed_image(registry, chain.gate, [])
    chain.build_link(image.digest)
    code, document, _ = chain.verify(image)
    assert code == 2
    detail = in_toto(document)["detail"]
    assert detail.startswith("in-toto verification failed: LinkNotFoundError") and "'gate'" in detail


def test_gate_link_signed_by_the_wrong_key_fails(registry: RegistryServer, chain: SupplyChain) -> None:
    image = signed_image(registry, chain.gate, [])
    chain.build_link(image.digest)
    forged = chain.gate_link(image.digest, key=generate_signing_key())
    expected_name = f"gate.{functionary_key(chain.gate).keyid[:8]}.link"
    shutil.move(forged, chain.links / expected_name)  # where the real functionary's link belongs
    code, document, _ = chain.verify(image)
    assert code == 2
    detail = in_toto(document)["detail"]
    assert detail.startswith("in-toto verification failed: ThresholdVerificationError")
    assert "links validly signed by different authorized functionaries" in detail


def test_gate_link_naming_another_digest_fails(registry: RegistryServer, chain: SupplyChain) -> None:
    image = signed_image(registry, chain.gate, [])
    other = "sha256:" + hashlib.sha256(b"another image").hexdigest()
    chain.build_link(image.digest)
    chain.gate_link(other)
    code, document, _ = chain.verify(image)
    assert code == 2
    detail = in_toto(document)["detail"]
    assert (
        detail.startswith("in-toto verification failed: RuleVerificationError") and "image/manifest" in detail
    )


def test_a_whole_chain_about_another_image_does_not_vouch_for_this_one(
    registry: RegistryServer, chain: SupplyChain
) -> None:
    image = signed_image(registry, chain.gate, [])
    other = "sha256:" + hashlib.sha256(b"another image").hexdigest()
    chain.build_link(other)
    chain.gate_link(other)
    code, document, _ = chain.verify(image)
    assert code == 2
    assert in_toto(document)["detail"] == (
        f"the layout verified, but the 'gate' step's link is about another image: its materials name "
        f"{other}, {POLICY_DIGEST}, not {image.digest}"
    )


def test_incomplete_or_unusable_layout_options_are_errors(
    registry: RegistryServer, chain: SupplyChain, tmp_path: Path
) -> None:
    image = signed_image(registry, chain.gate, [])
    key = str(chain.directory / "release.pub")
    partial = run_gate("verify", image.reference, "--key", key, "--in-toto-layout", str(chain.layout))
    assert (
        partial.returncode == 1
        and "needs all of --in-toto-layout, --layout-key and --links" in partial.stderr
    )
    link = chain.build_link(image.digest)
    not_layout = run_gate(
        "verify",
        image.reference,
        "--key",
        key,
        "--in-toto-layout",
        str(link),
        "--layout-key",
        str(chain.directory / "owner.pub"),
        "--links",
        str(chain.links),
    )
    assert not_layout.returncode == 1 and "is not an in-toto layout" in not_layout.stderr


def test_promote_takes_the_layout_too(registry: RegistryServer, chain: SupplyChain) -> None:
    image = signed_image(registry, chain.gate, [])
    chain.build_link(image.digest)
    layout_args = [
        "--key",
        str(chain.directory / "release.pub"),
        "--in-toto-layout",
        str(chain.layout),
        "--layout-key",
        str(chain.directory / "owner.pub"),
        "--links",
        str(chain.links),
        "--dry-run",
        "--format",
        "json",
    ]
    destination = f"{registry.host}/prod/{image.digest[7:17]}"
    refused = run_gate("promote", image.reference, destination, *layout_args)
    assert refused.returncode == 2
    assert "LinkNotFoundError" in " ".join(json.loads(refused.stdout)["verification"]["reasons"])
    chain.gate_link(image.digest)
    allowed = run_gate("promote", image.reference, destination, *layout_args)
    assert allowed.returncode == 0, allowed.stdout
