"""The shared fuzz runner: target registry, the "only gate's own errors" rule, atheris driver.

A target is a function of one input (bytes). It passes when it returns or raises an exception
whose class is defined in gate: the GateError family and the typed errors parsers document
(``PartlyRead``, ``InvalidRecord``, ``TarFormatError``, ``ArchiveLimitError``, ``JsonTooDeep``, ...).
Anything else (KeyError, UnicodeDecodeError, struct.error, RecursionError, MemoryError) escapes
the harness and is a bug.

    python -m tests.fuzz.runner TARGET [-runs=N] [-max_total_time=S]   # one target under atheris
    python -m tests.fuzz.runner --list                                   # the registered targets
    python -m tests.fuzz.runner --campaign SECONDS                       # every target in turn (make fuzz)

Seeds come from tests/fixtures (each family names its files); inputs that once crashed a
target live in tests/fuzz/regressions/TARGET/ and are replayed by tests/test_fuzz.py.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

FUZZ_DIR = Path(__file__).parent
FIXTURES = FUZZ_DIR.parent / "fixtures"
REGRESSIONS = FUZZ_DIR / "regressions"
FAMILIES = ("image", "catalog", "vulndb", "policy", "signing")
MAX_LEN = 64 * 1024  # longest input libFuzzer builds; seeds longer than this are truncated


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], object]
    seeds: Callable[[], Iterable[bytes]]
    max_len: int = MAX_LEN
    documented: tuple[type[Exception], ...] = ()  # errors the parser's contract names, beyond gate's own


TARGETS: dict[str, Target] = {}


def target(
    name: str,
    seeds: Callable[[], Iterable[bytes]],
    *,
    max_len: int = MAX_LEN,
    documented: tuple[type[Exception], ...] = (),
) -> Callable[[Callable[[bytes], object]], Callable[[bytes], object]]:
    """Register ``run`` as fuzz target ``name`` seeded by ``seeds()``."""

    def register(run: Callable[[bytes], object]) -> Callable[[bytes], object]:
        TARGETS[name] = Target(name, run, seeds, max_len, documented)
        return run

    return register


def fixture_files(*patterns: str) -> Callable[[], list[bytes]]:
    """A seeds function reading the fixtures that match ``patterns`` (globs under tests/fixtures)."""

    def seeds() -> list[bytes]:
        return [
            path.read_bytes()
            for pattern in patterns
            for path in sorted(FIXTURES.glob(pattern))
            if path.is_file()
        ]

    return seeds


def is_gates_own(error: BaseException) -> bool:
    """An exception gate defines (and so documents); every other one is a bug in the parser."""
    return type(error).__module__.split(".")[0] == "gate"


def check(name: str, data: bytes) -> None:
    """Run one input through a target; re-raise what is not gate's own error."""
    chosen = TARGETS[name]
    try:
        chosen.run(data)
    except Exception as error:
        if not (is_gates_own(error) or type(error) in chosen.documented):
            raise


def load_targets() -> dict[str, Target]:
    for family in FAMILIES:
        importlib.import_module(f"tests.fuzz.targets_{family}")
    return TARGETS


def regression_inputs(name: str) -> list[Path]:
    return sorted((REGRESSIONS / name).glob("*")) if (REGRESSIONS / name).is_dir() else []


@dataclass
class FuzzResult:
    name: str
    executions: int
    seconds: float
    crashed: bool
    output: str = field(repr=False)


DONE = re.compile(r"Done (\d+) runs in (\d+) second")
STATS = re.compile(r"#(\d+)\s+(?:pulse|NEW|REDUCE|DONE|INITED)")


def run_in_subprocess(
    name: str, *, seconds: int, runs: int = -1, artifacts: Path | None = None, seed: int = 0
) -> FuzzResult:
    """Fuzz one target in a child process (libFuzzer ends its process when done or on a crash)."""
    artifacts = artifacts or Path(tempfile.gettempdir()) / "gate-fuzz-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "tests.fuzz.runner", name,
        f"-max_total_time={seconds}", f"-runs={runs}", f"-artifact_prefix={artifacts}/{name}-",
        "-print_final_stats=1", f"-seed={seed}",  # 0: a random seed; CI passes a fixed one
    ]  # fmt: skip
    completed = subprocess.run(
        command,
        cwd=FUZZ_DIR.parent.parent,
        capture_output=True,
        text=True,
        timeout=seconds + 300,
        check=False,
    )
    output = completed.stdout + completed.stderr
    done = DONE.search(output)
    counts = [int(n) for n in STATS.findall(output)]
    executions = int(done.group(1)) if done else max(counts, default=0)
    elapsed = float(done.group(2)) if done else float(seconds)
    return FuzzResult(name, executions, elapsed, completed.returncode != 0, output)


def _fuzz(name: str, libfuzzer_args: list[str]) -> None:
    import atheris  # type: ignore[import-untyped]  # atheris ships no type hints

    with atheris.instrument_imports(include=["gate"]):
        import gate  # noqa: F401 - instrumented before the targets import their parsers

        load_targets()
    chosen = TARGETS[name]
    corpus = Path(tempfile.mkdtemp(prefix=f"gate-fuzz-{name}-"))
    try:
        for number, seed in enumerate(chosen.seeds()):
            (corpus / f"seed-{number}").write_bytes(seed[: chosen.max_len])
        for path in regression_inputs(name):
            shutil.copy(path, corpus / f"regression-{path.name}")

        def one_input(data: bytes) -> None:
            check(name, data)

        argv = [sys.argv[0], *libfuzzer_args, f"-max_len={chosen.max_len}", str(corpus)]
        atheris.Setup(argv, one_input)
        atheris.Fuzz()
    finally:
        shutil.rmtree(corpus, ignore_errors=True)


def campaign(seconds: int) -> int:
    """Fuzz every target for ``seconds`` in turn; print a table of executions (docs/security.md)."""
    results = []
    print("| target | executions | seconds | result |\n|---|---:|---:|---|", flush=True)
    for name in sorted(load_targets()):
        result = run_in_subprocess(name, seconds=seconds)
        results.append(result)
        verdict = (
            "CRASH (see the artifact named in its output)" if result.crashed else "only gate's own errors"
        )
        print(f"| {name} | {result.executions:,} | {result.seconds:.0f} | {verdict} |", flush=True)
        if result.crashed:
            print(result.output[-3000:], file=sys.stderr)
    total = sum(result.executions for result in results)
    print(f"| **all {len(results)} targets** | **{total:,}** | | |")
    return 1 if any(result.crashed for result in results) else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--list"]:
        print("\n".join(sorted(load_targets())))
        return 0
    if argv[:1] == ["--campaign"] and len(argv) == 2:
        return campaign(int(argv[1]))
    if not argv:
        print(__doc__, file=sys.stderr)
        return 1
    _fuzz(argv[0], argv[1:])
    return 0


if __name__ == "__main__":
    # run the registry of the importable module, which the target modules register with
    from tests.fuzz.runner import main as imported_main

    raise SystemExit(imported_main(sys.argv[1:]))
