"""Installed Python distributions: ``*.dist-info/METADATA`` and ``*.egg-info`` (``PKG-INFO`` or a file).

The metadata is the core-metadata format (packaging.python.org "Core metadata specifications"):
RFC 822 style headers, repeated ``Classifier`` / ``Requires-Dist`` fields, the long description
after the first blank line (or in a ``Description`` header), which is never needed here. Names
are PEP 503-normalised (``Foo_Bar.baz`` -> ``foo-bar-baz``), as PyPI, purls and OSV use them.

Files a distribution owns come from ``RECORD`` (wheels, PEP 376/627: CSV rows of
``path,hash,size`` relative to the directory holding the ``.dist-info``) or from an egg's
``installed-files.txt`` (paths relative to the ``.egg-info`` directory).
"""

from __future__ import annotations

import csv
import email.parser
import email.policy
import io
import logging
import re

from license_expression import ExpressionError
from packageurl import PackageURL

from gate.catalog import CatalogContext, Cataloger
from gate.catalog.licenses import normalize_license, spdx_licensing
from gate.image.filesystem import FileEntry, FileSystem, normalize
from gate.model import Package

logger = logging.getLogger(__name__)

NAME = "python-installed-cataloger"
ECOSYSTEM = "PyPI"
MAX_METADATA = 4 * 1024 * 1024
MAX_RECORD = 16 * 1024 * 1024
MAX_LICENSE_NAME = 120  # a longer License field is the license text pasted in, not a name

_SEPARATORS = re.compile(r"[-_.]+")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_HEADER_END = re.compile(rb"\r?\n\r?\n")

