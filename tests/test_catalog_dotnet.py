"""The .deps.json cataloger: syft's fixture with syft's expected list (fixtures/dotnet/NOTICE.md),
and the real ``Python.Runtime.deps.json`` the .NET SDK wrote into the pythonnet 3.0.5 wheel.

No .NET SDK or NuGet feed is reachable here; the wheel comes from PyPI (needed, or the test fails).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gate.catalog import catalog_filesystem, dotnet, python
from gate.image.rootfs import DirFileSystem
from gate.model import Catalog

FIXTURES = Path(__file__).parent / "fixtures" / "dotnet"
APP = "app"


def catalog_dir(root: Path) -> Catalog:
    return catalog_filesystem(DirFileSystem(root), catalogers=dotnet.CATALOGERS)


def test_syft_deps_json_matches_syft_expected_list(tmp_path: Path) -> None:
    (tmp_path / APP).mkdir()
    shutil.copyfile(FIXTURES / "syft" / "TestLibrary.deps.json", tmp_path / APP / "TestLibrary.deps.json")
    catalog = catalog_dir(tmp_path)
    # syft parse_dotnet_deps_test.go: every "package" library, not the two "project" ones
    assert sorted((p.name, p.version) for p in catalog.packages) == [
        ("AWSSDK.Core", "3.7.10.6"),
        ("Microsoft.Extensions.DependencyInjection", "6.0.0"),
        ("Microsoft.Extensions.DependencyInjection.Abstractions", "6.0.0"),
        ("Microsoft.Extensions.Logging", "6.0.0"),
        ("Microsoft.Extensions.Logging.Abstractions", "6.0.0"),
        ("Microsoft.Extensions.Options", "6.0.0"),
        ("Microsoft.Extensions.Primitives", "6.0.0"),
        ("Newtonsoft.Json", "13.0.1"),
        ("Serilog", "2.10.0"),
        ("Serilog.Sinks.Console", "4.0.1"),
        ("System.Diagnostics.DiagnosticSource", "6.0.0"),
        ("System.Runtime.CompilerServices.Unsafe", "6.0.0"),
    ]
    packages = {p.name: p for p in catalog.packages}
    newtonsoft = packages["Newtonsoft.Json"]
    assert newtonsoft.purl == "pkg:nuget/Newtonsoft.Json@13.0.1"
    assert (newtonsoft.type, newtonsoft.ecosystem, newtonsoft.found_by) == (
        "nuget",
        "NuGet",
        "dotnet-deps-cataloger",
    )
    assert newtonsoft.locations[0].path == f"/{APP}/TestLibrary.deps.json"
    nupkg_sha512 = "ppPFpBcvxdsfUonNcvITKqLl3bqxWbDCZIzDWHzjpdAHRFfZe0Dw9HmA0+za13IdyrgJwpkDTDA9fHaxOrt20A=="
    assert newtonsoft.hashes == (("sha512", base64.b64decode(nupkg_sha512).hex()),)
    assert packages["Microsoft.Extensions.Logging"].dependencies == (
        "Microsoft.Extensions.DependencyInjection",
        "Microsoft.Extensions.DependencyInjection.Abstractions",
        "Microsoft.Extensions.Logging.Abstractions",
        "Microsoft.Extensions.Options",
        "System.Diagnostics.DiagnosticSource",
    )
    assert catalog.unknowns == ()


@pytest.fixture(scope="module")
def pythonnet_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    downloads = tmp_path_factory.mktemp("wheels")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check"]
    subprocess.run([*command, "--dest", str(downloads), "pythonnet==3.0.5"], check=True)
    root = tmp_path_factory.mktemp("pythonnet-root")
    site = root / "usr/local/lib/python3.11/site-packages"
    site.mkdir(parents=True)
    (wheel,) = downloads.glob("pythonnet-3.0.5-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)  # a wheel is installed by unpacking it (PEP 427)
    return root


def test_real_sdk_written_deps_json_inside_a_python_package(pythonnet_root: Path) -> None:
    catalog = catalog_filesystem(
        DirFileSystem(pythonnet_root), catalogers=[*dotnet.CATALOGERS, *python.CATALOGERS]
    )
    nuget = sorted((p.name, p.version) for p in catalog.packages if p.type == "nuget")
    assert nuget == [
        ("Lost.Compat.NullabilityAttributes", "0.0.4"),
        ("Microsoft.Build.Tasks.Git", "1.1.1"),
        ("Microsoft.CSharp", "4.7.0"),
        ("Microsoft.NETCore.Platforms", "1.1.0"),
        ("Microsoft.NETCore.Targets", "1.1.0"),
        ("Microsoft.Net.Compilers.Toolset", "4.0.1"),
        ("Microsoft.SourceLink.Common", "1.1.1"),
        ("Microsoft.SourceLink.GitHub", "1.1.1"),
        ("NETStandard.Library", "2.0.3"),
        ("NonCopyableAnalyzer", "0.7.0"),
        ("System.IO", "4.3.0"),
        ("System.Reflection", "4.3.0"),
        ("System.Reflection.Emit", "4.3.0"),
        ("System.Reflection.Emit.ILGeneration", "4.3.0"),
        ("System.Reflection.Primitives", "4.3.0"),
        ("System.Runtime", "4.3.0"),
        ("System.Text.Encoding", "4.3.0"),
        ("System.Threading.Tasks", "4.3.0"),
    ]  # not the "project" Python.Runtime/3.0.5 itself
    assert [(p.name, p.version) for p in catalog.packages if p.type == "pypi"] == [("pythonnet", "3.0.5")]
    assert all(len(dict(p.hashes)["sha512"]) == 128 for p in catalog.packages if p.type == "nuget")
    emit = next(p for p in catalog.packages if p.name == "System.Reflection.Emit")
    assert "System.Reflection.Emit.ILGeneration" in emit.dependencies


def test_bad_deps_json(tmp_path: Path) -> None:
    (tmp_path / APP).mkdir()
    (tmp_path / APP / "broken.deps.json").write_bytes(b'{"libraries": {')
    (tmp_path / APP / "other.deps.json").write_bytes(b'{"name": "not a deps file"}')
    shutil.copyfile(FIXTURES / "syft" / "TestLibrary.deps.json", tmp_path / APP / "TestLibrary.deps.json")
    catalog = catalog_dir(tmp_path)
    assert len(catalog.packages) == 12
    assert sorted(u.path for u in catalog.unknowns) == [f"/{APP}/broken.deps.json", f"/{APP}/other.deps.json"]
