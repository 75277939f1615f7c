"""Regression tests for the hostile inputs of issue 10 (defects 4 to 11).

Each test builds its hostile input itself, small and fast: a bomb is a stream of zeros
compressed on the fly, with a low limit set by the test so that it trips within megabytes.
docs/security.md maps each defect to its test here.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import hashlib
import io
import json
import logging
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
import zstandard
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gate import safejson
from gate.attest.statement import load_predicate
from gate.catalog import rpmdb
from gate.catalog.rpmdb import RpmDbError
from gate.cli import main
from gate.cli.console import EscapingFormatter, escape_control
from gate.errors import GateError, LayerError
from gate.image import filesystem
from gate.image.attachments import CERTIFICATE_ANNOTATION
from gate.image.build import OCI_LAYER_GZIP, LayerBuilder, build_image
from gate.image.digest import digest_of
from gate.image.filesystem import LayeredFileSystem, LayerSource, SpoolLimits
from gate.image.image import open_image
from gate.image.layout import OciLayout
from gate.image.manifest import OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Descriptor, canonical_json
from gate.image.rootfs import DirFileSystem
from gate.image.store import referrers_tag
from gate.sign.keys import encrypt_private_key, generate_signing_key, load_private_key
from gate.tree import BUNDLE_MEDIA_PREFIX
from gate.vulndb import VulnDB, import_paths
from gate.vulndb.kev import parse_kev
from tests.helpers import OCI_LAYER_ZSTD, assemble_image, push

MiB = 1 << 20
BUNDLE_MEDIA = BUNDLE_MEDIA_PREFIX + ".v0.3+json"
FAKE_DIFF_ID = "sha256:" + "0" * 64


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    captured = capsys.readouterr()
    return int(exit_.value.code or 0), captured.out, captured.err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gate: error: ")
    assert "Traceback" not in err
    return lines[0]


# -- 4. decompression bombs -----------------------------------------------------------------


def gzip_of_zeros(size: int, *, members: int = 1) -> bytes:
    """``members`` gzip members that together inflate to ``size`` zero bytes, compressed chunk by chunk."""
    out = io.BytesIO()
    per_member = size // members
    for _ in range(members):
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        for _ in range(per_member // MiB):
            out.write(compressor.compress(bytes(MiB)))
        out.write(compressor.flush())
    return out.getvalue()


def zstd_of_zeros(size: int) -> bytes:
    out = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(out, closefd=False) as writer:
        for _ in range(size // MiB):
            writer.write(bytes(MiB))
    return out.getvalue()


def opener(data: bytes) -> Callable[[], contextlib.AbstractContextManager[BinaryIO]]:
    return lambda: contextlib.nullcontext(io.BytesIO(data))


def spool(blob: bytes, compression: str, limits: SpoolLimits) -> None:
    source = LayerSource(0, "sha256:" + "1" * 64, None, compression, opener(blob))
    LayeredFileSystem.build([source], limits=limits).close()


def test_one_gzip_stream_inflates_a_bounded_chunk_at_a_time() -> None:
    blob = gzip_of_zeros(256 * MiB)  # ~250 KB; the unbounded decompress() made it one 256 MiB string
    assert len(blob) < MiB
    tracemalloc.start()
    try:
        total = sum(len(chunk) for chunk in filesystem._gunzip(io.BytesIO(blob), "layer 0"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 256 * MiB
    assert peak < 8 * MiB, f"inflating held {peak} bytes at once"


def test_gzip_bomb_stops_at_the_compression_ratio() -> None:
    limits = SpoolLimits(max_ratio=50, ratio_grace=4 * MiB)
    with pytest.raises(LayerError, match=r"more than 50:1, a decompression bomb") as error:
        spool(gzip_of_zeros(64 * MiB), "gzip", limits)
    assert "GATE_MAX_COMPRESSION_RATIO" in str(error.value)


def test_multi_member_gzip_bomb_stops_at_the_image_size() -> None:
    limits = SpoolLimits(max_image_size=8 * MiB)
    blob = gzip_of_zeros(32 * MiB, members=32)
    with pytest.raises(LayerError, match=r"expands to more than 8388608 bytes uncompressed"):
        spool(blob, "gzip", limits)


def test_zstd_bomb_stops_at_the_compression_ratio_and_the_image_size() -> None:
    blob = zstd_of_zeros(64 * MiB)
    with pytest.raises(LayerError, match=r"a decompression bomb"):
        spool(blob, "zstd", SpoolLimits(max_ratio=50, ratio_grace=4 * MiB))
    with pytest.raises(LayerError, match=r"expands to more than"):
        spool(blob, "zstd", SpoolLimits(max_image_size=16 * MiB))


def test_the_image_size_limit_counts_every_layer(tmp_path: Path) -> None:
    limits = SpoolLimits(max_image_size=10 * MiB)
    sources = [
        LayerSource(
            i,
            f"sha256:{i:064x}",
            None,
            "gzip",
            lambda: contextlib.nullcontext(io.BytesIO(gzip_of_zeros(4 * MiB))),
        )
        for i in range(3)
    ]
    with pytest.raises(LayerError, match=r"layer 2: the image expands to more than"):
        LayeredFileSystem.build(sources, limits=limits)


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_MAX_IMAGE_SIZE", "512MiB")
    monkeypatch.setenv("GATE_MAX_COMPRESSION_RATIO", "40")
    assert SpoolLimits.from_env() == SpoolLimits(max_image_size=512 * MiB, max_ratio=40)
    monkeypatch.setenv("GATE_MAX_IMAGE_SIZE", "lots")
    with pytest.raises(Exception, match=r"GATE_MAX_IMAGE_SIZE='lots' is not a size"):
        SpoolLimits.from_env()


def test_bomb_in_an_image_is_one_line_error_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = push(
        tmp_path / "layout",
        assemble_image([(gzip_of_zeros(24 * MiB, members=3), OCI_LAYER_GZIP)], [FAKE_DIFF_ID]),
    )
    monkeypatch.setenv("GATE_MAX_IMAGE_SIZE", "4MiB")
    code, _, err = run_cli(capsys, "sbom", ref)
    assert code == 1
    assert "expands to more than 4194304 bytes uncompressed (raise GATE_MAX_IMAGE_SIZE" in one_error_line(err)
    zstd_ref = push(
        tmp_path / "zstd", assemble_image([(zstd_of_zeros(24 * MiB), OCI_LAYER_ZSTD)], [FAKE_DIFF_ID])
    )
    code, _, err = run_cli(capsys, "sbom", zstd_ref)
    assert code == 1
    assert "expands to more than" in one_error_line(err)


@contextlib.contextmanager
def file_size_limit(size: int) -> Iterator[None]:
    """RLIMIT_FSIZE: a write past ``size`` fails with EFBIG (Python ignores SIGXFSZ)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_full_disk_while_spooling_is_a_layer_error() -> None:
    blob = gzip.compress(bytes(8 * MiB))
    with file_size_limit(2 * MiB), pytest.raises(LayerError) as error:
        spool(blob, "gzip", SpoolLimits())
    message = str(error.value)
    assert "cannot write the uncompressed layer" in message
    assert "File too large" in message
    assert "\n" not in message


