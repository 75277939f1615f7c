"""OCI / Docker schema-2 manifests, indexes, image configs and platforms, parsed strictly.

Everything read from a registry, layout or archive passes through here before use, so a
malformed document is rejected once, with a message naming what is wrong.
"""

from __future__ import annotations

import json
import platform as host_platform
from dataclasses import dataclass, field
from typing import Any

from gate import safejson
from gate.errors import ImageFormatError
from gate.image.digest import digest_of, validate_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
ACCEPTED_MANIFEST_TYPES = (*MANIFEST_TYPES, *INDEX_TYPES)

# The registries' own limit (distribution, containerd): a manifest is metadata, never this large.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
MAX_CONFIG_SIZE = 8 * 1024 * 1024

_UNCOMPRESSED_LAYERS = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
}
_GZIP_LAYERS = {
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
}
_ZSTD_LAYERS = {
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
}


def layer_compression(media_type: str) -> str:
    """``"none"``, ``"gzip"`` or ``"zstd"`` for a layer media type; raise for anything else."""
    if media_type in _UNCOMPRESSED_LAYERS:
        return "none"
    if media_type in _GZIP_LAYERS:
        return "gzip"
    if media_type in _ZSTD_LAYERS:
        return "zstd"
    raise ImageFormatError(f"unsupported layer media type {media_type!r}")


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/arm64/v8`` -> Platform."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ImageFormatError(f"invalid platform {text!r}: expected OS/ARCH[/VARIANT]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def matches(self, other: Platform) -> bool:
        """True if ``other`` (an index entry) satisfies this requested platform."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        return self.variant is None or self.variant == (other.variant or _default_variant(other))

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def _default_variant(platform: Platform) -> str | None:
    return "v8" if platform.architecture == "arm64" else None


def host_default_platform() -> Platform:
    """linux/amd64 on x86-64 hosts, linux/arm64 on ARM hosts (what docker pulls by default)."""
    machine = host_platform.machine().lower()
    architecture = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, "amd64"
    )
    return Platform("linux", architecture)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    platform: Platform | None = None
    urls: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            data["artifactType"] = self.artifact_type
        if self.platform:
            data["platform"] = {"architecture": self.platform.architecture, "os": self.platform.os}
            if self.platform.variant:
                data["platform"]["variant"] = self.platform.variant
        if self.urls:
            data["urls"] = list(self.urls)
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        return data


@dataclass(frozen=True)
class Manifest:
    """An image (or artifact) manifest; ``raw`` holds the exact bytes its digest covers."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    raw: bytes
    digest: str
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw), artifact_type=self.artifact_type)


