"""The test servers themselves, exercised with plain ``requests``."""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests import servers
from tests.servers import (
    INSTALL_HINT,
    FakeRegistry,
    RegistryBinaryMissing,
    RegistryServer,
    SigningKey,
    TokenIssuer,
)

TIMEOUT = 10


def challenge(response: requests.Response) -> tuple[str, dict[str, str]]:
    """``WWW-Authenticate: Scheme k="v",...`` as (scheme, params)."""
    header = response.headers["WWW-Authenticate"]
    scheme, _, rest = header.partition(" ")
    return scheme, dict(re.findall(r'(\w+)="([^"]*)"', rest))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def unique_repo() -> str:
    return f"t/{secrets.token_hex(4)}"


def fetch_token(server: RegistryServer, *scopes: str) -> str:
    issuer = server.issuer
    assert issuer is not None
    response = requests.get(
        issuer.url,
        params={"service": issuer.service, "scope": list(scopes)},
        auth=(issuer.username, issuer.password),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert body["issued_at"]
    return str(body["token"])


def upload_blob(url: str, repo: str, data: bytes, headers: dict[str, str]) -> str:
    """POST to open an upload session, then a monolithic PUT with the digest."""
    digest = digest_of(data)
    started = requests.post(f"{url}/v2/{repo}/blobs/uploads/", headers=headers, timeout=TIMEOUT)
    assert started.status_code == 202, started.text
    location = requests.compat.urljoin(url, started.headers["Location"])
    put = requests.put(
        location,
        params={"digest": digest},
        data=data,
        headers={**headers, "Content-Type": "application/octet-stream"},
        timeout=TIMEOUT,
    )
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == digest
    return digest


def head_blob(url: str, repo: str, digest: str, headers: dict[str, str]) -> requests.Response:
    return requests.head(f"{url}/v2/{repo}/blobs/{digest}", headers=headers, timeout=TIMEOUT)


# --------------------------------------------------------------------------- anonymous


def test_anonymous_registry_answers_v2(registry: RegistryServer) -> None:
    response = requests.get(f"{registry.url}/v2/", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert registry.host.startswith("127.0.0.1:")
    assert registry.url == f"http://{registry.host}"
    assert registry.username is None
    assert registry.password is None
    assert registry.issuer is None
    assert registry.storage_dir.is_dir()
    assert registry.log_path.is_file()


def test_anonymous_registry_stores_and_deletes_blobs(registry: RegistryServer) -> None:
    repo = unique_repo()
    digest = upload_blob(registry.url, repo, b"layer bytes", {})
    head = head_blob(registry.url, repo, digest, {})
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(b"layer bytes"))
    # storage.delete.enabled is on
    deleted = requests.delete(f"{registry.url}/v2/{repo}/blobs/{digest}", timeout=TIMEOUT)
    assert deleted.status_code == 202
    assert head_blob(registry.url, repo, digest, {}).status_code == 404


def test_single_post_is_not_a_monolithic_upload_in_distribution_2_8(registry: RegistryServer) -> None:
    """``POST .../uploads/?digest=`` with a body only opens a session: the body is dropped."""
    repo, data = unique_repo(), b"monolithic?"
    response = requests.post(
        f"{registry.url}/v2/{repo}/blobs/uploads/",
        params={"digest": digest_of(data)},
        data=data,
        timeout=TIMEOUT,
    )
    assert response.status_code == 202
    assert head_blob(registry.url, repo, digest_of(data), {}).status_code == 404


def test_make_registry_starts_a_fresh_one(
    make_registry: Callable[..., RegistryServer], registry: RegistryServer
) -> None:
    fresh = make_registry()
    assert isinstance(fresh, RegistryServer)
    assert fresh.url != registry.url
    assert fresh.storage_dir != registry.storage_dir
    catalog = requests.get(f"{fresh.url}/v2/_catalog", timeout=TIMEOUT)
    assert catalog.json() == {"repositories": []}
    upload_blob(fresh.url, "fresh/repo", b"x", {})
    catalog = requests.get(f"{fresh.url}/v2/_catalog", timeout=TIMEOUT)
    assert catalog.json() == {"repositories": ["fresh/repo"]}


def test_missing_binary_names_the_package(tmp_path: Path) -> None:
    server = RegistryServer(tmp_path, binary=str(tmp_path / "no-such-registry"))
    with pytest.raises(RegistryBinaryMissing, match=re.escape(INSTALL_HINT)):
        server.start()


# --------------------------------------------------------------------------- basic auth


def test_basic_registry_requires_credentials(basic_registry: RegistryServer) -> None:
    assert basic_registry.username == "alice"
    assert basic_registry.password
    url = f"{basic_registry.url}/v2/"

    anonymous = requests.get(url, timeout=TIMEOUT)
    assert anonymous.status_code == 401
    assert challenge(anonymous) == ("Basic", {"realm": "gate-test"})

    wrong = requests.get(url, auth=("alice", "wrong"), timeout=TIMEOUT)
    assert wrong.status_code == 401

    right = requests.get(url, auth=(basic_registry.username, basic_registry.password), timeout=TIMEOUT)
    assert right.status_code == 200


# --------------------------------------------------------------------------- token auth


def test_token_registry_challenges_with_bearer(token_registry: RegistryServer) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    assert token_registry.username == "bob" == issuer.username
    assert token_registry.password == issuer.password

    base = requests.get(f"{token_registry.url}/v2/", timeout=TIMEOUT)
    assert base.status_code == 401
    assert challenge(base) == ("Bearer", {"realm": issuer.url, "service": "gate-test-registry"})

    repo = unique_repo()
    tags = requests.get(f"{token_registry.url}/v2/{repo}/tags/list", timeout=TIMEOUT)
    assert tags.status_code == 401
    assert challenge(tags) == (
        "Bearer",
        {"realm": issuer.url, "service": "gate-test-registry", "scope": f"repository:{repo}:pull"},
    )


@pytest.mark.parametrize("header", ["x5c", "kid"])
def test_token_registry_accepts_issued_tokens(
    token_registry: RegistryServer, monkeypatch: pytest.MonkeyPatch, header: str
) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    monkeypatch.setattr(issuer, "header", header)
    before = len(issuer.requests)
    repo = unique_repo()

    token = fetch_token(token_registry, f"repository:{repo}:pull,push")

    [request] = issuer.requests[before:]
    assert request.method == "GET"
    assert request.scopes == [f"repository:{repo}:pull,push"]
    assert request.authorized
    assert request.username == "bob"
    assert request.service == "gate-test-registry"

    assert (
        requests.get(f"{token_registry.url}/v2/", headers=bearer(token), timeout=TIMEOUT).status_code == 200
    )
    data = f"blob for {header}".encode()
    digest = upload_blob(token_registry.url, repo, data, bearer(token))
    head = head_blob(token_registry.url, repo, digest, bearer(token))
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.headers["Content-Length"] == str(len(data))


def test_token_registry_enforces_scope(token_registry: RegistryServer) -> None:
    repo = unique_repo()
    token = fetch_token(token_registry, f"repository:{repo}:pull")
    push = requests.post(
        f"{token_registry.url}/v2/{repo}/blobs/uploads/", headers=bearer(token), timeout=TIMEOUT
    )
    assert push.status_code == 401
    scheme, params = challenge(push)
    assert scheme == "Bearer"
    assert params["error"] == "insufficient_scope"
    # the order of the actions varies from one answer to the next (a Go map underneath)
    kind, name, actions = params["scope"].split(":")
    assert (kind, name, sorted(actions.split(","))) == ("repository", repo, ["pull", "push"])


@pytest.mark.parametrize("header", ["x5c", "kid"])
def test_token_signed_by_another_key_is_refused(token_registry: RegistryServer, header: str) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    claims = issuer.claims("bob", issuer.service, [])
    assert requests.get(
        f"{token_registry.url}/v2/", headers=bearer(issuer.signing_key.sign(claims)), timeout=TIMEOUT
    ).ok

    forged = SigningKey.generate(issuer.issuer).sign(claims, header="kid" if header == "kid" else "x5c")
    response = requests.get(f"{token_registry.url}/v2/", headers=bearer(forged), timeout=TIMEOUT)
    assert response.status_code == 401
    assert challenge(response)[1]["error"] == "invalid_token"


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("iss", "someone-else"),
        ("aud", "another-registry"),
        ("aud", ["gate-test-registry"]),  # distribution 2.8 wants a string audience
        ("exp", -120),  # relative to now; 60 s of leeway are allowed
        ("nbf", 120),
    ],
)
def test_token_registry_checks_claims(token_registry: RegistryServer, claim: str, value: object) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    claims = issuer.claims("bob", issuer.service, [])
    if claim in ("exp", "nbf"):
        assert isinstance(value, int)
        claims[claim] = int(time.time()) + value
    else:
        claims[claim] = value
    token = issuer.signing_key.sign(claims)
    assert (
        requests.get(f"{token_registry.url}/v2/", headers=bearer(token), timeout=TIMEOUT).status_code == 401
    )