# -- 9. JSON nested ~1,100 levels ---------------------------------------------------------------

DEEP = b'{"a":' * 1100 + b"1" + b"}" * 1100
DEEP_ARRAY = b"[" * 1100 + b"]" * 1100


def test_safejson_bounds_depth_outside_strings_only() -> None:
    assert safejson.loads(b'{"x": "' + b"[" * 5000 + b'"}') == {"x": "[" * 5000}
    assert safejson.loads(b"[" * safejson.MAX_DEPTH + b"]" * safejson.MAX_DEPTH) is not None
    for document in (
        DEEP,
        DEEP_ARRAY,
        DEEP.decode(),
        b"[" * (safejson.MAX_DEPTH + 1) + b"]" * (safejson.MAX_DEPTH + 1),
    ):
        with pytest.raises(ValueError, match=f"JSON nested deeper than {safejson.MAX_DEPTH} levels"):
            safejson.loads(document)


def write_layout(
    root: Path, manifest: bytes, blobs: tuple[bytes, ...] = (), media_type: str = OCI_MANIFEST
) -> str:
    """An OCI layout whose tag ``t`` points to ``manifest`` (written as given, however hostile)."""
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    for blob in [manifest, *blobs]:
        (root / "blobs" / "sha256" / digest_of(blob).removeprefix("sha256:")).write_bytes(blob)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": media_type,
                "digest": digest_of(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "t"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return f"oci:{root}:t"


def manifest_with_config(config: bytes) -> bytes:
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [],
        }
    )


