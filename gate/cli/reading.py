"""Where image commands get their packages: an image read once (with a progress line), or an SBOM file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from gate.image import DirImage, FileSystem, Image, RegistryClient
    from gate.image.base import BaseImage
    from gate.model import Catalog


@dataclass(frozen=True)
class ReadImage:
    image: Image | DirImage
    fs: FileSystem
    base: BaseImage | None  # the declared (or given) base image, checked against its real layers
    client: RegistryClient


@contextlib.contextmanager
def read_image(
    reference: str, *, platform: str | None, insecure: list[str] | None, base_reference: str | None = None
) -> Iterator[ReadImage]:
    """Pin and open the image, build its filesystem (one progress stage), find its base image."""
    from gate.cli.options import registry_client
    from gate.cli.progress import stage
    from gate.image import open_image
    from gate.image.base import find_base_image

    client = registry_client(insecure)
    with open_image(reference, platform=platform, client=client) as image:
        layer_count = len(getattr(image, "layers", ())) or None
        with stage(f"read {layer_count or 1} layer(s) of {image.ref}", total=layer_count) as advance:
            fs = image.filesystem(progress=advance)
        with fs:
            yield ReadImage(
                image, fs, find_base_image(image, reference=base_reference, client=client), client
            )


def read_sbom(path: Path) -> Catalog:
    """The packages of a CycloneDX or SPDX JSON SBOM (gate's, syft's or trivy's)."""
    from gate.errors import GateError
    from gate.sbom import decode

    try:
        return decode(path.read_bytes())
    except OSError as error:
        raise GateError(f"cannot read {path}: {error.strerror}") from error
