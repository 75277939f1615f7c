"""Which of an image's layers came from its base image.

The base image is named by the OCI annotations ``org.opencontainers.image.base.name`` /
``org.opencontainers.image.base.digest`` (on the manifest, or as config labels, which is
where ``docker build --label`` and many CI templates put them), or given explicitly. Its
layers are the longest common prefix of the two images' diff_ids: a layer is "base" only
if the base image really has it, so a wrong or stale annotation can never mark the
application's own layers as inherited.

The lookup is optional: it has a short total budget (:data:`LOOKUP_BUDGET_SECONDS`), what it
learns (the base's pinned reference and diff_ids) is cached in the user cache directory, and
an offline client (``--offline`` / ``GATE_OFFLINE=1``) answers from that cache or not at all.
Whenever the base cannot be read, attribution is "unknown", never guessed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.errors import GateError
from gate.image.image import DirImage, Image, open_image
from gate.image.reference import parse_reference
from gate.image.registry import RegistryClient
from gate.safejson import loads

logger = logging.getLogger(__name__)

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
LOOKUP_BUDGET_SECONDS = 15.0
TAG_CACHE_SECONDS = 24 * 3600  # a base named by tag may move; one named by digest never does
MAX_CACHE_ENTRY = 1024 * 1024


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
    image: Image | DirImage,
    *,
    reference: str | None = None,
    client: RegistryClient | None = None,
    budget: float = LOOKUP_BUDGET_SECONDS,
    cache_dir: Path | None = None,
) -> BaseImage | None:
    """Open the declared (or given) base image and count the layers the two share.

    Returns None when there is no base image to compare with, or it cannot be read within
    ``budget`` seconds, or the client is offline and the cache does not know it (a warning
    says why): layer attribution is then unknown, never guessed.
    """
    if isinstance(image, DirImage):
        return None
    wanted = reference or declared_base_reference(image)
    if not wanted:
        return None
    client = client or RegistryClient()
    cache = BaseCache(cache_dir or default_cache_dir())
    key = f"{wanted}|{image.platform or ''}"
    cached = cache.get(key)
    if cached is not None and (client.offline or cache.fresh(key, _pinned(wanted))):
        return _attribute(image, *cached)
    if client.offline:
        logger.warning("offline: base image %s not looked up, layer attribution unknown", wanted)
        return None
    try:
        learned = _look_up(wanted, image, client.with_budget(budget))
    except GateError as error:
        if cached is not None:
            logger.warning("base image %s cannot be read, using what was cached: %s", wanted, error.message)
            return _attribute(image, *cached)
        logger.warning("base image %s cannot be read, layer attribution unknown: %s", wanted, error.message)
        return None
    if learned is None:
        return None
    cache.put(key, *learned)
    return _attribute(image, *learned)


def _look_up(wanted: str, image: Image, client: RegistryClient) -> tuple[str, tuple[str, ...]] | None:
    with open_image(parse_reference(wanted), platform=image.platform, client=client) as base:
        if isinstance(base, DirImage):
            return None
        return str(base.ref), base.config.diff_ids


def _attribute(image: Image, reference: str, diff_ids: tuple[str, ...]) -> BaseImage:
    return BaseImage(reference, _common_prefix(image.config.diff_ids, diff_ids))


def _pinned(reference: str) -> bool:
    return "@" in reference


def _common_prefix(ours: tuple[str, ...], theirs: tuple[str, ...]) -> int:
    count = 0
    for mine, base in zip(ours, theirs, strict=False):
        if mine != base:
            break
        count += 1
    return count


def default_cache_dir() -> Path:
    """``<user cache dir>/gate/base-images`` (platformdirs)."""
    from platformdirs import user_cache_path

    return user_cache_path("gate") / "base-images"


@dataclass(frozen=True)
class BaseCache:
    """What base-image lookups learned: one small JSON file per (reference, platform).

    A damaged or unreadable entry is a miss, and a cache that cannot be written is skipped:
    the cache saves time, it never decides anything.
    """

    directory: Path

    def _path(self, key: str) -> Path:
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def get(self, key: str) -> tuple[str, tuple[str, ...]] | None:
        entry = self._read(key)
        if entry is None:
            return None
        return entry["reference"], tuple(entry["diff_ids"])

    def fresh(self, key: str, pinned: bool) -> bool:
        entry = self._read(key)
        return entry is not None and (pinned or time.time() - entry["fetched"] < TAG_CACHE_SECONDS)

    def put(self, key: str, reference: str, diff_ids: tuple[str, ...]) -> None:
        entry = {"key": key, "reference": reference, "diff_ids": list(diff_ids), "fetched": time.time()}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.directory, suffix=".part")
        except OSError as error:
            logger.debug("base-image cache not written: %s", error)
            return
        try:
            with os.fdopen(descriptor, "w") as handle:
                json.dump(entry, handle)
            os.replace(temporary, self._path(key))
        except OSError as error:
            logger.debug("base-image cache not written: %s", error)
            with contextlib.suppress(OSError):
                os.unlink(temporary)

    def _read(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            if path.stat().st_size > MAX_CACHE_ENTRY:
                return None
            entry = loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        valid = (
            isinstance(entry, dict)
            and entry.get("key") == key
            and isinstance(entry.get("reference"), str)
            and isinstance(entry.get("diff_ids"), list)
            and all(isinstance(d, str) for d in entry["diff_ids"])
            and isinstance(entry.get("fetched"), int | float)
        )
        return entry if valid else None
