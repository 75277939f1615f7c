"""Where the per-image tasks run: a local process pool, or a Dask distributed cluster.

Both take the same batches and yield each batch's results as it completes. At most
``max_per_registry`` batches talk to one registry at a time (a batch's images are read one after
another, so this is the number of concurrent requests a registry sees). A batch that fails to
set up (the database cannot be opened or does not verify) ends the whole run with one error.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from gate.errors import GateError
from gate.fleet.task import ImageResult, RescanSpec, rescan_batch
from gate.vulndb.oci import pull_db

CONNECT_TIMEOUT = 10.0
WORKERLESS_WAIT = 30.0  # seconds without a finished batch before checking that workers remain


@dataclass(frozen=True)
class Failed:
    """A batch that could not run at all; carried back as a value (errors may not unpickle)."""

    message: str


BatchOutcome = list[ImageResult] | Failed


def run_batch_locally(references: list[str], spec: RescanSpec) -> BatchOutcome:
    try:
        return rescan_batch(references, spec, Path(spec.db_path or ""))
    except GateError as error:
        return Failed(error.message)


_PULL_LOCK = threading.Lock()


def run_batch_on_worker(references: list[str], spec: RescanSpec) -> BatchOutcome:
    """A cluster task: the database comes by reference, pulled once per worker into its cache."""
    try:
        return rescan_batch(references, spec, cached_db(spec.db_ref or ""))
    except GateError as error:
        return Failed(error.message)


def cached_db(reference: str) -> Path:
    """The database at ``oci://REG/REPO@DIGEST`` in this machine's cache, pulled and verified once."""
    _, at, digest = reference.rpartition("@")
    if not at or not digest.startswith("sha256:") or len(digest) != 71:
        raise GateError(f"--db-ref must name the database by digest (oci://REG/REPO@sha256:...): {reference}")
    path = Path(platformdirs.user_cache_dir("gate")) / "fleet-db" / f"{digest[7:]}.sqlite"
    with _PULL_LOCK:
        if not path.is_file():
            pull_db(reference, path)
    return path


Submit = Callable[[list[str]], Any]
Wait = Callable[[set[Any]], set[Any]]


def scheduled(
    batches: list[list[str]], submit: Submit, wait: Wait, result: Callable[[Any], BatchOutcome], cap: int
) -> Iterator[list[ImageResult]]:
    """Submit batches keeping at most ``cap`` in flight per registry; yield results as they come."""
    pending = list(batches)
    in_flight: dict[Any, str] = {}
    per_registry: dict[str, int] = {}
    while pending or in_flight:
        for batch in list(pending):
            host = batch[0].split("/", 1)[0]
            if per_registry.get(host, 0) < cap:
                pending.remove(batch)
                in_flight[submit(batch)] = host
                per_registry[host] = per_registry.get(host, 0) + 1
        for future in wait(set(in_flight)):
            per_registry[in_flight.pop(future)] -= 1
            outcome = result(future)
            if isinstance(outcome, Failed):
                raise GateError(outcome.message)
            yield outcome


def run_local(
    batches: list[list[str]], spec: RescanSpec, *, workers: int, cap: int
) -> Iterator[list[ImageResult]]:
    """The batches on a pool of ``workers`` processes on this machine."""
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        try:
            yield from scheduled(
                batches,
                lambda batch: pool.submit(run_batch_locally, batch, spec),
                lambda futures: concurrent.futures.wait(
                    futures, return_when=concurrent.futures.FIRST_COMPLETED
                ).done,
                lambda future: future.result(),
                cap,
            )
        except concurrent.futures.process.BrokenProcessPool as error:
            raise GateError(f"a rescan worker process died: {error}") from None
        finally:
            pool.shutdown(cancel_futures=True)


def run_cluster(
    batches: list[list[str]], spec: RescanSpec, *, scheduler: str, cap: int
) -> Iterator[list[ImageResult]]:
    """The batches on the Dask cluster at ``scheduler``; Dask reruns a dead worker's batches elsewhere."""
    import distributed

    _reachable(scheduler)
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise GateError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    with client, client.as_current(), _quiet_dask():
        yield from scheduled(
            batches,
            lambda batch: client.submit(run_batch_on_worker, batch, spec, pure=False, retries=2),
            lambda futures: _first_done(client, futures),
            _cluster_result,
            cap,
        )


def _reachable(scheduler: str) -> None:
    """A refused or silent scheduler address is one clear error within seconds."""
    address = scheduler.removeprefix("tcp://")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise GateError(f"--scheduler must be tcp://HOST:PORT, got {scheduler!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise GateError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None


def _first_done(client: Any, futures: set[Any]) -> set[Any]:
    """The finished futures; an error, not a hang, when the cluster has no worker left to run them."""
    import distributed

    while True:
        try:
            done = distributed.wait(list(futures), timeout=WORKERLESS_WAIT, return_when="FIRST_COMPLETED")
            return set(done.done)
        except TimeoutError:
            if not client.scheduler_info().get("workers"):
                raise GateError(f"the Dask cluster has had no worker for {WORKERLESS_WAIT:.0f}s") from None


def _cluster_result(future: Any) -> BatchOutcome:
    try:
        outcome: BatchOutcome = future.result()
    except Exception as error:  # a task Dask gave up on (its workers kept dying): the run has no answer
        raise GateError(f"a rescan batch failed on the cluster: {error}") from None
    return outcome


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask logs reconnections and worker losses at INFO; gate's output stays its own."""
    import logging

    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def default_workers() -> int:
    return os.cpu_count() or 1