def test_token_registry_allows_60_seconds_of_clock_skew(token_registry: RegistryServer) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    claims = issuer.claims("bob", issuer.service, [])
    claims["exp"] = int(time.time()) - 20
    token = issuer.signing_key.sign(claims)
    assert (
        requests.get(f"{token_registry.url}/v2/", headers=bearer(token), timeout=TIMEOUT).status_code == 200
    )


def test_issuer_refuses_wrong_or_missing_credentials(token_registry: RegistryServer) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    before = len(issuer.requests)
    params = {"service": issuer.service, "scope": "repository:t/x:pull"}

    wrong = requests.get(issuer.url, params=params, auth=("bob", "not-the-password"), timeout=TIMEOUT)
    assert wrong.status_code == 401
    assert challenge(wrong)[0] == "Basic"
    missing = requests.get(issuer.url, params=params, timeout=TIMEOUT)
    assert missing.status_code == 401

    first, second = issuer.requests[before:]
    assert (first.authorized, first.username, first.status) == (True, None, 401)
    assert (second.authorized, second.username, second.status) == (False, None, 401)


def test_issuer_oauth2_password_and_refresh_grants(token_registry: RegistryServer) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    repo = unique_repo()
    form = {
        "grant_type": "password",
        "username": issuer.username,
        "password": issuer.password,
        "service": issuer.service,
        "scope": f"repository:{repo}:pull,push",
        "client_id": "gate-tests",
        "access_type": "offline",
    }
    before = len(issuer.requests)
    answer = requests.post(issuer.url, data=form, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    token, refresh = answer.json()["access_token"], answer.json()["refresh_token"]
    upload_blob(token_registry.url, repo, b"oauth2", bearer(token))

    refreshed = requests.post(
        issuer.url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": issuer.service,
            "scope": f"repository:{repo}:pull",
        },
        timeout=TIMEOUT,
    )
    assert refreshed.status_code == 200, refreshed.text
    digest = digest_of(b"oauth2")
    assert head_blob(token_registry.url, repo, digest, bearer(refreshed.json()["access_token"])).ok

    bad = requests.post(issuer.url, data={**form, "password": "nope"}, timeout=TIMEOUT)
    assert bad.status_code == 401

    grants = [(r.method, r.grant_type, r.username) for r in issuer.requests[before:]]
    assert grants == [
        ("POST", "password", "bob"),
        ("POST", "refresh_token", "bob"),
        ("POST", "password", None),
    ]


