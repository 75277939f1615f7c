"""Tests for gate.image.filesystem: layer merging, links, lookups, hostile and corrupt layers.

Images are built with LayerBuilder (or hand-made tars for what it cannot express), pushed
into an OCI layout under tmp_path and read back through ``open_image`` exactly as the CLI
does. Every test runs with the temp dir pointed at a private ``spool`` directory, and the
autouse fixture fails the test if any spool directory is left behind.
"""

from __future__ import annotations

import gzip
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from gate.errors import GateError, ImageFormatError, IntegrityError, LayerError
from gate.image.build import OCI_LAYER_GZIP, LayerBuilder, build_image
from gate.image.digest import digest_of
from gate.image.filesystem import MAX_SYMLINK_HOPS, Kind, LayeredFileSystem, LayerSource, Location
from gate.image.image import Image, open_image
from gate.image.layout import OciLayout
from tests.helpers import (
    OCI_LAYER_TAR,
    OCI_LAYER_ZSTD,
    assemble_image,
    directory,
    gzip_layer,
    hardlink,
    make_tar,
    many_empty_files_tar,
    opened,
    push,
    push_layers,
    reg,
    special,
    symlink,
)

OS_RELEASE = b"ID=gate-test\nVERSION_ID=1\n"


@pytest.fixture(autouse=True)
def spool_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Spool directories go here; none may survive the test."""
    root = tmp_path / "spool"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    yield root
    assert sorted(p.name for p in root.iterdir()) == [], "a spool directory was left behind"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh current directory, so that a relative write would be visible."""
    path = tmp_path / "cwd"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


def layer(*steps: tuple) -> bytes:
    """``layer(("file", "a", b"x"), ("dir", "d"), ("symlink", "l", "a"), ...)``."""
    builder = LayerBuilder()
    for kind, *args in steps:
        getattr(builder, f"add_{kind}")(*args)
    return builder.build()


def paths(filesystem: LayeredFileSystem) -> list[str]:
    return [entry.path for entry in filesystem.walk()]


def one_line(error: pytest.ExceptionInfo[GateError]) -> str:
    message = str(error.value)
    assert message
    assert "\n" not in message
    assert "\n" not in error.value.diagnostics()
    return message


# -- layers ---------------------------------------------------------------------------------


def test_files_from_several_layers_carry_their_layer(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(("dir", "etc"), ("file", "etc/os-release", OS_RELEASE)),
            LayerBuilder().add_file("usr/bin/tool", b"#!/bin/sh\n", mode=0o755, uid=10, gid=20).build(),
            layer(("file", "app/main.py", b"print(1)\n")),
        ],
    )
    progress: list[int] = []
    with open_image(ref) as image:
        assert isinstance(image, Image)
        digests = [item.digest for item in image.layers]
        assert len(set(digests)) == 3
        with image.filesystem(progress=progress.append) as fs:
            assert progress == [0, 1, 2]
            assert fs.layer_digests == digests

            os_release = fs.entry("/etc/os-release")
            assert os_release is not None
            assert (os_release.kind, os_release.layer_index, os_release.layer_digest) == (
                Kind.FILE,
                0,
                digests[0],
            )
            assert os_release.location == Location("/etc/os-release", 0, digests[0])
            assert os_release.size == len(OS_RELEASE)
            assert fs.read_bytes("etc/os-release") == OS_RELEASE

            tool = fs.stat("usr/bin/tool")
            assert tool is not None
            assert tool.location == Location("/usr/bin/tool", 1, digests[1])
            assert (tool.mode, tool.uid, tool.gid, tool.is_executable) == (0o755, 10, 20, True)
            assert os_release.is_executable is False

            main = fs.stat("/app/main.py")
            assert main is not None
            assert main.location == Location("/app/main.py", 2, digests[2])
            assert fs.read_bytes(main) == b"print(1)\n"
            assert fs.read_bytes(main, limit=5) == b"print"
            assert fs.open("app/main.py").read() == b"print(1)\n"

            # parents that no layer lists are made up as directories of the first layer needing them
            usr = fs.entry("usr")
            assert usr is not None
            assert (usr.kind, usr.layer_index) == (Kind.DIR, 1)
            assert paths(fs) == [
                "app",
                "app/main.py",
                "etc",
                "etc/os-release",
                "usr",
                "usr/bin",
                "usr/bin/tool",
            ]
            assert len(fs) == 7
            assert [e.path for e in fs.files()] == ["app/main.py", "etc/os-release", "usr/bin/tool"]


def test_later_layer_overwrites_a_file(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(("file", "etc/app.conf", b"debug=false\n"), ("file", "etc/other", b"o")),
            LayerBuilder().add_file("etc/app.conf", b"debug=true\nmore=1\n", mode=0o600).build(),
        ],
    )
    with opened(ref) as (image, fs):
        conf = fs.stat("etc/app.conf")
        assert conf is not None
        assert conf.location == Location("/etc/app.conf", 1, image.layers[1].digest)
        assert conf.mode == 0o600
        assert conf.size == len(b"debug=true\nmore=1\n")
        assert fs.read_bytes("etc/app.conf") == b"debug=true\nmore=1\n"
        other = fs.stat("etc/other")
        assert other is not None
        assert other.layer_index == 0


