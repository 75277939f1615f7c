"""Signing through a registry that fails a fifth of all requests: it completes or fails closed.

:class:`FaultyProxy` sits in front of the real registry and injects 503s, 429s, resets before
and after forwarding, truncated and corrupted bodies and slow answers (a real registry does not
fail on cue). Every run publishes an attestation and then a signature, exactly as ``gate sign``
does after ``gate attest``; the real registry is then read directly to check the guarantees:
never a signature without its attestation, and a completed run is verifiable.
"""

from __future__ import annotations

import time

from gate.attest.types import COSIGN_VULN, CYCLONEDX
from gate.errors import GateError
from gate.image import RegistryClient, Transport
from gate.image.attachments import signature_tag
from gate.image.reference import parse_registry_reference
from gate.image.registry import RegistryRepository
from gate.image.store import read_fallback_referrers
from gate.image.transport import RetryPolicy
from gate.publish import Target, publish
from gate.sign import cosign
from gate.sign.keys import generate_signing_key
from gate.sign.verify_key import verify_attestations, verify_signatures
from gate.signing import Attestation, KeySigner, sign_and_attest
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


TRIAL_SEEDS = (1, 2, 3)
TRIALS_PER_SEED = 8
DEADLINE = 20.0  # GATE_REGISTRY_DEADLINE of every request in these trials


def _referrers_index_is_whole(direct: RegistryRepository, digest: str) -> None:
    """The fallback index, if any, parses and lists only referrers that exist and name ``digest``."""
    for entry in read_fallback_referrers(direct, digest):
        referrer = direct.get_document(entry.digest)
        assert referrer.subject is not None and referrer.subject.digest == digest


def test_sign_and_attest_with_bundles_through_every_fault_kind(registry: RegistryServer) -> None:
    """``gate run``'s publishing call (sign_and_attest with a key and bundles) at a 20 % fault
    rate: lying digests on HEAD/GET/PUT, 429 with Retry-After, resets mid-answer, truncated,
    corrupted and dripped bodies. Each trial completes and verifies, or fails with a GateError;
    never a signature without every attestation, never a broken referrers index, and no trial
    outlives its deadline budget."""
    key = generate_signing_key()
    signer = KeySigner(key, bundles=True)
    attestations = [Attestation(CYCLONEDX, {"components": []}), Attestation(COSIGN_VULN, {"scanner": {}})]
    outcomes: list[tuple[str, float]] = []
    for seed in TRIAL_SEEDS:
        _trials(registry, seed, signer, attestations, outcomes)
    completed = sum(1 for outcome, _ in outcomes if outcome == "completed")
    print(
        f"{len(outcomes)} trials: {completed} completed and verified, "
        f"{len(outcomes) - completed} failed closed; slowest {max(took for _, took in outcomes):.1f} s"
    )
    assert completed >= 1, outcomes  # the faults leave room to finish: failing closed is not all it does


def _trials(
    registry: RegistryServer,
    seed: int,
    signer: KeySigner,
    attestations: list[Attestation],
    outcomes: list[tuple[str, float]],
) -> None:
    key = signer.key
    with FaultyProxy(registry.host, FAULT_RATE, seed) as proxy:
        for trial in range(TRIALS_PER_SEED):
            direct, name, digest = push_image(registry, marker=f"seed {seed} trial {trial}")
            transport = Transport(
                retry=RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05), deadline=DEADLINE
            )
            proxied = RegistryClient(transport=transport).repository(
                parse_registry_reference(f"{proxy.host}/{name.split('/', 1)[1]}")
            )
            started = time.monotonic()
            try:
                sign_and_attest(
                    Target(proxied, proxied.resolve(digest)), name, signer, attestations=attestations
                )
            except GateError:
                outcome = "failed closed"
            else:
                outcome = "completed"
                assert verify_signatures(direct, digest, key.public_key)
            took = time.monotonic() - started
            outcomes.append((outcome, took))
            if signature_tag(digest) in direct.list_tags():
                verified = {
                    v.statement.predicate_type for v in verify_attestations(direct, digest, key.public_key)
                }
                assert verified == {CYCLONEDX, COSIGN_VULN}, verified  # the signature came last
            _referrers_index_is_whole(direct, digest)
            assert took < 4 * DEADLINE, took
    print(f"seed {seed}: {sum(proxy.injected.values())} faults in {proxy.requests} requests {proxy.injected}")
    assert sum(proxy.injected.values()) >= proxy.requests * FAULT_RATE / 2