def test_deep_manifest_index_config_and_layout_index_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    references = {
        "manifest": write_layout(tmp_path / "m", DEEP),
        "index": write_layout(tmp_path / "i", DEEP_ARRAY, media_type=OCI_INDEX),
        "config": write_layout(tmp_path / "c", manifest_with_config(DEEP), (DEEP,)),
    }
    layout_index = tmp_path / "l"
    write_layout(layout_index, manifest_with_config(b"{}"), (b"{}",))
    (layout_index / "index.json").write_bytes(DEEP)
    references["layout index.json"] = f"oci:{layout_index}:t"
    for what, reference in references.items():
        code, _, err = run_cli(capsys, "inspect", reference)
        assert code == 1, what
        assert "not valid JSON" in one_error_line(err) or "nested deeper" in err, (what, err)


def test_deep_docker_archive_manifest_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(DEEP_ARRAY)
        tar.addfile(info, io.BytesIO(DEEP_ARRAY))
    code, _, err = run_cli(capsys, "inspect", f"docker-archive:{archive}")
    assert code == 1
    assert "manifest.json is not valid JSON" in one_error_line(err)


def test_deep_sbom_predicate_and_osv_record_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    deep_file = tmp_path / "deep.json"
    deep_file.write_bytes(DEEP)
    code, _, err = run_cli(capsys, "sbom", "--from", str(deep_file))
    assert code == 1
    assert "nested deeper than" in one_error_line(err)

    with pytest.raises(GateError, match=r"deep\.json is not valid JSON: JSON nested deeper than"):
        load_predicate(DEEP, "deep.json")
    with pytest.raises(
        GateError, match=r"kev\.json: not a KEV catalog: not valid JSON \(JSON nested deeper than"
    ):
        parse_kev(DEEP, "kev.json")

    monkeypatch.setenv("GATE_DB", str(tmp_path / "vulns.db"))
    code, out, err = run_cli(capsys, "db", "import", str(deep_file))
    assert "Traceback" not in err
    assert "nested deeper than" in out + err


# -- 6. ENV values in the history ----------------------------------------------------------------

HISTORY = [
    "/bin/sh -c #(nop)  ENV TOKEN=s3cr3t-one PATH=/usr/bin",
    'ENV API_KEY="s3cr3t two" DEBUG=0',
    "ENV LEGACY_PASSWORD s3cr3t three",
    "ARG NPM_TOKEN=s3cr3t-four",
    "|1 BUILD_SECRET=s3cr3t-five /bin/sh -c make install",
    "RUN /bin/sh -c apt-get install -y curl",
]


def test_inspect_prints_history_without_env_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layers = [LayerBuilder().add_file(f"f{i}", b"x").build() for i in range(len(HISTORY))]
    ref = push(tmp_path / "layout", build_image(layers, history=HISTORY))
    for output_format in ("table", "json"):
        code, out, err = run_cli(capsys, "inspect", "--format", output_format, ref)
        assert code == 0, err
        assert "s3cr3t" not in out + err
        for name in ("TOKEN", "PATH", "API_KEY", "DEBUG", "NPM_TOKEN", "BUILD_SECRET"):
            assert f"{name}=<redacted>" in out, (output_format, name)
        assert "LEGACY_PASSWORD <redacted>" in out
        assert "apt-get install -y curl" in out  # RUN lines stay readable


# -- 11. unverified signer claims; 9. a bundle referrer of the wrong shape -------------------


def forged_certificate_pem(email: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


WRONG_BUNDLES = [
    b"[]",
    b'{"verificationMaterial": "x"}',
    b'{"verificationMaterial": ["x"]}',
    b'{"verificationMaterial": {"certificate": "abc"}}',
    b'{"verificationMaterial": {"certificate": {"rawBytes": 7}}}',
    b'{"verificationMaterial": {"certificate": {"rawBytes": "!!not base64"}}}',
    b'{"verificationMaterial": {"x509CertificateChain": {"certificates": ["s"]}}}',
    b'{"verificationMaterial": {"x509CertificateChain": {"certificates": {}}}}',
    b'{"verificationMaterial": {"x509CertificateChain": "chain"}}',
    b'{"verificationMaterial": {"publicKey": {"hint": 5}}}',
]


def attach(
    layout: OciLayout, subject: Descriptor, layers: list[dict[str, object]], *, tag: str | None = None
) -> None:
    empty = layout.push_blob(b"{}")
    manifest: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_EMPTY, "digest": empty.digest, "size": empty.size},
        "layers": layers,
    }
    if tag is None:
        manifest["artifactType"] = BUNDLE_MEDIA
        manifest["subject"] = {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": subject.size,
        }
    layout.push_manifest(canonical_json(manifest), media_type=OCI_MANIFEST, tag=tag)


