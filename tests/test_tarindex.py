"""Tests for gate.image.tarindex: the fast tar header index must read what tarfile reads.

Archives are written with tarfile in the USTAR, GNU and PAX formats (plus hand-made headers
for what tarfile does not write); each is read with ``iter_members`` (or, when it raises
NeedsTarfile, ``iter_members_with_tarfile``) and compared field by field with tarfile's own
reading. Hostile archives must fail fast with a TarFormatError naming the problem.
"""

from __future__ import annotations

import contextlib
import gc
import io
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pytest

from gate.errors import LayerError
from gate.image.filesystem import Kind, LayeredFileSystem, LayerSource
from gate.image.tarindex import (
    MAX_LONGNAME,
    MAX_PAX_HEADER,
    NeedsTarfile,
    TarFormatError,
    TarMember,
    iter_members,
    iter_members_with_tarfile,
)

BLOCK = 512
FORMATS = {"ustar": tarfile.USTAR_FORMAT, "gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}

# -- helpers ------------------------------------------------------------------------------------


def info(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.mode = 0o644
    member.mtime = 1_700_000_000
    for key, value in fields.items():
        setattr(member, key, value)
    return member


def write_tar(
    path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int, **kw: object
) -> Path:
    with tarfile.open(path, "w", format=fmt, encoding="utf-8", **kw) as tar:  # type: ignore[call-overload]  # options pass through
        for member, data in members:
            if data is not None:
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return path


def reference(path: Path) -> list[TarMember]:
    with tarfile.open(path, "r:", encoding="utf-8") as tar:
        return [TarMember.from_tarinfo(member) for member in tar]


def fast(path: Path) -> list[TarMember]:
    return list(iter_members(path))


def header(member: tarfile.TarInfo, fmt: Literal[0, 1, 2] = tarfile.USTAR_FORMAT) -> bytes:
    return member.tobuf(fmt, "utf-8", "surrogateescape")


def pax_header(records: dict[str, str], kind: bytes = tarfile.XHDTYPE) -> bytes:
    return tarfile.TarInfo._create_pax_generic_header(records, kind, "utf-8")  # type: ignore[attr-defined]  # tarfile's own header builder


def gnu_long(name: str, kind: bytes = tarfile.GNUTYPE_LONGNAME) -> bytes:
    return tarfile.TarInfo._create_gnu_long_header(name, kind, "utf-8", "strict")  # type: ignore[attr-defined]  # tarfile's own header builder


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def raw_header(name: bytes, *, size: bytes = b"00000000000\0", kind: bytes = b"0", **at: bytes) -> bytes:
    """A ustar header with arbitrary field bytes (``at`` maps "offset" to bytes), checksum fixed."""
    block = bytearray(header(info("placeholder")))
    block[0:100] = name.ljust(100, b"\0")
    block[124:136] = size
    block[156:157] = kind
    for offset, value in at.items():
        block[int(offset) : int(offset) + len(value)] = value
    return fix_checksum(bytes(block))


def fix_checksum(block: bytes) -> bytes:
    block = block[:148] + b" " * 8 + block[156:]
    return block[:148] + b"%06o\0 " % sum(block) + block[156:]


END = bytes(2 * BLOCK)

# -- identical to tarfile -----------------------------------------------------------------------

LONG_DIR = "/".join(f"directory{i:02d}" for i in range(12))  # 143 characters
LONG_NAME_120 = "d/" + "n" * 118
LONG_NAME_300 = f"{LONG_DIR}/{LONG_DIR}/file"  # 291 characters, needs L or pax path


def common_members(fmt: int) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    members: list[tuple[tarfile.TarInfo, bytes | None]] = [
        (info("etc", tarfile.DIRTYPE, mode=0o755), None),
        (info("etc/os-release", uid=0, gid=0), b"ID=test\n"),
        (info("etc/empty"), b""),
        (info("etc/block-sized", mode=0o600, uid=1000, gid=100), b"x" * 1024),
        (info("etc/odd", mode=0o4755), b"y" * 1000),
        (info("etc/link", tarfile.SYMTYPE, linkname="os-release"), None),
        (info("etc/dangling", tarfile.SYMTYPE, linkname="../nowhere"), None),
        (info("etc/hard", tarfile.LNKTYPE, linkname="etc/os-release"), None),
        (info("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3), None),
        (info("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0), None),
        (info("run/fifo", tarfile.FIFOTYPE), None),
        (info("opt/contiguous", tarfile.CONTTYPE), b"contiguous"),
        (info("opt/old-style", tarfile.AREGTYPE), b"v7 regular file"),
        (info("opt/v7-dir/", tarfile.AREGTYPE), None),  # V7: a directory is a file named with "/"
        (info("var/.wh..wh..opq"), b""),
        (info("var/.wh.deleted"), b""),
        (info(f"{LONG_DIR}/file"), b"ustar prefix"),  # fits name + prefix
        (info(LONG_DIR, tarfile.DIRTYPE, mode=0o755), None),
        (info("high/uid", uid=2**21 - 1, gid=2**21 - 1), b"largest octal ids"),
    ]
    if fmt != tarfile.USTAR_FORMAT:
        members += [
            (info(LONG_NAME_120), b"long name"),
            (info(LONG_NAME_300), b"longer name"),
            (info(LONG_NAME_300 + "-dir", tarfile.DIRTYPE), None),
            (info("long/link", tarfile.SYMTYPE, linkname="t/" + "x" * 150), None),
            (info("long/hard", tarfile.LNKTYPE, linkname=LONG_NAME_300), None),
            (info("unicode/żółć ☃ 名前.txt"), b"snow"),
            (info("unicode/" + "é" * 80), b"two bytes a character"),
        ]
    return members


@pytest.mark.parametrize("fmt", FORMATS.values(), ids=FORMATS.keys())
def test_same_members_as_tarfile(tmp_path: Path, fmt: int) -> None:
    path = write_tar(tmp_path / "a.tar", common_members(fmt), fmt)
    expected = reference(path)
    assert len(expected) == len(common_members(fmt))
    assert fast(path) == expected
    assert list(iter_members_with_tarfile(path)) == expected


def test_fields_are_what_the_archive_says(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "a.tar", common_members(tarfile.PAX_FORMAT), tarfile.PAX_FORMAT)
    members = {m.name: m for m in fast(path)}
    assert members["etc/block-sized"] == TarMember(
        "etc/block-sized", b"0", 0o600, 1000, 100, 1024, "", 5 * BLOCK
    )
    assert members["opt/v7-dir"].type == b"5"
    assert members[LONG_NAME_300].size == len(b"longer name")
    assert members["long/link"].linkname == "t/" + "x" * 150
    assert "unicode/żółć ☃ 名前.txt" in members
    with path.open("rb") as tar:
        entry = members["etc/odd"]
        tar.seek(entry.offset_data)
        assert tar.read(entry.size) == b"y" * 1000


@pytest.mark.parametrize("fmt", FORMATS.values(), ids=FORMATS.keys())
def test_empty_archives(tmp_path: Path, fmt: int) -> None:
    path = write_tar(tmp_path / "empty.tar", [], fmt)  # two zero blocks padded to a 10 KiB record
    assert fast(path) == reference(path) == []
    (tmp_path / "end.tar").write_bytes(END)
    assert fast(tmp_path / "end.tar") == reference(tmp_path / "end.tar") == []


def test_end_of_archive_spellings(tmp_path: Path) -> None:
    member = header(info("a", size=3)) + padded(b"abc")
    for name, tail in {
        "eof": b"",
        "one-zero-block": bytes(BLOCK),
        "two": END,
        "record": bytes(20 * BLOCK),
    }.items():
        path = tmp_path / f"{name}.tar"
        path.write_bytes(member + tail)
        assert fast(path) == reference(path), name
        assert [m.name for m in fast(path)] == ["a"]


def test_pax_overrides(tmp_path: Path) -> None:
    path = tmp_path / "pax.tar"
    path.write_bytes(
        pax_header({"size": "700", "uid": "4000000000", "gid": "7", "path": "real/name//"})
        + header(info("short", size=0))  # the header says 0 bytes; pax says 700
        + padded(b"z" * 700)
        + pax_header({"linkpath": "target\0with nul", "comment": "ignored", "mtime": "1.5"})
        + header(info("sym", tarfile.SYMTYPE, linkname="short"))
        + pax_header({"path": "pdir///"})
        + header(info("dir", tarfile.DIRTYPE))
        + END
    )
    expected = reference(path)
    assert [(m.name, m.size, m.uid, m.gid) for m in expected[:1]] == [("real/name", 700, 4000000000, 7)]
    assert fast(path) == expected
    assert [m.name for m in expected] == ["real/name", "sym", "pdir"]


@pytest.mark.parametrize(
    "order",
    [("pax", "gnu"), ("gnu", "pax"), ("pax", "pax2"), ("gnu", "gnu2"), ("gnu", "pax", "gnu2")],
)
@pytest.mark.parametrize("kind", [tarfile.REGTYPE, tarfile.DIRTYPE])
def test_several_extended_headers_first_wins_as_in_tarfile(tmp_path: Path, order: tuple, kind: bytes) -> None:
    blocks = {
        "pax": pax_header({"path": "from-pax//", "linkpath": "pax-link"}),
        "pax2": pax_header({"path": "from-pax2", "size": "0"}),
        "gnu": gnu_long("from-gnu//") + gnu_long("gnu-link", tarfile.GNUTYPE_LONGLINK),
        "gnu2": gnu_long("from-gnu2/"),
    }
    path = tmp_path / "mixed.tar"
    path.write_bytes(b"".join(blocks[o] for o in order) + header(info("header-name", kind, size=0)) + END)
    assert fast(path) == reference(path)


def test_signed_checksum_is_accepted(tmp_path: Path) -> None:
    block = bytearray(header(info("caf\xe9".encode("latin-1").decode("utf-8", "surrogateescape"), size=0)))
    block[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in block)
    block[148:156] = b"%06o\0 " % signed
    path = tmp_path / "signed.tar"
    path.write_bytes(bytes(block) + END)
    assert fast(path) == reference(path)
    assert fast(path)[0].name == "caf\udce9"


def test_octal_fields_with_spaces_and_nuls(tmp_path: Path) -> None:
    path = tmp_path / "spaces.tar"
    path.write_bytes(
        raw_header(b"a", size=b"         12 ", **{"100": b"  644 \0\0", "108": b"\0" * 8, "116": b"7      "})
        + padded(b"x" * 10)
        + END
    )
    assert fast(path) == reference(path)
    assert (fast(path)[0].mode, fast(path)[0].size, fast(path)[0].uid, fast(path)[0].gid) == (0o644, 10, 0, 7)


def test_global_pax_header_with_a_comment_stays_on_the_fast_path(tmp_path: Path) -> None:
    path = write_tar(
        tmp_path / "g.tar", [(info("a"), b"a")], tarfile.PAX_FORMAT, pax_headers={"comment": "git archive"}
    )
    assert fast(path) == reference(path)


# -- fallback to tarfile --------------------------------------------------------------------------


SPARSE_1_0 = {
    "GNU.sparse.major": "1",
    "GNU.sparse.minor": "0",
    "GNU.sparse.name": "sparse-file",
    "GNU.sparse.realsize": "10",
}


def either(path: Path) -> list[TarMember]:
    try:
        return fast(path)
    except NeedsTarfile:
        return list(iter_members_with_tarfile(path))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda p: write_tar(p, [(info("big/uid", uid=2**22, gid=2**30), b"x")], tarfile.GNU_FORMAT),
            id="gnu-base-256-ids",
        ),
        pytest.param(
            lambda p: write_tar(p, [(info("a"), b"a")], tarfile.PAX_FORMAT, pax_headers={"uid": "77"}),
            id="global-pax-uid",
        ),
        pytest.param(
            lambda p: p.write_bytes(
                pax_header(SPARSE_1_0)
                + header(info("GNUSparseFile.0/s", size=BLOCK + 5))
                + padded(b"1\n0\n5\n")
                + padded(b"hello")
                + END
            ),
            id="pax-sparse",
        ),
        pytest.param(
            lambda p: p.write_bytes(
                header(info("s", tarfile.GNUTYPE_SPARSE, size=0), tarfile.GNU_FORMAT) + END
            ),
            id="gnu-sparse-S",
        ),
        pytest.param(lambda p: p.write_bytes(raw_header(b"dump", kind=b"D") + END), id="gnu-dumpdir"),
    ],
)
def test_what_the_fast_path_leaves_to_tarfile(tmp_path: Path, make: Callable[[Path], object]) -> None:
    path = tmp_path / "fallback.tar"
    make(path)
    with pytest.raises(NeedsTarfile):
        fast(path)
    assert reference(path)
    assert either(path) == reference(path)


def test_base_256_ids_through_the_filesystem(tmp_path: Path) -> None:
    path = write_tar(
        tmp_path / "big.tar",
        [(info("d", tarfile.DIRTYPE), None), (info("d/f", uid=2**22, gid=2**30), b"data")],
        tarfile.GNU_FORMAT,
    )
    with build_fs(path) as fs:
        entry = fs.stat("d/f")
        assert entry is not None
        assert (entry.kind, entry.uid, entry.gid, fs.read_bytes(entry)) == (Kind.FILE, 2**22, 2**30, b"data")


def test_the_fallback_is_as_strict_about_the_end_of_the_archive(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "big.tar", [(info("f", uid=2**22), b"data")], tarfile.GNU_FORMAT)
    data = bytearray(path.read_bytes())
    data[2 * BLOCK : 3 * BLOCK] = header(info("hidden", size=0))
    data[2 * BLOCK + 148] ^= 1  # tarfile quietly stops at a bad header after the first
    path.write_bytes(bytes(data))
    assert [m.name for m in reference(path)] == ["f"]
    with pytest.raises(TarFormatError, match="invalid header at offset 1024"):
        list(iter_members_with_tarfile(path))


# -- hostile and broken archives ----------------------------------------------------------------

FIRST = header(info("first", size=5)) + padded(b"first")


def hostile(name: str, data: bytes, message: str) -> object:
    return pytest.param(data, message, id=name)


HOSTILE = [
    hostile("empty-file", b"", "empty file"),
    hostile("not-a-tar", b"this is not a tar archive " * 100, "field is not an octal number"),
    hostile(
        "bad-checksum-first",
        fix_checksum(header(info("a")))[:148] + b"0000000\0" + bytes(356),
        "bad checksum",
    ),
    hostile(
        "bad-checksum-later",
        FIRST + header(info("b"))[:-1] + b"\1" + END,
        "header at offset 1024: bad checksum",
    ),
    hostile(
        "garbage-size",
        raw_header(b"a", size=b"12x45\0\0\0\0\0\0\0") + END,
        "size field is not an octal number",
    ),
    hostile("plus-size", raw_header(b"a", size=b"+0000000012\0") + END, "size field is not an octal number"),
    hostile("garbage-mode", raw_header(b"a", **{"100": b"0o644\0\0\0"}) + END, "mode field is not an octal"),
    hostile("garbage-checksum", header(info("a"))[:148] + b"abcdefg\0" + bytes(356) + END, "checksum field"),
    hostile("size-beyond-eof", raw_header(b"a", size=b"77777777777\0") + END, "past the end of the file"),
    hostile("data-not-padded", header(info("a", size=5)) + b"abcde", "past the end of the file"),
    hostile("truncated-header", FIRST + header(info("b"))[:300], "truncated header at offset 1024"),
    hostile("truncated-zero-block", FIRST + bytes(300), "truncated header at offset 1024"),
    hostile("data-after-end", FIRST + bytes(BLOCK) + header(info("hidden")), "data after the end-of-archive"),
    hostile(
        "pax-length-0",
        raw_header(b"p", kind=b"x", size=b"00000000010\0") + padded(b"0 path=aa\n"),
        "malformed record",
    ),
    hostile(
        "pax-length-huge",
        raw_header(b"p", kind=b"x", size=b"00000000024\0") + padded(b"999999999999 path=a\n"),
        "malformed record",
    ),
    hostile(
        "pax-no-newline",
        raw_header(b"p", kind=b"x", size=b"00000000012\0") + padded(b"12 path=abcd"),
        "malformed record",
    ),
    hostile(
        "pax-no-equals",
        raw_header(b"p", kind=b"x", size=b"00000000010\0") + padded(b"10 pathab\n"),
        "malformed record",
    ),
    hostile(
        "pax-negative-size", pax_header({"size": "-1"}) + header(info("a")) + END, "size is not a number"
    ),
    hostile("pax-garbage-uid", pax_header({"uid": "12a"}) + header(info("a")) + END, "uid is not a number"),
    hostile(
        "pax-too-big",
        raw_header(b"p", kind=b"x", size=b"%011o\0" % (MAX_PAX_HEADER + 1)) + END,
        "the limit is 1048576",
    ),
    hostile("pax-size-beyond-eof", pax_header({"size": "100000"}) + header(info("a")) + END, "past the end"),
    hostile("pax-then-end", FIRST + pax_header({"path": "x"}) + END, "is not followed by a member"),
    hostile("longname-then-eof", gnu_long("x" * 200), "is not followed by a member"),
    hostile(
        "longname-beyond-eof", raw_header(b"././@LongLink", kind=b"L", size=b"00000010000\0"), "past the end"
    ),
]


@pytest.mark.parametrize(("data", "message"), HOSTILE)
def test_hostile_archive(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "hostile.tar"
    path.write_bytes(data)
    with pytest.raises(TarFormatError, match=message):
        fast(path)


def test_gnu_longname_of_10_mb(tmp_path: Path) -> None:
    size = 10 * 1024 * 1024
    path = tmp_path / "long.tar"
    path.write_bytes(raw_header(b"././@LongLink", kind=b"L", size=b"%011o\0" % size) + bytes(size) + END)
    started = time.perf_counter()
    with pytest.raises(TarFormatError, match=f"is {size} bytes long \\(the limit is {MAX_LONGNAME}\\)"):
        fast(path)
    assert time.perf_counter() - started < 1


def test_many_tiny_pax_records_are_bounded(tmp_path: Path) -> None:
    records = b"".join(b"13 comment=%d\n" % (i % 10) for i in range(MAX_PAX_HEADER // 13))
    path = tmp_path / "records.tar"
    path.write_bytes(
        raw_header(b"p", kind=b"x", size=b"%011o\0" % len(records))
        + padded(records)
        + header(info("a"))
        + END
    )
    started = time.perf_counter()
    assert [m.name for m in fast(path)] == ["a"]
    assert time.perf_counter() - started < 5


# -- through the layered filesystem ---------------------------------------------------------------


@contextlib.contextmanager
def build_fs(path: Path) -> Iterator[LayeredFileSystem]:
    source = LayerSource(0, "sha256:" + "0" * 64, None, "none", lambda: path.open("rb"))
    fs = LayeredFileSystem.build([source])
    try:
        yield fs
    finally:
        fs.close()


def test_a_malformed_layer_is_a_layer_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.tar"
    path.write_bytes(FIRST + header(info("b"))[:300])
    message = r"^layer 0 \(sha256:0+\) is not a valid tar archive: truncated header at offset 1024"
    with pytest.raises(LayerError, match=message), build_fs(path):
        pass


def test_both_paths_build_the_same_filesystem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_tar(tmp_path / "a.tar", common_members(tarfile.PAX_FORMAT), tarfile.PAX_FORMAT)

    def snapshot() -> list[tuple]:
        with build_fs(path) as fs:
            return [
                (
                    e.path,
                    e.kind,
                    e.mode,
                    e.uid,
                    e.gid,
                    e.size,
                    e.link_target,
                    e.content,
                    fs.read_bytes(e) if e.kind is Kind.FILE else None,
                )
                for e in fs.walk()
            ]

    fast_view = snapshot()

    def needs_tarfile(_path: object) -> Iterator[TarMember]:
        raise NeedsTarfile("forced")
        yield  # pragma: no cover

    monkeypatch.setattr("gate.image.tarindex.iter_members", needs_tarfile)
    assert snapshot() == fast_view
    assert len(fast_view) > 20


def test_sparse_files_are_not_regular_files(tmp_path: Path) -> None:
    path = tmp_path / "sparse.tar"
    path.write_bytes(
        pax_header(SPARSE_1_0)
        + header(info("GNUSparseFile.0/s", size=BLOCK + 5))
        + padded(b"1\n0\n5\n")
        + padded(b"hello")
        + END
    )
    assert [(m.name, m.type, m.size) for m in either(path)] == [("sparse-file", b"S", 10)]
    with build_fs(path) as fs:
        entry = fs.entry("sparse-file")
        assert entry is not None
        assert entry.kind is Kind.OTHER


def test_a_broken_sparse_map_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "sparse.tar"
    path.write_bytes(pax_header(SPARSE_1_0) + header(info("s", size=0)) + END)
    with pytest.raises(TarFormatError, match="tarfile: "):
        list(iter_members_with_tarfile(path))


def test_the_tarfile_path_keeps_no_member_it_has_reported(tmp_path: Path) -> None:
    # TarFile.next() appends every member to a list that lives as long as the archive; the
    # fallback reads headers one by one instead, so memory does not grow with the member count.
    path = write_tar(tmp_path / "many.tar", [(info(f"f{i}"), b"x") for i in range(2000)], tarfile.GNU_FORMAT)
    gc.collect()
    # earlier tests may leave TarInfo objects of their own behind: count only this reader's
    before = _tarinfo_count()
    reader = iter_members_with_tarfile(path)
    seen = [next(reader).name for _ in range(1500)]
    alive = _tarinfo_count() - before
    reader.close()
    assert seen[-1] == "f1499"
    assert alive < 10, f"{alive} TarInfo objects alive after 1,500 members"


def _tarinfo_count() -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, tarfile.TarInfo))
