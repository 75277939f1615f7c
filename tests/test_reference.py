"""Image reference parsing: docker's normalisation rules and gate's transports."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.errors import ReferenceError_
from gate.image.reference import ArchiveRef, DirRef, LayoutRef, RegistryRef, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ubuntu", RegistryRef("docker.io", "library/ubuntu", "latest")),
        ("ubuntu:22.04", RegistryRef("docker.io", "library/ubuntu", "22.04")),
        ("bitnami/redis", RegistryRef("docker.io", "bitnami/redis", "latest")),
        ("docker.io/ubuntu", RegistryRef("docker.io", "library/ubuntu", "latest")),
        ("index.docker.io/library/ubuntu:1", RegistryRef("docker.io", "library/ubuntu", "1")),
        ("ghcr.io/org/app:v1.2.3", RegistryRef("ghcr.io", "org/app", "v1.2.3")),
        ("localhost/app", RegistryRef("localhost", "app", "latest")),
        ("localhost:5000/team/app:dev", RegistryRef("localhost:5000", "team/app", "dev")),
        ("127.0.0.1:5000/app@" + DIGEST, RegistryRef("127.0.0.1:5000", "app", None, DIGEST)),
        ("reg.example/a/b/c:t@" + DIGEST, RegistryRef("reg.example", "a/b/c", "t", DIGEST)),
        ("docker://quay.io/x/y", RegistryRef("quay.io", "x/y", "latest")),
        ("[::1]:5000/app", RegistryRef("[::1]:5000", "app", "latest")),
        ("a__b/c-d.e", RegistryRef("docker.io", "a__b/c-d.e", "latest")),
    ],
)
def test_registry_references(text: str, expected: RegistryRef) -> None:
    assert parse_reference(text) == expected


def test_registry_reference_string_forms() -> None:
    ref = parse_reference("ubuntu:22.04")
    assert str(ref) == "docker.io/library/ubuntu:22.04"
    assert ref.api_host == "registry-1.docker.io"
    pinned = ref.with_digest(DIGEST)
    assert str(pinned) == f"docker.io/library/ubuntu:22.04@{DIGEST}"
    assert pinned.reference == DIGEST
    assert pinned.name == "docker.io/library/ubuntu"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci:layout", LayoutRef(Path("layout"))),
        ("oci:layout:v1", LayoutRef(Path("layout"), "v1")),
        ("oci:/abs/path/layout:v1", LayoutRef(Path("/abs/path/layout"), "v1")),
        ("oci:layout@" + DIGEST, LayoutRef(Path("layout"), None, DIGEST)),
        ("oci:c:/x", LayoutRef(Path("c:/x"))),
        ("docker-archive:image.tar", ArchiveRef(Path("image.tar"))),
        ("dir:/rootfs", DirRef(Path("/rootfs"))),
    ],
)
def test_transport_references(text: str, expected: object) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        (" ubuntu", "surrounded by spaces"),
        ("Ubuntu", "must be lowercase"),
        ("app:bad tag", "bad tag"),
        ("app@sha256:short", "malformed sha256 digest"),
        ("app@md5:" + "0" * 32, "unsupported digest algorithm 'md5'"),
        ("oci:", "missing path"),
        ("dir:", "missing path"),
        ("a/" + "b" * 260, "longer than 255"),
        ("app:" + "t" * 200, "bad tag"),
    ],
)
def test_invalid_references(text: str, message: str) -> None:
    with pytest.raises(ReferenceError_, match=message):
        parse_reference(text)