@dataclass(frozen=True)
class Index:
    """An OCI image index or Docker manifest list."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    raw: bytes
    digest: str
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw), artifact_type=self.artifact_type)

    def platforms(self) -> list[Platform]:
        return [d.platform for d in self.manifests if d.platform and not _is_attestation(d)]

    def select(self, wanted: Platform) -> Descriptor:
        """The manifest for ``wanted``; raise naming the platforms the index offers."""
        for descriptor in self.manifests:
            if (
                descriptor.platform
                and not _is_attestation(descriptor)
                and wanted.matches(descriptor.platform)
            ):
                return descriptor
        offered = ", ".join(str(p) for p in self.platforms()) or "none"
        raise ImageFormatError(f"no image for platform {wanted} in index {self.digest} (offered: {offered})")


def _is_attestation(descriptor: Descriptor) -> bool:
    return descriptor.annotations.get("vnd.docker.reference.type") == "attestation-manifest" or (
        descriptor.platform is not None and descriptor.platform.os == "unknown"
    )


def parse_document(
    raw: bytes, *, media_type: str | None = None, digest: str | None = None
) -> Manifest | Index:
    """Parse manifest or index bytes; ``media_type`` is the Content-Type or descriptor hint."""
    if len(raw) > MAX_MANIFEST_SIZE:
        raise ImageFormatError(f"manifest is {len(raw)} bytes, over the {MAX_MANIFEST_SIZE} byte limit")
    data = _load_json_object(raw, "manifest")
    declared = data.get("mediaType")
    kind = declared or _clean_media_type(media_type) or _guess_kind(data)
    hint = _clean_media_type(media_type)
    if declared and hint in ACCEPTED_MANIFEST_TYPES and hint != declared:
        raise ImageFormatError(f"manifest says mediaType {declared!r} but was served as {hint!r}")
    if data.get("schemaVersion") != 2:
        raise ImageFormatError(f"unsupported manifest schemaVersion {data.get('schemaVersion')!r}")
    digest = digest or digest_of(raw)
    if kind in INDEX_TYPES:
        return _parse_index(data, kind, raw, digest)
    if kind in MANIFEST_TYPES:
        return _parse_manifest(data, kind, raw, digest)
    raise ImageFormatError(f"unsupported manifest media type {kind!r}")


def _clean_media_type(media_type: str | None) -> str | None:
    return media_type.split(";", 1)[0].strip() if media_type else None


def _guess_kind(data: dict[str, Any]) -> str:
    if "manifests" in data:
        return OCI_INDEX
    if "config" in data:
        return OCI_MANIFEST
    raise ImageFormatError("document is neither a manifest nor an index (no mediaType, config or manifests)")


def _parse_manifest(data: dict[str, Any], kind: str, raw: bytes, digest: str) -> Manifest:
    if "config" not in data or "layers" not in data:
        raise ImageFormatError(f"manifest {digest} lacks config or layers")
    layers = data["layers"]
    if not isinstance(layers, list):
        raise ImageFormatError(f"manifest {digest}: layers is not a list")
    return Manifest(
        media_type=kind,
        config=parse_descriptor(data["config"], f"manifest {digest} config"),
        layers=tuple(parse_descriptor(item, f"manifest {digest} layer {i}") for i, item in enumerate(layers)),
        raw=raw,
        digest=digest,
        subject=_optional_descriptor(data, digest),
        artifact_type=_optional_str(data, "artifactType", digest),
        annotations=_annotations(data.get("annotations"), f"manifest {digest}"),
    )


def _parse_index(data: dict[str, Any], kind: str, raw: bytes, digest: str) -> Index:
    manifests = data.get("manifests")
    if not isinstance(manifests, list):
        raise ImageFormatError(f"index {digest}: manifests is not a list")
    return Index(
        media_type=kind,
        manifests=tuple(parse_descriptor(m, f"index {digest} entry {i}") for i, m in enumerate(manifests)),
        raw=raw,
        digest=digest,
        subject=_optional_descriptor(data, digest),
        artifact_type=_optional_str(data, "artifactType", digest),
        annotations=_annotations(data.get("annotations"), f"index {digest}"),
    )


def parse_descriptor(data: Any, where: str) -> Descriptor:
    """Validate one descriptor (media type, digest, non-negative size)."""
    if not isinstance(data, dict):
        raise ImageFormatError(f"{where}: descriptor is not an object")
    media_type, size = data.get("mediaType"), data.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ImageFormatError(f"{where}: descriptor has no mediaType")
    try:
        digest = validate_digest(data.get("digest"))
    except ImageFormatError as error:
        raise ImageFormatError(f"{where}: {error.message}") from error
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ImageFormatError(f"{where}: descriptor size {size!r} is not a non-negative integer")
    platform = data.get("platform")
    urls = data.get("urls") or ()
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        annotations=_annotations(data.get("annotations"), where),
        artifact_type=data.get("artifactType") if isinstance(data.get("artifactType"), str) else None,
        platform=_parse_platform(platform, where) if platform is not None else None,
        urls=tuple(u for u in urls if isinstance(u, str)),
    )


def _parse_platform(data: Any, where: str) -> Platform:
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("os"), str)
        or not isinstance(data.get("architecture"), str)
    ):
        raise ImageFormatError(f"{where}: platform needs os and architecture")
    variant = data.get("variant")
    return Platform(data["os"], data["architecture"], variant if isinstance(variant, str) else None)


def _optional_descriptor(data: dict[str, Any], digest: str) -> Descriptor | None:
    subject = data.get("subject")
    return parse_descriptor(subject, f"{digest} subject") if subject is not None else None


def _optional_str(data: dict[str, Any], key: str, digest: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ImageFormatError(f"{digest}: {key} is not a string")
    return value


def _annotations(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ImageFormatError(f"{where}: annotations must map strings to strings")
    return dict(value)


def _load_json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = safejson.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        preview = raw[:40].decode("utf-8", "replace").replace("\n", " ")
        raise ImageFormatError(f"{what} is not valid JSON (starts with {preview!r})") from error
    if not isinstance(data, dict):
        raise ImageFormatError(f"{what} is not a JSON object")
    return data


@dataclass(frozen=True)
class HistoryEntry:
    created: str | None
    created_by: str
    comment: str
    empty_layer: bool


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image config gate reasons about; ``raw`` keeps the rest."""

    raw: dict[str, Any]
    architecture: str
    os: str
    variant: str | None
    created: str | None
    user: str
    env: tuple[str, ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    working_dir: str
    exposed_ports: tuple[str, ...]
    labels: dict[str, str]
    healthcheck: dict[str, Any] | None
    diff_ids: tuple[str, ...]
    history: tuple[HistoryEntry, ...]

    @property
    def env_names(self) -> list[str]:
        return [item.split("=", 1)[0] for item in self.env]

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.variant)


