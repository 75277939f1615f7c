"""Fixtures starting real registries (CNCF distribution) and a scriptable fake one.

Session-scoped: ``registry`` (anonymous), ``basic_registry`` (htpasswd, user alice),
``token_registry`` (token auth; ``.issuer`` is the :class:`~tests.servers.TokenIssuer`).
``js_tools`` (session): tests/js installed with ``npm ci`` (tests/js_tools.py).
Function-scoped: ``make_registry()`` for a fresh registry, ``fake_registry``.

A missing ``docker-registry`` binary fails these fixtures: integration tests never skip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from tests.debian import Debootstrapped, debootstrap_bookworm
from tests.js_tools import npm_ci
from tests.servers import FakeRegistry, RegistryFlavour, RegistryServer, ServerError, running_registry


@contextlib.contextmanager
def _started(workdir: Path, flavour: RegistryFlavour) -> Iterator[RegistryServer]:
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running_registry(workdir, flavour))
        except ServerError as exc:
            raise pytest.fail.Exception(str(exc), pytrace=False) from None
        yield server


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """An anonymous registry shared by the session; use unique repository names."""
    with _started(tmp_path_factory.mktemp("registry"), "anonymous") as server:
        yield server


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry with htpasswd auth: ``username`` ("alice") and ``password``."""
    with _started(tmp_path_factory.mktemp("basic-registry"), "basic") as server:
        yield server


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry with token auth; ``issuer`` hands tokens to ``username`` ("bob") and ``password``."""
    with _started(tmp_path_factory.mktemp("token-registry"), "token") as server:
        yield server


@pytest.fixture
def make_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RegistryServer]]:
    """``make_registry(flavour="anonymous")`` starts a fresh registry, stopped after the test."""
    stack = contextlib.ExitStack()

    def make(flavour: RegistryFlavour = "anonymous") -> RegistryServer:
        return stack.enter_context(_started(tmp_path_factory.mktemp(f"{flavour}-registry"), flavour))

    with stack:
        yield make


@pytest.fixture(scope="session")
def debian_bookworm(tmp_path_factory: pytest.TempPathFactory) -> Debootstrapped:
    """A real Debian 12 minbase root and its one-layer OCI layout, made once per session."""
    return debootstrap_bookworm(tmp_path_factory.mktemp("debootstrap"))


@pytest.fixture(scope="session")
def js_tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/js installed with ``npm ci`` (once per session): its node_modules/ and scripts."""
    return npm_ci(tmp_path_factory.mktemp("js-tools"))


@pytest.fixture
def fake_registry() -> Iterator[FakeRegistry]:
    with FakeRegistry() as fake:
        yield fake


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, object, object]:
    """Attach the log of every registry a failed test used to its report."""
    report = yield
    if isinstance(report, pytest.TestReport) and report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, RegistryServer):
                report.sections.append((f"docker-registry log ({value.host})", value.log_tail()))
    return report