def test_whiteout_deletes_a_file_and_a_whole_directory(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(
                ("file", "etc/keep", b"k"),
                ("file", "etc/gone", b"g"),
                ("file", "opt/app/bin/tool", b"t"),
                ("file", "opt/app/lib/deep/x.so", b"x"),
                ("symlink", "opt/app/current", "bin"),
                ("file", "opt/other", b"o"),
            ),
            layer(("whiteout", "etc/gone"), ("whiteout", "opt/app")),
        ],
    )
    with opened(ref) as (_, fs):
        assert paths(fs) == ["etc", "etc/keep", "opt", "opt/other"]
        for gone in ("etc/gone", "opt/app", "opt/app/bin/tool", "opt/app/lib/deep/x.so", "opt/app/current"):
            assert fs.entry(gone) is None, gone
            assert fs.stat(gone) is None, gone
            assert not fs.exists(gone)
        with pytest.raises(GateError, match="no such file"):
            fs.read_bytes("opt/app/bin/tool")
        assert fs.read_bytes("etc/keep") == b"k"
        # the whiteout markers themselves are never files of the image
        assert not [e for e in fs.walk() if ".wh." in e.path]
        assert not [e for e, _ in fs.all_layer_files() if ".wh." in e.path]


def test_deleted_directory_does_not_come_back_when_recreated(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(("file", "srv/data/old1", b"1"), ("file", "srv/data/sub/old2", b"2")),
            layer(("whiteout", "srv/data")),
            layer(("file", "srv/data/new", b"n")),
        ],
    )
    with opened(ref) as (_, fs):
        assert paths(fs) == ["srv", "srv/data", "srv/data/new"]
        data = fs.entry("srv/data")
        assert data is not None
        assert (data.kind, data.layer_index) == (Kind.DIR, 2)


def test_whiteout_of_a_top_level_directory_removes_everything_below(tmp_path: Path) -> None:
    lower = LayerBuilder()
    for i in range(50):
        lower.add_file(f"usr/lib/pkg{i}/file{i}", f"{i}".encode())
    lower.add_file("usr/bin/x", b"x").add_file("bin/sh", b"sh")
    ref = push_layers(tmp_path / "layout", [lower.build(), layer(("whiteout", "usr"))])
    with opened(ref) as (_, fs):
        assert paths(fs) == ["bin", "bin/sh"]
        hidden = [(e.path, visible) for e, visible in fs.all_layer_files()]
        assert len(hidden) == 52
        assert all(not visible for path, visible in hidden if path.startswith("usr/"))
        assert ("bin/sh", True) in hidden


def test_opaque_whiteout_hides_lower_children_but_keeps_its_own_layer(tmp_path: Path) -> None:
    upper = make_tar(
        [
            directory("a"),
            reg("a/new", b"new"),  # listed before the marker: order inside a layer must not matter
            reg("a/.wh..wh..opq"),
            reg("a/sub/fresh", b"fresh"),
        ]
    )
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(
                ("file", "a/old1", b"1"),
                ("file", "a/sub/old2", b"2"),
                ("file", "a/new", b"lower version"),
                ("file", "b/x", b"x"),
            ),
            upper,
        ],
    )
    with opened(ref) as (_, fs):
        assert paths(fs) == ["a", "a/new", "a/sub", "a/sub/fresh", "b", "b/x"]
        assert fs.read_bytes("a/new") == b"new"
        assert fs.read_bytes("a/sub/fresh") == b"fresh"
        assert fs.entry("a/old1") is None
        assert fs.entry("a/sub/old2") is None
        a = fs.entry("a")
        assert a is not None
        assert (a.kind, a.layer_index) == (Kind.DIR, 1)
        visibility = {(e.path, e.layer_index): v for e, v in fs.all_layer_files()}
        assert visibility == {
            ("a/old1", 0): False,
            ("a/sub/old2", 0): False,
            ("a/new", 0): False,
            ("b/x", 0): True,
            ("a/new", 1): True,
            ("a/sub/fresh", 1): True,
        }


