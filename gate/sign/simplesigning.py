"""The cosign flavour of the "simple signing" payload that a ``.sig`` layer holds.

Written exactly as cosign does (sigstore/sigstore ``pkg/signature/payload``)::

    {"critical":{"identity":{"docker-reference":"registry.example/ns/app"},
                 "image":{"docker-manifest-digest":"sha256:..."},
                 "type":"cosign container image signature"},"optional":null}

``docker-reference`` is the repository only, and ``critical`` holds nothing else: containers/image
parses it strictly. Read leniently enough for skopeo's signatures too, whose reference carries a
tag and whose ``optional`` has ``creator`` and ``timestamp``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gate import safejson
from gate.errors import VerificationError
from gate.image.digest import validate_digest
from gate.image.manifest import canonical_json

MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_TYPE = "cosign container image signature"
MAX_PAYLOAD_SIZE = 1024 * 1024


@dataclass(frozen=True)
class SimpleSigningClaims:
    docker_reference: str
    manifest_digest: str
    optional: dict[str, Any] | None

    @property
    def repository(self) -> str:
        """``docker_reference`` without a tag or digest."""
        name = self.docker_reference.split("@", 1)[0]
        slash = name.rfind("/")
        colon = name.rfind(":")
        return name[:colon] if colon > slash else name


def build_payload(repository: str, manifest_digest: str, optional: dict[str, str] | None = None) -> bytes:
    """The payload cosign signs for ``repository@manifest_digest``, byte for byte (Go's json.Marshal)."""
    document = {
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": validate_digest(manifest_digest)},
            "type": SIGNATURE_TYPE,
        },
        "optional": optional or None,
    }
    # key-sorted compact JSON is what Go writes for these struct fields and for a map
    return canonical_json(document)


def parse_payload(raw: bytes) -> SimpleSigningClaims:
    """The claims of a payload; raise :class:`VerificationError` if it is not a cosign image signature."""
    try:
        document = safejson.loads(raw)
        critical = document["critical"]
        kind = critical["type"]
        digest = critical["image"]["docker-manifest-digest"]
        reference = critical["identity"]["docker-reference"]
    except (ValueError, KeyError, TypeError) as error:
        raise VerificationError("signature payload is not a simple-signing document") from error
    if kind != SIGNATURE_TYPE:
        raise VerificationError(f"signature payload has type {kind!r}, expected {SIGNATURE_TYPE!r}")
    if not isinstance(digest, str) or not isinstance(reference, str):
        raise VerificationError("signature payload has a non-string digest or reference")
    optional = document.get("optional")
    return SimpleSigningClaims(reference, digest, optional if isinstance(optional, dict) else None)
