"""Content digests (``algorithm:hex``) and streaming verification against them."""

from __future__ import annotations

import hashlib
import re
from typing import IO

from gate.errors import ImageFormatError, IntegrityError

_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_DIGEST_SHAPE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


def validate_digest(digest: object) -> str:
    """Return ``digest`` if it is a well-formed sha256/sha512 digest, else raise ImageFormatError."""
    if not isinstance(digest, str) or not _DIGEST_SHAPE.match(digest):
        raise ImageFormatError(f"malformed digest {digest!r}")
    algorithm, encoded = digest.split(":", 1)
    if algorithm not in _HEX_LENGTH:
        raise ImageFormatError(f"unsupported digest algorithm {algorithm!r} in {digest!r}")
    if len(encoded) != _HEX_LENGTH[algorithm] or not re.fullmatch(r"[0-9a-f]+", encoded):
        raise ImageFormatError(f"malformed {algorithm} digest {digest!r}")
    return digest


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    """The digest of ``data`` as ``algorithm:hex``."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def verify_bytes(data: bytes, digest: str, *, what: str = "content") -> bytes:
    """Return ``data`` if it hashes to ``digest``; raise IntegrityError otherwise."""
    algorithm = validate_digest(digest).split(":", 1)[0]
    actual = digest_of(data, algorithm)
    if actual != digest:
        raise IntegrityError(f"{what} does not match its digest: expected {digest}, got {actual}")
    return data


class VerifyingReader:
    """Wrap a binary stream; fail if it ends with the wrong size or digest.

    The check runs when the stream is exhausted, so a consumer that reads to the end (as
    the layer reader does) can never accept content that does not match. Reading past
    ``size`` fails immediately, which bounds what a lying server can make us read.
    """

    def __init__(self, stream: IO[bytes], digest: str, size: int | None, *, what: str) -> None:
        algorithm = validate_digest(digest).split(":", 1)[0]
        self._stream = stream
        self._digest = digest
        self._size = size
        self._what = what
        self._hash = hashlib.new(algorithm)
        self._read = 0
        self._verified = False

    def read(self, n: int = -1) -> bytes:
        if self._size is not None:
            # ask for one byte more than allowed so an oversized stream is detected
            remaining = self._size - self._read + 1
            n = remaining if n is None or n < 0 else min(n, remaining)
        chunk = self._stream.read(n)
        self._read += len(chunk)
        if self._size is not None and self._read > self._size:
            raise IntegrityError(f"{self._what} is larger than its descriptor says ({self._size} bytes)")
        self._hash.update(chunk)
        if not chunk and n != 0:
            self._finish()
        return chunk

    def readinto(self, buffer: bytearray | memoryview) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        """Read whatever is left so that the size and digest are checked."""
        while self.read(1 << 20):
            pass

    def _finish(self) -> None:
        if self._verified:
            return
        if self._size is not None and self._read != self._size:
            raise IntegrityError(f"{self._what} is truncated: got {self._read} of {self._size} bytes")
        actual = f"{self._hash.name}:{self._hash.hexdigest()}"
        if actual != self._digest:
            raise IntegrityError(
                f"{self._what} does not match its digest: expected {self._digest}, got {actual}"
            )
        self._verified = True

    def close(self) -> None:
        self._stream.close()
