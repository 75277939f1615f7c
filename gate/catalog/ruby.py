"""Installed Ruby gems: the ``specifications/*.gemspec`` files RubyGems writes for each gem.

An installed gemspec is Ruby code RubyGems generated with ``Gem::Specification#to_ruby``:
one ``s.<attribute> = <literal>`` per line, string literals as ``"..."`` (``.freeze``d) or
``%q{...}`` in old versions. It is read with patterns, never evaluated. Default gems (the
standard library's versioned gems, which have advisories of their own) live in
``specifications/default/``; Debian's ``ruby-*`` packages put theirs under
``/usr/share/rubygems-integration``.
"""

from __future__ import annotations

import re

from packageurl import PackageURL

from gate.catalog import CatalogContext, Cataloger, read_whole
from gate.catalog.licenses import normalize_license
from gate.image.filesystem import FileEntry, FileSystem
from gate.model import Package

NAME = "ruby-gemspec-cataloger"
ECOSYSTEM = "RubyGems"
MAX_GEMSPEC = 4 * 1024 * 1024

_STRING = r"""(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|%q\{([^}]*)\}|%q<([^>]*)>)"""
_VARIABLE = re.compile(r"Gem::Specification\.new\s+do\s+\|\s*(\w+)\s*\|")
_DEPENDENCY = re.compile(r"\.add_(runtime_|development_)?dependency\s*\(?\s*" + _STRING)


def parse_gemspec(fs: FileSystem, context: CatalogContext, entry: FileEntry) -> list[Package]:
    """The gem one installed ``.gemspec`` describes."""
    text = read_whole(fs, entry, MAX_GEMSPEC).decode("utf-8", "replace")
    variable = _VARIABLE.search(text)
    if variable is None:
        raise ValueError("no Gem::Specification.new block: not a gemspec")
    spec = re.escape(variable.group(1))
    name, version = _attribute(text, spec, "name"), _attribute(text, spec, "version")
    if not name or not version:
        raise ValueError("gemspec without a literal name and version")
    return [
        Package(
            name=name,
            version=version,
            type="gem",
            purl=PackageURL(type="gem", name=name, version=version).to_string(),
            found_by=NAME,
            locations=(context.location_of(entry),),
            ecosystem=ECOSYSTEM,
            licenses=_licenses(text, spec),
            dependencies=_runtime_dependencies(text),
        )
    ]


def _attribute(text: str, spec: str, attribute: str) -> str:
    """The literal assigned by ``s.<attribute> = "..."`` (or ``Gem::Version.new("...")``)."""
    pattern = rf"^\s*{spec}\.{attribute}\s*=\s*(?:Gem::Version\.new\(\s*)?{_STRING}"
    match = re.search(pattern, text, re.MULTILINE)
    return _literal(match) if match else ""


def _literal(match: re.Match[str]) -> str:
    return next(group for group in match.groups()[-4:] if group is not None)


def _licenses(text: str, spec: str) -> tuple[str, ...]:
    """``s.licenses = ["MIT", ...]`` or ``s.license = "MIT"``."""
    listed = re.search(rf"^\s*{spec}\.licenses\s*=\s*(\[[^\]]*\])", text, re.MULTILINE)
    if listed:
        names = [_literal(match) for match in re.finditer(_STRING, listed.group(1))]
    else:
        single = _attribute(text, spec, "license")
        names = [single] if single else []
    return tuple(sorted({normalize_license(name) for name in names if name.strip()}))


def _runtime_dependencies(text: str) -> tuple[str, ...]:
    """``add_runtime_dependency`` / ``add_dependency`` names, not development ones.

    RubyGems before 3.4 wrote each dependency twice: ``add_runtime_dependency`` or
    ``add_development_dependency`` inside ``if s.respond_to? :add_runtime_dependency``, and
    ``add_dependency`` for both kinds in the ``else`` branch for ancient RubyGems.
    """
    runtime: set[str] = set()
    development: set[str] = set()
    for match in _DEPENDENCY.finditer(text):
        (development if match.group(1) == "development_" else runtime).add(_literal(match))
    return tuple(sorted(runtime - development))


CATALOGERS: list[Cataloger] = [
    Cataloger(
        NAME,
        ("**/specifications/*.gemspec", "**/specifications/default/*.gemspec"),
        parse_gemspec,
    ),
]
