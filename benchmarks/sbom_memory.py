"""Peak memory of `gate sbom` on a synthetic image of at least 2 GiB (target: under 300 MB).

    .venv/bin/python benchmarks/sbom_memory.py [--gib 2] [--keep DIR]

Builds, in a temporary directory, an OCI layout whose uncompressed layers add up to ``--gib``
GiB: four layers of large incompressible files (random bytes) and many small ones, a dpkg
status database, Python METADATA files and package.json files so the catalogers have work.
Then runs `gate sbom` on it in a child process and prints the child's peak RSS (ru_maxrss)
and the wall time. Layers are stored uncompressed so that building the image is quick; gate
still spools every layer to disk and indexes it, which is what the figure measures.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from gate.image.layout import OciLayout
from gate.image.manifest import OCI_CONFIG, OCI_MANIFEST, canonical_json

LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MiB = 1 << 20
LAYERS = 4


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def _packages(tar: tarfile.TarFile, layer: int) -> None:
    status = "".join(
        f"Package: pkg{layer}-{n}\nStatus: install ok installed\nVersion: 1.{n}\nArchitecture: amd64\n\n"
        for n in range(500)
    )
    _add(tar, f"var/lib/dpkg/status.d/layer{layer}", status.encode())
    for n in range(300):
        site = f"usr/lib/python3/dist-packages/p{layer}x{n}-1.0.dist-info/METADATA"
        _add(tar, site, f"Metadata-Version: 2.1\nName: p{layer}x{n}\nVersion: 1.0\n".encode())
        _add(
            tar,
            f"app/node_modules/n{layer}x{n}/package.json",
            json.dumps({"name": f"n{layer}x{n}", "version": "1.0.0"}).encode(),
        )
    for n in range(5000):
        _add(tar, f"usr/share/small/{layer}/{n}.txt", os.urandom(256))


def write_layer(path: Path, layer: int, size: int) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        _packages(tar, layer)
        written, number = 0, 0
        while written < size:
            chunk = os.urandom(min(64 * MiB, size - written))
            _add(tar, f"opt/blob{layer}/{number}.bin", chunk)
            written += len(chunk)
            number += 1


def build(root: Path, total: int) -> tuple[str, int]:
    layout = OciLayout.create(root / "layout")
    descriptors: list[dict[str, object]] = []
    diff_ids: list[str] = []
    for layer in range(LAYERS):
        path = root / f"layer{layer}.tar"
        write_layer(path, layer, total // LAYERS)
        hasher = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(8 * MiB):
                hasher.update(block)
        digest = f"sha256:{hasher.hexdigest()}"
        layout.push_blob(path, digest=digest)
        path.unlink()
        size = layout.blob_path(digest).stat().st_size
        descriptors.append({"mediaType": LAYER_TAR, "digest": digest, "size": size})
        diff_ids.append(digest)
    config = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    )
    layout.push_blob(config)
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                "size": len(config),
            },
            "layers": descriptors,
        }
    )
    layout.push_manifest(manifest, media_type=OCI_MANIFEST, tag="big")
    image_bytes = sum(int(str(d["size"])) for d in descriptors)
    return f"oci:{root / 'layout'}:big", image_bytes


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gate-sbom-memory-") as directory:
        started = time.monotonic()
        reference, image_bytes = build(Path(directory), int(args.gib * 1024 * MiB))
        built = time.monotonic() - started
        gate = Path(sys.executable).with_name("gate")
        started = time.monotonic()
        result = subprocess.run(
            [str(gate), "sbom", reference, "--format", "cyclonedx-json"],
            capture_output=True, check=False,
        )  # fmt: skip
        took = time.monotonic() - started
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        components = len(json.loads(result.stdout).get("components", [])) if result.returncode == 0 else 0
        print("| image (uncompressed layers) | packages found | `gate sbom` wall time | peak RSS | target |")
        print("|---|---:|---:|---:|---|")
        print(
            f"| {image_bytes / 1024**3:.2f} GiB in {LAYERS} layers | {components:,} | {took:.0f} s | "
            f"{peak_mib:.0f} MiB | < 300 MB: {'met' if peak_mib * 1.048576 < 300 else 'MISSED'} |"
        )
        print(f"(image built in {built:.0f} s; gate exited {result.returncode})", file=sys.stderr)
        if result.returncode != 0:
            print(result.stderr.decode()[-2000:], file=sys.stderr)
        return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
