"""Real and scripted registries for integration tests.

* :class:`RegistryServer` runs the CNCF distribution registry (``/usr/bin/docker-registry``,
  Debian package ``docker-registry``) on 127.0.0.1, anonymous, with htpasswd (basic) auth,
  or with token auth backed by :class:`TokenIssuer`.
* :class:`TokenIssuer` is a small Docker token server (``GET``/``POST /token``) signing
  ES256 JWTs that the real registry verifies.
* :class:`FakeRegistry` answers with canned responses, for faults no real registry makes.

Nothing here imports pytest: ``conftest.py`` turns :class:`ServerError` into test failures.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import http.server
import json
import random
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol

import bcrypt
import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REGISTRY_BINARY = "/usr/bin/docker-registry"
INSTALL_HINT = "apt-get install docker-registry"

TOKEN_SERVICE = "gate-test-registry"
TOKEN_ISSUER = "gate-test-issuer"

LOOPBACK = "127.0.0.1"


class ServerError(RuntimeError):
    """A test server that could not be started."""


class RegistryBinaryMissing(ServerError):
    """The distribution registry binary is not installed."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _yaml_str(value: str | Path) -> str:
    # A JSON string is a valid YAML double-quoted scalar.
    return json.dumps(str(value))


# --------------------------------------------------------------------------- signing keys


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The key ID docker/libtrust derives from a public key (what distribution matches ``kid`` to).

    SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32, in colon-separated groups of 4.
    """
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@dataclass(frozen=True)
class SigningKey:
    """A P-256 key with a self-signed CA certificate, as a token issuer holds."""

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def generate(cls, common_name: str = TOKEN_ISSUER) -> SigningKey:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @property
    def key_id(self) -> str:
        return libtrust_key_id(self.private_key.public_key())

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def x5c(self) -> list[str]:
        return [base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")]

    def sign(self, claims: Mapping[str, object], *, header: Literal["x5c", "kid"] = "x5c") -> str:
        """An ES256 JWT whose header names this key the way distribution understands."""
        headers: dict[str, object] = {"typ": "JWT"}
        if header == "x5c":
            headers["x5c"] = self.x5c
        else:
            headers["kid"] = self.key_id
        return jwt.encode(dict(claims), self.private_key, algorithm="ES256", headers=headers)


# --------------------------------------------------------------------------- token issuer


@dataclass(frozen=True)
class TokenRequest:
    """One request the token issuer received."""

    method: str
    scopes: list[str]
    authorized: bool  # an Authorization header (or form credentials) was present
    username: str | None  # the authenticated user, None when anonymous or refused
    service: str | None = None
    grant_type: str | None = None  # POST only: "password" or "refresh_token"
    status: int = 200


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Scope:
        """``repository:NAME:pull,push``; the name may itself hold colons (``registry:catalog:*``)."""
        kind, _, rest = text.partition(":")
        name, _, actions = rest.rpartition(":")
        if not kind or not name:
            raise ValueError(f"bad scope {text!r}")
        return cls(kind, name, tuple(a for a in actions.split(",") if a))


GrantPolicy = Callable[[str | None, Scope], Iterable[str]]


def grant_everything(username: str | None, scope: Scope) -> Iterable[str]:
    return scope.actions


class TokenIssuer:
    """A Docker token server: ``GET /token`` (Basic auth) and ``POST /token`` (OAuth2 form).

    Grants every requested action to ``username``/``password``; set :attr:`policy` to change
    that, :attr:`anonymous` to let clients without credentials have tokens, :attr:`expires_in`
    to shorten their life. Every request lands in :attr:`requests`.
    """

    def __init__(
        self,
        *,
        username: str = "bob",
        password: str | None = None,
        service: str = TOKEN_SERVICE,
        issuer: str = TOKEN_ISSUER,
        signing_key: SigningKey | None = None,
        header: Literal["x5c", "kid"] = "x5c",
    ) -> None:
        self.username = username
        self.password = password if password is not None else secrets.token_urlsafe(16)
        self.service = service
        self.issuer = issuer
        self.signing_key = signing_key or SigningKey.generate(issuer)
        self.header: Literal["x5c", "kid"] = header
        self.expires_in = 300
        self.anonymous = False
        self.policy: GrantPolicy = grant_everything
        self.requests: list[TokenRequest] = []
        self.refresh_tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None

    # -- lifecycle

    @property
    def port(self) -> int:
        if self._server is None:
            raise ServerError("token issuer is not running")
        return self._server.port

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        """The realm: ``http://127.0.0.1:PORT/token``."""
        return f"http://{self.host}/token"

    def start(self) -> TokenIssuer:
        if self._server is None:
            self._server = _Server(_TokenHandler, self)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> TokenIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- tokens

    def claims(self, username: str | None, service: str, scopes: Iterable[Scope]) -> dict[str, object]:
        """The claim set for a token granting ``policy(username, scope)`` for each scope."""
        now = int(time.time())
        access = []
        for scope in scopes:
            granted = set(self.policy(username, scope))
            actions = [a for a in scope.actions if a in granted]
            access.append({"type": scope.type, "name": scope.name, "actions": actions})
        return {
            "iss": self.issuer,
            "sub": username or "",
            "aud": service,
            "exp": now + self.expires_in,
            "nbf": now,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }

    def issue(self, username: str | None, service: str | None = None, scopes: Iterable[str] = ()) -> str:
        """A signed token, as the HTTP endpoint would hand out (tests may call this directly)."""
        parsed = [Scope.parse(s) for s in scopes]
        return self.signing_key.sign(
            self.claims(username, service or self.service, parsed), header=self.header
        )

    def check_password(self, username: str, password: str) -> bool:
        same_user = secrets.compare_digest(username.encode(), self.username.encode())
        return secrets.compare_digest(password.encode(), self.password.encode()) and same_user

    def record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def new_refresh_token(self, username: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.refresh_tokens[token] = username
        return token


def _split_scopes(values: Iterable[str]) -> list[str]:
    return [part for value in values for part in value.split(" ") if part]


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        headers = dict(headers or {})
        has_length = any(k.lower() == "content-length" for k in headers)
        for key, value in headers.items():
            self.send_header(key, value)
        if not has_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _TokenHandler(_QuietHandler):
    @property
    def issuer(self) -> TokenIssuer:
        owner = self.server.owner
        assert isinstance(owner, TokenIssuer)
        return owner

    def do_GET(self) -> None:
        issuer = self.issuer
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        scopes = _split_scopes(query.get("scope", []))
        service = query.get("service", [None])[0]
        auth = self.headers.get("Authorization")
        if url.path != "/token":
            self.send(404)
            return
        creds = _basic_credentials(auth)
        username = creds[0] if creds and issuer.check_password(*creds) else None
        if username is None and (auth is not None or not issuer.anonymous):
            issuer.record(TokenRequest("GET", scopes, auth is not None, None, service, status=401))
            self.json(
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                {"WWW-Authenticate": f'Basic realm="{issuer.issuer}"'},
            )
            return
        issuer.record(TokenRequest("GET", scopes, auth is not None, username, service))
        token = issuer.issue(username, service, scopes)
        answer: dict[str, object] = {
            "token": token,
            "access_token": token,
            "expires_in": issuer.expires_in,
            "issued_at": _now_rfc3339(),
        }
        if username and query.get("offline_token", [""])[0].lower() == "true":
            answer["refresh_token"] = issuer.new_refresh_token(username)
        self.json(200, answer)

    def do_POST(self) -> None:
        issuer = self.issuer
        if urllib.parse.urlsplit(self.path).path != "/token":
            self.read_body()
            self.send(404)
            return
        form = urllib.parse.parse_qs(self.read_body().decode("utf-8", "replace"))

        def one(name: str) -> str | None:
            return form.get(name, [None])[0]

        grant_type = one("grant_type")
        service = one("service")
        scopes = _split_scopes(form.get("scope", []))
        username: str | None = None
        presented = False
        if grant_type == "password":
            presented = one("username") is not None
            user, password = one("username") or "", one("password") or ""
            username = user if issuer.check_password(user, password) else None
        elif grant_type == "refresh_token":
            presented = one("refresh_token") is not None
            username = issuer.refresh_tokens.get(one("refresh_token") or "")
        if username is None:
            status = 401 if grant_type in ("password", "refresh_token") else 400
            issuer.record(TokenRequest("POST", scopes, presented, None, service, grant_type, status))
            self.json(status, {"error": "invalid_grant" if status == 401 else "unsupported_grant_type"})
            return
        issuer.record(TokenRequest("POST", scopes, presented, username, service, grant_type))
        answer: dict[str, object] = {
            "access_token": issuer.issue(username, service, scopes),
            "expires_in": issuer.expires_in,
            "issued_at": _now_rfc3339(),
            "scope": " ".join(scopes),
        }
        if grant_type == "refresh_token":
            answer["refresh_token"] = one("refresh_token")
        elif one("access_type") == "offline":
            answer["refresh_token"] = issuer.new_refresh_token(username)
        self.json(200, answer)

    def json(self, status: int, payload: object, headers: Mapping[str, str] | None = None) -> None:
        self.send(
            status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})}
        )