def test_tree_marks_signer_claims_unverified_and_survives_wrong_shaped_bundles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = push(tmp_path / "layout", build_image([LayerBuilder().add_file("a", b"a").build()]))
    layout = OciLayout.open(tmp_path / "layout")
    subject = layout.resolve("t")
    for bundle in WRONG_BUNDLES:
        blob = layout.push_blob(bundle)
        attach(layout, subject, [{"mediaType": BUNDLE_MEDIA, "digest": blob.digest, "size": blob.size}])
    payload = layout.push_blob(b'{"critical": {}}')
    forged = {
        "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "digest": payload.digest,
        "size": payload.size,
        "annotations": {CERTIFICATE_ANNOTATION: forged_certificate_pem("release-bot@example.com")},
    }
    attach(layout, subject, [forged], tag=f"{referrers_tag(subject.digest)}.sig")

    code, out, err = run_cli(capsys, "tree", ref)
    assert code == 0, err
    claims = [line for line in out.splitlines() if "release-bot@example.com" in line]
    assert claims, out
    for line in claims:
        assert "claims to be signed by release-bot@example.com" in line
        assert "(unverified" in line
    assert out.count("claims to be signed by") == len(WRONG_BUNDLES) + 1
    code, out, err = run_cli(capsys, "tree", "--format", "json", ref)
    assert code == 0, err
    signers = [s for a in json.loads(out)["attachments"] for s in a["claimed_signers"]]
    assert len(signers) == len(WRONG_BUNDLES) + 1


# -- 5. rpm sqlite memory bomb --------------------------------------------------------------------


def generated_rpmdb(tmp_path: Path, sizes: list[int]) -> bytes:
    """An rpmdb.sqlite of a few KB whose blob column is computed: ``zeroblob(n)`` for each row."""
    path = tmp_path / "rpmdb.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, n INTEGER,"
            " blob BLOB GENERATED ALWAYS AS (zeroblob(n)) VIRTUAL)"
        )
        connection.executemany("INSERT INTO Packages (n) VALUES (?)", [(n,) for n in sizes])
        connection.commit()
    return path.read_bytes()


def test_rpm_sqlite_blob_lengths_are_checked_before_reading(tmp_path: Path) -> None:
    data = generated_rpmdb(tmp_path, [900_000_000] * 3)  # 2.7 GB in all, asked for by length() only
    assert len(data) < 16 * 1024
    with pytest.raises(RpmDbError, match=r"package 1 has a 900000000-byte header \(the limit is"):
        rpmdb.read_blobs(data)


def test_rpm_sqlite_blobs_may_not_add_up_to_more_than_the_file(tmp_path: Path) -> None:
    data = generated_rpmdb(tmp_path, [MiB] * 4)
    with pytest.raises(RpmDbError, match=r"header blobs add up to more than the file's \d+ bytes"):
        rpmdb.read_blobs(data)


# -- 8. dir: hashes files by streaming them -----------------------------------------------------


def test_dir_source_hashes_a_large_sparse_file_in_chunks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with (root / "sparse.img").open("wb") as sparse:
        sparse.truncate(256 * MiB)  # no disk used; a whole read would allocate 256 MiB
    (root / "small").write_bytes(b"small")
    zeros = hashlib.sha256()
    for _ in range(256):
        zeros.update(bytes(MiB))
    tracemalloc.start()
    try:
        with open_image(f"dir:{root}") as image:
            digest = image.digest
            filesystem = image.filesystem()
            assert isinstance(filesystem, DirFileSystem)
            entry = filesystem.stat("sparse.img")
            assert entry is not None
            assert filesystem.sha256(entry) == zeros.hexdigest()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.startswith("sha256:")
    assert peak < 16 * MiB, f"hashing held {peak} bytes at once"


# -- 7. a killed `gate db import` never breaks the database --------------------------------------