def test_file_replacing_a_directory_hides_its_children(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(("file", "d/x", b"x"), ("file", "d/sub/y", b"y"), ("file", "keep", b"k")),
            layer(("file", "d", b"now a file")),
            layer(("dir", "d"), ("file", "d/z", b"z")),
        ],
    )
    with opened(ref) as (_, fs):
        assert paths(fs) == ["d", "d/z", "keep"]
        assert fs.entry("d/x") is None
        assert fs.entry("d/sub/y") is None
        d = fs.entry("d")
        assert d is not None
        assert (d.kind, d.layer_index) == (Kind.DIR, 2)
        layer_files = [(e.path, e.layer_index, v) for e, v in fs.all_layer_files()]
        assert ("d", 1, False) in layer_files
        assert ("d/x", 0, False) in layer_files

    # and with only the first two layers, ``d`` is the file
    ref2 = push_layers(
        tmp_path / "layout2",
        [
            layer(("file", "d/x", b"x"), ("file", "d/sub/y", b"y")),
            layer(("file", "d", b"now a file")),
        ],
    )
    with opened(ref2) as (_, fs):
        assert paths(fs) == ["d"]
        assert fs.read_bytes("d") == b"now a file"
        assert fs.stat("d/x") is None


def test_directory_replacing_a_file(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [layer(("file", "x", b"file")), layer(("file", "x/y", b"y"))],
    )
    with opened(ref) as (_, fs):
        x = fs.entry("x")
        assert x is not None
        assert (x.kind, x.layer_index) == (Kind.DIR, 1)
        assert fs.read_bytes("x/y") == b"y"
        with pytest.raises(GateError, match="not a regular file"):
            fs.read_bytes("x")


def test_hardlinks_share_content_within_a_layer_and_with_a_lower_one(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(
                ("file", "usr/bin/python3.12", b"ELF-python"),
                ("hardlink", "usr/bin/python3", "usr/bin/python3.12"),
            ),
            layer(("hardlink", "usr/local/bin/py", "usr/bin/python3.12")),
            layer(("file", "usr/bin/python3.12", b"ELF-python-patched")),
        ],
    )
    with opened(ref) as (_, fs):
        same_layer = fs.entry("usr/bin/python3")
        assert same_layer is not None
        assert (same_layer.kind, same_layer.layer_index, same_layer.size) == (Kind.FILE, 0, 10)
        assert fs.read_bytes(same_layer) == b"ELF-python"

        lower = fs.entry("usr/local/bin/py")
        assert lower is not None
        assert (lower.kind, lower.layer_index) == (Kind.FILE, 1)
        # a hardlink is the lower file's content at the time it was linked
        assert fs.read_bytes(lower) == b"ELF-python"
        assert fs.read_bytes("usr/bin/python3.12") == b"ELF-python-patched"


# -- symlinks -------------------------------------------------------------------------------


def test_symlinks_relative_absolute_and_escaping_resolve_inside_the_image(tmp_path: Path) -> None:
    climb = "../" * 12
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(
                ("file", "etc/os-release", OS_RELEASE),
                ("symlink", "etc/relative", "os-release"),
                ("symlink", "etc/dotted", "./../etc/./os-release"),
                ("symlink", "usr/lib/absolute", "/etc/os-release"),
                ("symlink", "usr/share/doc/escape", f"{climb}etc/os-release"),
                ("symlink", "usr/share/doc/escape-abs", f"/{climb}etc/os-release"),
                ("symlink", "chain1", "chain2"),
                ("symlink", "chain2", "/etc/relative"),
            )
        ],
    )
    with opened(ref) as (_, fs):
        for link in (
            "etc/relative",
            "etc/dotted",
            "usr/lib/absolute",
            "usr/share/doc/escape",
            "usr/share/doc/escape-abs",
            "chain1",
        ):
            assert fs.resolve(link) == "etc/os-release", link
            target = fs.stat(link)
            assert target is not None
            assert (target.path, target.kind) == ("etc/os-release", Kind.FILE)
            assert fs.read_bytes(link) == OS_RELEASE
            entry = fs.entry(link)
            assert entry is not None
            assert (entry.kind, entry.path) == (Kind.SYMLINK, link)
        escape = fs.entry("usr/share/doc/escape")
        assert escape is not None
        assert escape.link_target == f"{climb}etc/os-release"


@pytest.mark.parametrize(
    "target",
    [
        "../../../../../../../../etc/hostname",
        "/etc/hostname",
        "../../../../../../../../etc/passwd",
        "/etc/passwd",
        "/../../../etc/passwd",
    ],
)
def test_symlink_out_of_the_root_never_reads_a_host_file(tmp_path: Path, target: str) -> None:
    ref = push_layers(tmp_path / "layout", [layer(("symlink", "var/lib/link", target), ("file", "a", b"a"))])
    with opened(ref) as (_, fs):
        assert fs.entry("var/lib/link") is not None
        assert fs.stat("var/lib/link") is None
        assert not fs.exists("var/lib/link")
        assert fs.resolve("var/lib/link") == "etc/" + target.rsplit("/", 1)[1]
        with pytest.raises(GateError, match="no such file in the image"):
            fs.read_bytes("var/lib/link")


