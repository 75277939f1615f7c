"""Where OSV records come from: JSON or YAML files, directories of them, and zip archives.

A record that cannot be parsed is reported and skipped; an archive that cannot be read at all
(truncated, not a zip, a corrupt member) fails the whole import, so nothing half-read lands.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gate import safejson
from gate.vulndb.errors import VulnDBError

RECORD_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class RawFile:
    """One record file's bytes, not yet parsed (parsing may happen in a worker process)."""

    origin: str  # path, or "archive.zip!member.json"
    content: bytes


@dataclass(frozen=True, slots=True)
class Loaded:
    """One file's content: parsed data, or the reason it could not be parsed."""

    origin: str
    data: object = None
    error: str = ""


def load_sources(paths: list[Path]) -> Iterator[RawFile]:
    """Every record file under ``paths``, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from _load_directory(path)
        elif path.suffix == ".zip":
            yield from load_zip(path)
        elif path.is_file():
            yield _load_file(path)
        else:
            raise VulnDBError(f"no such file or directory: {path}")


def _load_directory(root: Path) -> Iterator[RawFile]:
    for path in sorted(root.rglob("*")):
        if path.suffix in RECORD_SUFFIXES and path.is_file():
            yield _load_file(path)
        elif path.suffix == ".zip" and path.is_file():
            yield from load_zip(path)


def _load_file(path: Path) -> RawFile:
    try:
        return RawFile(str(path), path.read_bytes())
    except OSError as error:
        raise VulnDBError(f"cannot read {path}: {error.strerror}") from error


def load_zip(path: Path) -> Iterator[RawFile]:
    """Records in an OSV ``all.zip`` (one JSON file per record; YAML accepted too)."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in sorted(archive.infolist(), key=lambda item: item.filename):
                if info.is_dir() or not info.filename.endswith(RECORD_SUFFIXES):
                    continue
                yield RawFile(f"{path}!{info.filename}", archive.read(info))
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise VulnDBError(f"{path} is not a readable zip archive: {error}") from error
    except OSError as error:
        raise VulnDBError(f"cannot read {path}: {error.strerror or error}") from error


def parse_content(origin: str, content: bytes) -> Loaded:
    """JSON or YAML by the name's suffix; YAML scalars stay strings (versions like 1.10)."""
    if origin.endswith(".json"):
        try:
            return Loaded(origin, safejson.loads(content))
        except (ValueError, UnicodeDecodeError) as error:
            return Loaded(origin, error=f"not valid JSON: {error}")
    import yaml

    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # BaseLoader builds only str/list/dict
    try:
        return Loaded(origin, yaml.load(content, Loader=loader))  # noqa: S506 - a BaseLoader, safe
    except yaml.YAMLError as error:
        return Loaded(origin, error=f"not valid YAML: {' '.join(str(error).split())[:200]}")
