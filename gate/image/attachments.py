"""How signatures and attestations are stored next to an image: the data every stage shares.

cosign keeps them under tags derived from the image digest (``sha256-<hex>.sig`` / ``.att``),
one layer per signature with its annotations; sigstore bundles are OCI 1.1 referrers whose
manifests carry the bundle's content and predicate type. :mod:`gate.sign` builds these
entries, :mod:`gate.publish` stores them and :mod:`gate.tree` lists them; all three read the
names from here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from gate.image.digest import digest_of
from gate.image.manifest import Descriptor
from gate.image.store import referrers_tag

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
PREDICATE_TYPE_ANNOTATION = "predicateType"
CREATED_ANNOTATION = "org.opencontainers.image.created"
BUNDLE_CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
BUNDLE_PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
PREDICATE_ARTIFACT_TYPE = "application/vnd.gate.predicate.v1+json"
PREDICATE_ARTIFACT_ANNOTATION = "in-toto.io/predicate-type"
# every annotation that names a predicate type, on a layer or on a referrer manifest
PREDICATE_TYPE_ANNOTATIONS = (
    BUNDLE_PREDICATE_ANNOTATION,
    PREDICATE_TYPE_ANNOTATION,
    PREDICATE_ARTIFACT_ANNOTATION,
)
COSIGN_SUFFIXES = {"sig": "cosign signatures", "att": "cosign attestations", "sbom": "cosign SBOMs"}

LayerFilter = Callable[[Descriptor], bool]


def signature_tag(digest: str) -> str:
    return f"{referrers_tag(digest)}.sig"


def attestation_tag(digest: str) -> str:
    return f"{referrers_tag(digest)}.att"


@dataclass(frozen=True)
class Entry:
    """One signature or attestation: a layer blob and its annotations."""

    blob: bytes
    media_type: str
    annotations: dict[str, str] = field(default_factory=dict)

    @functools.cached_property
    def descriptor(self) -> Descriptor:
        return Descriptor(
            self.media_type, digest_of(self.blob), len(self.blob), annotations=dict(self.annotations)
        )


@dataclass(frozen=True)
class BundleArtifact:
    """A sigstore bundle to push as an OCI 1.1 referrer of the image."""

    bundle: bytes
    media_type: str
    predicate_type: str
    content: str = "dsse-envelope"
