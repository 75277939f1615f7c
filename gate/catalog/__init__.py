"""Catalogers: one module per ecosystem, each declaring the paths it wants and a parser.

The image's filesystem is walked once; every file is routed to the catalogers whose globs
match it (syft's model). A parser gets the filesystem, the context (distro, ...) and the
file, and returns packages; a parser that fails on one file records an :class:`Unknown`
for it and the rest of the image is still catalogued. A parser that has to stop part way
through a file (an archive hits a bound after some of its packages were found) raises
:class:`PartlyRead` carrying them: the catalog keeps those packages and records the Unknown.

    from gate.catalog import catalog_filesystem
    result = catalog_filesystem(fs)          # -> gate.model.Catalog
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from gate.errors import GateError
from gate.image.filesystem import FileEntry, FileSystem, glob_regex

if TYPE_CHECKING:
    from gate.image.base import BaseImage
    from gate.image.image import DirImage, Image
from gate.model import Catalog, Distro, Package, PackageLocation, Unknown

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogContext:
    distro: Distro | None
    base_layer_count: int | None = None  # layers [0, n) belong to the base image, when known

    def in_base_image(self, layer_index: int) -> bool | None:
        return None if self.base_layer_count is None else layer_index < self.base_layer_count

    def location_of(self, entry: FileEntry) -> PackageLocation:
        """Where a package recorded in ``entry`` was found, with its base-image flag."""
        return PackageLocation.from_location(
            entry.location, in_base_image=self.in_base_image(entry.layer_index)
        )


class PartlyRead(ValueError):
    """A file read only in part: ``packages`` were found before the parser stopped for this reason."""

    def __init__(self, reason: str, packages: list[Package]) -> None:
        super().__init__(reason)
        self.packages = packages


MATCH_ALL = "**"
Parser = Callable[[FileSystem, CatalogContext, FileEntry], list[Package]]


@dataclass(frozen=True)
class Cataloger:
    """``name`` follows ``<ecosystem>-<evidence>-cataloger``; ``globs`` are image paths."""

    name: str
    globs: tuple[str, ...]
    parse: Parser

    def wants(self, path: str) -> bool:
        return _any_glob(self.globs).fullmatch(path) is not None


@lru_cache(maxsize=64)
def _any_glob(globs: tuple[str, ...]) -> re.Pattern[str]:
    """One regex for a set of globs: a single C-level match per file instead of one per glob."""
    return re.compile("|".join(f"(?:{glob_regex(glob).pattern})" for glob in globs))


def read_whole(fs: FileSystem, entry: FileEntry, limit: int) -> bytes:
    """All of a metadata file, or an error: a database cut short would silently lose packages."""
    if entry.size > limit:
        raise GateError(f"/{entry.path} is {entry.size} bytes, over the {limit} byte limit; not read")
    return fs.read_bytes(entry)


def default_catalogers() -> list[Cataloger]:
    from gate.catalog import apk, dotnet, dpkg, executables, java, npm, php, python, rpm, ruby, rust

    return [
        *dpkg.CATALOGERS,
        *apk.CATALOGERS,
        *rpm.CATALOGERS,
        *python.CATALOGERS,
        *npm.CATALOGERS,
        *ruby.CATALOGERS,
        *php.CATALOGERS,
        *dotnet.CATALOGERS,
        *executables.CATALOGERS,
        *java.CATALOGERS,
        *rust.CATALOGERS,
    ]


def catalog_filesystem(
    fs: FileSystem, *, catalogers: Iterable[Cataloger] | None = None, base_layer_count: int | None = None
) -> Catalog:
    """Detect the distro, route every file to the catalogers that want it, collect packages."""
    from gate.catalog.distro import detect_distro

    chosen = list(catalogers) if catalogers is not None else default_catalogers()
    context = CatalogContext(distro=detect_distro(fs), base_layer_count=base_layer_count)
    packages: list[Package] = []
    unknowns: list[Unknown] = []

    def run(cataloger: Cataloger, entry: FileEntry) -> None:
        try:
            packages.extend(cataloger.parse(fs, context, entry))
        except PartlyRead as partial:
            logger.warning("%s: read /%s only in part: %s", cataloger.name, entry.path, partial)
            packages.extend(partial.packages)
            unknowns.append(Unknown("/" + entry.path, cataloger.name, str(partial)))
        except Exception as error:  # one broken parser must not lose the whole SBOM
            logger.warning("%s: cannot read /%s: %s", cataloger.name, entry.path, error)
            unknowns.append(Unknown("/" + entry.path, cataloger.name, str(error) or type(error).__name__))

    # a cataloger that looks at every file (executables) skips the glob matching altogether
    every_file = [cataloger for cataloger in chosen if MATCH_ALL in cataloger.globs]
    selective = [cataloger for cataloger in chosen if MATCH_ALL not in cataloger.globs]
    wanted_by_any = _any_glob(tuple(glob for cataloger in selective for glob in cataloger.globs))
    for entry in fs.files():
        for cataloger in every_file:
            run(cataloger, entry)
        if not selective or wanted_by_any.fullmatch(entry.path) is None:
            continue  # most files of an image interest no cataloger
        for cataloger in selective:
            if cataloger.wants(entry.path):
                run(cataloger, entry)
    from gate.catalog.ownership import link_owned_packages

    packages = link_owned_packages(packages, fs)
    packages.sort(
        key=lambda p: (p.type, p.name, p.version, p.arch, p.locations[0].path if p.locations else "")
    )
    return Catalog(tuple(packages), context.distro, tuple(unknowns))


def catalog_image(image: Image | DirImage, fs: FileSystem, *, base: BaseImage | None = None) -> Catalog:
    """Catalog an opened image whose filesystem is ``fs``; ``base`` marks inherited layers."""
    from dataclasses import replace

    result = catalog_filesystem(fs, base_layer_count=base.layer_count if base else None)
    source = {"reference": str(image.ref), "digest": image.digest, "mediaType": image.media_type}
    if base:
        source |= {"baseImage": base.reference, "baseLayers": str(base.layer_count)}
    return replace(result, source=source)