def _now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: object


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 at a free port, serving in a daemon thread."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler], owner: object) -> None:
        self.httpd = _HTTPServer((LOOPBACK, 0), handler)
        self.httpd.owner = owner
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name=f"test-http-{self.port}", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


# --------------------------------------------------------------------------- real registry


class RegistryAuth(Protocol):
    @property
    def username(self) -> str | None: ...

    @property
    def password(self) -> str | None: ...

    def config(self) -> str:
        """The ``auth:`` section of the registry configuration."""
        ...


@dataclass
class HtpasswdAuth:
    """``auth: htpasswd`` with one bcrypt user."""

    path: Path
    username: str = "alice"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def __post_init__(self) -> None:
        hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=5)).decode()
        self.path.write_text(f"{self.username}:{hashed}\n")

    def config(self) -> str:
        return f"auth:\n  htpasswd:\n    realm: gate-test\n    path: {_yaml_str(self.path)}\n"


@dataclass
class TokenAuth:
    """``auth: token`` trusting :attr:`issuer`'s certificate; the issuer must be started."""

    issuer: TokenIssuer
    cert_path: Path

    def __post_init__(self) -> None:
        self.cert_path.write_bytes(self.issuer.signing_key.certificate_pem)

    @property
    def username(self) -> str:
        return self.issuer.username

    @property
    def password(self) -> str:
        return self.issuer.password

    def config(self) -> str:
        return (
            "auth:\n  token:\n"
            f"    realm: {_yaml_str(self.issuer.url)}\n"
            f"    service: {_yaml_str(self.issuer.service)}\n"
            f"    issuer: {_yaml_str(self.issuer.issuer)}\n"
            f"    rootcertbundle: {_yaml_str(self.cert_path)}\n"
        )


