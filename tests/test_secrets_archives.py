"""Secrets packed inside archives (jar, war, whl, zip, tar.gz), found and named ``archive!/member``.

Every archive is built here with test-only secrets, in an image, and read the way ``gate
secrets`` reads one. The hostile ones (nested past the depth bound, a gzip bomb) show the
bounds the Java cataloger uses hold here too, and that what was read before a bound is kept.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
import zlib

import pytest

from gate.analyze import AnalysisOptions, AnalysisResult, analyze_image
from gate.catalog.java import MAX_DEPTH, MAX_NESTED_ARCHIVE
from gate.image import OciLayout, open_image
from gate.image.build import LayerBuilder, build_image
from tests.fixtures.analyze.material import Material, pem_body_lines, pem_private_key


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_gz_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def gzip_bomb(size: int) -> bytes:
    """A .tar.gz that inflates to ``size`` zero bytes (about a thousandth of that compressed)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk, parts = bytes(1 << 20), []
    for _ in range(size // len(chunk)):
        parts.append(deflater.compress(chunk))
    parts.append(deflater.flush())
    return b"".join(parts)


def encrypted_zip(members: dict[str, bytes]) -> bytes:
    """A zip whose members are flagged encrypted (general purpose bit 0), which nothing can read."""
    data = bytearray(zip_bytes(members))
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = data.find(signature)
        while position >= 0:
            data[position + flag_at] |= 0x1
            position = data.find(signature, position + 4)
    return bytes(data)


class Planted:
    def __init__(self) -> None:
        self.material = Material(29)
        self.values: list[str] = []

    def token(self) -> str:
        value = self.material.github_token()
        self.values.append(value)
        return value


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[AnalysisResult, list[str]]:
    planted = Planted()
    inner_jar = zip_bytes({"config.yml": f"github:\n  token: {planted.token()}\n".encode()})
    app_jar = zip_bytes(
        {
            "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
            "BOOT-INF/classes/application.properties": f"github.token={planted.token()}\n".encode(),
            "BOOT-INF/classes/App.class": b"\xca\xfe\xba\xbe\x00\x00" + planted.token().encode(),  # binary
            "BOOT-INF/lib/inner.jar": inner_jar,
        }
    )
    key = pem_private_key("rsa")
    planted.values.extend(pem_body_lines(key))
    deep = zip_bytes({"level.txt": f"token {planted.token()}\n".encode()})
    for level in range(MAX_DEPTH + 1):  # the innermost archive lies past the depth bound
        deep = zip_bytes({f"level{level}.zip": deep})
    deep_with_top_secret = zip_bytes({"top.txt": f"token {planted.token()}\n".encode(), "nested.zip": deep})
    files = {
        "app/app.jar": app_jar,
        "app/site.war": zip_bytes({"WEB-INF/classes/settings.py": f'TOKEN = "{planted.token()}"\n'.encode()}),
        "app/dist/pkg-1.0-py3-none-any.whl": zip_bytes(
            {"pkg/__init__.py": b"", "pkg/config.py": f'GITHUB_TOKEN = "{planted.token()}"\n'.encode()}
        ),
        "backup/keys.zip": zip_bytes({"root/.ssh/id_rsa": key.encode()}),
        "app/config.tar.gz": tar_gz_bytes({"./etc/app/env": f"TOKEN={planted.token()}\n".encode()}),
        "app/notes.zip": f"not an archive at all: {planted.token()}\n".encode(),
        "app/deep.zip": deep_with_top_secret,
        "app/bomb.tar.gz": gzip_bomb(MAX_NESTED_ARCHIVE + (1 << 20)),
        "app/locked.zip": encrypted_zip({"secret.txt": b"whatever\n"}),
        "app/plain.tgz": gzip.compress(b"plain text, gzip but no tar: " + planted.token().encode()),
    }
    layer = LayerBuilder()
    for path, data in files.items():
        layer.add_file(path, data)
    layout = tmp_path_factory.mktemp("archives") / "layout"
    build_image([layer.build()]).push(OciLayout.create(layout), tag="t")
    with open_image(f"oci:{layout}:t") as image, image.filesystem() as fs:
        analysis = analyze_image(image, fs, AnalysisOptions(config=False))
    return analysis, planted.values


def test_secrets_in_archive_members_are_found_with_archive_paths(
    result: tuple[AnalysisResult, list[str]],
) -> None:
    analysis, _ = result
    assert sorted((f.rule_id, f.path) for f in analysis.secrets) == [
        ("github-token", "/app/app.jar!/BOOT-INF/classes/application.properties"),
        ("github-token", "/app/app.jar!/BOOT-INF/lib/inner.jar!/config.yml"),
        ("github-token", "/app/config.tar.gz!/etc/app/env"),
        ("github-token", "/app/deep.zip!/top.txt"),
        ("github-token", "/app/dist/pkg-1.0-py3-none-any.whl!/pkg/config.py"),
        ("github-token", "/app/notes.zip"),  # named like an archive, read as the text it is
        ("github-token", "/app/site.war!/WEB-INF/classes/settings.py"),
        ("private-key", "/backup/keys.zip!/root/.ssh/id_rsa"),
    ]
    lines = {f.path: f.line for f in analysis.secrets}
    assert lines["/app/app.jar!/BOOT-INF/lib/inner.jar!/config.yml"] == 2
    assert all(f.layer_index == 0 and f.visible for f in analysis.secrets)


def test_bounds_are_problems_and_what_was_read_before_stays(result: tuple[AnalysisResult, list[str]]) -> None:
    analysis, _ = result
    problems = sorted(analysis.problems)
    assert len(problems) == 3, problems
    bomb, deep, locked = problems
    assert locked.startswith(
        "secrets: cannot read all of /app/locked.zip (layer 0): /app/locked.zip: a member"
    )
    assert bomb.startswith(
        "secrets: cannot read all of /app/bomb.tar.gz (layer 0): /app/bomb.tar.gz: inflates past"
    )
    deepest = "/app/deep.zip!/nested.zip" + "".join(f"!/level{n}.zip" for n in range(MAX_DEPTH, 0, -1))
    assert deep.endswith(f"{deepest}: archives nested deeper than {MAX_DEPTH} levels")
    # the secret at the top of deep.zip was reported (previous test); the one past the bound was not
    assert analysis.stats.skipped_binary >= 1  # App.class: sniffed, not read


def test_no_secret_value_is_kept_in_findings(result: tuple[AnalysisResult, list[str]]) -> None:
    analysis, planted = result
    shown = repr(analysis.secrets) + repr(analysis.problems)
    assert not [value for value in planted if value in shown]