def test_issuer_can_serve_anonymous_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    with TokenIssuer() as issuer:
        monkeypatch.setattr(issuer, "anonymous", True)
        response = requests.get(issuer.url, params={"scope": "repository:a/b:pull"}, timeout=TIMEOUT)
        assert response.status_code == 200
        [request] = issuer.requests
        assert (request.authorized, request.username) == (False, None)


# --------------------------------------------------------------------------- fake registry


def test_fake_registry_routes_in_order_with_times(fake_registry: FakeRegistry) -> None:
    fake_registry.route("GET", r"/v2/", status=503, headers={"Retry-After": "0"}, times=2)
    fake_registry.route("GET", r"/v2/", status=200, body=b"{}", headers={"Content-Type": "application/json"})
    url = f"{fake_registry.url}/v2/"

    statuses = [requests.get(url, timeout=TIMEOUT).status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    assert requests.get(url, timeout=TIMEOUT).json() == {}
    assert requests.post(url, timeout=TIMEOUT).status_code == 404  # method does not match
    assert requests.get(f"{fake_registry.url}/v2/other", timeout=TIMEOUT).status_code == 404


def test_fake_registry_records_requests(fake_registry: FakeRegistry) -> None:
    fake_registry.route("*", r"/v2/[^/]+/blobs/uploads/", status=201, headers={"Location": "/done"})
    fake_registry.route("PUT", r"/v2/x/blobs/uploads/\?digest=sha256:.*", status=400)
    response = requests.post(
        f"{fake_registry.url}/v2/x/blobs/uploads/",
        data=b"payload",
        headers={"X-Probe": "1"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201
    assert response.headers["Location"] == "/done"
    # the bare path matches the first route whatever the query
    assert requests.put(f"{fake_registry.url}/v2/x/blobs/uploads/?digest=sha256:ab", timeout=TIMEOUT).ok

    first, second = fake_registry.requests
    assert (first.method, first.path, first.headers["X-Probe"], first.body) == (
        "POST",
        "/v2/x/blobs/uploads/",
        "1",
        b"payload",
    )
    assert (second.method, second.path) == ("PUT", "/v2/x/blobs/uploads/?digest=sha256:ab")


def test_fake_registry_matches_query_and_fakes_short_bodies(fake_registry: FakeRegistry) -> None:
    fake_registry.route("GET", r"/v2/x/tags/list\?n=1", body=b'{"tags":["a"]}')
    fake_registry.route("GET", r"/v2/x/blobs/sha256:.*", body=b"short", headers={"Content-Length": "100"})
    fake_registry.route("HEAD", r"/v2/x/manifests/latest", headers={"Docker-Content-Digest": "sha256:00"})

    assert requests.get(f"{fake_registry.url}/v2/x/tags/list?n=1", timeout=TIMEOUT).json() == {"tags": ["a"]}
    assert requests.get(f"{fake_registry.url}/v2/x/tags/list", timeout=TIMEOUT).status_code == 404
    head = requests.head(f"{fake_registry.url}/v2/x/manifests/latest", timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == "sha256:00"
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{fake_registry.url}/v2/x/blobs/sha256:ab", timeout=TIMEOUT)


def test_registry_retries_when_its_port_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        ports = iter([squatter.getsockname()[1]])
        real_free_port = servers.free_port
        monkeypatch.setattr(servers, "free_port", lambda: next(ports, None) or real_free_port())
        with RegistryServer(tmp_path) as server:
            assert server.port != squatter.getsockname()[1]
            assert requests.get(f"{server.url}/v2/", timeout=TIMEOUT).status_code == 200
        assert "address already in use" in server.log_path.read_text()
        assert not server.running
