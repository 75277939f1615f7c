"""The built-in sample image the demo runs on, built from the files beside this module.

Two layers: ``rootfs/base`` (a Debian-like base that also ships ``etc/motd``) and
``rootfs/app`` (an application that deletes ``etc/motd`` with a whiteout, so layer
merging shows in the demo).
"""

from __future__ import annotations

from pathlib import Path

from gate.image.build import BuiltImage, LayerBuilder, build_image
from gate.image.layout import OciLayout

ROOTFS = Path(__file__).parent / "rootfs"
SAMPLE_TAG = "demo"
EXECUTABLE_DIRS = ("usr/local/bin/",)


def _layer_from(
    directory: Path, *, extra: dict[str, bytes] | None = None, whiteouts: tuple[str, ...] = ()
) -> bytes:
    layer = LayerBuilder()
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_dir():
            layer.add_dir(relative)
        else:
            mode = 0o755 if relative.startswith(EXECUTABLE_DIRS) else 0o644
            layer.add_file(relative, path.read_bytes(), mode=mode)
    for relative, data in (extra or {}).items():
        layer.add_file(relative, data)
    for target in whiteouts:
        layer.add_whiteout(target)
    return layer.build()


def build_sample() -> BuiltImage:
    """The sample image; byte-identical on every machine (fixed mtimes, sorted files)."""
    return build_image(
        [
            _layer_from(ROOTFS / "base", extra={"etc/motd": b"base image motd\n"}),
            _layer_from(ROOTFS / "app", whiteouts=("etc/motd",)),
        ],
        config={
            "User": "1000",
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "APP_MODE=demo"],
            "Entrypoint": ["/usr/local/bin/hello"],
            "WorkingDir": "/app",
            "ExposedPorts": {"8080/tcp": {}},
        },
        labels={"org.opencontainers.image.title": "gate sample"},
        history=["ADD rootfs/base /", "ADD rootfs/app /"],
    )


ADVISORIES = Path(__file__).parent / "osv"


def write_sample_layout(directory: Path) -> str:
    """Write the sample image into an OCI layout; return its ``oci:`` reference."""
    build_sample().push(OciLayout.create(directory), tag=SAMPLE_TAG)
    return f"oci:{directory}:{SAMPLE_TAG}"