class RegistryServer:
    """``docker-registry serve`` on 127.0.0.1 at a free port, storing under ``workdir``.

    Attributes once started: ``host`` ("127.0.0.1:PORT"), ``url``, ``username`` and
    ``password`` (None when anonymous), ``issuer`` (the :class:`TokenIssuer`, token auth
    only), ``storage_dir``, ``log_path``, ``config_path``.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        auth: RegistryAuth | None = None,
        binary: str = REGISTRY_BINARY,
        startup_timeout: float = 10.0,
        access_log: bool = False,
    ) -> None:
        self.workdir = workdir
        self.auth = auth
        self.access_log = access_log  # every request in log_path, for tests that count requests
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.storage_dir = workdir / "storage"
        self.log_path = workdir / "registry.log"
        self.config_path = workdir / "config.yml"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def username(self) -> str | None:
        return self.auth.username if self.auth else None

    @property
    def password(self) -> str | None:
        return self.auth.password if self.auth else None

    @property
    def issuer(self) -> TokenIssuer | None:
        return self.auth.issuer if isinstance(self.auth, TokenAuth) else None

    def __repr__(self) -> str:
        kind = type(self.auth).__name__ if self.auth else "anonymous"
        return f"<RegistryServer {self.url} {kind}>"

    def config(self) -> str:
        return (
            "version: 0.1\n"
            "log:\n  level: warn\n  formatter: text\n"
            f"  accesslog:\n    disabled: {'false' if self.access_log else 'true'}\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {_yaml_str(self.storage_dir)}\n"
            "  delete:\n    enabled: true\n"
            "  maintenance:\n    uploadpurging:\n      enabled: false\n"
            "http:\n"
            f"  addr: {_yaml_str(self.host)}\n"
            f"  secret: {_yaml_str(secrets.token_hex(16))}\n"
            "  headers:\n    X-Content-Type-Options: [nosniff]\n" + (self.auth.config() if self.auth else "")
        )

    def start(self, attempts: int = 3) -> RegistryServer:
        """Start and wait for ``GET /v2/``; retries on another port if the one picked was taken."""
        if shutil.which(self.binary) is None:
            raise RegistryBinaryMissing(
                f"{self.binary} not found: integration tests need the CNCF distribution registry "
                f"({INSTALL_HINT})"
            )
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        problem = "was not started"
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            self.config_path.write_text(self.config())
            self._log = self.log_path.open("ab")
            self._log.write(f"--- start {self.url} (attempt {attempt})\n".encode())
            self._log.flush()
            self._process = subprocess.Popen(
                [self.binary, "serve", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
            if self._wait_ready():
                return self
            code = self._process.poll()
            self.stop()
            if code is None:
                problem = f"did not answer {self.url}/v2/ within {self.startup_timeout:g} s"
                break
            problem = f"exited with status {code}"
            if "address already in use" not in self.log_tail():
                break
        raise ServerError(f"{self.binary} {problem}; log ({self.log_path}):\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401):
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=5)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


RegistryFlavour = Literal["anonymous", "basic", "token"]


@contextlib.contextmanager
def running_registry(workdir: Path, flavour: RegistryFlavour = "anonymous") -> Iterator[RegistryServer]:
    """A started registry of the given flavour (token: with its own issuer), stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        auth: RegistryAuth | None = None
        if flavour == "basic":
            auth = HtpasswdAuth(workdir / "htpasswd")
        elif flavour == "token":
            issuer = stack.enter_context(TokenIssuer())
            auth = TokenAuth(issuer, workdir / "token-issuer.pem")
        yield stack.enter_context(RegistryServer(workdir, auth=auth))


