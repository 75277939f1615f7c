"""`gate db update` against a local HTTP mirror serving real OSV archives (tests/fixtures/osv-upstream).

The server is Python's http.server on 127.0.0.1 (gate allows plain HTTP to loopback only); it
answers conditional requests the way OSV's bucket does (ETag / Last-Modified, 304) and can be
told to fail with 500, serve a truncated archive, or serve the wrong one.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate.image.transport import RetryPolicy, Transport
from gate.vulndb import VulnDB, VulnDBError
from gate.vulndb.update import archive_dir, update_db
from tests.test_cli import run_gate

SHARED = Path(__file__).parent / "fixtures" / "osv-upstream"  # real records, see its NOTICE.md
LAST_MODIFIED = "Wed, 21 Aug 2026 10:00:00 GMT"


def _osv_zip(path: Path, files: list[Path]) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.name)
    return path.read_bytes()


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: these tests serve real OSV records from it")
    work = tmp_path_factory.mktemp("archives")
    return {
        "Go": _osv_zip(work / "go.zip", sorted((SHARED / "osv-go" / "osv").glob("GO-2022-*.json"))),
        "crates.io": _osv_zip(
            work / "crates.zip", sorted((SHARED / "osv-rustsec" / "crates").glob("*.json"))
        ),
    }


class Mirror(http.server.ThreadingHTTPServer):
    """Serves ``/<ecosystem>/all.zip``; ``mode`` injects faults; ``log`` records each request."""

    def __init__(self, archives: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.archives = dict(archives)
        self.mode = "ok"
        self.log: list[tuple[str, int]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Mirror

    def do_GET(self) -> None:
        self._answer()

    def _answer(self) -> int:
        ecosystem = self.path.strip("/").removesuffix("/all.zip").replace("%20", " ").replace("%2E", ".")
        if self.server.mode == "500":
            return self._send(500, b"backend error")
        body = self.server.archives.get(ecosystem)
        if body is None:
            return self._send(404, b"no such archive")
        if self.server.mode == "truncated":
            body = body[: len(body) // 3]
        if self.server.mode == "wrong":
            body = self.server.archives["crates.io" if ecosystem == "Go" else "Go"]
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            return self._send(304, b"", etag=etag)
        return self._send(200, body, etag=etag)

    def _send(self, status: int, body: bytes, *, etag: str = "") -> int:
        self.server.log.append((self.path, status))  # before answering: the client may be faster
        self.send_response(status)
        if etag:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", LAST_MODIFIED)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return status

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror(archives: dict[str, bytes]) -> Iterator[Mirror]:
    server = Mirror(archives)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _fast_transport() -> Transport:
    return Transport(retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01))


def _state(db_path: Path) -> tuple[str, tuple[int, int]]:
    with VulnDB.open(db_path) as db:
        return db.digest, db.record_counts()


def test_update_downloads_then_uses_conditional_requests(mirror: Mirror, tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    first = update_db(db_path, mirror=mirror.url, ecosystems=["Go", "crates.io"], transport=_fast_transport())
    assert first.downloaded == ["Go", "crates.io"] and first.rebuilt
    with VulnDB.open(db_path) as db:
        counts = db.counts_by_ecosystem()
        assert counts["crates.io"] > 200 and counts["Go"] > 500
        sources = {source.name: source for source in db.sources()}
        assert sources["osv:Go"].etag.startswith('"') and sources["osv:Go"].last_modified == LAST_MODIFIED
        assert sources["osv:Go"].location == f"{mirror.url}/Go/all.zip"
    assert sorted(p.name for p in archive_dir(db_path).iterdir()) == ["Go.zip", "crates.io.zip"]
    # Second run: the ecosystems come from the DB's sources; both answer 304; nothing is rebuilt.
    mirror.log.clear()
    second = update_db(db_path, mirror=mirror.url, transport=_fast_transport())
    assert mirror.log == [("/Go/all.zip", 304), ("/crates.io/all.zip", 304)]
    assert second.unchanged == ["Go", "crates.io"] and not second.rebuilt and second.digest == first.digest
    # One archive changes upstream: only it is downloaded, the DB is rebuilt from both.
    mirror.archives["crates.io"] = _osv_zip(
        tmp_path / "c.zip", sorted((SHARED / "osv-rustsec" / "crates").glob("RUSTSEC-2024-*.json"))
    )
    third = update_db(db_path, mirror=mirror.url, transport=_fast_transport())
    assert third.downloaded == ["crates.io"] and third.unchanged == ["Go"] and third.rebuilt
    with VulnDB.open(db_path) as db:
        assert 50 < db.counts_by_ecosystem()["crates.io"] < 1000 and db.counts_by_ecosystem()["Go"] > 500
    assert not list(tmp_path.glob(".v.db.*")) and not list(archive_dir(db_path).glob("*.part"))


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("500", "answered HTTP 500; the database was not changed"),
        ("truncated", "not a readable zip archive"),
        ("wrong", "holds no Go records"),
    ],
)
def test_failed_updates_leave_the_old_database_working(
    mirror: Mirror, tmp_path: Path, mode: str, message: str
) -> None:
    db_path = tmp_path / "v.db"
    update_db(db_path, mirror=mirror.url, ecosystems=["Go"], transport=_fast_transport())
    before = _state(db_path)
    archive_before = (archive_dir(db_path) / "Go.zip").read_bytes()
    mirror.mode = mode
    with pytest.raises(VulnDBError, match=message):
        update_db(db_path, mirror=mirror.url, ecosystems=["Go", "crates.io"], transport=_fast_transport())
    assert _state(db_path) == before
    assert (archive_dir(db_path) / "Go.zip").read_bytes() == archive_before
    assert not list(tmp_path.glob(".v.db.*")) and not list(archive_dir(db_path).glob("*.part"))


def test_plain_http_is_refused_for_remote_hosts(tmp_path: Path) -> None:
    with pytest.raises(VulnDBError, match="over HTTPS"):
        update_db(
            tmp_path / "v.db", mirror="http://mirror.example", ecosystems=["Go"], transport=_fast_transport()
        )
    assert not (tmp_path / "v.db").exists()


def test_cli_update_and_status(mirror: Mirror, tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    result = run_gate(
        "db", "update", "--db", str(db_path), "--mirror", mirror.url, "--ecosystem", "crates.io"
    )
    assert result.returncode == 0, result.stderr
    assert "crates.io: downloaded" in result.stdout
    again = run_gate("db", "update", "--db", str(db_path), "--mirror", mirror.url)
    assert "crates.io: not modified" in again.stdout and "(unchanged)" in again.stdout
    mirror.mode = "500"
    failed = run_gate("db", "update", "--db", str(db_path), "--mirror", mirror.url, "--ecosystem", "Go")
    assert failed.returncode == 1 and "gate: error:" in failed.stderr and "Traceback" not in failed.stderr
    status = run_gate("db", "status", "--db", str(db_path), "--format", "json")
    assert status.returncode == 0 and list(json.loads(status.stdout)["ecosystems"]) == ["crates.io"]


@pytest.fixture
def https_mirror(archives: dict[str, bytes], tmp_path: Path) -> Iterator[tuple[Mirror, Path]]:
    """The mirror behind TLS with a fresh self-signed certificate for 127.0.0.1."""
    import datetime as dt
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gate test mirror")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "mirror.pem", tmp_path / "mirror.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = Mirror(archives)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, cert_file
    server.shutdown()
    server.server_close()


def test_update_over_https_verifies_the_certificate(
    https_mirror: tuple[Mirror, Path], tmp_path: Path
) -> None:
    server, cert_file = https_mirror
    url = server.url.replace("http://", "https://")
    db_path = tmp_path / "v.db"
    untrusted = run_gate("db", "update", "--db", str(db_path), "--mirror", url, "--ecosystem", "crates.io")
    assert untrusted.returncode == 1 and "TLS verification failed for 127.0.0.1" in untrusted.stderr
    assert not db_path.exists()
    trusted = run_gate(
        "db", "update", "--db", str(db_path), "--mirror", url, "--ecosystem", "crates.io",
        env={"REQUESTS_CA_BUNDLE": str(cert_file)},
    )  # fmt: skip
    assert trusted.returncode == 0, trusted.stderr
    assert "crates.io: downloaded" in trusted.stdout and db_path.exists()


# -- the CISA KEV catalog: optional, never breaks the OSV update ----------------------------

KEV = Path(__file__).parent / "fixtures" / "kev-cisa" / "known_exploited_vulnerabilities.json"  # CC0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_update_fetches_the_catalog_with_conditional_requests(mirror: Mirror, tmp_path: Path) -> None:
    mirror.archives["kev.json"] = KEV.read_bytes()
    db_path = tmp_path / "v.db"
    kev_url = f"{mirror.url}/kev.json"
    first = update_db(
        db_path, mirror=mirror.url, ecosystems=["Go"], kev_url=kev_url, transport=_fast_transport()
    )
    assert (first.kev, first.kev_version, first.kev_problem) == ("downloaded", "2025.08.25", "")
    with VulnDB.open(db_path) as db:
        assert db.kev_summary() == ("2025.08.25", 1404)
        assert {source.name: source.location for source in db.sources()}["kev"] == kev_url
    assert (archive_dir(db_path) / "kev.json").read_bytes() == KEV.read_bytes()
    mirror.log.clear()
    second = update_db(db_path, mirror=mirror.url, kev_url=kev_url, transport=_fast_transport())
    assert ("/kev.json", 304) in mirror.log and second.kev == "not modified"
    assert not second.rebuilt and second.digest == first.digest
    # Only the catalog changed: applied in place, the OSV archives are not imported again.
    smaller = json.loads(KEV.read_bytes())
    smaller["vulnerabilities"], smaller["count"] = smaller["vulnerabilities"][:10], 10
    mirror.archives["kev.json"] = json.dumps(smaller).encode()
    third = update_db(db_path, mirror=mirror.url, kev_url=kev_url, transport=_fast_transport())
    assert third.kev == "downloaded" and not third.rebuilt and third.digest != first.digest
    with VulnDB.open(db_path) as db:
        assert db.kev_summary() == ("2025.08.25", 10) and db.digest == third.digest
        assert db.counts_by_ecosystem()["Go"] > 500


@pytest.mark.parametrize("failure", ["unreachable", "500", "malformed"])
def test_a_catalog_that_cannot_be_fetched_never_breaks_the_osv_update(
    mirror: Mirror,
    tmp_path: Path,
    failure: str,
) -> None:
    db_path = tmp_path / "v.db"
    mirror.archives["kev.json"] = KEV.read_bytes()
    update_db(db_path, mirror=mirror.url, ecosystems=["Go"], kev_url=f"{mirror.url}/kev.json",
              transport=_fast_transport())  # fmt: skip
    kev_url = {
        "unreachable": f"http://127.0.0.1:{_closed_port()}/kev.json",
        "500": f"{mirror.url}/missing-kev.json",
        "malformed": f"{mirror.url}/kev.json",
    }[failure]
    if failure == "malformed":
        mirror.archives["kev.json"] = b'{"vulnerabilities": "none"}'
    started = time.monotonic()
    outcome = update_db(
        db_path,
        mirror=mirror.url,
        ecosystems=["Go", "crates.io"],
        kev_url=kev_url,
        transport=_fast_transport(),
    )
    assert time.monotonic() - started < 60  # fails fast: no long retry loop for an optional download
    assert outcome.kev == "unavailable" and outcome.rebuilt  # the OSV update went through
    expected = {
        "unreachable": "cannot reach 127.0.0.1",
        "500": "answered HTTP 404",
        "malformed": "kev.json: catalogVersion: missing",
    }
    assert expected[failure] in outcome.kev_problem
    with VulnDB.open(db_path) as db:
        assert set(db.counts_by_ecosystem()) == {"Go", "crates.io"}
        assert db.kev_summary() == ("2025.08.25", 1404)  # the last good catalog stays in use
    assert (archive_dir(db_path) / "kev.json").read_bytes() == KEV.read_bytes()
    assert not list(archive_dir(db_path).glob("*.part"))


def test_cli_update_warns_and_goes_on_without_the_catalog(mirror: Mirror, tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    dead = f"http://127.0.0.1:{_closed_port()}/kev.json"
    args = ("db", "update", "--db", str(db_path), "--mirror", mirror.url, "--ecosystem", "crates.io")
    result = run_gate(*args, "--kev-url", dead)
    assert result.returncode == 0, result.stderr
    assert "crates.io: downloaded" in result.stdout
    assert "gate: warning: KEV catalog not updated: cannot reach 127.0.0.1" in result.stderr
    assert "no catalog in the database" in result.stderr
    skipped = run_gate(*args, "--no-kev")
    assert skipped.returncode == 0 and "KEV" not in skipped.stdout + skipped.stderr
    offline = run_gate(*args, "--kev-url", dead, env={"GATE_OFFLINE": "1"})  # an optional lookup: skipped
    assert offline.returncode == 0 and "KEV" not in offline.stdout + offline.stderr
    both = run_gate(*args, "--no-kev", "--kev-url", dead)
    assert both.returncode == 1 and "--no-kev cannot be combined with --kev-url" in both.stderr
