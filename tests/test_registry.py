"""The registry client against the real CNCF distribution registry (and a scripted liar).

The real registry (Debian's docker-registry 2.8) has no referrers API, so the referrers
fallback tag is exercised for real. The FakeRegistry stands in only where no real
registry misbehaves on purpose: HTML answers, wrong digests, 429s.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from gate.errors import AuthenticationError, ImageFormatError, IntegrityError, NotFoundError, RegistryError
from gate.image import Platform, RegistryClient, Transport, open_image
from gate.image.build import BuiltImage, LayerBuilder, build_image, build_index
from gate.image.credentials import Credentials
from gate.image.digest import digest_of
from gate.image.manifest import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Index, Manifest, canonical_json
from gate.image.reference import parse_registry_reference
from gate.image.store import Store, referrers_tag
from gate.image.transport import RetryPolicy
from tests.servers import FakeRegistry, RegistryServer


def _repo_name(prefix: str = "test") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def _client(
    server: RegistryServer | None = None, *, credentials: Credentials | None = None
) -> RegistryClient:
    creds: dict[str, Credentials | None] = {"docker.io": None}
    if server is not None:
        creds[server.host] = credentials
    return RegistryClient(
        transport=Transport(retry=RetryPolicy(attempts=3, base_delay=0.01)), credentials=creds
    )


def _login(server: RegistryServer, password: str | None = None, source: str = "test") -> Credentials:
    assert server.username is not None and server.password is not None, "an anonymous registry"
    return Credentials(server.username, password or server.password, source=source)


def _three_layer_image(marker: str) -> BuiltImage:
    layers = [
        LayerBuilder().add_file("etc/os-release", b"ID=test\n").add_file("etc/motd", b"hi\n").build(),
        LayerBuilder().add_file("app/data.bin", marker.encode() * 1000).build(),
        LayerBuilder().add_whiteout("etc/motd").add_file("app/version", marker.encode()).build(),
    ]
    return build_image(layers, config={"User": "1000", "Env": ["SECRET_TOKEN=hunter2"]})


def _push(client: RegistryClient, ref_text: str, image: BuiltImage, *, tag: str | None = "v1") -> str:
    repository = client.repository(parse_registry_reference(ref_text))
    return image.push(repository, tag=tag)


def test_push_pull_round_trip_multi_layer(registry: RegistryServer) -> None:
    client = _client(registry)
    ref = f"{registry.host}/{_repo_name()}"
    built = _three_layer_image("round-trip")
    digest = _push(client, ref, built)

    with open_image(f"{ref}:v1", client=client) as image:
        assert image.digest == digest
        assert str(image.ref) == f"{ref}:v1@{digest}"
        assert image.manifest.raw == built.manifest
        assert len(image.layers) == 3
        assert image.config.user == "1000"
        with image.filesystem() as fs:
            assert fs.read_bytes("/app/version") == b"round-trip"
            assert fs.read_bytes("app/data.bin") == b"round-trip" * 1000
            assert fs.stat("/etc/motd") is None  # whited out by layer 2
            assert fs.stat("/app/version").layer_index == 2
            assert fs.stat("/etc/os-release").layer_digest == image.layers[0].digest


def test_pull_by_digest_and_resolve(registry: RegistryServer) -> None:
    client = _client(registry)
    ref = f"{registry.host}/{_repo_name()}"
    digest = _push(client, ref, _three_layer_image("by-digest"))
    repository = client.repository(parse_registry_reference(ref))
    assert repository.resolve("v1").digest == digest
    with open_image(f"{ref}@{digest}", client=client) as image:
        assert image.digest == digest
    assert repository.list_tags() == ["v1"]


def test_chunked_upload_and_cross_repository_mount(registry: RegistryServer) -> None:
    client = _client(registry)
    source = client.repository(parse_registry_reference(f"{registry.host}/{_repo_name('src')}"))
    target_name = _repo_name("dst")
    target = client.repository(parse_registry_reference(f"{registry.host}/{target_name}"))
    blob = bytes(range(256)) * 5000  # 1.28 MB in 300 KB chunks
    descriptor = source.push_blob(blob, chunk_size=300_000)
    assert descriptor.digest == digest_of(blob)
    assert source.read_blob(descriptor, 10_000_000) == blob

    posts = []
    original = client.transport.request

    def recording(method: str, url: str, **kwargs: Any) -> Any:
        if method in ("POST", "PUT", "PATCH"):
            posts.append((method, url, kwargs.get("params")))
        return original(method, url, **kwargs)

    client.transport.request = recording  # type: ignore[method-assign]  # records, then sends
    target.push_blob(blob, mount_from=source.name)
    assert target.has_blob(descriptor.digest)
    # mounted: one POST with mount=, and no data upload
    assert [p[0] for p in posts] == ["POST"]
    assert posts[0][2] == {"mount": descriptor.digest, "from": source.name}


def test_existing_blob_is_not_uploaded_again(registry: RegistryServer) -> None:
    client = _client(registry)
    repository = client.repository(parse_registry_reference(f"{registry.host}/{_repo_name()}"))
    repository.push_blob(b"once")
    calls = []
    original = client.transport.request

    def recording(method: str, url: str, **kwargs: Any) -> Any:
        calls.append(method)
        return original(method, url, **kwargs)

    client.transport.request = recording  # type: ignore[method-assign]  # records, then sends
    repository.push_blob(b"once")
    assert calls == ["HEAD"]


def test_image_index_with_two_platforms(registry: RegistryServer) -> None:
    client = _client(registry)
    ref = f"{registry.host}/{_repo_name()}"
    repository = client.repository(parse_registry_reference(ref))
    amd64 = build_image(
        [LayerBuilder().add_file("arch", b"amd64").build()], platform=Platform("linux", "amd64")
    )
    arm64 = build_image(
        [LayerBuilder().add_file("arch", b"arm64").build()], platform=Platform("linux", "arm64", "v8")
    )
    amd64.push(repository)
    arm64.push(repository)
    index_raw = build_index({Platform("linux", "amd64"): amd64, Platform("linux", "arm64", "v8"): arm64})
    index_descriptor = repository.push_manifest(index_raw, media_type=OCI_INDEX, tag="multi")
    assert index_descriptor.digest == digest_of(index_raw)

    with open_image(f"{ref}:multi", platform="linux/arm64", client=client) as image:
        assert image.digest == index_descriptor.digest  # pinned to the index
        assert image.manifest.digest == arm64.digest
        assert image.platform == Platform("linux", "arm64", "v8")
        with image.filesystem() as fs:
            assert fs.read_bytes("arch") == b"arm64"
    with open_image(f"{ref}:multi", platform="linux/amd64", client=client) as image:
        assert image.manifest.digest == amd64.digest
        assert [str(p) for p in image.index.platforms()] == ["linux/amd64", "linux/arm64/v8"]
    with pytest.raises(ImageFormatError, match=r"no image for platform linux/s390x .*offered: linux/amd64"):
        open_image(f"{ref}:multi", platform="linux/s390x", client=client)


def _referrer_manifest(
    repository: Store, subject: Manifest | Index, artifact_type: str, payload: bytes
) -> bytes:
    repository.push_blob(b"{}")
    layer = repository.push_blob(payload)
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": OCI_EMPTY, "digest": digest_of(b"{}"), "size": 2},
            "layers": [{"mediaType": artifact_type, "digest": layer.digest, "size": layer.size}],
            "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": len(subject.raw)},
            "annotations": {"dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1"},
        }
    )


def test_referrers_through_the_fallback_tag(registry: RegistryServer) -> None:
    client = _client(registry)
    ref = f"{registry.host}/{_repo_name()}"
    repository = client.repository(parse_registry_reference(ref))
    digest = _three_layer_image("subject").push(repository, tag="v1")
    subject = repository.get_document(digest)
    assert repository.referrers(digest) == []

    bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json"
    first = _referrer_manifest(repository, subject, bundle_type, b'{"bundle": 1}')
    second = _referrer_manifest(repository, subject, "application/spdx+json", b'{"spdx": 1}')
    first_descriptor = repository.push_manifest(first, media_type=OCI_MANIFEST)
    repository.push_manifest(second, media_type=OCI_MANIFEST)
    repository.push_manifest(first, media_type=OCI_MANIFEST)  # pushing again adds no duplicate

    found = repository.referrers(digest)
    assert [d.digest for d in found] == [digest_of(first), digest_of(second)]
    assert found[0].artifact_type == bundle_type
    assert found[0].annotations["dev.sigstore.bundle.predicateType"] == "https://slsa.dev/provenance/v1"
    assert first_descriptor.digest == digest_of(first)
    assert [d.digest for d in repository.referrers(digest, artifact_type=bundle_type)] == [digest_of(first)]

    # the fallback index is a plain image index under the schema's tag, readable by any client
    tag = referrers_tag(digest)
    assert tag in repository.list_tags()
    index = repository.get_document(tag)
    assert isinstance(index, Index) and index.media_type == OCI_INDEX and len(index.manifests) == 2


def test_basic_auth_round_trip(basic_registry: RegistryServer) -> None:
    credentials = _login(basic_registry)
    client = _client(basic_registry, credentials=credentials)
    ref = f"{basic_registry.host}/{_repo_name()}"
    digest = _push(client, ref, _three_layer_image("basic"))
    with open_image(f"{ref}:v1", client=client) as image, image.filesystem() as fs:
        assert image.digest == digest
        assert fs.read_bytes("app/version") == b"basic"


def test_basic_auth_wrong_password_is_a_clear_error(basic_registry: RegistryServer) -> None:
    credentials = _login(basic_registry, "wrong-password", "test config")
    client = _client(basic_registry, credentials=credentials)
    with pytest.raises(AuthenticationError) as caught:
        open_image(f"{basic_registry.host}/{_repo_name()}:v1", client=client)
    message = caught.value.diagnostics()
    assert "refused credentials from test config" in message
    assert "wrong-password" not in message


def test_basic_auth_without_credentials_says_how_to_log_in(basic_registry: RegistryServer) -> None:
    with pytest.raises(AuthenticationError, match="requires a login"):
        open_image(f"{basic_registry.host}/{_repo_name()}:v1", client=_client(basic_registry))


def test_token_auth_round_trip_reuses_tokens(token_registry: RegistryServer) -> None:
    issuer = token_registry.issuer
    credentials = _login(token_registry)
    client = _client(token_registry, credentials=credentials)
    name = _repo_name()
    ref = f"{token_registry.host}/{name}"
    before = len(issuer.requests)
    digest = _push(client, ref, _three_layer_image("token"))
    with open_image(f"{ref}:v1", client=client) as image, image.filesystem() as fs:
        assert image.digest == digest
        assert fs.read_bytes("app/version") == b"token"
    requests_made = issuer.requests[before:]
    # one token for push (which also covers the pulls that follow), fetched with credentials
    assert len(requests_made) == 1, requests_made
    assert requests_made[0].authorized and requests_made[0].username == token_registry.username
    assert any(f"repository:{name}:" in scope and "push" in scope for scope in requests_made[0].scopes)


def test_token_auth_pull_only_then_push_asks_for_wider_scope(token_registry: RegistryServer) -> None:
    issuer = token_registry.issuer
    credentials = _login(token_registry)
    client = _client(token_registry, credentials=credentials)
    name = _repo_name()
    repository = client.repository(parse_registry_reference(f"{token_registry.host}/{name}"))
    before = len(issuer.requests)
    assert repository.has_blob(digest_of(b"absent")) is False
    assert repository.has_blob(digest_of(b"absent-2")) is False
    repository.push_blob(b"present")
    assert repository.has_blob(digest_of(b"present")) is True
    scopes = [r.scopes for r in issuer.requests[before:]]
    assert len(scopes) == 2, scopes  # one pull token reused, then one push token
    assert scopes[0] == [f"repository:{name}:pull"]


def test_token_auth_with_identity_token_uses_the_refresh_grant(token_registry: RegistryServer) -> None:
    """`docker login` against an OAuth2 registry stores a refresh token (identitytoken) and no
    password: gate must POST it as a form to the token service."""
    issuer = token_registry.issuer
    assert issuer is not None
    refresh = issuer.new_refresh_token(_login(token_registry).username)
    credentials = Credentials("", "", identity_token=refresh, source="test")
    client = _client(token_registry, credentials=credentials)
    ref = f"{token_registry.host}/{_repo_name()}"
    before = len(issuer.requests)
    digest = _push(client, ref, _three_layer_image("identity-token"))
    with open_image(f"{ref}:v1", client=client) as image:
        assert image.digest == digest
    grants = [(r.method, r.grant_type, r.username) for r in issuer.requests[before:]]
    assert grants == [("POST", "refresh_token", token_registry.username)]


def test_token_auth_wrong_password(token_registry: RegistryServer) -> None:
    credentials = _login(token_registry, "nope")
    client = _client(token_registry, credentials=credentials)
    with pytest.raises(AuthenticationError, match=r"token service .* refused"):
        open_image(f"{token_registry.host}/{_repo_name()}:v1", client=client)


def test_missing_tag_is_not_found(registry: RegistryServer) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        open_image(f"{registry.host}/{_repo_name()}:nope", client=_client(registry))


# -- a registry that lies ---------------------------------------------------------------------


def _fake_client(fake: FakeRegistry) -> RegistryClient:
    return RegistryClient(
        transport=Transport(
            retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05), sleep=lambda s: None
        ),
        credentials={fake.host: None},
    )


def test_html_answer_is_a_clear_error(fake_registry: FakeRegistry) -> None:
    fake_registry.route(
        "GET",
        r"/v2/app/manifests/v1",
        status=200,
        headers={"Content-Type": "text/html"},
        body=b"<html><body>Welcome</body></html>",
    )
    with pytest.raises(ImageFormatError, match="not valid JSON"):
        open_image(f"{fake_registry.host}/app:v1", client=_fake_client(fake_registry))


def test_garbage_json_answer_is_a_clear_error(fake_registry: FakeRegistry) -> None:
    fake_registry.route(
        "GET",
        r"/v2/app/manifests/v1",
        body=b'{"schemaVersion": 2, "layers": 7}',
        headers={"Content-Type": OCI_MANIFEST},
    )
    with pytest.raises(ImageFormatError, match=r"lacks config|not a list"):
        open_image(f"{fake_registry.host}/app:v1", client=_fake_client(fake_registry))


def test_registry_lying_about_manifest_digest(fake_registry: FakeRegistry) -> None:
    built = _three_layer_image("liar")
    wrong = digest_of(b"something else")
    fake_registry.route(
        "GET",
        r"/v2/app/manifests/v1",
        body=built.manifest,
        headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": wrong},
    )
    with pytest.raises(IntegrityError, match="does not match its digest"):
        open_image(f"{fake_registry.host}/app:v1", client=_fake_client(fake_registry))
    fake_registry.route(
        "GET",
        rf"/v2/app/manifests/{wrong}",
        body=built.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    with pytest.raises(IntegrityError):
        open_image(f"{fake_registry.host}/app@{wrong}", client=_fake_client(fake_registry))


def test_blob_with_wrong_content_is_rejected(fake_registry: FakeRegistry) -> None:
    built = _three_layer_image("blob")
    manifest = json.loads(built.manifest)
    fake_registry.route(
        "GET",
        r"/v2/app/manifests/v1",
        body=built.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    fake_registry.route("GET", rf"/v2/app/blobs/{manifest['config']['digest']}", body=built.config)
    first_layer = manifest["layers"][0]["digest"]
    tampered = bytearray(built.layers[0])
    tampered[-10] ^= 0xFF
    fake_registry.route("GET", rf"/v2/app/blobs/{first_layer}", body=bytes(tampered))
    with open_image(f"{fake_registry.host}/app:v1", client=_fake_client(fake_registry)) as image:
        with pytest.raises((IntegrityError, Exception)) as caught:
            image.filesystem()
        assert "digest" in str(caught.value) or "gzip" in str(caught.value)


def test_oversized_manifest_is_refused(fake_registry: FakeRegistry) -> None:
    fake_registry.route(
        "GET",
        r"/v2/app/manifests/v1",
        body=b" " * (4 * 1024 * 1024 + 1),
        headers={"Content-Type": OCI_MANIFEST},
    )
    with pytest.raises(RegistryError, match=r"/v2/app/manifests/v1: answer is over the 4194304 byte limit"):
        open_image(f"{fake_registry.host}/app:v1", client=_fake_client(fake_registry))


def test_unsupported_digest_algorithm_is_refused(fake_registry: FakeRegistry) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": 2,
            "digest": "md5:" + "0" * 32,
        },
        "layers": [],
    }
    fake_registry.route(
        "GET",
        r"/v2/app/manifests/v1",
        body=json.dumps(manifest).encode(),
        headers={"Content-Type": OCI_MANIFEST},
    )
    with pytest.raises(ImageFormatError, match="unsupported digest algorithm 'md5'"):
        open_image(f"{fake_registry.host}/app:v1", client=_fake_client(fake_registry))


def test_retries_429_with_retry_after_then_succeeds(fake_registry: FakeRegistry) -> None:
    built = _three_layer_image("retry")
    waits: list[float] = []
    client = RegistryClient(
        transport=Transport(retry=RetryPolicy(attempts=4, base_delay=0.01), sleep=waits.append),
        credentials={fake_registry.host: None},
    )
    fake_registry.route("GET", r"/v2/app/manifests/v1", status=429, headers={"Retry-After": "2"}, times=2)
    fake_registry.route(
        "GET", r"/v2/app/manifests/v1", body=built.manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    fake_registry.route("GET", r"/v2/app/blobs/sha256:.*", body=built.config)
    with open_image(f"{fake_registry.host}/app:v1", client=client) as image:
        assert image.digest == built.digest
    assert waits == [2.0, 2.0]


def test_persistent_503_gives_up_with_a_clear_error(fake_registry: FakeRegistry) -> None:
    waits: list[float] = []
    client = RegistryClient(
        transport=Transport(retry=RetryPolicy(attempts=3, base_delay=0.5, max_delay=1), sleep=waits.append),
        credentials={fake_registry.host: None},
    )
    fake_registry.route("GET", r"/v2/app/manifests/v1", status=503, body=b"busy")
    with pytest.raises(RegistryError, match="HTTP 503"):
        open_image(f"{fake_registry.host}/app:v1", client=client)
    assert waits == [0.5, 1]  # capped exponential backoff, bounded attempts


def test_artifact_is_not_opened_as_an_image(registry: RegistryServer) -> None:
    client = _client(registry)
    ref = f"{registry.host}/{_repo_name()}"
    repository = client.repository(parse_registry_reference(ref))
    digest = _three_layer_image("x").push(repository, tag="v1")
    artifact = _referrer_manifest(repository, repository.get_document(digest), "application/example", b"x")
    artifact_digest = repository.push_manifest(artifact, media_type=OCI_MANIFEST).digest
    with pytest.raises(ImageFormatError, match="is an artifact"):
        open_image(f"{ref}@{artifact_digest}", client=client)
