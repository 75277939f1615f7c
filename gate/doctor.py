"""``gate doctor``: what does this registry support? Signature layouts break where a feature is missing.

    probes = diagnose("registry.example/team/scratch")
    [(p.feature, p.supported, p.detail) for p in probes]

The probes write small artifacts into the repository given (default ``gate-doctor``) and delete
them again when the registry allows deletion:

| feature | how it is probed |
|---|---|
| auth scheme | ``GET /v2/`` unauthenticated: 200, or the ``WWW-Authenticate`` challenge |
| push | a one-layer image manifest (``{}`` config and layer), tagged ``gate-doctor`` |
| artifact media types | a manifest with an ``artifactType`` and a layer of that media type |
| manifest subject | the artifact with a ``subject`` (the probe image); ``OCI-Subject`` in the answer |
| referrers API | ``GET /v2/<name>/referrers/<digest>`` lists the artifact (404: use the fallback tag) |
| tag listing | ``GET /v2/<name>/tags/list`` includes the probe tag |
| cross-repository mount | ``POST /v2/<name>-mount/blobs/uploads/?mount=…&from=<name>`` answers 201 |
| delete | ``DELETE /v2/<name>/manifests/<digest>`` answers 202 |

A probe that cannot run because an earlier one failed is ``None`` (unknown), never a guess.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from gate.errors import GateError
from gate.image.digest import digest_of
from gate.image.manifest import EMPTY_JSON, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Descriptor, canonical_json
from gate.image.reference import RegistryRef, parse_registry_reference
from gate.image.registry import RegistryClient, RegistryRepository

DEFAULT_REPOSITORY = "gate-doctor"
PROBE_TAG = "gate-doctor"
PROBE_ARTIFACT_TYPE = "application/vnd.gate.doctor.v1+json"


@dataclass(frozen=True)
class Probe:
    feature: str
    supported: bool | None  # None: could not be probed
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"feature": self.feature, "supported": self.supported, "detail": self.detail}


def diagnose(target: str, *, client: RegistryClient | None = None) -> list[Probe]:
    """Probe ``REGISTRY[/REPO]`` and report what it supports, one :class:`Probe` per feature."""
    client = client or RegistryClient()
    repository = client.repository(_reference(target))
    probes = [_auth_scheme(client, repository)]
    image = _push_probe_image(repository)
    probes.append(image.probe)
    if image.descriptor is None:
        return probes + [
            Probe(feature, None, "not probed: pushing failed")
            for feature in (
                "artifact media types",
                "manifest subject",
                "referrers API",
                "tag listing",
                "cross-repository mount",
                "delete",
            )
        ]
    artifact, subject_probe, artifact_probe = _push_artifact(repository, image.descriptor)
    probes += [artifact_probe, subject_probe]
    probes.append(_referrers(repository, image.descriptor.digest, artifact))
    probes.append(_tag_listing(repository))
    probes.append(_mount(client, repository))
    probes.append(_delete(repository, [d for d in (artifact, image.descriptor) if d is not None]))
    return probes


def _reference(target: str) -> RegistryRef:
    text = target.strip().rstrip("/")
    if "/" not in text:
        text = f"{text}/{DEFAULT_REPOSITORY}"
    if "@" in text or ":" in text.rsplit("/", 1)[-1]:
        raise GateError(f"{target}: give REGISTRY or REGISTRY/REPO, without a tag or digest")
    return parse_registry_reference(f"{text}:{PROBE_TAG}")


def _auth_scheme(client: RegistryClient, repository: RegistryRepository) -> Probe:
    url = f"{client.transport.base_url(repository.host)}/v2/"
    response = client.transport.request("GET", url)  # an unreachable registry is an error, not a table
    if response.status_code == 200:
        return Probe("auth scheme", True, "none: anonymous access")
    challenge = response.headers.get("WWW-Authenticate", "")
    if response.status_code == 401 and challenge:
        scheme = challenge.split(" ", 1)[0]
        realm = _parameter(challenge, "realm")
        where = f" (realm {realm})" if realm else ""
        return Probe("auth scheme", True, f"{scheme}{where}")
    return Probe("auth scheme", None, f"GET /v2/ answered HTTP {response.status_code} without a challenge")


@dataclass(frozen=True)
class _Pushed:
    probe: Probe
    descriptor: Descriptor | None


def _push_probe_image(repository: RegistryRepository) -> _Pushed:
    layer = f"gate doctor {uuid.uuid4()}".encode()
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_EMPTY, "digest": digest_of(EMPTY_JSON), "size": len(EMPTY_JSON)},
            "layers": [{"mediaType": OCI_EMPTY, "digest": digest_of(layer), "size": len(layer)}],
        }
    )
    try:
        repository.push_blob(EMPTY_JSON)
        repository.push_blob(layer)
        descriptor = repository.push_manifest(manifest, media_type=OCI_MANIFEST, tag=PROBE_TAG)
    except GateError as error:
        return _Pushed(Probe("push", False, error.message), None)
    return _Pushed(Probe("push", True, f"{repository.describe()}:{PROBE_TAG}"), descriptor)


def _push_artifact(
    repository: RegistryRepository, subject: Descriptor
) -> tuple[Descriptor | None, Probe, Probe]:
    payload = b'{"gate":"doctor"}'
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": PROBE_ARTIFACT_TYPE,
            "config": {"mediaType": OCI_EMPTY, "digest": digest_of(EMPTY_JSON), "size": len(EMPTY_JSON)},
            "layers": [
                {"mediaType": PROBE_ARTIFACT_TYPE, "digest": digest_of(payload), "size": len(payload)}
            ],
            "subject": subject.to_json(),
        }
    )
    digest = digest_of(manifest)
    try:
        repository.push_blob(payload)
    except GateError as error:
        failed = Probe("artifact media types", False, error.message)
        return None, Probe("manifest subject", None, "not probed: the artifact blob was refused"), failed
    try:
        response = repository.probe(
            "PUT", f"manifests/{digest}", push=True, body=manifest, headers={"Content-Type": OCI_MANIFEST}
        )
    except GateError as error:
        return (
            None,
            Probe("manifest subject", None, error.message),
            Probe("artifact media types", None, error.message),
        )
    if response.status_code != 201:
        refused = f"a manifest with artifactType and a subject was refused: HTTP {response.status_code}"
        return None, Probe("manifest subject", False, refused), Probe("artifact media types", False, refused)
    artifact = Descriptor(OCI_MANIFEST, digest, len(manifest), artifact_type=PROBE_ARTIFACT_TYPE)
    types = Probe("artifact media types", True, f"accepted artifactType {PROBE_ARTIFACT_TYPE}")
    if response.headers.get("OCI-Subject"):
        subject_probe = Probe("manifest subject", True, "stored, and the registry indexes it (OCI-Subject)")
    else:
        subject_probe = Probe(
            "manifest subject",
            True,
            "stored, but not indexed (no OCI-Subject header): clients maintain the sha256-<hex> tag",
        )
    return artifact, subject_probe, types


def _referrers(repository: RegistryRepository, subject: str, artifact: Descriptor | None) -> Probe:
    try:
        response = repository.probe("GET", f"referrers/{subject}")
    except GateError as error:
        return Probe("referrers API", None, error.message)
    if response.status_code == 404:
        return Probe(
            "referrers API",
            False,
            "no referrers API (404): gate and cosign use the sha256-<hex> referrers tag instead",
        )
    if response.status_code != 200:
        return Probe("referrers API", False, f"GET referrers answered HTTP {response.status_code}")
    media_type = response.headers.get("Content-Type", "").split(";")[0]
    if media_type != OCI_INDEX:
        return Probe(
            "referrers API", False, f"GET referrers answered {media_type or 'no media type'}, not an index"
        )
    listed = artifact is not None and artifact.digest in response.text
    detail = "lists the probe artifact" if listed else "answers, but does not list the probe artifact"
    return Probe("referrers API", listed, detail)


def _tag_listing(repository: RegistryRepository) -> Probe:
    try:
        tags = repository.list_tags()
    except GateError as error:
        return Probe("tag listing", False, error.message)
    if PROBE_TAG in tags:
        return Probe("tag listing", True, f"{len(tags)} tag(s) listed")
    return Probe("tag listing", False, f"the tag list does not include {PROBE_TAG}")


def _mount(client: RegistryClient, repository: RegistryRepository) -> Probe:
    other = client.repository(parse_registry_reference(f"{repository.registry}/{repository.name}-mount:x"))
    try:
        mounted = other.mount_blob(digest_of(EMPTY_JSON), repository.name)
    except GateError as error:
        return Probe("cross-repository mount", False, error.message)
    if mounted:
        return Probe("cross-repository mount", True, f"mounted a blob into {other.name}")
    return Probe("cross-repository mount", False, "the registry started an upload instead (blobs are copied)")


def _delete(repository: RegistryRepository, documents: list[Descriptor]) -> Probe:
    try:
        statuses = [
            repository.probe("DELETE", f"manifests/{d.digest}", push=True).status_code for d in documents
        ]
    except GateError as error:
        return Probe("delete", False, error.message)
    if statuses and all(status == 202 for status in statuses):
        return Probe("delete", True, "manifests can be deleted (the probe artifacts were removed)")
    return Probe("delete", False, f"DELETE manifest answered HTTP {statuses[0] if statuses else '?'}")


def _parameter(challenge: str, name: str) -> str | None:
    for part in challenge.split(" ", 1)[-1].split(","):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip('"')
    return None
