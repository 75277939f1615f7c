"""``must-be-current``: does the base image's tag still point where the image was built from?

The image records its base as ``name:tag`` plus the digest it was built on (the OCI base-image
annotations or labels). Resolving ``name:tag`` now and comparing digests tells whether the base
moved; the new image's creation time says roughly when. Best effort: offline, or when the
registry cannot be reached, the answer is "unknown" (a policy decides what unknown means).
"""

from __future__ import annotations

import datetime
import logging

from gate.errors import GateError
from gate.image import Image, RegistryClient, open_image
from gate.image.base import BaseImage
from gate.image.reference import RegistryRef, parse_reference
from gate.policy.model import BaseFreshness

logger = logging.getLogger(__name__)


def check_base_freshness(
    base: BaseImage | None,
    *,
    client: RegistryClient | None = None,
    platform: str | None = None,
    offline: bool = False,
    now: datetime.datetime | None = None,
) -> BaseFreshness:
    if base is None:
        return BaseFreshness("unknown", "no base image recorded")
    ref = parse_reference(base.reference)
    if not isinstance(ref, RegistryRef) or not ref.tag or not ref.digest:
        return BaseFreshness("unknown", f"{base.reference} is not recorded as a registry tag and digest")
    shown = f"{ref.name}:{ref.tag}"
    if offline:
        return BaseFreshness("unknown", f"offline: {shown} not resolved")
    try:
        tagged = RegistryRef(ref.registry, ref.repository, ref.tag)
        with open_image(tagged, platform=platform, client=client) as now_base:
            current = now_base.digest
            created = now_base.config.created if isinstance(now_base, Image) else None
    except GateError as error:
        logger.warning("cannot resolve base image %s: %s", shown, error.message)
        return BaseFreshness("unknown", f"{shown} could not be resolved: {error.message}")
    if current == ref.digest:
        return BaseFreshness("current", f"{shown} is still {current}")
    return BaseFreshness("outdated", f"{shown} moved{_age(created, now)} to {current}")


def _age(created: str | None, now: datetime.datetime | None) -> str:
    if not created:
        return ""
    try:
        moment = datetime.datetime.fromisoformat(created)
    except ValueError:
        return ""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
    days = ((now or datetime.datetime.now(datetime.UTC)) - moment).days
    return f" {days} days ago" if days >= 0 else ""
