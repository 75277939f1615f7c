"""HTTP for registries: TLS policy, retries with backoff, bounded total time.

TLS verification is always on. Plain HTTP is used only for loopback registries and for
hosts the user named as insecure (``--insecure-registry`` / ``GATE_INSECURE_REGISTRIES``).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from gate.errors import RegistryError

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
INSECURE_ENV = "GATE_INSECURE_REGISTRIES"


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


def insecure_hosts_from_env(env: dict[str, str] | None = None) -> frozenset[str]:
    value = (env if env is not None else os.environ).get(INSECURE_ENV, "")
    return frozenset(h.strip() for h in value.replace(" ", ",").split(",") if h.strip())


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff for 429/5xx and connection errors, within a total budget."""

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
    """A requests session that knows which hosts may use HTTP and how to retry."""

    insecure_hosts: Iterable[str] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: tuple[float, float] = (10.0, 60.0)
    sleep: Callable[[float], None] = time.sleep
    user_agent: str = "gate/0.1"

    def __post_init__(self) -> None:
        import requests

        self.insecure_hosts = frozenset(self.insecure_hosts) | insecure_hosts_from_env()
        self.session = requests.Session()
        self.session.headers["User-Agent"] = self.user_agent
        self.session.trust_env = True  # proxies from the environment; TLS verify stays on

    def scheme(self, host: str) -> str:
        return "http" if self.allows_http(host) else "https"

    def allows_http(self, host: str) -> bool:
        return is_loopback(host) or host in self.insecure_hosts or _strip_port(host) in self.insecure_hosts

    def base_url(self, host: str) -> str:
        return f"{self.scheme(host)}://{host}"

    def request(
        self, method: str, url: str, *, body: bytes | Callable[[], Any] | None = None, **kwargs: Any
    ) -> Any:
        """Send with retries; ``body`` may be a callable so a streamed upload can be replayed."""
        import requests

        started = time.monotonic()
        attempt = 0
        while True:
            data = body() if callable(body) else body
            try:
                response = self.session.request(
                    method, url, data=data, timeout=self.timeout, verify=True, **kwargs
                )
            except requests.exceptions.SSLError as error:
                raise RegistryError(
                    f"TLS verification failed for {_host_of(url)}: {_first_line(error)}",
                    hint="fix the registry certificate; gate never disables TLS verification",
                ) from error
            except (requests.ConnectionError, requests.Timeout) as error:
                if not self._may_retry(attempt, started, None):
                    raise RegistryError(
                        f"cannot reach {_host_of(url)} after {attempt + 1} attempts: {_first_line(error)}"
                    ) from error
                self._wait(attempt, None, f"{method} {url}: {type(error).__name__}")
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES:
                retry_after = _retry_after(response.headers.get("Retry-After"))
                if self._may_retry(attempt, started, retry_after):
                    response.close()
                    self._wait(attempt, retry_after, f"{method} {url}: HTTP {response.status_code}")
                    attempt += 1
                    continue
            return response

    def _may_retry(self, attempt: int, started: float, retry_after: float | None) -> bool:
        if attempt + 1 >= self.retry.attempts:
            return False
        elapsed = time.monotonic() - started
        return elapsed + self.retry.delay(attempt, retry_after) <= self.retry.total_budget

    def _wait(self, attempt: int, retry_after: float | None, why: str) -> None:
        delay = self.retry.delay(attempt, retry_after)
        logger.info("retrying in %.1fs after %s", delay, why)
        self.sleep(delay)


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
    from urllib.parse import urlsplit

    return urlsplit(url).netloc


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