def test_symlink_out_of_the_root_reads_the_image_own_file(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(
                ("file", "etc/hostname", b"image-host\n"),
                ("file", "etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
                ("symlink", "var/lib/hostname", "../../../../../../etc/hostname"),
                ("symlink", "var/lib/passwd", "/etc/passwd"),
            )
        ],
    )
    with opened(ref) as (_, fs):
        assert fs.read_bytes("var/lib/hostname") == b"image-host\n"
        assert fs.read_bytes("var/lib/passwd") == b"root:x:0:0::/root:/bin/sh\n"
        host = Path("/etc/passwd").read_bytes()
        assert fs.read_bytes("var/lib/passwd") != host


def test_symlinked_intermediate_directories(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(
                ("file", "usr/lib/libz.so.1", b"zlib"),
                ("symlink", "lib", "usr/lib"),
                ("file", "opt/v2/bin/app", b"app-v2"),
                ("symlink", "opt/current", "/opt/v2"),
                ("symlink", "hop1", "hop2"),
                ("symlink", "hop2", "usr"),
                ("symlink", "usr/share/up", "../../../.."),
            ),
            layer(("symlink", "usr/lib/libz.so", "libz.so.1")),
        ],
    )
    with opened(ref) as (_, fs):
        for path in ("lib/libz.so.1", "/lib/libz.so", "hop1/lib/libz.so.1", "usr/share/up/lib/libz.so"):
            target = fs.stat(path)
            assert target is not None, path
            assert target.path == "usr/lib/libz.so.1"
            assert fs.read_bytes(path) == b"zlib"
        assert fs.read_bytes("opt/current/bin/app") == b"app-v2"
        assert fs.resolve("opt/current/bin/app") == "opt/v2/bin/app"
        assert fs.resolve("usr/share/up/opt/current/bin") == "opt/v2/bin"

        # entry() follows intermediate links, not the last one
        via = fs.entry("lib/libz.so")
        assert via is not None
        assert (via.path, via.kind, via.link_target, via.layer_index) == (
            "usr/lib/libz.so",
            Kind.SYMLINK,
            "libz.so.1",
            1,
        )
        lib = fs.entry("lib")
        assert lib is not None
        assert lib.kind is Kind.SYMLINK
        lib_dir = fs.stat("lib")
        assert lib_dir is not None
        assert (lib_dir.path, lib_dir.kind) == ("usr/lib", Kind.DIR)


def test_entry_and_stat_semantics(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(
                ("file", "etc/os-release", OS_RELEASE),
                ("symlink", "etc/link", "os-release"),
                ("symlink", "etc/dangling", "nowhere"),
            )
        ],
    )
    with opened(ref) as (_, fs):
        for spelling in (
            "etc/os-release",
            "/etc/os-release",
            "/etc/../etc/./os-release",
            "//etc//os-release",
        ):
            entry = fs.entry(spelling)
            assert entry is not None, spelling
            assert entry.path == "etc/os-release"
        link = fs.entry("etc/link")
        assert link is not None
        assert (link.kind, link.link_target, link.size, link.content) == (Kind.SYMLINK, "os-release", 0, None)
        followed = fs.stat("etc/link")
        assert followed is not None
        assert followed.path == "etc/os-release"
        dangling = fs.entry("etc/dangling")
        assert dangling is not None
        assert dangling.kind is Kind.SYMLINK
        assert fs.stat("etc/dangling") is None
        assert fs.exists("etc/dangling") is False
        with pytest.raises(GateError, match="no such file"):
            fs.read_bytes("etc/dangling")
        assert fs.entry("etc/missing") is None
        assert fs.stat("etc/missing") is None
        assert fs.entry("missing/dir/file") is None
        assert fs.stat("etc/os-release/child") is None


def test_symlink_loop_is_an_error_when_followed(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(
                ("symlink", "loop/a", "b"),
                ("symlink", "loop/b", "/loop/a"),
                ("symlink", "self", "self"),
                ("symlink", "deep", "deep/deeper"),
            )
        ],
    )
    with opened(ref) as (_, fs):
        for path in ("loop/a", "self", "deep", "loop/a/child"):
            with pytest.raises(LayerError) as error:
                fs.read_bytes(path)
            assert "symbolic links" in one_line(error)
            with pytest.raises(LayerError, match="symbolic links"):
                fs.stat(path)
        entry = fs.entry("loop/a")  # not followed: no error
        assert entry is not None
        assert entry.link_target == "b"


def test_long_symlink_chain_within_the_hop_limit(tmp_path: Path) -> None:
    builder = LayerBuilder().add_file("target", b"end")
    for i in range(MAX_SYMLINK_HOPS):
        builder.add_symlink(f"s{i}", f"s{i + 1}" if i + 1 < MAX_SYMLINK_HOPS else "target")
    ref = push_layers(tmp_path / "layout", [builder.build()])
    with opened(ref) as (_, fs):
        assert fs.read_bytes("s0") == b"end"
        assert fs.resolve("s0") == "target"
    # one more hop is one too many
    builder = LayerBuilder().add_file("target", b"end")
    for i in range(MAX_SYMLINK_HOPS + 1):
        builder.add_symlink(f"s{i}", f"s{i + 1}" if i < MAX_SYMLINK_HOPS else "target")
    with opened(push_layers(tmp_path / "layout2", [builder.build()])) as (_, fs):
        assert fs.read_bytes("s1") == b"end"
        with pytest.raises(LayerError, match="too many levels of symbolic links"):
            fs.read_bytes("s0")


