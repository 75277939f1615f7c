"""Publishing order, refusals and concurrent writers, against the real registry and a layout.

Two stand-ins, both named here: a forwarding proxy in front of the real registry that refuses
some manifest PUTs (no real registry refuses on cue), and :class:`RacingStore`, which wraps a real
registry repository and lets a second writer act at an exact moment of gate's read-modify-write
(a real race would be too rare to test).
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from gate.errors import RegistryError, SigningError
from gate.image import OciLayout, RegistryClient
from gate.image.attachments import signature_tag
from gate.image.build import LayerBuilder, build_image
from gate.image.manifest import Descriptor, Index, Manifest
from gate.image.reference import parse_registry_reference
from gate.image.registry import RegistryRepository
from gate.image.store import referrers_tag
from gate.publish import Target, publish, update_cosign_tag
from gate.sign import cosign
from gate.sign.keys import generate_signing_key, load_private_key, load_public_key
from gate.sign.verify_key import verify_attestations, verify_bundles, verify_signatures
from tests.servers import RegistryServer
from tests.test_cli import run_gate
from tests.test_sign import COSIGN_KEY, FIXTURES, KEY_ENV, push_image

HOP_BY_HOP = {"connection", "transfer-encoding", "keep-alive", "content-encoding", "content-length"}


class RefusingProxy:
    """Forwards every request to ``upstream`` except those ``refuse(method, path)`` selects (400)."""

    def __init__(self, upstream: str, refuse: Callable[[str, str], bool]) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if refuse(self.command, self.path):
                    proxy.refused.append(f"{self.command} {self.path}")
                    payload = b'{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}'
                    self.send_response(400)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                answer = requests.request(
                    self.command,
                    upstream + self.path,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    timeout=30,
                )
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                content = b"" if self.command == "HEAD" else answer.content
                length_header = (
                    answer.headers.get("Content-Length", "0") if self.command == "HEAD" else len(content)
                )
                self.send_header("Content-Length", str(length_header))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self.refused: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> RefusingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class RacingStore:
    """A real registry repository; ``before_push``/``after_read`` hooks let another writer act."""

    inner: RegistryRepository
    tag: str
    after_read: Callable[[], object] | None = None
    after_push: Callable[[], object] | None = None
    reads: int = 0
    pushes: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def get_document(self, reference: str) -> object:
        document = self.inner.get_document(reference)
        if reference == self.tag:
            self.reads += 1
            if self.reads == 1 and self.after_read:
                self.after_read()
        return document

    def push_manifest(self, document: Manifest | Index | bytes, **kwargs: Any) -> Descriptor:
        descriptor = self.inner.push_manifest(document, **kwargs)
        self.pushes.append(str(kwargs.get("tag")))
        if kwargs.get("tag") == self.tag and self.after_push:
            self.after_push()
        return descriptor


def _signed_by(key_pem: bytes, repository: RegistryRepository, digest: str) -> int:
    return len(verify_signatures(repository, digest, load_public_key(key_pem)))


def _setup(registry: RegistryServer) -> tuple[RegistryRepository, str, str, Target]:
    repository, name, digest = push_image(registry)
    return repository, name, digest, Target(repository, repository.resolve(digest))


def test_attestations_are_published_before_the_signature(tmp_path: Path) -> None:
    layout = OciLayout.create(tmp_path / "layout")
    digest = build_image([LayerBuilder().add_file("x", b"x").build()]).push(layout, tag="t")
    key = load_private_key((FIXTURES / "cosign.key").read_bytes(), lambda: b"fixture-password")
    pushed: list[str] = []
    original = layout.push_manifest

    def recording(document: Manifest | Index | bytes, **kwargs: Any) -> Descriptor:
        pushed.append(str(kwargs.get("tag") or "referrer"))
        return original(document, **kwargs)

    layout.push_manifest = recording  # type: ignore[method-assign]  # records, then pushes
    target = Target(layout, layout.resolve("t"))
    entries = [
        cosign.attestation_entry(key, "r.example/app", digest, f"https://example.com/p{i}", {"i": i})
        for i in range(3)
    ]
    publish(
        target,
        attestations=entries,
        attestation_bundles=[
            cosign.bundle_artifact(key, "r.example/app", digest, "https://example.com/p0", {})
        ],
        signature=cosign.signature_entry(key, "r.example/app", digest),
        signature_bundles=[cosign.signature_bundle(key, "r.example/app", digest)],
    )
    tag = referrers_tag(digest)
    assert [p for p in pushed if p.startswith(tag)] == [tag, f"{tag}.att", tag, f"{tag}.sig"]
    assert pushed[-1] == f"{tag}.sig"  # nothing after the signature
    public = key.public_key
    assert len(verify_attestations(layout, digest, public)) == 3
    assert len(verify_bundles(layout, digest, public)) == 2
    index = json.loads((tmp_path / "layout" / "index.json").read_bytes())
    names = {m.get("annotations", {}).get("org.opencontainers.image.ref.name") for m in index["manifests"]}
    assert {f"{tag}.att", f"{tag}.sig", tag} <= names


def test_registry_refusing_the_attestation_leaves_no_signature(
    registry: RegistryServer, tmp_path: Path
) -> None:
    repository, name, digest = push_image(registry)
    assert run_gate("sign", f"{name}:v1", "--key", COSIGN_KEY, env=KEY_ENV).returncode == 0
    before = repository.get_document(signature_tag(digest)).raw
    path = name.split("/", 1)[1]

    def refuse(method: str, url: str) -> bool:
        return (
            method == "PUT"
            and re.fullmatch(rf"/v2/{path}/manifests/sha256-[0-9a-f]{{64}}\.att", url) is not None
        )

    with RefusingProxy(f"http://{registry.host}", refuse) as proxy:
        ref = parse_registry_reference(f"{proxy.host}/{path}:v1")
        proxied = RegistryClient().repository(ref)
        key = load_private_key((FIXTURES / "cosign.key").read_bytes(), lambda: b"fixture-password")
        other = generate_signing_key()
        target = Target(proxied, proxied.resolve(digest))
        with pytest.raises(
            RegistryError, match=r"manifest sha256-[0-9a-f]{64}\.att: HTTP 400 MANIFEST_INVALID"
        ):
            publish(
                target,
                attestations=[cosign.attestation_entry(key, name, digest, "https://example.com/p", {})],
                signature=cosign.signature_entry(other, name, digest),
            )
        (tmp_path / "p.json").write_text("{}")
        cli = run_gate(
            "attest",
            f"{proxy.host}/{path}:v1",
            "--predicate",
            str(tmp_path / "p.json"),
            "--type",
            "vuln",
            "--key",
            COSIGN_KEY,
            env=KEY_ENV,
        )
        assert cli.returncode == 1
        assert re.fullmatch(
            rf"gate: error: {proxy.host}/{path}: manifest sha256-[0-9a-f]{{64}}\.att: "
            r"HTTP 400 MANIFEST_INVALID: manifest invalid\n",
            cli.stderr,
        ), cli.stderr
        assert len(proxy.refused) == 2
    assert repository.get_document(signature_tag(digest)).raw == before  # no new signature, the old one kept
    assert f"{referrers_tag(digest)}.att" not in repository.list_tags()


def test_writer_between_our_read_and_write_is_merged(registry: RegistryServer) -> None:
    repository, name, digest, _ = _setup(registry)
    mine, theirs = generate_signing_key(), generate_signing_key()
    tag = signature_tag(digest)
    update_cosign_tag(repository, tag, [cosign.signature_entry(generate_signing_key(), name, digest)])
    racing = RacingStore(repository, tag)
    racing.after_read = lambda: update_cosign_tag(
        repository, tag, [cosign.signature_entry(theirs, name, digest)]
    )
    update_cosign_tag(racing, tag, [cosign.signature_entry(mine, name, digest)])  # type: ignore[arg-type]  # a Store by delegation
    layers = repository.get_document(tag).layers
    assert len(layers) == 3
    assert _signed_by(mine.public_key.pem(), repository, digest) == 1
    assert _signed_by(theirs.public_key.pem(), repository, digest) == 1


def test_writer_replacing_the_tag_after_our_write_is_merged(registry: RegistryServer) -> None:
    repository, name, digest, _ = _setup(registry)
    mine, theirs = generate_signing_key(), generate_signing_key()
    tag = signature_tag(digest)
    update_cosign_tag(repository, tag, [cosign.signature_entry(generate_signing_key(), name, digest)])
    stale = repository.get_document(tag)
    assert isinstance(stale, Manifest)
    their_entry = cosign.signature_entry(theirs, name, digest)

    def clobber_once() -> None:
        # the other writer read the tag before our write and now writes its stale view plus its layer
        racing.after_push = None
        repository.push_blob(their_entry.blob)
        document = json.loads(stale.raw)
        document["layers"].append({**their_entry.descriptor.to_json()})
        raw = json.dumps(document).encode()
        repository.push_manifest(raw, media_type=stale.media_type, tag=tag)

    racing = RacingStore(repository, tag, after_push=clobber_once)
    update_cosign_tag(racing, tag, [cosign.signature_entry(mine, name, digest)])  # type: ignore[arg-type]  # a Store by delegation
    assert racing.pushes.count(tag) == 2  # merged and wrote again
    assert _signed_by(mine.public_key.pem(), repository, digest) == 1
    assert _signed_by(theirs.public_key.pem(), repository, digest) == 1
    assert len(repository.get_document(tag).layers) == 3


def test_endless_concurrent_replacement_is_an_error_not_a_silent_pass(registry: RegistryServer) -> None:
    repository, name, digest, _ = _setup(registry)
    tag = signature_tag(digest)
    theirs = cosign.signature_entry(generate_signing_key(), name, digest)
    update_cosign_tag(repository, tag, [theirs])
    original = repository.get_document(tag).raw

    racing = RacingStore(repository, tag)
    racing.after_push = lambda: repository.push_manifest(
        original, media_type="application/vnd.oci.image.manifest.v1+json", tag=tag
    )
    mine = generate_signing_key()
    with pytest.raises(
        SigningError, match=r"kept changing under concurrent writers; gave up after \d+ attempts"
    ):
        update_cosign_tag(racing, tag, [cosign.signature_entry(mine, name, digest)])  # type: ignore[arg-type]  # a Store by delegation
    assert repository.get_document(tag).raw == original  # the other writer's signature is still there
