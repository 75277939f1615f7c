"""Many small signed and attested images for the fleet tests and benchmark, signed with gate's library.

Two image families share one SBOM each (catalogued once from a real image with a dpkg status):
``old-glibc`` (libc6 2.36-9+deb12u2, which DSA-5514-1 / CVE-2023-4911 later hits) and
``new-glibc`` (2.36-9+deb12u3, fixed). Every image has its own one-file layer, so its own digest,
a ``.sig`` signature and ``.att`` attestations (CycloneDX SBOM and a PASSED VSA) by the key,
exactly what ``gate run`` publishes for these parts. ``extra_packages`` pads each SBOM with
Python packages (the benchmark's ~100 packages per image).
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from gate.attest import types
from gate.attest.cyclonedx import cyclonedx_predicate
from gate.image import RegistryClient
from gate.image.attachments import PREDICATE_TYPE_ANNOTATION, attestation_tag
from gate.image.build import LayerBuilder, build_image
from gate.image.manifest import OCI_MANIFEST, Descriptor, canonical_json, parse_descriptor
from gate.image.reference import parse_registry_reference
from gate.model import Package
from gate.pipeline import catalog_reference
from gate.publish import Target, publish
from gate.sign import cosign
from gate.sign.keys import SigningKey
from tests.signed_images import vsa

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
DASK = Path(sys.executable).with_name("dask")
FAMILIES = {"old-glibc": "2.36-9+deb12u2", "new-glibc": "2.36-9+deb12u3"}


def dpkg_status(glibc: str) -> bytes:
    return (
        f"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\n"
        f"Version: {glibc}\nDescription: GNU C Library\n\n"
        "Package: libcurl4\nStatus: install ok installed\nArchitecture: amd64\nSource: curl\n"
        "Version: 7.88.1-10+deb12u4\nDescription: URL transfer library\n\n"
    ).encode()


def push_image(host: str, name: str, files: dict[str, bytes], tag: str = "v1") -> Target:
    repository = RegistryClient().repository(parse_registry_reference(f"{host}/{name}:{tag}"))
    layer = LayerBuilder()
    for path, content in files.items():
        layer = layer.add_file(path, content)
    digest = build_image([layer.build()]).push(repository, tag=tag)
    resolved = repository.resolve(digest)
    return Target(repository, Descriptor(resolved.media_type, resolved.digest, resolved.size))


def family_sboms(host: str, extra_packages: int = 0) -> dict[str, dict[str, Any]]:
    """The SBOM of each family, catalogued once from a real image pushed for it."""
    sboms = {}
    for family, glibc in FAMILIES.items():
        files = {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": dpkg_status(glibc)}
        push_image(host, f"fleet-family/{family}", files)
        catalog = catalog_reference(f"{host}/fleet-family/{family}:v1")
        padding = tuple(
            Package(f"pad-{n}", "1.0.0", "pypi", f"pkg:pypi/pad-{n}@1.0.0", "test", ())
            for n in range(extra_packages)
        )
        catalog = dataclasses.replace(catalog, packages=catalog.packages + padding)
        sboms[family] = cyclonedx_predicate(catalog)
    return sboms


def signed_fleet_image(
    host: str, name: str, key: SigningKey, sbom: dict[str, Any] | None, *, sign: bool = True
) -> str:
    """Push ``host/name:v1`` and publish its signature and attestations; return the reference."""
    target = push_image(host, name, {"etc/marker": name.encode()})
    subject = f"{host}/{name}"
    predicates = [(types.SLSA_VSA_V1, vsa())] + ([(types.CYCLONEDX, sbom)] if sbom is not None else [])
    publish(
        target,
        attestations=[
            cosign.attestation_entry(key, subject, target.subject.digest, kind, predicate)
            for kind, predicate in predicates
        ],
        signature=cosign.signature_entry(key, subject, target.subject.digest) if sign else None,
    )
    return f"{subject}:v1"


def tamper_sbom_attestation(reference: str, old: bytes, new: bytes) -> None:
    """Rewrite the attested SBOM of ``reference`` (``old`` -> ``new`` in the DSSE payload), keeping
    the envelope's signature: what someone hiding a vulnerable package would push."""
    repository = RegistryClient().repository(parse_registry_reference(reference))
    tag = attestation_tag(repository.resolve(reference.rsplit(":", 1)[1]).digest)
    manifest = json.loads(repository.get_document(tag).raw)
    for layer in manifest["layers"]:
        if layer.get("annotations", {}).get(PREDICATE_TYPE_ANNOTATION) != types.CYCLONEDX:
            continue
        envelope = json.loads(repository.read_blob(parse_descriptor(layer, tag), 1 << 20))
        payload = base64.b64decode(envelope["payload"])
        assert old in payload, "nothing to tamper with"
        envelope["payload"] = base64.b64encode(payload.replace(old, new)).decode()
        pushed = repository.push_blob(json.dumps(envelope).encode())
        layer.update(digest=pushed.digest, size=pushed.size)
    repository.push_manifest(canonical_json(manifest), media_type=OCI_MANIFEST, tag=tag)


def signed_fleet(
    host: str,
    key: SigningKey,
    count: int,
    *,
    prefix: str = "fleet",
    every_old: int = 10,
    extra_packages: int = 0,
) -> dict[str, str]:
    """``count`` signed images; every ``every_old``-th is an old-glibc one. Reference -> family."""
    sboms = family_sboms(host, extra_packages)
    names = {
        f"{prefix}/app-{n:04d}": "old-glibc" if n % every_old == 0 else "new-glibc" for n in range(count)
    }
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        references = pool.map(lambda name: signed_fleet_image(host, name, key, sboms[names[name]]), names)
        return dict(zip(references, names.values(), strict=True))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, each worker with its own cache."""

    def __init__(self, work: Path, workers: int = 2) -> None:
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.scheduler = self._start(work / "scheduler.log", "scheduler", "--host", "127.0.0.1",
                                     "--port", self.address.rsplit(":", 1)[1], "--no-dashboard")  # fmt: skip
        self.workers = [
            self._start(work / f"worker{n}.log", "worker", self.address, "--nthreads", "1", "--no-nanny",
                        "--no-dashboard", "--name", f"w{n}", env={"XDG_CACHE_HOME": str(work / f"cache{n}")})
            for n in range(workers)
        ]  # fmt: skip
        self._wait_for_workers(workers)

    def _start(self, log: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen([str(DASK), *args], stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, **(env or {})})  # fmt: skip

    def _wait_for_workers(self, count: int) -> None:
        import distributed

        with distributed.Client(self.address, timeout=30) as client:
            if count:  # with none, a connected client is enough: the scheduler is up
                client.wait_for_workers(count, timeout=60)

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=30)