def test_glob(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(
                ("file", "etc/a.conf", b""),
                ("file", "etc/sub/b.conf", b""),
                ("file", "etc/sub/deeper/c.conf", b""),
                ("file", "etc/notconf", b""),
                ("file", "usr/d.conf", b""),
                ("file", "x.conf", b""),
                ("symlink", "linked", "etc"),
            )
        ],
    )
    with opened(ref) as (_, fs):

        def names(*patterns: str) -> list[str]:
            return [e.path for e in fs.glob(*patterns)]

        assert names("etc/*.conf") == ["etc/a.conf"]
        assert names("/etc/*.conf") == ["etc/a.conf"]
        assert names("etc/*") == ["etc/a.conf", "etc/notconf", "etc/sub"]
        assert names("**/*.conf") == [
            "etc/a.conf",
            "etc/sub/b.conf",
            "etc/sub/deeper/c.conf",
            "usr/d.conf",
            "x.conf",
        ]
        assert names("etc/**/*.conf") == ["etc/a.conf", "etc/sub/b.conf", "etc/sub/deeper/c.conf"]
        assert names("etc/**") == [
            "etc/a.conf",
            "etc/notconf",
            "etc/sub",
            "etc/sub/b.conf",
            "etc/sub/deeper",
            "etc/sub/deeper/c.conf",
        ]
        assert names("*.conf") == ["x.conf"]
        assert names("?.conf", "usr/*") == ["usr/d.conf", "x.conf"]
        assert names("etc/a.con") == []
        assert names("etc/a?conf") == ["etc/a.conf"]
        assert names("etc/a[.]conf") == []  # brackets are literal
        # symlinked directories are not followed: each file is reported once, under its real path
        assert names("linked/*") == []
        assert names("linked") == ["linked"]


def test_all_layer_files_keeps_deleted_and_overwritten_content(tmp_path: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [
            layer(
                ("file", "root/.aws/credentials", b"aws_secret_access_key=AKIA-SECRET"),
                ("file", "app/config", b"v1"),
                ("dir", "app/empty"),
                ("symlink", "app/link", "config"),
            ),
            layer(("whiteout", "root/.aws"), ("file", "app/config", b"v2")),
        ],
    )
    with opened(ref) as (image, fs):
        found = [
            (e.path, e.layer_index, e.layer_digest, visible, fs.read_bytes(e))
            for e, visible in fs.all_layer_files()
        ]
        d0, d1 = (item.digest for item in image.layers)
        assert found == [
            ("root/.aws/credentials", 0, d0, False, b"aws_secret_access_key=AKIA-SECRET"),
            ("app/config", 0, d0, False, b"v1"),
            ("app/config", 1, d1, True, b"v2"),
        ]
        assert fs.stat("root/.aws/credentials") is None


def test_device_and_fifo_are_recorded_but_never_read(tmp_path: Path) -> None:
    tar = make_tar(
        [special("dev/null"), special("dev/sda", tarfile.BLKTYPE), special("run/fifo", tarfile.FIFOTYPE)]
    )
    ref = push_layers(tmp_path / "layout", [tar])
    with opened(ref) as (_, fs):
        for path in ("dev/null", "dev/sda", "run/fifo"):
            entry = fs.entry(path)
            assert entry is not None
            assert (entry.kind, entry.size, entry.content, entry.is_file) == (Kind.OTHER, 0, None, False)
            with pytest.raises(GateError) as error:
                fs.read_bytes(path)
            assert one_line(error) == f"/{path}: not a regular file (other)"
        with pytest.raises(GateError, match=r"^/dev: not a regular file \(dir\)$"):
            fs.read_bytes("dev")
        assert [e.path for e in fs.files()] == []


def test_harmless_names_with_dots_are_accepted(tmp_path: Path) -> None:
    tar = make_tar([reg("./a..b", b"1"), reg("..hidden", b"2"), reg("dir/.../x", b"3"), directory("./")])
    ref = push_layers(tmp_path / "layout", [tar])
    with opened(ref) as (_, fs):
        assert paths(fs) == ["..hidden", "a..b", "dir", "dir/...", "dir/.../x"]
        assert fs.read_bytes("dir/.../x") == b"3"


# -- hostile layers -------------------------------------------------------------------------

ESCAPE = "gate-escape-7f3a9c"


