"""The set of images a rescan covers: a list of references, or what a registry's catalog lists.

A malformed line of a list is not fatal: it becomes a :class:`BadEntry`, reported as that
image's row. A registry that does not list its repositories is one error for the whole run.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from gate.errors import GateError
from gate.image import RegistryClient
from gate.image.reference import RegistryRef, parse_reference, parse_registry_reference

MAX_LINE = 4096
# tags cosign and the referrers fallback derive from a digest: attachments, not images
_ATTACHMENT_TAG = re.compile(r"sha256-[0-9a-f]{64}(\.[a-z]+)?")


@dataclass(frozen=True)
class BadEntry:
    text: str
    reason: str


def images_from_lines(lines: Iterable[str], *, max_images: int | None = None) -> list[str | BadEntry]:
    """One registry reference per line; blank lines and ``#`` comments are skipped."""
    entries: list[str | BadEntry] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if max_images is not None and len(entries) >= max_images:
            break
        entries.append(_entry(line, number))
    return entries


def _entry(line: str, number: int) -> str | BadEntry:
    shown = line[:200]
    if len(line) > MAX_LINE:
        return BadEntry(shown, f"line {number}: longer than {MAX_LINE} characters")
    try:
        ref = parse_reference(line)
    except GateError as error:
        return BadEntry(shown, f"line {number}: {error.message}")
    if not isinstance(ref, RegistryRef):
        return BadEntry(shown, f"line {number}: only registry images carry attestations to rescan")
    return line


def images_in_registry(
    where: str, client: RegistryClient, *, tags: str = "*", max_images: int | None = None
) -> list[str]:
    """``HOST[/PREFIX]``: every ``repository:tag`` under PREFIX whose tag matches the glob ``tags``
    (signature, attestation and referrer tags are attachments, not images: skipped)."""
    host, _, prefix = where.partition("/")
    probe = parse_registry_reference(f"{host}/catalog-probe")
    prefix = prefix.strip("/")
    images: list[str] = []
    for repository in sorted(client.list_repositories(probe)):
        if prefix and repository != prefix and not repository.startswith(prefix + "/"):
            continue
        ref = parse_registry_reference(f"{host}/{repository}")
        for tag in sorted(client.repository(ref).list_tags()):
            if fnmatch.fnmatchcase(tag, tags) and not _ATTACHMENT_TAG.fullmatch(tag):
                images.append(f"{host}/{repository}:{tag}")
                if max_images is not None and len(images) >= max_images:
                    return images
    return images
