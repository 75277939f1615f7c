"""Image references: the four kinds of thing gate can read.

registry.example/team/app:1.2     RegistryRef (Docker Hub short names as docker expands them)
oci:path/to/layout[:tag|@digest]  LayoutRef   (OCI image layout directory)
docker-archive:image.tar          ArchiveRef  (``docker save`` tarball)
dir:path/to/rootfs                DirRef      (a root filesystem; catalog and scan only)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from gate.errors import ReferenceError_
from gate.image.digest import validate_digest

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_HOST = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$"
)
_MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class RegistryRef:
    """``registry/repository[:tag][@digest]`` in a distribution registry."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository``, the form cosign puts in ``docker-reference``."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host that serves the registry API (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API_HOST if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> RegistryRef:
        return replace(self, digest=validate_digest(digest))

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class LayoutRef:
    """An image in an OCI image layout directory, chosen by tag or digest."""

    path: Path
    tag: str | None = None
    digest: str | None = None

    def with_digest(self, digest: str) -> LayoutRef:
        return replace(self, digest=validate_digest(digest))

    def __str__(self) -> str:
        text = f"oci:{self.path}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class ArchiveRef:
    """A ``docker save`` tarball; ``digest`` is filled in once the image is read."""

    path: Path
    digest: str | None = None

    def with_digest(self, digest: str) -> ArchiveRef:
        return replace(self, digest=validate_digest(digest))

    def __str__(self) -> str:
        text = f"docker-archive:{self.path}"
        return f"{text}@{self.digest}" if self.digest else text


@dataclass(frozen=True)
class DirRef:
    """A root filesystem on disk; ``digest`` is a digest of its listing and contents."""

    path: Path
    digest: str | None = None

    def with_digest(self, digest: str) -> DirRef:
        return replace(self, digest=validate_digest(digest))

    def __str__(self) -> str:
        text = f"dir:{self.path}"
        return f"{text}@{self.digest}" if self.digest else text


ImageRef = RegistryRef | LayoutRef | ArchiveRef | DirRef


def parse_reference(text: str) -> ImageRef:
    """Parse any reference gate accepts; raise ReferenceError_ naming what is wrong."""
    if not text or text != text.strip():
        raise ReferenceError_(f"invalid image reference {text!r}: empty or surrounded by spaces")
    transport, _, rest = text.partition(":")
    if transport == "oci":
        return _parse_layout(rest, text)
    if transport == "docker-archive":
        return ArchiveRef(path=_require_path(rest, text))
    if transport == "dir":
        return DirRef(path=_require_path(rest, text))
    if transport == "docker" and rest.startswith("//"):
        return parse_registry_reference(rest[2:])
    return parse_registry_reference(text)


def parse_registry_reference(text: str) -> RegistryRef:
    """Parse ``[registry/]repository[:tag][@digest]`` the way docker does."""
    remainder, digest = _split_digest(text, text)
    name, tag = _split_tag(remainder)
    registry, repository = _split_registry(name)
    if registry in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    if not _REPOSITORY.match(repository):
        raise ReferenceError_(
            f"invalid image reference {text!r}: repository {repository!r} must be lowercase "
            "letters, digits and separators"
        )
    if len(f"{registry}/{repository}") > _MAX_NAME_LENGTH:
        raise ReferenceError_(f"invalid image reference {text!r}: name longer than {_MAX_NAME_LENGTH}")
    if tag is not None and not _TAG.match(tag):
        raise ReferenceError_(f"invalid image reference {text!r}: bad tag {tag!r}")
    if tag is None and digest is None:
        tag = "latest"
    return RegistryRef(registry=registry, repository=repository, tag=tag, digest=digest)


def _split_digest(text: str, original: str) -> tuple[str, str | None]:
    if "@" not in text:
        return text, None
    remainder, digest = text.rsplit("@", 1)
    try:
        return remainder, validate_digest(digest)
    except Exception as error:
        raise ReferenceError_(f"invalid image reference {original!r}: {error}") from error


def _split_tag(name: str) -> tuple[str, str | None]:
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        return name[:colon], name[colon + 1 :]
    return name, None


def _split_registry(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        if not _HOST.match(first):
            raise ReferenceError_(f"invalid image reference {name!r}: bad registry host {first!r}")
        return first.lower(), rest
    return DOCKER_HUB, name


def _parse_layout(rest: str, original: str) -> LayoutRef:
    path_part, digest = _split_digest(rest, original)
    tag = None
    # the tag follows the last colon, unless that colon is part of the path (a slash follows it)
    if ":" in path_part:
        candidate_path, candidate_tag = path_part.rsplit(":", 1)
        if "/" not in candidate_tag and candidate_path:
            path_part, tag = candidate_path, candidate_tag
            if not _TAG.match(tag):
                raise ReferenceError_(f"invalid image reference {original!r}: bad tag {tag!r}")
    return LayoutRef(path=_require_path(path_part, original), tag=tag, digest=digest)


def _require_path(path: str, original: str) -> Path:
    if not path:
        raise ReferenceError_(f"invalid image reference {original!r}: missing path")
    return Path(path)
