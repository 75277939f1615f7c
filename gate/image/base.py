"""Which of an image's layers came from its base image.

The base image is named by the OCI annotations ``org.opencontainers.image.base.name`` /
``org.opencontainers.image.base.digest`` (on the manifest, or as config labels, which is
where ``docker build --label`` and many CI templates put them), or given explicitly. Its
layers are the longest common prefix of the two images' diff_ids: a layer is "base" only
if the base image really has it, so a wrong or stale annotation can never mark the
application's own layers as inherited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gate.errors import GateError
from gate.image.image import DirImage, Image, open_image
from gate.image.reference import parse_reference
from gate.image.registry import RegistryClient

logger = logging.getLogger(__name__)

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"


@dataclass(frozen=True)
class BaseImage:
    reference: str  # what was opened, pinned
    layer_count: int  # layers [0, layer_count) of the image are the base image's


def declared_base_reference(image: Image) -> str | None:
    """The base image the image declares, pinned by digest when it says which."""
    for source in (image.manifest.annotations, image.config.labels):
        name, digest = source.get(BASE_NAME), source.get(BASE_DIGEST)
        if name and digest:
            return f"{name.split('@', 1)[0]}@{digest}"
        if name:
            return name
    return None


def find_base_image(
    image: Image | DirImage, *, reference: str | None = None, client: RegistryClient | None = None
) -> BaseImage | None:
    """Open the declared (or given) base image and count the layers the two share.

    Returns None when there is no base image to compare with, or it cannot be opened
    (a warning says why): layer attribution is then unknown, never guessed.
    """
    if isinstance(image, DirImage):
        return None
    wanted = reference or declared_base_reference(image)
    if not wanted:
        return None
    try:
        with open_image(parse_reference(wanted), platform=image.platform, client=client) as base:
            if isinstance(base, DirImage):
                return None
            shared = _common_prefix(image.config.diff_ids, base.config.diff_ids)
            return BaseImage(str(base.ref), shared)
    except GateError as error:
        logger.warning("base image %s cannot be read, layer attribution unknown: %s", wanted, error.message)
        return None


def _common_prefix(ours: tuple[str, ...], theirs: tuple[str, ...]) -> int:
    count = 0
    for mine, base in zip(ours, theirs, strict=False):
        if mine != base:
            break
        count += 1
    return count
