"""One real Debian 12 root filesystem per test session (debootstrap), shared by every test that needs it.

``debootstrap --variant=minbase bookworm`` takes about a minute and needs root and the Debian
mirror; tests using it FAIL (never skip) when either is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gate.image import OciLayout
from gate.image.build import build_image, layer_from_directory

MIRROR = os.environ.get("GATE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
QUERY_FORMAT = "${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n"

Row = tuple[str, str, str, str, str]  # name, version, arch, source name, source version


@dataclass(frozen=True)
class Debootstrapped:
    root: Path  # the tree on disk (ground truth for dpkg-query)
    layout: Path  # the same tree as a one-layer OCI layout, tag "bookworm"

    @property
    def reference(self) -> str:
        return f"oci:{self.layout}:bookworm"


def debootstrap_bookworm(base: Path) -> Debootstrapped:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        pytest.fail(
            "debootstrap is not installed: run `apt-get install debootstrap` (these tests never skip)"
        )
    if os.geteuid() != 0:
        pytest.fail("debootstrap needs root: run these tests as root (e.g. in the CI container)")
    root = base / "rootfs"
    result = subprocess.run(
        [debootstrap, "--variant=minbase", "bookworm", str(root), MIRROR],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"debootstrap failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    layout = base / "layout"
    build_image([layer_from_directory(root)], history=["debootstrap --variant=minbase bookworm"]).push(
        OciLayout.create(layout), tag="bookworm"
    )
    return Debootstrapped(root, layout)


def dpkg_query_rows(root: Path) -> set[Row]:
    """Ground truth: every installed package as dpkg itself reports it."""
    result = subprocess.run(
        ["dpkg-query", "--admindir", str(root / "var/lib/dpkg"), "-W", "-f", QUERY_FORMAT],
        capture_output=True,
        text=True,
        check=True,
    )
    return {tuple(line.split("\t")) for line in result.stdout.splitlines()}  # type: ignore[misc]  # dpkg-query prints every QUERY_FORMAT field