def parse_config(raw: bytes) -> ImageConfig:
    """Parse an OCI/Docker image config blob."""
    if len(raw) > MAX_CONFIG_SIZE:
        raise ImageFormatError(f"image config is {len(raw)} bytes, over the {MAX_CONFIG_SIZE} byte limit")
    data = _load_json_object(raw, "image config")
    runtime = data.get("config") or {}
    rootfs = data.get("rootfs") or {}
    if not isinstance(runtime, dict) or not isinstance(rootfs, dict):
        raise ImageFormatError("image config: config and rootfs must be objects")
    diff_ids = rootfs.get("diff_ids") or []
    if not isinstance(diff_ids, list):
        raise ImageFormatError("image config: rootfs.diff_ids is not a list")
    for diff_id in diff_ids:
        validate_digest(diff_id)
    return ImageConfig(
        raw=data,
        architecture=str(data.get("architecture") or ""),
        os=str(data.get("os") or ""),
        variant=data.get("variant") if isinstance(data.get("variant"), str) else None,
        created=data.get("created") if isinstance(data.get("created"), str) else None,
        user=str(runtime.get("User") or ""),
        env=_string_tuple(runtime.get("Env")),
        entrypoint=_string_tuple(runtime.get("Entrypoint")),
        cmd=_string_tuple(runtime.get("Cmd")),
        working_dir=str(runtime.get("WorkingDir") or ""),
        exposed_ports=tuple(sorted((runtime.get("ExposedPorts") or {}).keys()))
        if isinstance(runtime.get("ExposedPorts"), dict)
        else (),
        labels={str(k): str(v) for k, v in (runtime.get("Labels") or {}).items()}
        if isinstance(runtime.get("Labels"), dict)
        else {},
        healthcheck=runtime.get("Healthcheck") if isinstance(runtime.get("Healthcheck"), dict) else None,
        diff_ids=tuple(diff_ids),
        history=tuple(_history(data.get("history"))),
    )


def _string_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if isinstance(value, str):
        return (value,)
    return ()


def _history(value: Any) -> list[HistoryEntry]:
    if not isinstance(value, list):
        return []
    return [
        HistoryEntry(
            created=item.get("created") if isinstance(item.get("created"), str) else None,
            created_by=str(item.get("created_by") or ""),
            comment=str(item.get("comment") or ""),
            empty_layer=bool(item.get("empty_layer")),
        )
        for item in value
        if isinstance(item, dict)
    ]


def canonical_json(data: Any) -> bytes:
    """Compact, key-sorted JSON: the bytes gate writes for manifests and configs it creates."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
