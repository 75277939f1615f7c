"""``gate fleet rescan``: which of our signed images does today's database (and policy) hit?

    from gate.fleet import RescanOptions, rescan
    from gate.fleet.sources import images_from_lines
    for result in rescan(images_from_lines(open("images.txt")), spec, RescanOptions(workers=2)):
        print(result.reference, result.verdict, result.new_findings)

Per image (:mod:`gate.fleet.task`): pin the tag to a digest, verify the signature and the SBOM
attestation with the same trust as ``gate verify``, re-match the attested SBOM against today's
database and decide the policy. No layer is read. The tasks run in batches on a local process
pool or on a Dask cluster (:mod:`gate.fleet.executors`); results stream back as batches finish.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from gate.errors import GateError
from gate.fleet.executors import cached_db, default_workers, run_cluster, run_local
from gate.fleet.sources import BadEntry
from gate.fleet.task import FAIL, PASS, UNVERIFIED, ImageResult, RescanSpec, TrustSpec

MIN_BATCH, MAX_BATCH = 16, 64


@dataclass(frozen=True)
class RescanOptions:
    workers: int | None = None  # local pool size; None: the CPU count
    scheduler: str | None = None  # tcp://HOST:PORT of a Dask scheduler; None: the local pool
    max_per_registry: int = 64  # batches reading one registry at a time
    batch_size: int | None = None  # None: chosen from the image and worker counts (16..64)


def rescan(
    entries: Sequence[str | BadEntry], spec: RescanSpec, options: RescanOptions | None = None
) -> Iterator[ImageResult]:
    """A result per entry (malformed entries first), the others as their batches complete."""
    options = options or RescanOptions()
    for entry in entries:
        if isinstance(entry, BadEntry):
            yield ImageResult(entry.text, None, UNVERIFIED, f"error: {entry.reason}", error=True)
    references = list(dict.fromkeys(e for e in entries if isinstance(e, str)))
    if not references:
        return
    if options.max_per_registry < 1:
        raise GateError("--max-per-registry must be at least 1")
    if options.scheduler:
        if not spec.db_ref:
            raise GateError("a Dask cluster reads the database by reference: give --db-ref oci://REG/REPO@DIGEST")
        batches = _batches(references, options.batch_size, parallel=8)
        stream = run_cluster(batches, spec, scheduler=options.scheduler, cap=options.max_per_registry)
    else:
        workers = options.workers or default_workers()
        if workers < 1:
            raise GateError("--workers must be at least 1")
        if spec.db_ref:
            spec = _with_local_db(spec)
        batches = _batches(references, options.batch_size, parallel=workers)
        stream = run_local(batches, spec, workers=workers, cap=options.max_per_registry)
    for results in stream:
        yield from results


def _with_local_db(spec: RescanSpec) -> RescanSpec:
    return replace(spec, db_path=str(cached_db(spec.db_ref or "")), db_ref=None)


def _batches(references: list[str], size: int | None, *, parallel: int) -> list[list[str]]:
    """Small batches, several per worker (so a slow one does not hold the others back)."""
    chosen = size or max(MIN_BATCH, min(MAX_BATCH, len(references) // (parallel * 4) or MIN_BATCH))
    return [references[start : start + chosen] for start in range(0, len(references), chosen)]


def affected_first(results: Sequence[ImageResult]) -> list[ImageResult]:
    """Failing, then unverified, then passing images with new findings, then the rest."""
    order = {FAIL: 0, UNVERIFIED: 1, PASS: 2}
    return sorted(results, key=lambda r: (order[r.verdict], not r.new_findings, r.reference))


def narrowed(results: Sequence[ImageResult], ids: Sequence[str]) -> list[ImageResult]:
    """The images one of ``ids`` (vulnerability ids or aliases) hits, and the unverified ones:
    without a trusted SBOM nobody can tell that the advisory misses them (fail closed)."""
    wanted = {i.strip().upper() for i in ids}
    return [r for r in results if r.verdict == UNVERIFIED or wanted & {name.upper() for name in r.findings}]


__all__ = [
    "BadEntry",
    "ImageResult",
    "RescanOptions",
    "RescanSpec",
    "TrustSpec",
    "affected_first",
    "narrowed",
    "rescan",
]