# --------------------------------------------------------------------------- fake registry


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Route:
    method: str  # "*" matches any
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: bytes
    times: int | None
    delay: float = 0.0
    hits: int = 0
    stream: Callable[[], Iterable[bytes]] | None = None  # body chunks, no Content-Length, then close
    chunk_delay: float = 0.0  # sleep before each streamed chunk
    drip_headers: float = 0.0  # send the status line and headers one byte per this many seconds
    drop: bool = False  # close the connection without answering (a reset)

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        bare = path.split("?", 1)[0]
        return bool(self.pattern.fullmatch(bare) or self.pattern.fullmatch(path))


class FakeRegistry:
    """A scriptable HTTP server: canned answers by method and path regex, 404 otherwise.

    ``route(method, path_regex, ...)``: the first route whose method matches (``"*"`` for any)
    and whose regex fully matches the path, with or without its query string, answers;
    a route with ``times=N`` answers N times and then lets requests fall through to later
    routes. Headers given replace the computed ones (a ``Content-Length`` given is sent as is,
    so a short body can be faked). ``delay`` sleeps before answering.

    Hostile answers: ``stream`` yields body chunks (sent without a length, ``chunk_delay``
    apart, until the client hangs up or the chunks end), ``drip_headers`` sends the head one
    byte at a time, ``drop`` hangs up without a word.
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise ServerError("fake registry is not running")
        return self._server.port

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def route(
        self,
        method: str,
        path_regex: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
        times: int | None = None,
        delay: float = 0.0,
        *,
        stream: Callable[[], Iterable[bytes]] | None = None,
        chunk_delay: float = 0.0,
        drip_headers: float = 0.0,
        drop: bool = False,
    ) -> Route:
        data = body.encode() if isinstance(body, str) else body
        route = Route(
            method.upper(),
            re.compile(path_regex),
            status,
            dict(headers or {}),
            data,
            times,
            delay,
            stream=stream,
            chunk_delay=chunk_delay,
            drip_headers=drip_headers,
            drop=drop,
        )
        with self._lock:
            self.routes.append(route)
        return route

    def answer(self, request: RecordedRequest) -> Route | None:
        with self._lock:
            self.requests.append(request)
            for route in self.routes:
                if route.matches(request.method, request.path):
                    route.hits += 1
                    return route
        return None

    def start(self) -> FakeRegistry:
        if self._server is None:
            self._server = _Server(_FakeHandler, self)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FakeRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _FakeHandler(_QuietHandler):
    def handle_any(self) -> None:
        fake = self.server.owner
        assert isinstance(fake, FakeRegistry)
        body = self.read_body()
        request = RecordedRequest(self.command, self.path, dict(self.headers.items()), body)
        route = fake.answer(request)
        if route is None:
            self.send(
                404,
                b'{"errors":[{"code":"NOT_FOUND","message":"no route"}]}',
                {"Content-Type": "application/json"},
            )
            return
        if route.delay:
            time.sleep(route.delay)
        if route.drop:
            self.close_connection = True
            return
        if route.stream is not None or route.drip_headers:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.send_hostile(route)
            return
        self.send(route.status, route.body, route.headers)
        if any(k.lower() == "content-length" for k in route.headers):
            self.close_connection = True

    def send_hostile(self, route: Route) -> None:
        head = f"HTTP/1.1 {route.status} Hostile\r\n".encode()
        headers = {"Connection": "close", **route.headers}
        if route.stream is None and not any(k.lower() == "content-length" for k in headers):
            headers["Content-Length"] = str(len(route.body))
        head += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n"
        deadline = time.monotonic() + 60  # a test server stops by itself
        if route.drip_headers:
            for byte in head:
                if time.monotonic() > deadline:
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(route.drip_headers)
        else:
            self.wfile.write(head)
        chunks = route.stream() if route.stream is not None else [route.body]
        for chunk in chunks:
            if time.monotonic() > deadline:
                return
            if route.chunk_delay:
                time.sleep(route.chunk_delay)
            self.wfile.write(chunk)
            self.wfile.flush()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


# --------------------------------------------------------------------------- lying proxy


Rewrite = Callable[[RecordedRequest, int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]
_HOP_BY_HOP = {"connection", "transfer-encoding", "keep-alive", "content-length"}


class RewritingProxy:
    """Forwards every request to a real registry and lets ``rewrite`` change the answer.

    ``rewrite(request, status, headers, body) -> (status, headers, body)``: a registry that
    lies (a HEAD naming another digest, say) on top of real content. Bodies are buffered; the
    Host header is forwarded, so the registry's own URLs point back at the proxy.
    """

    def __init__(self, upstream: str, rewrite: Rewrite) -> None:
        self.upstream = upstream
        self.rewrite = rewrite
        self.requests: list[RecordedRequest] = []
        self._server: _Server | None = None

    @property
    def host(self) -> str:
        if self._server is None:
            raise ServerError("proxy is not running")
        return f"{LOOPBACK}:{self._server.port}"

    def __enter__(self) -> RewritingProxy:
        self._server = _Server(_ProxyHandler, self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


class _ProxyHandler(_QuietHandler):
    def handle_any(self) -> None:
        proxy = self.server.owner
        assert isinstance(proxy, RewritingProxy)
        body = self.read_body()
        request = RecordedRequest(self.command, self.path, dict(self.headers.items()), body)
        proxy.requests.append(request)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        answer = requests.request(
            self.command,
            f"http://{proxy.upstream}{self.path}",
            headers=headers,
            data=body,
            allow_redirects=False,
            timeout=30,
        )
        answered = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
        if self.command == "HEAD" and "Content-Length" in answer.headers:
            answered["Content-Length"] = answer.headers["Content-Length"]
        status, answered, content = proxy.rewrite(request, answer.status_code, answered, answer.content)
        self.send(status, content, answered)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


# --------------------------------------------------------------------------- fault injection

FAULTS = (
    "503", "429", "reset", "reset-after-forward", "truncate", "corrupt", "slow", "slow-body", "lying-digest",
)  # fmt: skip
LIE = "sha256:" + hashlib.sha256(b"a digest the registry made up").hexdigest()


class FaultyProxy:
    """Forwards to a real registry, injecting a fault into a ``rate`` share of requests.

    Faults (:data:`FAULTS`): 503 and 429 (``Retry-After: 1``) answered without forwarding; a
    reset before forwarding and one after (the registry acted, the client never hears);
    a truncated body (the full ``Content-Length``, half the bytes); a corrupted body (one byte
    flipped: the digest check must catch it); a slow answer; a body dripped in four pieces;
    a lying ``Docker-Content-Digest`` (on HEADs, GETs and PUTs alike). Seeded, so a run is
    reproducible.
    ``injected`` counts each fault.
    """

    def __init__(self, upstream: str, rate: float, seed: int) -> None:
        self.upstream = upstream
        self.rate = rate
        self.random = random.Random(seed)  # noqa: S311 - reproducible fault choice, not a secret
        self.lock = threading.Lock()
        self.injected: dict[str, int] = {}
        self.requests = 0
        self._server: _Server | None = None

    @property
    def host(self) -> str:
        if self._server is None:
            raise ServerError("proxy is not running")
        return f"{LOOPBACK}:{self._server.port}"

    def draw(self) -> str | None:
        with self.lock:
            self.requests += 1
            if self.random.random() >= self.rate:
                return None
            fault = self.random.choice(FAULTS)
            self.injected[fault] = self.injected.get(fault, 0) + 1
            return fault

    def __enter__(self) -> FaultyProxy:
        self._server = _Server(_FaultyHandler, self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


class _FaultyHandler(_QuietHandler):
    def handle_any(self) -> None:
        proxy = self.server.owner
        assert isinstance(proxy, FaultyProxy)
        body = self.read_body()
        fault = proxy.draw()
        if fault in ("503", "429"):
            self.send(int(fault), b'{"errors":[]}', {"Retry-After": "1"} if fault == "429" else {})
            return
        if fault == "reset":
            self.close_connection = True
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        answer = requests.request(
            self.command,
            f"http://{proxy.upstream}{self.path}",
            headers=headers,
            data=body,
            allow_redirects=False,
            timeout=30,
        )
        if fault == "reset-after-forward":
            self.close_connection = True
            return
        answered = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
        content = answer.content
        if self.command == "HEAD" and "Content-Length" in answer.headers:
            answered["Content-Length"] = answer.headers["Content-Length"]
        if fault == "slow":
            time.sleep(0.05)
        if fault == "corrupt" and self.command == "GET" and content:
            content = bytes([content[0] ^ 0x01]) + content[1:]
        if fault == "truncate" and self.command == "GET" and len(content) > 1:
            answered["Content-Length"] = str(len(content))
            content = content[: len(content) // 2]
            self.close_connection = True
        if fault == "lying-digest" and "Docker-Content-Digest" in answered:
            answered["Docker-Content-Digest"] = LIE
        if fault == "slow-body" and self.command == "GET" and content:
            self.send_response(answer.status_code)
            for key, value in {**answered, "Content-Length": str(len(content))}.items():
                self.send_header(key, value)
            self.end_headers()
            quarter = max(len(content) // 4, 1)
            for start in range(0, len(content), quarter):
                self.wfile.write(content[start : start + quarter])
                self.wfile.flush()
                time.sleep(0.02)
            return
        self.send(answer.status_code, content, answered)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any
