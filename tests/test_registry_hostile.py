"""A hostile registry: credentials sent elsewhere, lying HEADs, endless and dripping bodies.

Regression tests for issue 10's defects 1, 2, 3 and 12 (docs/security.md maps each to its test).
Each builds the hostile input itself: :class:`FakeRegistry` answers what no real registry
answers on purpose, and a second FakeRegistry stands for "another host" and records what
reached it. The lying-HEAD test runs the real registry behind :class:`RewritingProxy`.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import itertools
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gate.errors import AuthenticationError, RegistryError
from gate.image import RegistryClient, RegistryRepository, Transport, open_image
from gate.image.attachments import signature_tag
from gate.image.build import LayerBuilder, build_image
from gate.image.credentials import Credentials
from gate.image.digest import digest_of
from gate.image.manifest import OCI_MANIFEST
from gate.image.reference import parse_registry_reference
from gate.image.transport import MAX_ERROR_BODY, RetryPolicy
from gate.publish import open_target
from tests.servers import FakeRegistry, RecordedRequest, RegistryServer, RewritingProxy
from tests.test_cli import run_gate
from tests.test_sign import COSIGN_KEY, KEY_ENV

CREDENTIALS = Credentials("alice", "s3cret-password", source="test")
BASIC = "Basic " + base64.b64encode(b"alice:s3cret-password").decode()


def _client(
    fake: FakeRegistry, *, deadline: float = 60.0, attempts: int = 3
) -> tuple[RegistryClient, list[float]]:
    waits: list[float] = []
    transport = Transport(
        retry=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.05),
        sleep=waits.append,
        deadline=deadline,
    )
    return RegistryClient(transport=transport, credentials={fake.host: CREDENTIALS}), waits


def _repository(client: RegistryClient, fake: FakeRegistry, name: str = "app") -> RegistryRepository:
    return client.repository(parse_registry_reference(f"{fake.host}/{name}"))


def _challenge_basic(fake: FakeRegistry, path: str) -> None:
    """The registry asks for Basic once: after that gate sends it up front."""
    fake.route("*", path, status=401, headers={"WWW-Authenticate": 'Basic realm="fake"'}, times=1)


def _authorizations(requests: list[RecordedRequest]) -> list[str]:
    return [r.headers.get("Authorization", "") for r in requests if r.headers.get("Authorization")]


@pytest.fixture
def elsewhere() -> Iterator[FakeRegistry]:
    """Another host (another port): records every request that reaches it."""
    with FakeRegistry() as other:
        yield other


# -- defect 1: credentials only to their own origin ---------------------------------------------


def test_tag_list_link_to_another_host_gets_no_credentials(
    fake_registry: FakeRegistry, elsewhere: FakeRegistry
) -> None:
    _challenge_basic(fake_registry, r"/v2/app/tags/list")
    fake_registry.route(
        "GET",
        r"/v2/app/tags/list",
        headers={"Link": f'<http://{elsewhere.host}/v2/app/tags/list?last=a>; rel="next"'},
        body=json.dumps({"name": "app", "tags": ["a"]}),
    )
    elsewhere.route("GET", r"/v2/app/tags/list", body=json.dumps({"name": "app", "tags": ["b"]}))
    client, _ = _client(fake_registry)
    assert _repository(client, fake_registry).list_tags() == ["a", "b"]
    assert BASIC in _authorizations(fake_registry.requests)  # the registry itself got the login
    assert elsewhere.requests and _authorizations(elsewhere.requests) == []


def test_bearer_token_stays_with_its_registry(fake_registry: FakeRegistry, elsewhere: FakeRegistry) -> None:
    realm = f"http://{fake_registry.host}/token"
    fake_registry.route(
        "GET",
        r"/v2/app/tags/list",
        status=401,
        headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="fake"'},
        times=1,
    )
    fake_registry.route("GET", r"/token", body=json.dumps({"token": "registry-token-123"}))
    fake_registry.route(
        "GET",
        r"/v2/app/tags/list",
        headers={"Link": f'<http://{elsewhere.host}/v2/app/tags/list?n=1>; rel="next"'},
        body=json.dumps({"tags": ["a"]}),
    )
    elsewhere.route("GET", r"/v2/app/tags/list", body=json.dumps({"tags": []}))
    client, _ = _client(fake_registry)
    assert _repository(client, fake_registry).list_tags() == ["a"]
    assert "Bearer registry-token-123" in _authorizations(fake_registry.requests)
    assert _authorizations(elsewhere.requests) == []


def test_upload_location_on_another_host_gets_no_credentials(
    fake_registry: FakeRegistry, elsewhere: FakeRegistry
) -> None:
    blob = b"signature payload"
    _challenge_basic(fake_registry, r"/v2/app/blobs/.*")
    fake_registry.route(
        "POST", r"/v2/app/blobs/uploads/", status=202, headers={"Location": f"http://{elsewhere.host}/up/1"}
    )
    elsewhere.route("PUT", r"/up/1", status=201, headers={"Docker-Content-Digest": digest_of(blob)})
    client, _ = _client(fake_registry)
    _repository(client, fake_registry).push_blob(blob)
    assert BASIC in _authorizations(fake_registry.requests)
    [put] = elsewhere.requests
    assert put.method == "PUT" and put.body == blob
    assert "Authorization" not in put.headers


def test_another_host_asking_for_a_login_gets_a_clear_refusal(
    fake_registry: FakeRegistry, elsewhere: FakeRegistry
) -> None:
    fake_registry.route(
        "POST", r"/v2/app/blobs/uploads/", status=202, headers={"Location": f"http://{elsewhere.host}/up/1"}
    )
    elsewhere.route("PUT", r"/up/1", status=401, headers={"WWW-Authenticate": 'Basic realm="x"'})
    client, _ = _client(fake_registry)
    with pytest.raises(AuthenticationError, match=r"asks for a login; gate sends .* credentials only to"):
        _repository(client, fake_registry).push_blob(b"x")
    assert _authorizations(elsewhere.requests) == []


def test_blob_redirect_to_storage_is_followed_without_credentials(
    fake_registry: FakeRegistry, elsewhere: FakeRegistry
) -> None:
    """What S3/CDN-backed registries do: a 307 to a signed URL that needs no Authorization."""
    blob = b"layer bytes " * 100
    digest = digest_of(blob)
    _challenge_basic(fake_registry, r"/v2/app/blobs/.*")
    fake_registry.route(
        "GET",
        rf"/v2/app/blobs/{digest}",
        status=307,
        headers={"Location": f"http://{elsewhere.host}/storage/{digest}?signature=abc"},
    )
    elsewhere.route("GET", rf"/storage/{digest}", body=blob)
    client, _ = _client(fake_registry)
    from gate.image.manifest import Descriptor

    data = _repository(client, fake_registry).read_blob(
        Descriptor("application/octet-stream", digest, len(blob)), 1 << 20
    )
    assert data == blob
    assert BASIC in _authorizations(fake_registry.requests)
    assert elsewhere.requests and _authorizations(elsewhere.requests) == []


@pytest.mark.parametrize("header", ["Location", "Link"])
def test_plain_http_to_a_remote_host_named_by_the_registry_is_refused(
    fake_registry: FakeRegistry, header: str
) -> None:
    """A loopback registry may use HTTP; a URL it names on a remote host may not (never contacted)."""
    remote = "http://registry.invalid/v2/app/next"
    fake_registry.route(
        "POST", r"/v2/app/blobs/uploads/", status=202, headers={"Location": remote}
    )
    fake_registry.route(
        "GET", r"/v2/app/tags/list", headers={"Link": f'<{remote}>; rel="next"'}, body='{"tags":[]}'
    )
    fake_registry.route("GET", r"/v2/app/blobs/.*", status=302, headers={"Location": remote})
    client, _ = _client(fake_registry)
    repository = _repository(client, fake_registry)
    with pytest.raises(RegistryError, match=r"refusing plain HTTP to registry.invalid \(named by"):
        if header == "Location":
            repository.push_blob(b"x")
        else:
            repository.list_tags()
    from gate.image.manifest import Descriptor

    with pytest.raises(RegistryError, match=r"refusing plain HTTP to registry.invalid \(named by a redirect"):
        repository.read_blob(Descriptor("x", digest_of(b"x"), 1), 10)


def test_session_carries_no_credentials_of_its_own(
    fake_registry: FakeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials travel per request, per origin: not from the session, not from ~/.netrc."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    fake_registry.route("GET", r"/v2/app/tags/list", body='{"tags": ["a"]}')
    transport = Transport()
    assert transport.session.auth is None
    assert "Authorization" not in transport.session.headers
    client = RegistryClient(transport=transport, credentials={fake_registry.host: None})
    assert _repository(client, fake_registry).list_tags() == ["a"]
    assert _authorizations(fake_registry.requests) == []


# -- defect 2: the digest gate signs is the digest of bytes it read ----------------------------


def test_lying_head_cannot_make_scan_and_sign_pin_different_digests(registry: RegistryServer) -> None:
    host = registry.host
    name = f"liar/{uuid.uuid4().hex[:8]}"
    upstream = RegistryClient().repository(parse_registry_reference(f"{host}/{name}"))
    scanned = build_image([LayerBuilder().add_file("etc/true", b"scanned").build()])
    true_digest = scanned.push(upstream, tag="v1")
    other = build_image([LayerBuilder().add_file("etc/other", b"never scanned").build()])
    other_digest = other.push(upstream, tag="decoy")
    other_size = len(other.manifest)

    def lie(request: RecordedRequest, status: int, headers: dict[str, str], body: bytes) -> tuple:
        if request.method == "HEAD" and request.path.endswith("/manifests/v1"):
            headers = {**headers, "Docker-Content-Digest": other_digest, "Content-Length": str(other_size)}
        return status, headers, body

    with RewritingProxy(host, lie) as proxy:
        reference = f"{proxy.host}/{name}:v1"
        target, _ = open_target(reference, client=RegistryClient())
        assert target.subject.digest == true_digest
        with open_image(reference) as image:
            assert image.digest == true_digest
        signed = run_gate("sign", reference, "--key", COSIGN_KEY, env=KEY_ENV)
        assert signed.returncode == 0, signed.stderr
    tags = upstream.list_tags()
    assert signature_tag(true_digest) in tags
    assert signature_tag(other_digest) not in tags


# -- defect 3: bounded bodies and a total deadline ----------------------------------------------


def _endless() -> Iterator[bytes]:
    return itertools.repeat(b"x" * 65536, 2048)  # 128 MiB at most: the test server stops by itself


def test_endless_token_answer_is_cut_at_its_limit(fake_registry: FakeRegistry) -> None:
    realm = f"http://{fake_registry.host}/token"
    fake_registry.route(
        "GET", r"/v2/app/manifests/v1", status=401, headers={"WWW-Authenticate": f'Bearer realm="{realm}"'}
    )
    fake_registry.route("GET", r"/token", stream=_endless)
    client, _ = _client(fake_registry)
    with pytest.raises(RegistryError, match=r"/token: answer is over the 1048576 byte limit"):
        _repository(client, fake_registry).get_document("v1")


@pytest.mark.parametrize(
    ("path", "call", "limit"),
    [
        (r"/v2/app/tags/list", lambda repo: repo.list_tags(), 8 * 1024 * 1024),
        (r"/v2/app/referrers/sha256:.*", lambda repo: repo.referrers(digest_of(b"s")), 4 * 1024 * 1024),
        (r"/v2/app/manifests/v1", lambda repo: repo.get_document("v1"), 4 * 1024 * 1024),
    ],
)
def test_endless_bodies_are_cut_at_their_limit(
    fake_registry: FakeRegistry, path: str, call: Callable[[RegistryRepository], object], limit: int
) -> None:
    fake_registry.route("GET", path, headers={"Content-Type": "application/json"}, stream=_endless)
    client, _ = _client(fake_registry)
    with pytest.raises(RegistryError, match=f"answer is over the {limit} byte limit"):
        call(_repository(client, fake_registry))


def test_endless_error_body_is_cut_small(fake_registry: FakeRegistry) -> None:
    fake_registry.route("GET", r"/v2/app/manifests/v1", status=400, stream=_endless)
    client, _ = _client(fake_registry)
    with pytest.raises(RegistryError, match=f"over the {MAX_ERROR_BODY} byte limit"):
        _repository(client, fake_registry).get_document("v1")


def test_slow_drip_body_hits_the_total_deadline(fake_registry: FakeRegistry) -> None:
    """555 bytes at 5 bytes a second would take about 2 minutes; the deadline is 1 s."""
    fake_registry.route(
        "GET",
        r"/v2/app/manifests/v1",
        headers={"Content-Type": OCI_MANIFEST, "Content-Length": "555"},
        stream=lambda: (b"{" for _ in range(555)),
        chunk_delay=0.2,
    )
    client, _ = _client(fake_registry, deadline=1.0)
    started = time.monotonic()
    with pytest.raises(RegistryError, match=r"no complete answer within 1 s"):
        _repository(client, fake_registry).get_document("v1")
    assert time.monotonic() - started < 10  # a bound, not a benchmark: the drip needs 111 s


def test_slow_drip_headers_hit_the_total_deadline(fake_registry: FakeRegistry) -> None:
    """The headers themselves at 5 bytes a second: the watchdog shuts the socket down."""
    fake_registry.route(
        "GET",
        r"/v2/app/manifests/v1",
        headers={"Content-Type": OCI_MANIFEST, "X-Padding": "p" * 400},
        drip_headers=0.2,
    )
    client, waits = _client(fake_registry, deadline=1.0)
    started = time.monotonic()
    with pytest.raises(RegistryError, match=r"no complete answer within 1 s"):
        _repository(client, fake_registry).get_document("v1")
    assert time.monotonic() - started < 10
    assert waits == []  # a deadline is final: not retried


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_slow_drip_headers_over_tls_hit_the_total_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watchdog shuts a TLS socket down too (the case of every real registry)."""
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    done = threading.Event()

    def drip() -> None:
        connection, _ = listener.accept()
        with context.wrap_socket(connection, server_side=True) as tls, contextlib.suppress(OSError):
            tls.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 300:  # 60 s at this pace
                if done.is_set():
                    return
                tls.send(bytes([byte]))
                time.sleep(0.2)

    server = threading.Thread(target=drip, daemon=True)
    server.start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    started = time.monotonic()
    with listener, pytest.raises(RegistryError, match=r"no complete answer within 1 s"):
        Transport(deadline=1.0).request("GET", f"https://127.0.0.1:{port}/v2/")
    assert time.monotonic() - started < 10
    done.set()
    server.join(timeout=5)