# Trove classifiers ("License :: OSI Approved :: <last part>") -> SPDX; trove-classifiers
# lists the names, but no library maps them, and the set is small and frozen (PEP 639
# deprecates license classifiers in favour of License-Expression). Classifiers naming a
# family rather than one license ("BSD License", "Artistic License") are reported as written.
_CLASSIFIER_LICENSES: dict[str, str] = {
    "Apache Software License": "Apache-2.0",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "CEA CNRS Inria Logiciel Libre License, version 2.1 (CeCILL-2.1)": "CECILL-2.1",
    "Common Development and Distribution License 1.0 (CDDL-1.0)": "CDDL-1.0",
    "Eclipse Public License 1.0 (EPL-1.0)": "EPL-1.0",
    "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "ISC License (ISCL)": "ISC",
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "Mozilla Public License 1.1 (MPL 1.1)": "MPL-1.1",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "Universal Permissive License (UPL)": "UPL-1.0",
    "zlib/libpng License": "Zlib",
}
_UNKNOWN_LICENSES = {"", "unknown", "none", "n/a", "other", "other/proprietary license"}


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: runs of ``-``, ``_`` and ``.`` become one ``-``, lower case."""
    return _SEPARATORS.sub("-", name.strip()).lower()


def parse_python_metadata(fs: FileSystem, context: CatalogContext, entry: FileEntry) -> list[Package]:
    """One distribution from a METADATA / PKG-INFO file (or an ``.egg-info`` file)."""
    fields = read_core_metadata(fs.read_bytes(entry, limit=MAX_METADATA), "/" + entry.path)
    raw_name, version = _first(fields, "name"), _first(fields, "version")
    if not raw_name or not version:
        raise ValueError("core metadata without a Name and a Version")
    name = canonical_name(raw_name)
    return [
        Package(
            name=name,
            version=version,
            type="pypi",
            purl=PackageURL(type="pypi", name=name, version=version).to_string(),
            found_by=NAME,
            locations=(context.location_of(entry),),
            ecosystem=ECOSYSTEM,
            licenses=licenses_of(fields),
            files=_owned_files(fs, entry),
            dependencies=_dependencies(fields),
            metadata=(("declared-name", raw_name),) if raw_name != name else (),
        )
    ]


def read_core_metadata(data: bytes, where: str) -> dict[str, list[str]]:
    """Header fields (lower-cased names -> values in order) of a core-metadata file.

    Only the header block is parsed: the long description after the first blank line can be
    megabytes and is never used. Bytes that are not UTF-8 (old sdists wrote Latin-1) are
    replaced, with a warning naming the file, so one bad author name does not lose the package.
    """
    end = _HEADER_END.search(data)
    header = data[: end.start()] if end else data
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError as error:
        logger.warning("%s: metadata is not valid UTF-8 (%s); undecodable bytes replaced", where, error)
        text = header.decode("utf-8", "replace")
    message = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(text)
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key.lower(), []).append(_unfold(str(value)))
    return fields


def licenses_of(fields: dict[str, list[str]]) -> tuple[str, ...]:
    """``License-Expression`` (PEP 639), else an SPDX ``License``, else classifiers, else ``License``.

    ``License`` is free text (``Apache 2.0``, ``BSD``); a classifier such as
    ``License :: OSI Approved :: Apache Software License`` names the license more exactly.
    """
    expression = _first(fields, "license-expression")
    if expression:
        return (normalize_license(expression),)
    declared = _first(fields, "license")
    normalized = normalize_license(declared) if _is_license_name(declared) else ""
    if normalized and _is_spdx(normalized):
        return (normalized,)
    found = set()
    for classifier in fields.get("classifier", []):
        parts = [part.strip() for part in classifier.split("::")]
        if parts[0] == "License" and len(parts) > 1 and parts[-1] != "OSI Approved":
            found.add(_CLASSIFIER_LICENSES.get(parts[-1], parts[-1]))
    if found:
        return tuple(sorted(found))
    return (normalized,) if normalized else ()


def _is_spdx(expression: str) -> bool:
    try:
        return not spdx_licensing().validate(expression).errors
    except (ExpressionError, TypeError, ValueError, AttributeError, IndexError):
        # license-expression can fail inside its own error reporting on odd input
        return False


def _is_license_name(declared: str) -> bool:
    """A short one-line name; not the license text pasted in, nor a placeholder like UNKNOWN."""
    return (
        bool(declared)
        and "\n" not in declared
        and len(declared) <= MAX_LICENSE_NAME
        and declared.lower() not in _UNKNOWN_LICENSES
    )


def _first(fields: dict[str, list[str]], key: str) -> str:
    values = fields.get(key)
    return values[0].strip() if values else ""


def _unfold(value: str) -> str:
    return "\n".join(line.strip() for line in value.replace("\r\n", "\n").split("\n")).strip()


def _dependencies(fields: dict[str, list[str]]) -> tuple[str, ...]:
    """Names from ``Requires-Dist`` (PEP 508), leaving out requirements only an extra pulls in."""
    names = set()
    for requirement in fields.get("requires-dist", []):
        requirement_part, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        match = _REQUIREMENT_NAME.match(requirement_part)
        if match:
            names.add(canonical_name(match.group(1)))
    return tuple(sorted(names))


def _owned_files(fs: FileSystem, entry: FileEntry) -> tuple[str, ...]:
    """Image-absolute paths from ``RECORD`` or ``installed-files.txt`` beside the metadata."""
    meta_dir, _, filename = entry.path.rpartition("/")
    if filename.lower() != "pkg-info" and filename != "METADATA":
        return ()  # an .egg-info file: no directory, no file list
    record = fs.stat(f"{meta_dir}/RECORD")
    if record is not None and record.is_file:
        base = meta_dir.rpartition("/")[0]
        text = fs.read_bytes(record, limit=MAX_RECORD).decode("utf-8", "replace")
        # a RECORD row is "path,hash,size"; anything else (a merge-conflict marker...) is no row
        paths = [row[0] for row in csv.reader(io.StringIO(text)) if len(row) == 3 and row[0]]
        return _absolute(base, paths)
    installed = fs.stat(f"{meta_dir}/installed-files.txt")
    if installed is not None and installed.is_file:
        text = fs.read_bytes(installed, limit=MAX_RECORD).decode("utf-8", "replace")
        return _absolute(meta_dir, [line.strip() for line in text.splitlines() if line.strip()])
    return ()


def _absolute(base: str, paths: list[str]) -> tuple[str, ...]:
    """Paths relative to ``base`` (or absolute, as RECORD allows) made image-absolute."""
    return tuple(sorted({_absolute_path(base, path) for path in paths}))


def _absolute_path(base: str, path: str) -> str:
    if path.startswith("/") or ".." in path or "./" in path or "//" in path:
        return "/" + normalize(path if path.startswith("/") else f"{base}/{path}")
    return f"/{base}/{path}" if base else f"/{path}"  # already normal: most RECORD rows


CATALOGERS: list[Cataloger] = [
    Cataloger(
        NAME,
        (
            "**/*.dist-info/METADATA",
            "**/*.egg-info/PKG-INFO",
            "**/EGG-INFO/PKG-INFO",  # an unzipped .egg directory
            "**/*.egg-info",  # the single-file form distutils writes
        ),
        parse_python_metadata,
    ),
]
