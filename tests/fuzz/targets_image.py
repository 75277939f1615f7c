"""Image formats: layer tars (plain, gzip, zstd), manifests and indexes, image configs,
``docker save`` archives."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import tempfile
from pathlib import Path

import zstandard

from gate.image.docker_archive import DockerArchive
from gate.image.filesystem import LayeredFileSystem, LayerSource, SpoolLimits
from gate.image.manifest import parse_config, parse_document
from tests.fuzz.runner import target
from tests.helpers import directory, docker_archive, hardlink, make_tar, reg, symlink

LAYER = "sha256:" + "0" * 64
# small limits so that a mutated bomb stops quickly instead of filling the fuzzer's disk
LIMITS = SpoolLimits(max_image_size=64 * 1024 * 1024, max_ratio=250)


def _tar_seeds() -> list[bytes]:
    return [
        make_tar(
            [directory("etc"), reg("etc/os-release", b"ID=debian\n"), symlink("etc/link", "os-release")]
        ),
        make_tar([reg("a" * 120 + "/long-name", b"x" * 600), hardlink("hard", "a" * 120 + "/long-name")]),
        make_tar([reg("usr/.wh.gone"), reg("opt/.wh..wh..opq"), reg("bin/tool", b"\x7fELF", mode=0o755)]),
    ]


def _read_layer(data: bytes, compression: str) -> None:
    source = LayerSource(0, LAYER, None, compression, lambda: contextlib.nullcontext(io.BytesIO(data)))
    with LayeredFileSystem.build([source], limits=LIMITS) as filesystem:
        for entry in filesystem.files():
            filesystem.read_bytes(entry, limit=4096)


@target("layer-tar", _tar_seeds)
def layer_tar(data: bytes) -> None:
    _read_layer(data, "none")


@target("layer-gzip", lambda: [gzip.compress(seed, mtime=0) for seed in _tar_seeds()])
def layer_gzip(data: bytes) -> None:
    _read_layer(data, "gzip")


@target("layer-zstd", lambda: [zstandard.ZstdCompressor().compress(seed) for seed in _tar_seeds()])
def layer_zstd(data: bytes) -> None:
    _read_layer(data, "zstd")


DIGEST = "sha256:" + "ab" * 32
DESCRIPTOR = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": DIGEST, "size": 32}


def _manifest_seeds() -> list[bytes]:
    oci_manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DIGEST, "size": 2},
        "layers": [DESCRIPTOR],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGEST, "size": 9},
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": DIGEST,
                "size": 400,
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
            }
        ],
    }
    docker = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": DIGEST,
            "size": 7,
        },
        "layers": [{**DESCRIPTOR, "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip"}],
    }
    return [json.dumps(document).encode() for document in (oci_manifest, index, docker)]


@target("manifest", _manifest_seeds)
def manifest(data: bytes) -> object:
    return parse_document(data)


def _config_seeds() -> list[bytes]:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/bin"],
            "User": "1000",
            "ExposedPorts": {"80/tcp": {}},
            "Labels": {"a": "b"},
        },
        "rootfs": {"type": "layers", "diff_ids": [DIGEST]},
        "history": [{"created_by": "/bin/sh -c #(nop) ENV TOKEN=x", "empty_layer": True}],
    }
    return [json.dumps(config).encode()]


@target("image-config", _config_seeds)
def image_config(data: bytes) -> object:
    return parse_config(data)


def _archive_seeds() -> list[bytes]:
    with tempfile.TemporaryDirectory() as directory_name:
        path = Path(directory_name) / "image.tar"
        docker_archive(path, [_tar_seeds()[0]], compress=[0])
        return [path.read_bytes()]


@target("docker-archive", _archive_seeds)
def docker_archive_target(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory_name:
        path = Path(directory_name) / "image.tar"
        path.write_bytes(data)
        archive = DockerArchive(path)
        try:
            document = archive.get_document(archive.manifest.digest)
            parse_config(archive.read_blob(document.config, 1024 * 1024))
        finally:
            archive.close()
