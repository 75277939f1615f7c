"""Tamper cases of docs/security.md's table that tests/test_verify*.py do not already cover."""

from __future__ import annotations

import pytest

from gate.image.build import LayerBuilder, build_image
from gate.sign.keys import SigningKey, generate_signing_key
from tests.servers import RegistryServer
from tests.signed_images import signed_image
from tests.test_verify import failed, verify


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return generate_signing_key()


def test_modified_layer_is_an_unsigned_image(
    registry: RegistryServer, key: SigningKey, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A changed layer changes the manifest's digest: the tag now names an image nobody signed."""
    public_key = tmp_path_factory.mktemp("keys") / "release.pub"
    public_key.write_bytes(key.public_key.pem())
    image = signed_image(registry, key)
    assert verify(image.reference, "--key", str(public_key), "--require", "sbom")[0] == 0
    tampered = LayerBuilder().add_file("etc/marker", b"tampered after signing").build()
    new_digest = build_image([tampered]).push(image.repository, tag="v1")  # the same tag, moved
    code, document, _ = verify(image.reference, "--key", str(public_key), "--require", "sbom")
    assert code == 2
    assert document["digest"] == new_digest != image.digest
    assert f"no signature is attached to {new_digest}" in failed(document, "signature")
