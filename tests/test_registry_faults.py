"""Signing through a registry that fails a fifth of all requests: it completes or fails closed.

:class:`FaultyProxy` sits in front of the real registry and injects 503s, 429s, resets before
and after forwarding, truncated and corrupted bodies and slow answers (a real registry does not
fail on cue). Every run publishes an attestation and then a signature, exactly as ``gate sign``
does after ``gate attest``; the real registry is then read directly to check the guarantees:
never a signature without its attestation, and a completed run is verifiable.
"""

from __future__ import annotations

import time

from gate.errors import GateError
from gate.image import RegistryClient, Transport
from gate.image.attachments import signature_tag
from gate.image.reference import parse_registry_reference
from gate.image.transport import RetryPolicy
from gate.publish import Target, publish
from gate.sign import cosign
from gate.sign.keys import generate_signing_key
from gate.sign.verify_key import verify_attestations, verify_signatures
from tests.servers import FaultyProxy, RegistryServer
from tests.test_sign import push_image

FAULT_RATE = 0.2
RUNS = 12
SEED = 20261204


def test_signing_at_a_20_percent_fault_rate_completes_or_fails_closed(registry: RegistryServer) -> None:
    key = generate_signing_key()
    completed = failed = 0
    started = time.monotonic()
    with FaultyProxy(registry.host, FAULT_RATE, SEED) as proxy:
        for run in range(RUNS):
            direct, name, digest = push_image(registry, marker=f"fault run {run}")
            waits: list[float] = []
            transport = Transport(
                retry=RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05), sleep=waits.append
            )
            proxied = RegistryClient(transport=transport).repository(
                parse_registry_reference(f"{proxy.host}/{name.split('/', 1)[1]}")
            )
            try:
                publish(
                    Target(proxied, proxied.resolve(digest)),
                    attestations=[cosign.attestation_entry(key, name, digest, "https://example.com/p", {})],
                    signature=cosign.signature_entry(key, name, digest),
                )
            except GateError:
                failed += 1
            else:
                completed += 1
                assert verify_signatures(direct, digest, key.public_key)
            if signature_tag(digest) in direct.list_tags():
                # a signature exists only once its attestation does: attestations go first
                assert verify_attestations(direct, digest, key.public_key)
            assert len(waits) <= 4 * 40  # at most 4 waits per request, a few dozen requests a run
    print(f"faults {proxy.injected} of {proxy.requests} requests; completed {completed}, failed {failed}")
    assert sum(proxy.injected.values()) >= proxy.requests * FAULT_RATE / 2, proxy.injected
    assert completed >= RUNS // 2, (completed, failed, proxy.injected)
    assert time.monotonic() - started < 120  # bounded retries: no run hangs
