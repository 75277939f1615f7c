"""HTTP for registries: TLS and URL policy, redirects, retries, bounded bodies, a total deadline.

The rules (docs/security.md lists them with their regression tests):

* TLS verification is always on. Plain HTTP goes only to loopback hosts and to hosts the
  user named insecure (``--insecure-registry`` / ``GATE_INSECURE_REGISTRIES``); that holds for
  every URL, including the ones a server hands us (redirects, ``Location``, ``Link``, realms).
* Redirects are followed here, not by requests, for GET and HEAD only, at most
  :data:`MAX_REDIRECTS` hops. A hop to another origin (scheme, host or port) drops the
  ``Authorization`` header and the request's credentials: blob storage and CDNs authenticate
  with the signed URL itself, and a registry's credentials never leave its origin.
* Every request has a total deadline (connect, headers, retries and body together). A
  watchdog shuts the socket down if the headers are not in by then; body reads check the
  deadline between chunks, so a server dripping one byte a second cannot hold gate.
* Every body is read through a bound: the caller states the most it accepts for that kind of
  answer, and an error answer is cut at :data:`MAX_ERROR_BODY`.
* A name that does not resolve, a refused connection or an unreachable network fails at once;
  429, 5xx, connection resets and timeouts are retried with capped backoff, within the deadline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from gate.errors import RegistryError

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
MAX_ERROR_BODY = 64 * 1024
DEFAULT_BODY_LIMIT = 16 * 1024 * 1024  # for callers that state no limit of their own
DEFAULT_DEADLINE_SECONDS = 60.0
# Streams (blobs, uploads) get the deadline plus the time their size takes at this rate.
MIN_TRANSFER_RATE = 256 * 1024
INSECURE_ENV = "GATE_INSECURE_REGISTRIES"
DEADLINE_ENV = "GATE_REGISTRY_DEADLINE"
OFFLINE_ENV = "GATE_OFFLINE"
_READ_CHUNK = 64 * 1024
_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
}


def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``127.0.0.0/8`` and ``::1``, with or without a port."""
    name = _strip_port(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.index("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def origin_of(url: str) -> str:
    """``scheme://host:port`` with the default port made explicit: what credentials are bound to."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as error:
        raise RegistryError(f"invalid URL {url!r}: {error}") from error
    port = port or (443 if parts.scheme == "https" else 80)
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{host}:{port}"


def insecure_hosts_from_env(env: dict[str, str] | None = None) -> frozenset[str]:
    value = (env if env is not None else os.environ).get(INSECURE_ENV, "")
    return frozenset(h.strip() for h in value.replace(" ", ",").split(",") if h.strip())


def offline_from_env(env: dict[str, str] | None = None) -> bool:
    """``GATE_OFFLINE=1`` (or true/yes): skip every optional network lookup."""
    value = (env if env is not None else os.environ).get(OFFLINE_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def _deadline_from_env() -> float:
    value = os.environ.get(DEADLINE_ENV, "")
    try:
        seconds = float(value) if value else DEFAULT_DEADLINE_SECONDS
    except ValueError:
        raise RegistryError(f"{DEADLINE_ENV}={value!r} is not a number of seconds") from None
    if seconds <= 0:
        raise RegistryError(f"{DEADLINE_ENV} must be positive")
    return seconds


@dataclass(frozen=True)
class Deadline:
    """A point in (monotonic) time by which a whole request must be done."""

    seconds: float
    expires: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def earlier(self, other: Deadline | None) -> Deadline:
        return other if other is not None and other.expires < self.expires else self

    def check(self, what: str) -> None:
        if self.remaining() <= 0:
            raise self.error(what)

    def error(self, what: str) -> RegistryError:
        return RegistryError(
            f"{what}: no complete answer within {self.seconds:g} s",
            hint=f"a slow or stalled server; {DEADLINE_ENV} sets the per-request deadline",
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff for 429/5xx and connection resets, within a total budget."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0
    total_budget: float = 120.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.max_delay, self.base_delay * (2**attempt))
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay * 3)
        return backoff


@dataclass
class Transport:
    """A requests session that knows which hosts may use HTTP, how to retry and when to give up."""

    insecure_hosts: Iterable[str] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: tuple[float, float] = (10.0, 30.0)  # per connect and per read; the deadline bounds the sum
    deadline: float = field(default_factory=_deadline_from_env)
    sleep: Callable[[float], None] = time.sleep
    user_agent: str = "gate/0.1"
    overall: Deadline | None = None  # a budget every request of this transport shares

    def __post_init__(self) -> None:
        self.insecure_hosts = frozenset(self.insecure_hosts) | insecure_hosts_from_env()
        self.session = requests.Session()
        self.session.headers["User-Agent"] = self.user_agent
        # Bodies are hashed and bounded as sent: never let the server compress them.
        self.session.headers["Accept-Encoding"] = "identity"
        self.session.trust_env = True  # proxies from the environment; TLS verify stays on
        adapter = _WatchedAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def scheme(self, host: str) -> str:
        return "http" if self.allows_http(host) else "https"

    def allows_http(self, host: str) -> bool:
        return is_loopback(host) or host in self.insecure_hosts or _strip_port(host) in self.insecure_hosts

    def base_url(self, host: str) -> str:
        return f"{self.scheme(host)}://{host}"

    def check_url(self, url: str, *, named_by: str = "") -> None:
        """Refuse a URL gate may not fetch: not http(s), or plain HTTP to a host not allowed it."""
        parts = urlsplit(url)
        source = f" (named by {named_by})" if named_by else ""
        if parts.scheme == "https" and parts.netloc:
            return
        if parts.scheme == "http" and parts.netloc:
            if self.allows_http(parts.netloc):
                return
            raise RegistryError(
                f"refusing plain HTTP to {parts.netloc}{source}",
                hint="gate uses HTTPS except for loopback and hosts named with --insecure-registry",
            )
        raise RegistryError(f"refusing URL {url[:200]!r}{source}: only http(s) URLs are fetched")

    def with_budget(self, seconds: float) -> Transport:
        """A transport for optional lookups: all its requests together end within ``seconds``."""
        retry = dataclasses.replace(self.retry, attempts=min(self.retry.attempts, 2), total_budget=seconds)
        return dataclasses.replace(self, retry=retry, overall=Deadline.after(seconds))

    def stream_deadline(self, size: int | None) -> Deadline:
        """The deadline for a transfer of ``size`` bytes: the base deadline plus a minimum rate."""
        return Deadline.after(self.deadline + (size or 0) / MIN_TRANSFER_RATE)

    def request(
        self,
        method: str,
        url: str,
        *,
        limit: int | None = DEFAULT_BODY_LIMIT,
        body: bytes | dict[str, str] | Callable[[], Any] | None = None,
        headers: dict[str, str] | None = None,
        params: Any = None,
        auth: tuple[str, str] | None = None,
        stream: bool = False,
        deadline: Deadline | None = None,
    ) -> requests.Response:
        """Send ``method url``; the answer's body reads at most ``limit`` bytes before ``deadline``.

        ``body`` may be a callable so a streamed upload can be replayed on retry. Unless
        ``stream``, the body is read (bounded) before returning, as requests would.
        ``limit=None`` leaves the size to the caller (a blob, checked against its descriptor).
        """
        deadline = (deadline or Deadline.after(self.deadline)).earlier(self.overall)
        self.check_url(url)
        attempt = 0
        while True:
            try:
                return self._follow(
                    method, url, body, dict(headers or {}), params, auth, limit, deadline, stream
                )
            except BodyInterrupted as error:
                # an answer cut off mid-body is as transient as a reset; only reads are replayed
                retriable = method in ("GET", "HEAD") and not stream
                if not (retriable and self._may_retry(attempt, time.monotonic(), None, deadline)):
                    raise
                self._wait(attempt, None, f"{method} {_where(url)}: {error.message}")
                attempt += 1

    def _follow(
        self,
        method: str,
        url: str,
        body: Any,
        headers: dict[str, str],
        params: Any,
        auth: tuple[str, str] | None,
        limit: int | None,
        deadline: Deadline,
        stream: bool,
    ) -> requests.Response:
        """One request and the redirects it leads to; see the module docstring for the rules."""
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._send_with_retries(method, url, body, headers, params, auth, deadline)
            location = response.headers.get("Location")
            if not (
                method in ("GET", "HEAD")
                and response.status_code in REDIRECT_STATUSES
                and location
            ):
                return self._with_bounded_body(response, method, url, limit, deadline, stream)
            response.close()
            target = urljoin(url, location)
            self.check_url(target, named_by=f"a redirect from {_host_of(url)}")
            if origin_of(target) != origin_of(url):
                headers.pop("Authorization", None)
                auth = None
            url, params = target, None
        raise RegistryError(f"{_host_of(url)}: more than {MAX_REDIRECTS} redirects")

    def _send_with_retries(
        self,
        method: str,
        url: str,
        body: Any,
        headers: dict[str, str],
        params: Any,
        auth: tuple[str, str] | None,
        deadline: Deadline,
    ) -> requests.Response:
        started = time.monotonic()
        attempt = 0
        what = f"{method} {_host_of(url)}"
        while True:
            data = body() if callable(body) else body
            try:
                response = self._send_once(method, url, data, headers, params, auth, deadline)
            except requests.exceptions.SSLError as error:
                raise RegistryError(
                    f"TLS verification failed for {_host_of(url)}: {_first_line(error)}",
                    hint="fix the registry certificate; gate never disables TLS verification",
                ) from error
            except (requests.ConnectionError, requests.Timeout) as error:
                unreachable = _unreachable_reason(error)
                if unreachable:
                    raise RegistryError(f"cannot reach {_host_of(url)}: {unreachable}") from error
                if deadline.remaining() <= 0:
                    raise deadline.error(what) from error
                if not self._may_retry(attempt, started, None, deadline):
                    raise RegistryError(
                        f"cannot reach {_host_of(url)} after {attempt + 1} attempts: {_first_line(error)}"
                    ) from error
                self._wait(attempt, None, f"{method} {url}: {type(error).__name__}")
                attempt += 1
                continue
            finally:
                if hasattr(data, "close"):
                    data.close()
            if response.status_code in RETRY_STATUSES:
                retry_after = _retry_after(response.headers.get("Retry-After"))
                if self._may_retry(attempt, started, retry_after, deadline):
                    response.close()
                    self._wait(attempt, retry_after, f"{method} {url}: HTTP {response.status_code}")
                    attempt += 1
                    continue
            return response

    def _send_once(
        self,
        method: str,
        url: str,
        data: Any,
        headers: dict[str, str],
        params: Any,
        auth: tuple[str, str] | None,
        deadline: Deadline,
    ) -> requests.Response:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise deadline.error(f"{method} {_host_of(url)}")
        timeout = (min(self.timeout[0], remaining), min(self.timeout[1], remaining))
        with _watchdog(remaining) as watch:
            try:
                response = self.session.request(
                    method,
                    url,
                    data=data,
                    headers=headers,
                    params=params,
                    auth=auth or _HEADERS_ONLY,
                    timeout=timeout,
                    verify=True,
                    stream=True,
                    allow_redirects=False,
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                if watch.fired:
                    raise deadline.error(f"{method} {_host_of(url)}") from error
                raise
        if watch.fired:
            response.close()
            raise deadline.error(f"{method} {_host_of(url)}")
        return response

    def _with_bounded_body(
        self,
        response: requests.Response,
        method: str,
        url: str,
        limit: int | None,
        deadline: Deadline,
        stream: bool,
    ) -> requests.Response:
        if response.status_code >= 300:
            limit = MAX_ERROR_BODY if limit is None else min(limit, MAX_ERROR_BODY)
        response.raw = BoundedBody(response.raw, limit, deadline, f"{method} {_where(url)}")
        if not stream:
            with contextlib.closing(response):
                _ = response.content
        return response

    def _may_retry(self, attempt: int, started: float, retry_after: float | None, deadline: Deadline) -> bool:
        if attempt + 1 >= self.retry.attempts:
            return False
        delay = self.retry.delay(attempt, retry_after)
        elapsed = time.monotonic() - started
        return elapsed + delay <= self.retry.total_budget and delay < deadline.remaining()

    def _wait(self, attempt: int, retry_after: float | None, why: str) -> None:
        delay = self.retry.delay(attempt, retry_after)
        logger.info("retrying in %.1fs after %s", delay, why)
        self.sleep(delay)


class BodyInterrupted(RegistryError):
    """The connection failed in the middle of an answer's body."""


class _HeadersOnly(AuthBase):
    """Authorization is whatever the caller put in the headers: no ~/.netrc entry slips in."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


_HEADERS_ONLY = _HeadersOnly()


class BoundedBody:
    """A response body that refuses to grow past ``limit`` bytes or to arrive after the deadline.

    Reads ask the connection for whatever is available (``read1``) and check the deadline
    between chunks, so a slow-drip server hits the deadline instead of holding the read.
    """

    def __init__(self, raw: Any, limit: int | None, deadline: Deadline, what: str) -> None:
        self._raw = raw
        self._limit = limit
        self._deadline = deadline
        self._what = what
        self._count = 0

    def read(self, n: int | None = -1) -> bytes:
        wanted = None if n is None or n < 0 else n
        out = bytearray()
        while wanted is None or len(out) < wanted:
            self._deadline.check(self._what)
            size = _READ_CHUNK if wanted is None else min(_READ_CHUNK, wanted - len(out))
            try:
                chunk = self._raw.read1(size, decode_content=False)
            except (urllib3.exceptions.HTTPError, OSError) as error:
                if self._deadline.remaining() <= 0:
                    raise self._deadline.error(self._what) from error
                reason = _first_line(error)
                raise BodyInterrupted(f"{self._what}: connection failed while reading: {reason}") from error
            if not chunk:
                break
            self._count += len(chunk)
            if self._limit is not None and self._count > self._limit:
                raise RegistryError(f"{self._what}: answer is over the {self._limit} byte limit")
            out += chunk
        return bytes(out)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()

    def release_conn(self) -> None:
        self._raw.release_conn()


# -- the watchdog: a deadline for the connect-and-headers phase ---------------------------------


class _Watch:
    """Shuts down the sockets a request uses if it is still waiting when the deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.connections: list[Any] = []
        self.fired = False
        self.done = False
        self.lock = threading.Lock()
        self._rechecks = 4
        self._timer = self._arm(seconds)

    def _arm(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.fire)
        timer.daemon = True
        timer.start()
        return timer

    def fire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.fired = True
            unconnected = not self.connections
            for connection in self.connections:
                sock = getattr(connection, "sock", None)
                if sock is None:
                    unconnected = True
                    continue
                # the plain socket's shutdown: it wakes a blocked read, TLS or not
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
            if unconnected and self._rechecks:
                # still connecting (bounded by the connect timeout): look again shortly
                self._rechecks -= 1
                self._timer = self._arm(0.5)

    def stop(self) -> None:
        with self.lock:
            self.done = True
            self._timer.cancel()


_current = threading.local()


@contextlib.contextmanager
def _watchdog(seconds: float) -> Iterator[_Watch]:
    watch = _Watch(seconds)
    _current.watch = watch
    try:
        yield watch
    finally:
        _current.watch = None
        watch.stop()


def _register(connection: Any) -> Any:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.connections.append(connection)
    return connection


class _WatchedHTTPPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _register(super()._get_conn(timeout))


class _WatchedHTTPSPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _register(super()._get_conn(timeout))


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter whose connection pools tell the watchdog which connection a request uses."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:  # SOCKS managers keep their own pools
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


# -- helpers ---------------------------------------------------------------------------------


def _unreachable_reason(error: BaseException) -> str | None:
    """Why the host cannot be reached at all (no name, refused, no route), or None if transient."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, socket.gaierror | urllib3.exceptions.NameResolutionError):
            return "the name does not resolve"
        if isinstance(current, OSError) and current.errno in _UNREACHABLE_ERRNOS:
            return _UNREACHABLE_ERRNOS[current.errno]
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _host_of(url: str) -> str:
    return urlsplit(url).netloc


def _where(url: str) -> str:
    """Host and path, for messages: a query string may carry a signed URL's secret."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"[:200]


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
