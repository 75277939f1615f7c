"""Tests for the on-disk image sources: OCI layouts, ``docker save`` archives, ``dir:`` trees."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gate.errors import GateError, ImageFormatError, IntegrityError, NotFoundError
from gate.image.build import LayerBuilder, build_image, build_index
from gate.image.digest import digest_of
from gate.image.filesystem import Kind, Location
from gate.image.image import DirImage, Image, open_image
from gate.image.layout import REF_NAME, OciLayout
from gate.image.manifest import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    EMPTY_JSON,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    Index,
    Platform,
    canonical_json,
)
from gate.image.reference import ArchiveRef, DirRef, LayoutRef
from tests.helpers import docker_archive, opened

SIG_TYPE = "application/vnd.example.signature.v1"
SBOM_TYPE = "application/vnd.example.sbom.v1"


@pytest.fixture(autouse=True)
def spool_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "spool"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    yield root
    assert list(root.iterdir()) == [], "a spool directory was left behind"


def small_image(name: str, content: bytes, **kwargs: Any) -> Any:
    return build_image([LayerBuilder().add_file(name, content).build()], **kwargs)


def one_line(error: pytest.ExceptionInfo[GateError]) -> str:
    message = str(error.value)
    assert message
    assert "\n" not in message
    return message


def read_index(root: Path) -> dict[str, Any]:
    return json.loads((root / "index.json").read_bytes())


def stray_files(root: Path) -> list[str]:
    """Temporary files an interrupted atomic write would leave."""
    return sorted(p.name for p in root.rglob(".*") if p.is_file())


# -- OCI layout: writing and reading --------------------------------------------------------


def test_layout_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    built = build_image(
        [
            LayerBuilder().add_file("etc/os-release", b"ID=round-trip\n").build(),
            LayerBuilder().add_file("app/run", b"#!/bin/sh\n", mode=0o755).build(),
        ],
        config={"User": "1000", "Env": ["PATH=/usr/bin"]},
        labels={"org.example.team": "gate"},
        platform=Platform("linux", "arm64", "v8"),
    )
    layout = OciLayout.create(root)
    assert built.push(layout, tag="v1") == built.digest

    assert json.loads((root / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    index = read_index(root)
    assert index["schemaVersion"] == 2
    assert index["manifests"] == [
        {
            "mediaType": OCI_MANIFEST,
            "digest": built.digest,
            "size": len(built.manifest),
            "annotations": {REF_NAME: "v1"},
        }
    ]
    for blob in (built.manifest, built.config, *built.layers):
        digest = digest_of(blob)
        path = root / "blobs" / "sha256" / digest.split(":")[1]
        assert path.read_bytes() == blob
        assert layout.blob_path(digest) == path
        assert layout.has_blob(digest)
    assert stray_files(root) == []

    with open_image(f"oci:{root}:v1") as image:
        assert isinstance(image, Image)
        assert image.ref == LayoutRef(root, "v1", built.digest)
        assert str(image.ref) == f"oci:{root}:v1@{built.digest}"
        assert image.digest == built.digest
        assert image.media_type == OCI_MANIFEST
        assert image.manifest.raw == built.manifest
        assert image.config.user == "1000"
        assert image.config.env == ("PATH=/usr/bin",)
        assert image.config.labels == {"org.example.team": "gate"}
        assert image.platform == Platform("linux", "arm64", "v8")
        assert image.index is None
        assert [layer.digest for layer in image.layers] == [digest_of(b) for b in built.layers]
        assert [layer.diff_id for layer in image.layers] == [
            digest_of(gzip.decompress(b)) for b in built.layers
        ]
        with image.filesystem() as fs:
            assert fs.read_bytes("/etc/os-release") == b"ID=round-trip\n"
            run = fs.stat("app/run")
            assert run is not None
            assert run.is_executable
            assert run.location == Location("/app/run", 1, image.layers[1].digest)


def test_create_on_an_existing_layout_keeps_its_images(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    built = small_image("a", b"a")
    built.push(OciLayout.create(root), tag="keep")
    layout = OciLayout.create(root)
    assert layout.list_tags() == ["keep"]
    assert layout.resolve("keep").digest == built.digest


def test_tags_listing_and_retagging(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    layout = OciLayout.create(root)
    first, second = small_image("a", b"first"), small_image("a", b"second")
    assert layout.list_tags() == []
    first.push(layout, tag="v1")
    second.push(layout, tag="v2")
    first.push(layout, tag="latest")
    assert layout.list_tags() == ["latest", "v1", "v2"]
    assert layout.resolve("v1").digest == first.digest
    assert layout.resolve("latest").digest == first.digest
    assert layout.resolve("v2").digest == second.digest

    # moving a tag replaces its entry instead of adding a second one
    second.push(layout, tag="v1")
    assert layout.resolve("v1").digest == second.digest
    assert layout.list_tags() == ["latest", "v1", "v2"]
    assert len(read_index(root)["manifests"]) == 3

    # an untagged push is listed once however often it is repeated
    third = small_image("a", b"third")
    third.push(layout)
    third.push(layout)
    untagged = [m for m in read_index(root)["manifests"] if "annotations" not in m]
    assert [m["digest"] for m in untagged] == [third.digest]
    assert stray_files(root) == []

    with opened(f"oci:{root}:v1") as (image, fs):
        assert image.digest == second.digest
        assert fs.read_bytes("a") == b"second"


def test_resolve_by_digest(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    layout = OciLayout.create(root)
    first, second = small_image("a", b"first"), small_image("a", b"second")
    first.push(layout, tag="v1")
    second.push(layout, tag="v2")
    with opened(f"oci:{root}@{first.digest}") as (image, fs):
        assert image.digest == first.digest
        assert image.ref == LayoutRef(root, None, first.digest)
        assert fs.read_bytes("a") == b"first"
    # a digest wins over a tag
    with open_image(f"oci:{root}:v2@{first.digest}") as image:
        assert image.digest == first.digest

    # a manifest stored as a blob but not listed in index.json is still found by digest
    unlisted = small_image("a", b"unlisted")
    for blob in (*unlisted.layers, unlisted.config, unlisted.manifest):
        layout.push_blob(blob)
    assert unlisted.digest not in {m["digest"] for m in read_index(root)["manifests"]}
    descriptor = layout.resolve(unlisted.digest)
    assert (descriptor.media_type, descriptor.digest, descriptor.size) == (
        OCI_MANIFEST,
        unlisted.digest,
        len(unlisted.manifest),
    )
    with opened(f"oci:{root}@{unlisted.digest}") as (_, fs):
        assert fs.read_bytes("a") == b"unlisted"

    missing = digest_of(b"nothing")
    with pytest.raises(NotFoundError) as error:
        open_image(f"oci:{root}@{missing}")
    assert f"blob {missing} not found" in one_line(error)
    with pytest.raises(NotFoundError) as error:
        open_image(f"oci:{root}:nope")
    assert one_line(error) == f"oci:{root}: tag 'nope' not found"


def test_single_image_without_a_tag(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    built = small_image("a", b"only")
    built.push(OciLayout.create(root))
    assert OciLayout.open(root).resolve(None).digest == built.digest
    with opened(f"oci:{root}") as (image, fs):
        assert image.digest == built.digest
        assert image.ref == LayoutRef(root, None, built.digest)
        assert fs.read_bytes("a") == b"only"

    # a single tagged image is also found without naming the tag
    root2 = tmp_path / "layout2"
    built.push(OciLayout.create(root2), tag="v1")
    with open_image(f"oci:{root2}") as image:
        assert image.digest == built.digest


def test_several_images_without_a_tag_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    layout = OciLayout.create(root)
    small_image("a", b"1").push(layout, tag="v1")
    small_image("a", b"2").push(layout, tag="v2")
    small_image("a", b"3").push(layout)
    with pytest.raises(ImageFormatError) as error:
        open_image(f"oci:{root}")
    assert one_line(error) == f"oci:{root} holds 3 images; name one (tags: v1, v2)"


def test_empty_layout_without_a_tag_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    OciLayout.create(root)
    with pytest.raises(ImageFormatError) as error:
        open_image(f"oci:{root}")
    assert one_line(error) == f"oci:{root} holds 0 images; name one (tags: none)"


def test_multi_platform_index_in_a_layout(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    layout = OciLayout.create(root)
    amd64 = small_image("arch", b"amd64", platform=Platform("linux", "amd64"))
    arm64 = small_image("arch", b"arm64", platform=Platform("linux", "arm64", "v8"))
    for image in (amd64, arm64):
        for blob in (*image.layers, image.config, image.manifest):
            layout.push_blob(blob)
    index_raw = build_index({Platform("linux", "amd64"): amd64, Platform("linux", "arm64", "v8"): arm64})
    layout.push_manifest(index_raw, media_type=OCI_INDEX, tag="multi")
    for platform, expected in (("linux/arm64", b"arm64"), ("linux/amd64", b"amd64")):
        with opened_platform(f"oci:{root}:multi", platform) as (image, content):
            assert image.digest == digest_of(index_raw)
            assert image.media_type == OCI_INDEX
            assert image.manifest.digest == (arm64 if expected == b"arm64" else amd64).digest
            assert content == expected
    with pytest.raises(ImageFormatError) as error:
        open_image(f"oci:{root}:multi", platform="linux/s390x")
    assert "no image for platform linux/s390x" in one_line(error)
    assert "offered: linux/amd64, linux/arm64/v8" in one_line(error)


class opened_platform:  # a tiny context manager for the test above
    def __init__(self, reference: str, platform: str) -> None:
        image = open_image(reference, platform=platform)
        assert isinstance(image, Image)
        self.image = image
        self.fs = image.filesystem()

    def __enter__(self) -> tuple[Image, bytes]:
        return self.image, self.fs.read_bytes("arch")

    def __exit__(self, *exc: object) -> None:
        self.fs.close()
        self.image.close()


# -- referrers ------------------------------------------------------------------------------


def artifact(subject_digest: str, subject_size: int, artifact_type: str, payload: bytes) -> bytes:
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": OCI_EMPTY, "digest": digest_of(EMPTY_JSON), "size": 2},
            "layers": [
                {"mediaType": "application/octet-stream", "digest": digest_of(payload), "size": len(payload)}
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": subject_size},
            "annotations": {"org.example.note": artifact_type},
        }
    )


def test_push_manifest_with_subject_maintains_the_referrers_index(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    layout = OciLayout.create(root)
    image = small_image("a", b"a")
    image.push(layout, tag="v1")
    referrers_tag = "sha256-" + image.digest.split(":")[1]
    assert layout.referrers(image.digest) == []

    layout.push_blob(EMPTY_JSON)
    layout.push_blob(b"signature")
    signature = artifact(image.digest, len(image.manifest), SIG_TYPE, b"signature")
    descriptor = layout.push_manifest(signature, media_type=OCI_MANIFEST)
    assert descriptor.digest == digest_of(signature)

    found = layout.referrers(image.digest)
    assert [(d.media_type, d.digest, d.size, d.artifact_type) for d in found] == [
        (OCI_MANIFEST, digest_of(signature), len(signature), SIG_TYPE)
    ]
    assert found[0].annotations == {"org.example.note": SIG_TYPE}
    assert layout.list_tags() == [referrers_tag, "v1"]
    # the artifact itself is reachable through the referrers index only, not as a listed image
    listed = {m["digest"] for m in read_index(root)["manifests"]}
    assert digest_of(signature) not in listed
    assert layout.has_blob(digest_of(signature))

    # pushing the same artifact again does not duplicate it
    layout.push_manifest(signature, media_type=OCI_MANIFEST)
    assert [d.digest for d in layout.referrers(image.digest)] == [digest_of(signature)]

    layout.push_blob(b"sbom")
    sbom = artifact(image.digest, len(image.manifest), SBOM_TYPE, b"sbom")
    layout.push_manifest(sbom, media_type=OCI_MANIFEST)
    assert [d.digest for d in layout.referrers(image.digest)] == [digest_of(signature), digest_of(sbom)]
    assert [d.digest for d in layout.referrers(image.digest, SBOM_TYPE)] == [digest_of(sbom)]
    assert layout.referrers(image.digest, "application/other") == []
    assert len([m for m in read_index(root)["manifests"] if m["annotations"][REF_NAME] == referrers_tag]) == 1

    referrers_index = layout.get_document(referrers_tag)
    assert isinstance(referrers_index, Index)
    assert [d.digest for d in referrers_index.manifests] == [digest_of(signature), digest_of(sbom)]
    assert stray_files(root) == []

    # the image is still opened by its tag
    with open_image(f"oci:{root}:v1") as opened_image:
        assert opened_image.digest == image.digest


def test_single_untagged_image_with_a_referrer_opens_without_a_tag(tmp_path: Path) -> None:
    """The referrers index gate writes for a signature is not a second image."""
    root = tmp_path / "layout"
    layout = OciLayout.create(root)
    image = small_image("a", b"signed")
    image.push(layout)
    layout.push_blob(EMPTY_JSON)
    layout.push_blob(b"signature")
    layout.push_manifest(
        artifact(image.digest, len(image.manifest), SIG_TYPE, b"signature"), media_type=OCI_MANIFEST
    )
    assert len(read_index(root)["manifests"]) == 2
    with opened(f"oci:{root}") as (opened_image, fs):
        assert opened_image.digest == image.digest
        assert fs.read_bytes("a") == b"signed"


def test_artifact_is_not_opened_as_an_image(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    layout = OciLayout.create(root)
    image = small_image("a", b"a")
    image.push(layout, tag="v1")
    layout.push_blob(EMPTY_JSON)
    layout.push_blob(b"signature")
    signature = artifact(image.digest, len(image.manifest), SIG_TYPE, b"signature")
    layout.push_manifest(signature, media_type=OCI_MANIFEST, tag="sig")
    with pytest.raises(ImageFormatError) as error:
        open_image(f"oci:{root}:sig")
    assert f"is an artifact ({SIG_TYPE}), not a container image" in one_line(error)
    # pushed with a tag, it is both listed and recorded as a referrer
    assert [d.digest for d in layout.referrers(image.digest)] == [digest_of(signature)]


# -- OCI layout: bad input ------------------------------------------------------------------


def write_index(root: Path, manifests: list[dict[str, Any]]) -> None:
    (root / "index.json").write_bytes(
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
    )


@pytest.fixture
def layout_root(tmp_path: Path) -> Path:
    root = tmp_path / "layout"
    small_image("a", b"a").push(OciLayout.create(root), tag="v1")
    return root


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "blake3"])
def test_unsupported_digest_algorithm_in_index_json(layout_root: Path, algorithm: str) -> None:
    write_index(
        layout_root, [{"mediaType": OCI_MANIFEST, "digest": f"{algorithm}:0123456789abcdef", "size": 10}]
    )
    with pytest.raises(ImageFormatError) as error:
        open_image(f"oci:{layout_root}")
    assert f"unsupported digest algorithm '{algorithm}'" in one_line(error)


@pytest.mark.parametrize(
    "digest",
    ["sha256:../../../../etc/passwd", "sha256:" + "A" * 64, "sha256:" + "0" * 63, "sha256", "../x"],
)
def test_malformed_digest_in_index_json_never_becomes_a_path(layout_root: Path, digest: str) -> None:
    write_index(layout_root, [{"mediaType": OCI_MANIFEST, "digest": digest, "size": 10}])
    with pytest.raises(ImageFormatError) as error:
        open_image(f"oci:{layout_root}")
    assert "digest" in one_line(error)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not valid JSON"),
        (b"\xff\xfe garbage", "is not valid JSON"),
        (b"", "is not valid JSON"),
        (b"[]", "is not a JSON object"),
        (b'{"schemaVersion": 1, "manifests": []}', "unsupported manifest schemaVersion 1"),
        (b'{"schemaVersion": 2, "manifests": {}}', "manifests is not a list"),
        (b'{"schemaVersion": 2, "manifests": [{"digest": 5}]}', "descriptor has no mediaType"),
    ],
)
def test_garbage_index_json(layout_root: Path, content: bytes, message: str) -> None:
    (layout_root / "index.json").write_bytes(content)
    with pytest.raises(ImageFormatError) as error:
        open_image(f"oci:{layout_root}:v1")
    assert message in one_line(error)


def test_missing_index_json_and_layout_marker(layout_root: Path, tmp_path: Path) -> None:
    (layout_root / "index.json").unlink()
    with pytest.raises(ImageFormatError, match=r"has no index\.json"):
        open_image(f"oci:{layout_root}:v1")
    with pytest.raises(NotFoundError, match="is not an OCI image layout"):
        open_image(f"oci:{tmp_path / 'nowhere'}:v1")
    (layout_root / "oci-layout").write_bytes(b'{"imageLayoutVersion": "2.0.0"}')
    with pytest.raises(ImageFormatError, match=r"unsupported imageLayoutVersion '2\.0\.0'"):
        open_image(f"oci:{layout_root}:v1")
    (layout_root / "oci-layout").write_bytes(b"garbage")
    with pytest.raises(ImageFormatError, match="is not valid JSON"):
        open_image(f"oci:{layout_root}:v1")


def big_manifest(config: bytes) -> bytes:
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_MANIFEST, "digest": digest_of(config), "size": len(config)},
            "layers": [],
            "annotations": {"padding": "x" * (4 * 1024 * 1024 + 1)},
        }
    )


def test_manifest_over_4_mib(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    layout = OciLayout.create(root)
    raw = big_manifest(b"{}")
    digest = layout.push_blob(raw).digest
    # listed honestly in index.json
    write_index(root, [{"mediaType": OCI_MANIFEST, "digest": digest, "size": len(raw)}])
    with pytest.raises(ImageFormatError) as error:
        open_image(f"oci:{root}")
    assert f"blob {digest} is {len(raw)} bytes, over {4 * 1024 * 1024}" in one_line(error)
    # not listed: found by digest, still refused
    write_index(root, [])
    with pytest.raises(ImageFormatError) as error:
        open_image(f"oci:{root}@{digest}")
    assert "over 4194304" in one_line(error)
    # listed with a size that lies: at most one byte more than promised is read
    write_index(root, [{"mediaType": OCI_MANIFEST, "digest": digest, "size": 1000}])
    with pytest.raises(IntegrityError) as larger:
        open_image(f"oci:{root}")
    assert "is larger than its descriptor says (1000 bytes)" in one_line(larger)


def test_index_json_over_4_mib(layout_root: Path) -> None:
    (layout_root / "index.json").write_bytes(b" " * (4 * 1024 * 1024 + 1) + b"{}")
    with pytest.raises(ImageFormatError) as error:
        open_image(f"oci:{layout_root}:v1")
    assert "index.json is over the 4194304 byte limit" in one_line(error)


def test_tampered_manifest_and_config_blobs(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    layout = OciLayout.create(root)
    built = small_image("a", b"a")
    built.push(layout, tag="v1")
    config_path = layout.blob_path(digest_of(built.config))
    config_path.write_bytes(built.config.replace(b"amd64", b"arm64"))
    with pytest.raises(IntegrityError) as error:
        open_image(f"oci:{root}:v1")
    assert f"expected {digest_of(built.config)}" in one_line(error)
    config_path.unlink()
    with pytest.raises(NotFoundError, match=f"blob {digest_of(built.config)} not found"):
        open_image(f"oci:{root}:v1")
    manifest_path = layout.blob_path(built.digest)
    tampered = built.manifest.replace(b'"schemaVersion":2', b'"schemaVersion":3')
    assert len(tampered) == len(built.manifest) and tampered != built.manifest
    manifest_path.write_bytes(tampered)
    with pytest.raises(IntegrityError, match="does not match its digest"):
        open_image(f"oci:{root}:v1")


def test_push_blob_with_wrong_digest_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    layout = OciLayout.create(root)
    wrong = digest_of(b"other")
    with pytest.raises(IntegrityError, match="does not match its digest"):
        layout.push_blob(b"content", digest=wrong)
    assert not layout.has_blob(wrong)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 << 20))
    with pytest.raises(IntegrityError):
        layout.push_blob(source, digest=wrong)
    assert not layout.has_blob(wrong)
    assert sorted(p.name for p in (root / "blobs").rglob("*") if p.is_file()) == []
    descriptor = layout.push_blob(source)
    assert descriptor.digest == "sha256:" + hashlib.sha256(source.read_bytes()).hexdigest()
    assert layout.blob_path(descriptor.digest).read_bytes() == source.read_bytes()
    assert stray_files(root) == []


# -- docker-archive -------------------------------------------------------------------------


def archive_layers() -> list[bytes]:
    return [
        LayerBuilder()
        .add_file("etc/os-release", b"ID=archive\n")
        .add_file("etc/old", b"old")
        .add_symlink("bin", "usr/bin")
        .add_file("usr/bin/sh", b"shell", mode=0o755)
        .build(),
        LayerBuilder().add_whiteout("etc/old").add_file("app/main", b"main v2").build(),
    ]


def expected_docker_digest(
    archive: Path, entry: dict[str, Any], layers: list[bytes], blobs: list[bytes]
) -> str:
    config_raw = _member(archive, entry["Config"])
    return digest_of(
        canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": {
                    "mediaType": DOCKER_CONFIG,
                    "digest": digest_of(config_raw),
                    "size": len(config_raw),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar"
                        + (".gzip" if blob != layer else ""),
                        "digest": digest_of(blob),
                        "size": len(blob),
                    }
                    for layer, blob in zip(layers, blobs, strict=True)
                ],
            }
        )
    )


def _member(archive: Path, name: str) -> bytes:
    import tarfile

    with tarfile.open(archive) as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read()


def test_docker_archive(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    layers = archive_layers()
    entry = docker_archive(path, layers, config={"User": "app", "Cmd": ["/app/main"]})
    config_raw = _member(path, entry["Config"])
    digest = expected_docker_digest(path, entry, layers, layers)
    with opened(f"docker-archive:{path}") as (image, fs):
        assert image.digest == digest
        assert image.ref == ArchiveRef(path, digest)
        assert image.media_type == DOCKER_MANIFEST
        assert image.manifest.config.digest == digest_of(config_raw)
        assert image.manifest.config.media_type == DOCKER_CONFIG
        assert [(layer.digest, layer.size, layer.diff_id) for layer in image.layers] == [
            (digest_of(layer), len(layer), digest_of(layer)) for layer in layers
        ]
        assert image.config.user == "app"
        assert image.config.cmd == ("/app/main",)
        assert fs.layer_digests == [digest_of(layer) for layer in layers]
        assert fs.read_bytes("etc/os-release") == b"ID=archive\n"
        assert fs.read_bytes("/bin/sh") == b"shell"
        assert fs.stat("etc/old") is None
        main = fs.stat("app/main")
        assert main is not None
        assert main.location == Location("/app/main", 1, digest_of(layers[1]))
    # the digest is a property of the content: stable across opens
    with open_image(f"docker-archive:{path}") as again:
        assert again.digest == digest


def test_docker_archive_with_a_gzip_layer(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    layers = archive_layers()
    entry = docker_archive(path, layers, compress=[1])
    blob = gzip.compress(layers[1], mtime=0)
    assert entry["Layers"][1] == f"blobs/sha256/{hashlib.sha256(blob).hexdigest()}"
    with opened(f"docker-archive:{path}") as (image, fs):
        assert image.digest == expected_docker_digest(path, entry, layers, [layers[0], blob])
        second = image.layers[1]
        assert (second.descriptor.media_type, second.digest, second.size, second.diff_id) == (
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            digest_of(blob),
            len(blob),
            digest_of(layers[1]),
        )
        assert fs.read_bytes("app/main") == b"main v2"
        assert fs.stat("etc/old") is None


def test_docker_archive_gzip_layer_under_a_legacy_name(tmp_path: Path) -> None:
    """A gzipped ``<id>/layer.tar`` (not named by its digest) is hashed to find its digest."""
    import tarfile

    path = tmp_path / "image.tar"
    layers = archive_layers()
    entry = docker_archive(path, layers)
    rewritten = tmp_path / "rewritten.tar"
    with tarfile.open(path) as source, tarfile.open(rewritten, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == entry["Layers"][0]:
                data = gzip.compress(data, mtime=0)
                member.size = len(data)
            target.addfile(member, io_bytes(data))
    with opened(f"docker-archive:{rewritten}") as (image, fs):
        assert image.layers[0].digest == digest_of(gzip.compress(layers[0], mtime=0))
        assert fs.read_bytes("etc/os-release") == b"ID=archive\n"


def io_bytes(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def test_docker_archive_layer_not_matching_its_diff_id(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    layers = archive_layers()
    wrong = [digest_of(layers[0]), digest_of(b"not the layer")]
    docker_archive(path, layers, diff_ids=wrong)
    with open_image(f"docker-archive:{path}") as image, pytest.raises(IntegrityError) as error:
        image.filesystem()
    assert f"expected {wrong[1]}" in one_line(error)


@pytest.mark.parametrize(
    ("omit", "message"), [(1, "layer "), ("config", ".json is missing from the archive")]
)
def test_docker_archive_missing_member(tmp_path: Path, omit: int | str, message: str) -> None:
    path = tmp_path / "image.tar"
    entry = docker_archive(path, archive_layers(), omit=[omit])
    with pytest.raises(ImageFormatError) as error:
        open_image(f"docker-archive:{path}")
    text = one_line(error)
    assert message in text
    if omit == 1:
        assert text == f"docker-archive:{path}: layer {entry['Layers'][1]} is missing from the archive"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("two", "expected exactly one image in manifest.json, found 2"),
        ([], "expected exactly one image in manifest.json, found 0"),
        ({"Config": "x"}, "expected exactly one image in manifest.json, found no"),
        (["x"], "expected exactly one image in manifest.json, found 1"),
        ([{"Config": 1, "Layers": []}], "manifest.json entry lacks Config or Layers"),
    ],
)
def test_docker_archive_bad_manifest_json(tmp_path: Path, entries: Any, message: str) -> None:
    path = tmp_path / "image.tar"
    if entries == "two":
        first = docker_archive(tmp_path / "scratch.tar", archive_layers())
        entries = [first, {**first, "RepoTags": ["example/other:1"]}]
    docker_archive(path, archive_layers(), entries=entries)
    with pytest.raises(ImageFormatError) as error:
        open_image(f"docker-archive:{path}")
    assert one_line(error) == f"docker-archive:{path}: {message}"


def test_docker_archive_config_and_manifest_disagree_on_layer_count(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    layers = archive_layers()
    docker_archive(path, layers, diff_ids=[digest_of(layers[0])])
    with pytest.raises(ImageFormatError, match=r"config lists 1 layers, manifest\.json 2"):
        open_image(f"docker-archive:{path}")


def test_docker_archive_not_an_archive(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        open_image(f"docker-archive:{tmp_path / 'missing.tar'}")
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(ImageFormatError) as error:
        open_image(f"docker-archive:{junk}")
    assert "is not a readable tar archive" in one_line(error)
    no_manifest = tmp_path / "empty.tar"
    docker_archive(no_manifest, archive_layers())
    import tarfile

    with tarfile.open(no_manifest) as source, tarfile.open(tmp_path / "stripped.tar", "w") as target:
        for member in source.getmembers():
            if member.name != "manifest.json":
                target.addfile(member, source.extractfile(member))
    with pytest.raises(ImageFormatError, match=r"manifest\.json is missing from the archive"):
        open_image(f"docker-archive:{tmp_path / 'stripped.tar'}")


def test_docker_archive_is_closed_when_it_cannot_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tarfile

    opened_tars: list[tarfile.TarFile] = []
    original = tarfile.open

    def spy(*args: Any, **kwargs: Any) -> tarfile.TarFile:
        tar = original(*args, **kwargs)
        opened_tars.append(tar)
        return tar

    path = tmp_path / "image.tar"
    docker_archive(path, archive_layers(), omit=[0])
    monkeypatch.setattr(tarfile, "open", spy)
    with pytest.raises(ImageFormatError):
        open_image(f"docker-archive:{path}")
    assert opened_tars
    assert all(tar.closed for tar in opened_tars)  # type: ignore[attr-defined]  # set by close(), not in the stubs


def test_docker_archive_is_closed_with_the_image(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    docker_archive(path, archive_layers())
    image = open_image(f"docker-archive:{path}")
    assert isinstance(image, Image)
    store = image.store
    image.close()
    assert store._tar.closed  # type: ignore[attr-defined]  # the archive handle the store holds open


# -- dir: -----------------------------------------------------------------------------------


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "etc" / "os-release").write_bytes(b"ID=dir\n")
    (root / "usr" / "bin" / "tool").write_bytes(b"tool")
    (root / "usr" / "bin" / "tool").chmod(0o755)
    os.symlink("/etc/passwd", root / "x")
    os.symlink("../../../../../../../../etc/hostname", root / "etc" / "hostname-link")
    os.symlink("/", root / "hostroot")
    os.symlink("usr/bin", root / "bin")
    return root


def test_dir_symlink_out_of_the_root_never_reads_the_host(rootfs: Path) -> None:
    host_passwd = Path("/etc/passwd").read_bytes()
    with open_image(f"dir:{rootfs}") as image:
        assert isinstance(image, DirImage)
        fs = image.filesystem()
        link = fs.entry("x")
        assert link is not None
        assert (link.kind, link.link_target) == (Kind.SYMLINK, "/etc/passwd")
        assert fs.stat("x") is None
        assert fs.stat("hostroot/etc/passwd") is None
        assert fs.stat("etc/hostname-link") is None
        for path in ("x", "hostroot/etc/passwd", "etc/hostname-link", "hostroot/etc/hostname"):
            with pytest.raises(GateError, match="no such file in the image"):
                fs.read_bytes(path)
        assert [e.path for e in fs.files()] == ["etc/os-release", "usr/bin/tool"]
        assert all(fs.read_bytes(e) != host_passwd for e in fs.files())

    # once the tree has its own /etc/passwd, the links read that
    (rootfs / "etc" / "passwd").write_bytes(b"root:x:0:0:tree:/:/bin/sh\n")
    (rootfs / "etc" / "hostname").write_bytes(b"tree-host\n")
    with open_image(f"dir:{rootfs}") as image:
        assert isinstance(image, DirImage)
        fs = image.filesystem()
        assert fs.read_bytes("x") == b"root:x:0:0:tree:/:/bin/sh\n"
        assert fs.read_bytes("hostroot/etc/passwd") == b"root:x:0:0:tree:/:/bin/sh\n"
        assert fs.read_bytes("etc/hostname-link") == b"tree-host\n"


def test_dir_files_and_entries(rootfs: Path) -> None:
    with open_image(f"dir:{rootfs}") as image:
        assert isinstance(image, DirImage)
        assert image.media_type == "directory"
        assert image.ref == DirRef(rootfs, image.digest)
        fs = image.filesystem()
        tool = fs.stat("bin/tool")
        assert tool is not None
        assert (tool.path, tool.kind, tool.size, tool.is_executable) == ("usr/bin/tool", Kind.FILE, 4, True)
        assert tool.location == Location("/usr/bin/tool", 0, "dir")
        assert fs.read_bytes("/bin/tool") == b"tool"
        assert fs.read_bytes("etc/os-release", limit=3) == b"ID="
        assert [e.path for e in fs.walk()] == [
            "bin",
            "etc",
            "etc/hostname-link",
            "etc/os-release",
            "hostroot",
            "usr",
            "usr/bin",
            "usr/bin/tool",
            "x",
        ]
        with pytest.raises(GateError, match="not a regular file"):
            fs.read_bytes("etc")


def test_dir_digest(rootfs: Path) -> None:
    def digest() -> str:
        with open_image(f"dir:{rootfs}") as image:
            return image.digest

    first = digest()
    assert first.startswith("sha256:")
    assert len(first) == len("sha256:") + 64
    assert digest() == first
    # timestamps are not content
    os.utime(rootfs / "etc" / "os-release", (1, 1))
    assert digest() == first

    (rootfs / "etc" / "os-release").write_bytes(b"ID=dis\n")  # same size, other content
    changed = digest()
    assert changed != first
    (rootfs / "etc" / "os-release").write_bytes(b"ID=dir\n")
    assert digest() == first

    (rootfs / "x").unlink()
    os.symlink("/etc/shadow", rootfs / "x")
    assert digest() not in (first, changed)
    (rootfs / "x").unlink()
    os.symlink("/etc/passwd", rootfs / "x")
    assert digest() == first

    (rootfs / "usr" / "bin" / "tool").chmod(0o644)
    assert digest() != first
    (rootfs / "usr" / "bin" / "tool").chmod(0o755)
    (rootfs / "new").write_bytes(b"")
    assert digest() != first


def test_dir_file_swapped_for_a_symlink_after_listing_is_refused(rootfs: Path, tmp_path: Path) -> None:
    host = tmp_path / "host"
    (host / "bin").mkdir(parents=True)
    (host / "bin" / "tool").write_bytes(b"HOST")
    (host / "os-release").write_bytes(b"HOST-OS")
    with open_image(f"dir:{rootfs}") as image:
        fs = image.filesystem()
        # the last component becomes a symlink
        (rootfs / "etc" / "os-release").unlink()
        os.symlink(host / "os-release", rootfs / "etc" / "os-release")
        with pytest.raises(GateError) as error:
            fs.read_bytes("etc/os-release")
        assert "cannot read" in one_line(error)
        # an intermediate directory becomes a symlink
        shutil.rmtree(rootfs / "usr")
        os.symlink(host, rootfs / "usr")
        with pytest.raises(GateError) as error:
            fs.read_bytes("usr/bin/tool")
        assert "cannot read" in one_line(error)


def test_dir_missing(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="is not a directory"):
        open_image(f"dir:{tmp_path / 'missing'}")


def test_untagged_reference_still_works_after_cosign_tags_are_added(tmp_path: Path) -> None:
    from gate.image.build import LayerBuilder, build_image
    from gate.image.layout import OciLayout

    layout = OciLayout.create(tmp_path / "one")
    built = build_image([LayerBuilder().add_file("a", b"a").build()])
    built.push(layout)
    hex_digest = built.digest.split(":")[1]
    for suffix in ("sig", "att", "sbom"):
        other = build_image([LayerBuilder().add_file(suffix, b"x").build()])
        other.push(layout, tag=f"sha256-{hex_digest}.{suffix}")
    assert layout.resolve(None).digest == built.digest
