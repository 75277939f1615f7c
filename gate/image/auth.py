"""Registry authentication: Basic, and the Docker/OCI bearer-token challenge.

A request goes out with whatever we already hold for its scope (a cached token, or Basic
credentials once the registry asked for Basic). On 401 the challenge says what to do:
``Basic realm=...`` or ``Bearer realm=...,service=...,scope=...``; we fetch a token for
the union of the challenge's scope and ours, cache it until it expires, and retry once.
Secrets are never logged or put in error messages.

One authenticator serves one origin. Credentials go to that origin and, as the token
protocol requires, to the token realm it names (over HTTPS, or plain HTTP only where the
transport allows it); requests never forward them across a redirect to another origin.
An origin a registry merely referred us to (``referred_by``) gets no credentials at all.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from gate.errors import AuthenticationError, RegistryError
from gate.image.credentials import Credentials
from gate.image.transport import Transport

logger = logging.getLogger(__name__)

_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
_TOKEN_MARGIN_SECONDS = 10
MAX_TOKEN_RESPONSE = 1024 * 1024


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """Parse one ``WWW-Authenticate`` header value (the first challenge it holds)."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()})


def repository_scope(repository: str, actions: str = "pull") -> str:
    return f"repository:{repository}:{actions}"


def _scope_grants(scopes: frozenset[str]) -> set[tuple[str, str]]:
    grants: set[tuple[str, str]] = set()
    for scope in scopes:
        parts = scope.split(":")
        if len(parts) < 3:
            grants.add((scope, "*"))
            continue
        resource = ":".join(parts[:-1])
        grants.update((resource, action) for action in parts[-1].split(","))
    return grants


@dataclass
class _Token:
    value: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class RegistryAuth:
    """Holds credentials and tokens for one registry host."""

    host: str
    transport: Transport
    credentials: Credentials | None = None
    referred_by: str | None = None  # set for an origin a registry sent us to: never given credentials
    _tokens: list[_Token] = field(default_factory=list)
    _basic: bool = False
    _bearer_challenge: Challenge | None = None

    def headers_for(self, scopes: frozenset[str]) -> dict[str, str]:
        """Authorization to send up front, from what earlier challenges taught us."""
        if self._basic and self.credentials:
            return {"Authorization": _basic_header(self.credentials)}
        token = self._cached_token(scopes)
        if token:
            return {"Authorization": f"Bearer {token.value}"}
        if self._bearer_challenge is not None:
            return {"Authorization": f"Bearer {self._fetch_token(self._bearer_challenge, scopes).value}"}
        return {}

    def answer_challenge(self, response: Any, scopes: frozenset[str]) -> dict[str, str]:
        """Headers to retry a 401 with; raise AuthenticationError when nothing can help."""
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            raise AuthenticationError(f"{self.host} answered 401 without an authentication challenge")
        if challenge.scheme == "basic":
            if self.referred_by:
                raise AuthenticationError(
                    f"{self.host}, where {self.referred_by} sent gate, asks for a login; "
                    f"gate sends {self.referred_by}'s credentials only to {self.referred_by}"
                )
            if not self.credentials:
                raise AuthenticationError(
                    f"{self.host} requires a login",
                    hint="run `docker login` or set REGISTRY_AUTH_FILE",
                )
            self._basic = True
            return {"Authorization": _basic_header(self.credentials)}
        if challenge.scheme == "bearer":
            self._bearer_challenge = challenge
            wanted = scopes | _challenge_scopes(challenge)
            return {"Authorization": f"Bearer {self._fetch_token(challenge, wanted).value}"}
        raise AuthenticationError(f"{self.host} asks for unsupported authentication {challenge.scheme!r}")

    def refused(self, status: int, scopes: frozenset[str]) -> AuthenticationError:
        who = f"credentials from {self.credentials.source}" if self.credentials else "anonymous access"
        scope_text = " ".join(sorted(scopes)) or "registry access"
        return AuthenticationError(f"{self.host} refused {who} for {scope_text} (HTTP {status})")

    def _cached_token(self, scopes: frozenset[str]) -> _Token | None:
        now = time.time()
        self._tokens = [t for t in self._tokens if t.expires_at > now]
        wanted = _scope_grants(scopes)
        for token in self._tokens:
            if wanted <= _scope_grants(token.scopes):
                return token
        return None

    def _fetch_token(self, challenge: Challenge, scopes: frozenset[str]) -> _Token:
        cached = self._cached_token(scopes)
        if cached:
            return cached
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthenticationError(f"{self.host} sent a Bearer challenge without a realm")
        self._check_realm(realm)
        service = challenge.params.get("service")
        response = self._request_token(realm, service, sorted(scopes))
        token = _parse_token_response(response, realm)
        cached_token = _Token(token[0], scopes, time.time() + max(token[1] - _TOKEN_MARGIN_SECONDS, 1))
        self._tokens.append(cached_token)
        return cached_token

    def _request_token(self, realm: str, service: str | None, scopes: list[str]) -> Any:
        credentials = self.credentials
        if credentials and credentials.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credentials.identity_token,
                "client_id": "gate",
                "scope": " ".join(scopes),
            }
            if service:
                form["service"] = service
            return self.transport.request(
                "POST",
                realm,
                body=urlencode(form).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                limit=MAX_TOKEN_RESPONSE,
            )
        params: list[tuple[str, str]] = [("service", service)] if service else []
        params += [("scope", s) for s in scopes]
        auth = (credentials.username, credentials.password) if credentials else None
        return self.transport.request("GET", realm, params=params, auth=auth, limit=MAX_TOKEN_RESPONSE)

    def _check_realm(self, realm: str) -> None:
        parts = urlsplit(realm)
        if parts.scheme == "https":
            return
        if parts.scheme == "http" and self.transport.allows_http(parts.netloc):
            return
        raise AuthenticationError(
            f"{self.host} sends credentials to a token service over plain HTTP ({parts.netloc}); refusing",
            hint="list the token host with --insecure-registry if this is intended",
        )


def _challenge_scopes(challenge: Challenge) -> frozenset[str]:
    scope = challenge.params.get("scope")
    return frozenset(scope.split()) if scope else frozenset()


def _basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _parse_token_response(response: Any, realm: str) -> tuple[str, float]:
    host = urlsplit(realm).netloc
    if response.status_code in (401, 403):
        raise AuthenticationError(
            f"token service {host} refused the credentials (HTTP {response.status_code})"
        )
    if response.status_code != 200:
        raise RegistryError(f"token service {host} answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise RegistryError(f"token service {host} did not answer with a JSON object")
    value = data.get("token") or data.get("access_token")
    if not isinstance(value, str) or not value:
        raise RegistryError(f"token service {host} answered without a token")
    expires_in = data.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 60.0
    return value, lifetime