def assert_nothing_escaped(tmp_path: Path, workdir: Path) -> None:
    """No file named after the hostile entry exists anywhere it could have been written."""
    candidates = [
        tmp_path,
        tmp_path.parent,
        tmp_path.parent.parent,
        workdir,
        workdir.parent,
        Path("/"),
        Path("/tmp"),
        Path("/etc"),
        Path(tempfile.gettempdir()),
        Path(tempfile.gettempdir()).parent,
    ]
    for place in candidates:
        assert not (place / ESCAPE).exists(), place
    assert not [p for p in tmp_path.rglob(f"*{ESCAPE}*")]


HOSTILE = [
    pytest.param([reg(f"../{ESCAPE}", b"x")], "climbs out of the image root", id="dotdot"),
    pytest.param([reg(f"a/../../{ESCAPE}", b"x")], "climbs out of the image root", id="dotdot-inner"),
    pytest.param([reg(f"./../../../../{ESCAPE}", b"x")], "climbs out of the image root", id="dotdot-deep"),
    pytest.param([directory(f"../{ESCAPE}")], "climbs out of the image root", id="dotdot-dir"),
    pytest.param(
        [symlink(f"../{ESCAPE}", "/etc/passwd")], "climbs out of the image root", id="dotdot-symlink"
    ),
    pytest.param([reg(f"/tmp/{ESCAPE}", b"x")], "is an absolute path", id="absolute"),
    pytest.param([reg(f"/{ESCAPE}", b"x")], "is an absolute path", id="absolute-root"),
    pytest.param(
        [reg("a", b"x"), hardlink(ESCAPE, "../../../../etc/passwd")],
        "hardlink target '../../../../etc/passwd' climbs out of the image root",
        id="hardlink-dotdot",
    ),
    pytest.param(
        [hardlink(ESCAPE, "/etc/passwd")],
        "hardlink target '/etc/passwd' is an absolute path",
        id="hardlink-absolute",
    ),
    pytest.param(
        [hardlink(ESCAPE, "missing")],
        f"hardlink '{ESCAPE}' points to missing file 'missing'",
        id="hardlink-missing",
    ),
    pytest.param([directory("d"), hardlink(ESCAPE, "d")], f"hardlink '{ESCAPE}'", id="hardlink-to-directory"),
    pytest.param(
        [directory("dir"), reg("dir/.wh..")], "whiteout 'dir/.wh..' names no file", id="whiteout-dot"
    ),
    pytest.param([reg("dir/.wh...")], "whiteout 'dir/.wh...' names no file", id="whiteout-dotdot"),
    pytest.param([reg(".wh..")], "whiteout '.wh..' names no file", id="whiteout-root-dot"),
    pytest.param([reg(".wh.")], "whiteout '.wh.' names no file", id="whiteout-empty"),
    pytest.param([reg("x" * 5000)], "name longer than 4096 characters", id="long-name"),
]


@pytest.mark.parametrize(("members", "message"), HOSTILE)
def test_hostile_entry_rejects_the_layer(
    tmp_path: Path, workdir: Path, spool_root: Path, members: list, message: str
) -> None:
    ref = push_layers(tmp_path / "layout", [layer(("file", "ok", b"fine")), make_tar(members)])
    with open_image(ref) as image:
        assert isinstance(image, Image)
        with pytest.raises(LayerError) as error:
            image.filesystem()
    text = one_line(error)
    assert message in text
    assert text.startswith(f"layer 1 ({image.layers[1].digest})")
    assert list(spool_root.iterdir()) == []
    assert_nothing_escaped(tmp_path, workdir)


def test_hardlink_to_a_lower_layer_file_deleted_by_a_whiteout_in_the_same_layer(tmp_path: Path) -> None:
    """Documented here so a change is noticed: the link is resolved before the layer's whiteouts."""
    ref = push_layers(
        tmp_path / "layout",
        [layer(("file", "a", b"lower")), make_tar([reg(".wh.a"), hardlink("b", "a")])],
    )
    with opened(ref) as (_, fs):
        assert fs.entry("a") is None
        assert fs.read_bytes("b") == b"lower"


# -- size -----------------------------------------------------------------------------------


def test_layer_with_200k_entries(tmp_path: Path) -> None:
    names = [f"d{i // 1000:03d}/f{i:06d}" for i in range(200_000)]
    tar = many_empty_files_tar(names)
    ref = push_layers(
        tmp_path / "layout", [tar, layer(("whiteout", "d199"), ("file", "d000/f000000", b"new"))]
    )
    started = time.perf_counter()
    with opened(ref) as (_, fs):
        elapsed = time.perf_counter() - started
        assert len(fs) == 199 + 199_000
        assert sum(1 for _ in fs.files()) == 199_000
        assert fs.read_bytes("d000/f000000") == b"new"
        last = fs.stat("d198/f198999")
        assert last is not None
        assert (last.kind, last.size, last.layer_index) == (Kind.FILE, 0, 0)
        assert fs.stat("d199/f199000") is None
        assert sum(1 for _ in fs.all_layer_files()) == 200_001
    print(f"200k-entry layer: filesystem built in {elapsed:.1f}s")
    assert elapsed < 60