# -- defect 12: unreachable hosts fail at once; transient faults are retried --------------------


def test_unresolvable_host_fails_without_retrying() -> None:
    waits: list[float] = []
    client = RegistryClient(transport=Transport(sleep=waits.append), credentials={"registry.invalid": None})
    with pytest.raises(RegistryError, match=r"cannot reach registry.invalid: the name does not resolve"):
        open_image("registry.invalid/app:v1", client=client)
    assert waits == []  # the old client slept 4 times (about 8 s) before giving up


def test_refused_connection_fails_without_retrying() -> None:
    waits: list[float] = []
    client = RegistryClient(transport=Transport(sleep=waits.append), credentials={"127.0.0.1:9": None})
    with pytest.raises(RegistryError, match=r"cannot reach 127.0.0.1:9: connection refused"):
        open_image("127.0.0.1:9/app:v1", client=client)
    assert waits == []


def test_connection_reset_is_still_retried(fake_registry: FakeRegistry) -> None:
    built = build_image([LayerBuilder().add_file("etc/x", b"x").build()])
    fake_registry.route("GET", r"/v2/app/manifests/v1", drop=True, times=2)
    fake_registry.route(
        "GET", r"/v2/app/manifests/v1", body=built.manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    client, waits = _client(fake_registry, attempts=4)
    document = _repository(client, fake_registry).get_document("v1")
    assert document.digest == built.digest
    assert len(waits) == 2
