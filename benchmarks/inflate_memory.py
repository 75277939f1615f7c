"""Peak memory of inflating one gzip stream of a 1 GiB file of zeros (about 1 MB compressed).

    .venv/bin/python benchmarks/inflate_memory.py

Runs gate's layer inflater, then, in a fresh process, the unbounded loop it replaced
(``decompress()`` without ``max_length`` on 1 MiB reads), and prints the peak RSS of each.
"""

from __future__ import annotations

import io
import resource
import subprocess
import sys
import zlib

from isal import isal_zlib

from gate.image import filesystem

MiB = 1 << 20
SIZE_MIB = 1024


def zeros_gzip() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join(compressor.compress(bytes(MiB)) for _ in range(SIZE_MIB)) + compressor.flush()


def inflate(how: str) -> None:
    blob = zeros_gzip()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    if how == "gate":
        total = sum(len(chunk) for chunk in filesystem._gunzip(io.BytesIO(blob), "layer 0"))
    else:
        decompressor, stream, total = isal_zlib.decompressobj(wbits=31), io.BytesIO(blob), 0
        while chunk := stream.read(MiB):
            total += len(decompressor.decompress(chunk))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"| {how} | {len(blob)} | {total} | {before} | {peak} |")


def main() -> None:
    if len(sys.argv) > 1:
        inflate(sys.argv[1])
        return
    print("| inflater | compressed bytes | inflated bytes | RSS before (MiB) | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    for how in ("gate", "unbounded"):
        subprocess.run([sys.executable, __file__, how], check=True)


if __name__ == "__main__":
    main()
