"""Link language packages installed by the OS package manager to the OS package that owns them.

Debian's ``python3-six`` puts ``six-1.16.0.egg-info`` under ``/usr/lib/python3/dist-packages``;
the Python cataloger finds it like any other distribution. It is reported once, with the
metadata ``("owned-by", "<purl of the OS package>")``, and the matcher leaves it to the OS
package's advisories: distributions backport fixes without changing the upstream version, so
matching it against PyPI ranges gives false positives.

A language package is owned when the metadata file it was found in (``METADATA``,
``PKG-INFO``, ``package.json``, a ``.gemspec``...) is in an OS package's file list. Other
files it lists do not count: ``pip install --break-system-packages six`` over Debian's
python3-six overwrites ``six.py``, which dpkg still lists, but pip's ``six-1.17.0.dist-info``
is its own, and matching it against PyPI advisories is right. OS file lists may name a path
through a symlinked directory (``/lib`` -> ``usr/lib`` on merged-/usr systems); both sides
are compared as real paths.
"""

from __future__ import annotations

from dataclasses import replace

from gate.image.filesystem import FileSystem
from gate.model import Package

OS_PACKAGE_TYPES = frozenset({"deb", "apk", "rpm"})
OWNED_BY = "owned-by"


def link_owned_packages(packages: list[Package], fs: FileSystem) -> list[Package]:
    """``packages`` with every OS-owned language package carrying ``("owned-by", purl)``."""
    owners = _owners_by_path(packages, fs)
    if not owners:
        return packages
    return [_linked(package, owners) for package in packages]


def _owners_by_path(packages: list[Package], fs: FileSystem) -> dict[str, str]:
    real_dirs: dict[str, str] = {}
    owners: dict[str, str] = {}
    for package in packages:
        if package.type not in OS_PACKAGE_TYPES:
            continue
        for path in package.files:
            owners.setdefault(_real_path(path, fs, real_dirs), package.purl)
    return owners


def _real_path(path: str, fs: FileSystem, real_dirs: dict[str, str]) -> str:
    """``/lib/x`` -> ``/usr/lib/x`` when ``/lib`` is a symlink; directories resolved once each."""
    directory, _, name = path.rpartition("/")
    real = real_dirs.get(directory)
    if real is None:
        real = real_dirs[directory] = fs.resolve(directory)
    return f"/{real}/{name}" if real else f"/{name}"


def _linked(package: Package, owners: dict[str, str]) -> Package:
    if package.type in OS_PACKAGE_TYPES or any(key == OWNED_BY for key, _ in package.metadata):
        return package
    owner = next((owners[loc.path] for loc in package.locations if loc.path in owners), None)
    if owner is None:
        return package
    return replace(package, metadata=tuple(sorted((*package.metadata, (OWNED_BY, owner)))))
