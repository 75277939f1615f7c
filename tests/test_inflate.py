"""gzip layers decode the same with ISA-L and with the zlib fallback (platforms without an isal wheel)."""

from __future__ import annotations

import gzip
import io
import zlib

import pytest
from isal import isal_zlib

from gate.errors import LayerError
from gate.image import filesystem


@pytest.fixture(params=[zlib, isal_zlib], ids=["zlib", "isal"])
def inflater(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setattr(filesystem, "_inflater", lambda: request.param)
    return request.param


def _gunzip(data: bytes) -> bytes:
    return b"".join(filesystem._gunzip(io.BytesIO(data), "layer 0"))


def test_concatenated_members_are_one_stream(inflater: object) -> None:
    payload = bytes(range(256)) * 10_000
    data = gzip.compress(payload[:1000], mtime=0) + gzip.compress(payload[1000:], mtime=0)
    assert _gunzip(data) == payload


def test_truncated_stream_is_an_error(inflater: object) -> None:
    data = gzip.compress(bytes(range(256)) * 10_000, mtime=0)
    with pytest.raises(LayerError, match="gzip stream is truncated"):
        _gunzip(data[: len(data) // 2])


def test_garbage_is_an_error(inflater: object) -> None:
    with pytest.raises(LayerError, match="is not valid gzip data"):
        _gunzip(b"this is not gzip at all" * 100)
