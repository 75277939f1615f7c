"""The gemspec cataloger against the host's real Ruby (Debian's ``ruby``): ``gem list`` is the truth.

The specification directories of every ``gem env paths`` entry are copied into a temporary
image root at the same paths; ``gem`` and ``dpkg`` must be installed (``.ci/run`` installs
``ruby``), otherwise the tests fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gate.catalog import catalog_filesystem, dpkg, ruby
from gate.image.rootfs import DirFileSystem
from gate.model import Catalog

FIXTURES = Path(__file__).parent / "fixtures" / "ruby"
_GEM_LINE = re.compile(r"^(\S+) \((.*)\)$")


def run(*command: str) -> str:
    binary = shutil.which(command[0])
    assert binary, f"{command[0]} is not installed (apt-get install ruby)"
    return subprocess.run([binary, *command[1:]], check=True, capture_output=True, text=True).stdout


def gem_list() -> set[tuple[str, str]]:
    """(name, version) of every installed gem, from ``gem list --local``: ``uri (default: 0.11.0)``."""
    found = set()
    for line in run("gem", "list", "--local").splitlines():
        match = _GEM_LINE.match(line.strip())
        assert match, line
        for version in match.group(2).split(", "):
            found.add((match.group(1), version.removeprefix("default: ").split()[0]))
    return found


@pytest.fixture(scope="module")
def gem_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gem-root")
    for gem_path in run("gem", "env", "paths").strip().split(":"):
        specifications = Path(gem_path) / "specifications"
        if specifications.is_dir():
            shutil.copytree(specifications, root / specifications.relative_to("/"))
    return root


@pytest.fixture(scope="module")
def gem_catalog(gem_root: Path) -> Catalog:
    return catalog_filesystem(DirFileSystem(gem_root), catalogers=ruby.CATALOGERS)


def test_host_gems_match_gem_list_exactly(gem_catalog: Catalog) -> None:
    truth = gem_list()
    assert len(truth) > 50
    assert {(p.name, p.version) for p in gem_catalog.packages} == truth  # 100 % recall and precision
    assert gem_catalog.unknowns == ()


def test_gem_fields(gem_catalog: Catalog) -> None:
    uri = next(p for p in gem_catalog.packages if p.name == "uri")
    assert uri.purl == f"pkg:gem/uri@{uri.version}"
    assert (uri.type, uri.ecosystem, uri.found_by) == ("gem", "RubyGems", "ruby-gemspec-cataloger")
    assert uri.licenses == ("BSD-2-Clause", "Ruby")
    assert "/specifications/default/uri-" in uri.locations[0].path
    net_http = next(p for p in gem_catalog.packages if p.name == "net-http")
    assert net_http.dependencies == ("net-protocol", "uri")
    # development dependencies, written twice by old RubyGems, are not runtime ones
    telnet = next(p for p in gem_catalog.packages if p.name == "net-telnet")
    assert telnet.dependencies == ()


def test_debian_gems_are_owned_by_their_packages(gem_root: Path, tmp_path: Path) -> None:
    # the host's dpkg database beside the copied specifications: dpkg -S names each owner
    root = tmp_path / "root"
    shutil.copytree(gem_root, root)
    (root / "etc").mkdir()
    shutil.copyfile("/etc/os-release", root / "etc/os-release")
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    shutil.copyfile("/var/lib/dpkg/status", root / "var/lib/dpkg/status")
    specs = sorted(str(path.relative_to(root)) for path in root.rglob("*.gemspec"))
    owners = {}
    for line in run("dpkg", "-S", *(f"/{spec}" for spec in specs)).splitlines():
        package, _, path = line.partition(": ")
        owners[path] = package.split(":")[0]
        for listed in Path("/var/lib/dpkg/info").glob(f"{package.split(':')[0]}*.list"):
            shutil.copyfile(listed, root / "var/lib/dpkg/info" / listed.name)
    catalog = catalog_filesystem(DirFileSystem(root), catalogers=[*dpkg.CATALOGERS, *ruby.CATALOGERS])
    gems = [p for p in catalog.packages if p.type == "gem"]
    assert len(gems) == len(specs)
    for gem in gems:
        owner = owners[gem.locations[0].path]
        assert gem.metadata_dict["owned-by"].startswith(f"pkg:deb/debian/{owner}@"), gem.name


def test_syft_fixture_and_bad_gemspecs(tmp_path: Path) -> None:
    specifications = tmp_path / "usr/local/bundle/specifications"
    specifications.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "syft" / "formatador.gemspec", specifications / "formatador-1.0.0.gemspec")
    (specifications / "garbage-1.0.gemspec").write_bytes(bytes(range(256)) * 16)
    (specifications / "computed-1.0.gemspec").write_text(
        "Gem::Specification.new do |spec|\n  spec.name = NAME\n  spec.version = Foo::VERSION\nend\n"
    )
    old_style = "Gem::Specification.new do |spec|\n  spec.name = %q{old}\n  spec.version = %q<0.9>\n"
    (specifications / "old-0.9.gemspec").write_text(old_style + '  spec.license = "Apache-2.0"\nend\n')
    catalog = catalog_filesystem(DirFileSystem(tmp_path), catalogers=ruby.CATALOGERS)
    assert [(p.name, p.version, p.licenses) for p in catalog.packages] == [
        ("formatador", "1.0.0", ("MIT",)),
        ("old", "0.9", ("Apache-2.0",)),
    ]
    assert sorted(u.path for u in catalog.unknowns) == [
        "/usr/local/bundle/specifications/computed-1.0.gemspec",  # never evaluated
        "/usr/local/bundle/specifications/garbage-1.0.gemspec",
    ]