# -- corrupt blobs --------------------------------------------------------------------------


def _corrupt(layout_dir: Path, digest: str, position: int) -> None:
    blob = OciLayout.open(layout_dir).blob_path(digest)
    data = bytearray(blob.read_bytes())
    data[position] ^= 0x55
    blob.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["gzip-header", "middle", "last"])
def test_blob_not_matching_its_digest(tmp_path: Path, spool_root: Path, where: str) -> None:
    builder = LayerBuilder()
    for i in range(64):
        builder.add_file(f"f{i}", os.urandom(512))
    built = build_image([layer(("file", "a", b"a")), builder.build()])
    ref = push(tmp_path / "layout", built)
    blob = built.layers[1]
    position = {"gzip-header": 5, "middle": len(blob) // 2, "last": len(blob) - 1}[where]
    _corrupt(tmp_path / "layout", digest_of(blob), position)
    with open_image(ref) as image:
        assert isinstance(image, Image)
        with pytest.raises(IntegrityError) as error:
            image.filesystem()
    text = one_line(error)
    assert f"expected {digest_of(blob)}" in text
    assert "does not match its digest" in text
    assert list(spool_root.iterdir()) == []


def test_diff_id_mismatch(tmp_path: Path, spool_root: Path) -> None:
    tar = layer(("file", "a", b"a"))
    wrong = digest_of(b"something else")
    ref = push(tmp_path / "layout", assemble_image([gzip_layer(tar)], [wrong]))
    with open_image(ref) as image, pytest.raises(IntegrityError) as error:
        image.filesystem()
    text = one_line(error)
    assert f"uncompressed digest {digest_of(tar)} does not match the config's diff_id {wrong}" in text
    assert list(spool_root.iterdir()) == []


def test_truncated_gzip(tmp_path: Path, spool_root: Path) -> None:
    tar = layer(*(("file", f"f{i}", os.urandom(1000)) for i in range(20)))
    blob, media_type = gzip_layer(tar)
    ref = push(tmp_path / "layout", assemble_image([(blob[: len(blob) // 2], media_type)], [digest_of(tar)]))
    with open_image(ref) as image, pytest.raises(LayerError) as error:
        image.filesystem()
    assert one_line(error) == "layer 0: gzip stream is truncated"
    assert list(spool_root.iterdir()) == []


def test_non_gzip_data_in_a_gzip_layer(tmp_path: Path, spool_root: Path) -> None:
    tar = layer(("file", "a", b"a"))
    ref = push(tmp_path / "layout", assemble_image([(tar, gzip_layer(tar)[1])], [digest_of(tar)]))
    with open_image(ref) as image, pytest.raises(LayerError) as error:
        image.filesystem()
    assert one_line(error).startswith("layer 0 is not valid gzip data")
    assert list(spool_root.iterdir()) == []


def test_gzip_of_something_that_is_not_a_tar(tmp_path: Path) -> None:
    junk = b"this is not a tar archive " * 100
    ref = push(tmp_path / "layout", assemble_image([gzip_layer(junk)], [digest_of(junk)]))
    with open_image(ref) as image, pytest.raises(LayerError) as error:
        image.filesystem()
    assert "is not a valid tar archive" in one_line(error)


def test_unsupported_layer_media_type(tmp_path: Path) -> None:
    tar = layer(("file", "a", b"a"))
    ref = push(
        tmp_path / "layout", assemble_image([(tar, "application/vnd.example.layer+lz4")], [digest_of(tar)])
    )
    with open_image(ref) as image, pytest.raises(ImageFormatError, match="unsupported layer media type"):
        image.filesystem()


# -- compression ----------------------------------------------------------------------------


def test_zstd_uncompressed_and_multi_member_gzip_layers(tmp_path: Path) -> None:
    first = layer(("file", "etc/os-release", OS_RELEASE), ("file", "a", b"zstd-a"))
    second = layer(("file", "b", b"plain-b"), ("whiteout", "a"))
    third = layer(*(("file", f"many/f{i}", f"{i}".encode() * 100) for i in range(50)))
    half = len(third) // 2
    two_members = gzip.compress(third[:half], mtime=0) + gzip.compress(third[half:], mtime=0)
    zstd_blob = zstandard.ZstdCompressor().compress(first)
    ref = push(
        tmp_path / "layout",
        assemble_image(
            [(zstd_blob, OCI_LAYER_ZSTD), (second, OCI_LAYER_TAR), (two_members, OCI_LAYER_GZIP)],
            [digest_of(first), digest_of(second), digest_of(third)],
        ),
    )
    with opened(ref) as (image, fs):
        assert fs.read_bytes("etc/os-release") == OS_RELEASE
        assert fs.read_bytes("b") == b"plain-b"
        assert fs.stat("a") is None
        assert fs.read_bytes("many/f49") == b"49" * 100
        entry = fs.stat("etc/os-release")
        assert entry is not None
        assert entry.layer_digest == digest_of(zstd_blob) == image.layers[0].digest


def test_zstd_multiple_frames(tmp_path: Path) -> None:
    tar = layer(*(("file", f"f{i}", os.urandom(300)) for i in range(30)))
    compressor = zstandard.ZstdCompressor()
    blob = compressor.compress(tar[:4096]) + compressor.compress(tar[4096:])
    ref = push(tmp_path / "layout", assemble_image([(blob, OCI_LAYER_ZSTD)], [digest_of(tar)]))
    with opened(ref) as (_, fs):
        assert len(list(fs.files())) == 30


def test_invalid_zstd(tmp_path: Path, spool_root: Path) -> None:
    tar = layer(("file", "a", b"a"))
    ref = push(
        tmp_path / "layout",
        assemble_image([(b"\x28\xb5\x2f\xfd" + b"\xff" * 64, OCI_LAYER_ZSTD)], [digest_of(tar)]),
    )
    with open_image(ref) as image, pytest.raises(LayerError) as error:
        image.filesystem()
    assert one_line(error).startswith("layer 0 is not valid zstd data")
    assert list(spool_root.iterdir()) == []


# -- spool lifecycle ------------------------------------------------------------------------


def test_close_removes_the_spool_dir_and_forbids_reads(tmp_path: Path, spool_root: Path) -> None:
    ref = push_layers(
        tmp_path / "layout", [layer(("file", "a", b"image-a")), layer(("file", "b", b"image-b"))]
    )
    with open_image(ref) as image:
        assert isinstance(image, Image)
        fs = image.filesystem()
        spool = fs.spool_dir
        assert spool.parent == spool_root
        assert sorted(p.name for p in spool.iterdir()) == ["layer-0.tar", "layer-1.tar"]
        entry = fs.stat("a")
        assert entry is not None
        fs.close()
        assert not spool.exists()
        assert list(spool_root.iterdir()) == []
        # the spool's file descriptors are closed and their numbers may now belong to other
        # files: a read must fail, never return some other host file's bytes
        with (
            Path(__file__).open("rb"),
            Path("/etc/passwd").open("rb"),
            pytest.raises(GateError, match="closed"),
        ):
            fs.read_bytes(entry)
        fs.close()  # twice is harmless


def test_context_manager_closes(tmp_path: Path, spool_root: Path) -> None:
    ref = push_layers(tmp_path / "layout", [layer(("file", "a", b"a"))])
    with opened(ref) as (_, fs):
        spool = fs.spool_dir
        assert spool.is_dir()
    assert not spool.exists()


def test_failed_build_removes_the_spool_dir(tmp_path: Path, spool_root: Path) -> None:
    ref = push_layers(
        tmp_path / "layout",
        [layer(("file", "a", b"a")), layer(("file", "b", b"b")), make_tar([reg("../evil", b"x")])],
    )
    seen: list[Path] = []
    original = LayeredFileSystem._add_layer

    def spy(self: LayeredFileSystem, source: LayerSource) -> None:
        seen.append(self.spool_dir)
        original(self, source)

    with open_image(ref) as image:
        assert isinstance(image, Image)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(LayeredFileSystem, "_add_layer", spy)
            with pytest.raises(LayerError):
                image.filesystem()
    assert len(seen) == 3
    assert len(set(seen)) == 1
    assert not seen[0].exists()
    assert list(spool_root.iterdir()) == []


def test_failed_progress_callback_removes_the_spool_dir(tmp_path: Path, spool_root: Path) -> None:
    ref = push_layers(tmp_path / "layout", [layer(("file", "a", b"a"))])

    def interrupt(_index: int) -> None:
        raise KeyboardInterrupt

    with open_image(ref) as image, pytest.raises(KeyboardInterrupt):
        image.filesystem(progress=interrupt)
    assert list(spool_root.iterdir()) == []


def test_layout_config_diff_ids_count_mismatch(tmp_path: Path) -> None:
    tar = layer(("file", "a", b"a"))
    ref = push(tmp_path / "layout", assemble_image([gzip_layer(tar)], [digest_of(tar), digest_of(b"x")]))
    with pytest.raises(ImageFormatError, match="manifest has 1 layers but the config lists 2"):
        open_image(ref)


def test_manifest_json_roundtrip_digests(tmp_path: Path) -> None:
    """The layer digests the filesystem reports are the manifest's own."""
    built = build_image([layer(("file", "a", b"a")), layer(("file", "b", b"b"))])
    ref = push(tmp_path / "layout", built)
    manifest = json.loads(built.manifest)
    with opened(ref) as (_, fs):
        assert fs.layer_digests == [item["digest"] for item in manifest["layers"]]