def osv_zip(path: Path, count: int, *, prefix: str = "GATE") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(count):
            record = {
                "id": f"{prefix}-{i}",
                "modified": "2024-01-01T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": f"pkg-{prefix}-{i}"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}],
                    }
                ],
            }
            archive.writestr(f"{prefix}-{i}.json", json.dumps(record))
    return path


def record_count(db_path: Path) -> int:
    with VulnDB.open(db_path) as db:
        live, _ = db.record_counts()
    return live


def gate_process(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gate", *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_killed_import_leaves_the_old_database_working(tmp_path: Path) -> None:
    db_path = tmp_path / "vulns.db"
    import_paths(db_path, [osv_zip(tmp_path / "first.zip", 50, prefix="OLD")])
    assert record_count(db_path) == 50
    before = db_path.read_bytes()
    big = osv_zip(tmp_path / "big.zip", 40_000, prefix="NEW")

    process = gate_process("db", "import", str(big), env={"GATE_DB": str(db_path)})
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".vulns.db.*.new-journal")):  # the import is writing
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the import never started writing"
        time.sleep(0.02)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL

    assert db_path.read_bytes() == before
    assert not Path(f"{db_path}-journal").exists()
    assert record_count(db_path) == 50
    status = subprocess.run(
        [sys.executable, "-m", "gate", "db", "status", "--allow-stale-db"],
        env={**os.environ, "GATE_DB": str(db_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    # and the next import works, leaving no stray working copies behind
    import_paths(db_path, [osv_zip(tmp_path / "second.zip", 5, prefix="NEXT")])
    assert record_count(db_path) == 55


KILL_MID_TRANSACTION = """
import os, signal, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA journal_mode=DELETE")
connection.execute("PRAGMA cache_size=10")  # spill changed pages into the database file early
connection.execute("BEGIN")
connection.execute("DELETE FROM records")
connection.execute("CREATE TABLE filler (x BLOB)")
for _ in range(200):
    connection.execute("INSERT INTO filler VALUES (zeroblob(65536))")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_hot_journal_left_by_a_killed_writer_is_rolled_back_on_open(tmp_path: Path) -> None:
    db_path = tmp_path / "vulns.db"
    import_paths(db_path, [osv_zip(tmp_path / "first.zip", 20)])
    writer = subprocess.run([sys.executable, "-c", KILL_MID_TRANSACTION, str(db_path)], check=False)
    assert writer.returncode == -signal.SIGKILL
    assert Path(f"{db_path}-journal").exists()  # a hot journal, as an older gate's killed import left
    assert record_count(db_path) == 20
    assert not Path(f"{db_path}-journal").exists()


# -- 10. terminal escape injection -------------------------------------------------------------

HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eexe.txt"
ESCAPED = "evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202eexe.txt"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")


def assert_no_controls(text: str) -> None:
    assert not any(control in text for control in RAW_CONTROLS), repr(text)


def test_escape_control_writes_escapes_for_c0_c1_and_bidi() -> None:
    assert escape_control(HOSTILE) == ESCAPED
    assert escape_control("a\nb\tc") == "a\\x0ab\tc"
    assert escape_control("a\nb\tc", keep_newlines=True) == "a\nb\tc"
    assert escape_control("naïve 名前 [bold]") == "naïve 名前 [bold]"
    record = logging.LogRecord(
        "gate.catalog", logging.WARNING, __file__, 1, "cannot read %s", (HOSTILE,), None
    )
    assert EscapingFormatter("%(message)s").format(record) == f"cannot read {ESCAPED}"


def test_package_table_escapes_names_versions_and_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sbom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "components": [
            {"type": "library", "name": HOSTILE, "version": "1.0\x1b[31m", "purl": "pkg:pypi/evil@1.0"},
            {
                "type": "library",
                "name": "[/b][link=https://evil.example]x",
                "version": "2.0",
                "purl": "pkg:pypi/x@2.0",
            },
        ],
    }
    path = tmp_path / "sbom.cdx.json"
    path.write_text(json.dumps(sbom))
    code, out, err = run_cli(capsys, "sbom", "--from", str(path), "--format", "table")
    assert code == 0, err
    assert_no_controls(out + err)
    assert ESCAPED in out
    assert "1.0\\x1b[31m" in out
    assert "[/b][link=https://evil.example]x" in out  # shown as text, never parsed as markup


def test_inspect_tree_and_error_lines_escape_image_supplied_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = LayerBuilder().add_file("a", b"a").build()
    ref = push(
        tmp_path / "layout", build_image([layer], labels={"title": HOSTILE}, history=[f"RUN {HOSTILE}"])
    )
    code, out, err = run_cli(capsys, "inspect", ref)
    assert code == 0, err
    assert_no_controls(out + err)
    assert out.count(ESCAPED) == 2

    layout = OciLayout.open(tmp_path / "layout")
    subject = layout.resolve("t")
    payload = layout.push_blob(b"{}")
    signature = {
        "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "digest": payload.digest,
        "size": payload.size,
        "annotations": {CERTIFICATE_ANNOTATION: forged_certificate_pem("bot\x1b[2J@example.com")},
    }
    attach(layout, subject, [signature], tag=f"{referrers_tag(subject.digest)}.sig")
    code, out, err = run_cli(capsys, "tree", ref)
    assert code == 0, err
    assert_no_controls(out + err)
    assert "bot\\x1b[2J@example.com" in out

    code, out, err = run_cli(capsys, "inspect", f"oci:{tmp_path / HOSTILE}:t")
    assert code == 1
    assert_no_controls(out + err)
    assert ESCAPED in one_error_line(err)


def test_db_import_escapes_hostile_record_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "osv.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(f"{HOSTILE}.json", "not json")
    monkeypatch.setenv("GATE_DB", str(tmp_path / "vulns.db"))
    _, out, err = run_cli(capsys, "db", "import", str(archive))
    assert_no_controls(out + err)
    assert ESCAPED in err


# -- 9. other tracebacks: a base-256 tar size, thousands of layers, a costly scrypt key --------------


def base256_size_tar() -> bytes:
    """One member whose GNU base-256 size field says 2^60 bytes, followed by a little data."""
    header = bytearray(tarfile.TarInfo("big").tobuf(format=tarfile.GNU_FORMAT)[:512])
    header[124:136] = b"\x80" + (1 << 60).to_bytes(11, "big")
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + b"x" * 512 + bytes(1024)


def test_tar_member_with_a_base256_size_of_2_60_is_a_layer_error() -> None:
    with pytest.raises(LayerError, match=r"has 1152921504606846976 bytes of data, past the end of the file"):
        spool(base256_size_tar(), "none", SpoolLimits())


@contextlib.contextmanager
def descriptor_limit(headroom: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + headroom, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_more_layers_than_file_descriptors() -> None:
    count = 600
    tars = [LayerBuilder().add_file(f"layer{i}", f"content {i}".encode()).build() for i in range(count)]
    sources = [LayerSource(i, f"sha256:{i:064x}", None, "none", opener(tar)) for i, tar in enumerate(tars)]
    # one descriptor per layer would run out
    with (
        descriptor_limit(filesystem.MAX_OPEN_SPOOLS + 40),
        LayeredFileSystem.build(sources, limits=SpoolLimits()) as layered,
    ):
        for i in (0, count - 1, 1, count // 2):
            assert layered.read_bytes(f"layer{i}") == f"content {i}".encode()


def test_key_file_asking_scrypt_for_8_gib_is_refused_before_deriving(tmp_path: Path) -> None:
    pem = encrypt_private_key(generate_signing_key(), b"pw")
    lines = pem.decode().splitlines()
    envelope = json.loads(base64.b64decode("".join(lines[1:-1])))
    envelope["kdf"]["params"] = {"N": 1 << 20, "r": 64, "p": 1}  # 128·N·r = 8 GiB
    body = base64.b64encode(json.dumps(envelope).encode()).decode()
    hostile = f"{lines[0]}\n{body}\n{lines[-1]}\n".encode()
    started = time.monotonic()
    with pytest.raises(GateError, match=r"unsupported scrypt parameters N=1048576 r=64 p=1"):
        load_private_key(hostile, lambda: b"pw", source="hostile.key")
    assert time.monotonic() - started < 1
    wrong: list[object] = [
        {"N": 3, "r": 8, "p": 1},
        {"N": 65536, "r": 8, "p": 2},
        {"N": True, "r": 8, "p": 1},
        [],
    ]
    for params in wrong:
        envelope["kdf"]["params"] = params
        body = base64.b64encode(json.dumps(envelope).encode()).decode()
        with pytest.raises(GateError, match="unsupported scrypt parameters"):
            load_private_key(f"{lines[0]}\n{body}\n{lines[-1]}\n".encode(), lambda: b"pw", source="k")
