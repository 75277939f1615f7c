"""gate.signing against a real registry: re-running publishes nothing new; --replace covers bundles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate.attest.types import CYCLONEDX, OPENVEX
from gate.image.attachments import PREDICATE_ARTIFACT_TYPE
from gate.image.registry import RegistryRepository
from gate.image.store import Store, referrers_tag
from gate.publish import Target
from gate.sign.keyless import MAX_INLINE_STATEMENT_BYTES
from gate.sign.keys import generate_signing_key
from gate.signing import Attestation, KeylessSigner, KeySigner, sign_and_attest
from tests.servers import RegistryServer
from tests.sigstore_stack import SigstoreStack
from tests.test_attest import att_layers
from tests.test_sign import push_image, sig_manifest
from tests.test_sign_keyless_cli import bundles_of


def _target(repository: RegistryRepository, digest: str) -> Target:
    return Target(repository, repository.resolve(digest))


def _types(repository: Store, digest: str) -> list[str]:
    return sorted(
        m.annotations["dev.sigstore.bundle.predicateType"] for m, _ in bundles_of(repository, digest)
    )


def test_rerun_with_a_key_publishes_nothing_new(registry: RegistryServer) -> None:
    repository, name, digest = push_image(registry)
    signer = KeySigner(generate_signing_key(), bundles=True)
    attestations = [Attestation(CYCLONEDX, {"components": []}), Attestation(OPENVEX, {"statements": []})]
    target = _target(repository, digest)
    first = sign_and_attest(target, name, signer, attestations=attestations, replace=True)
    assert [p.kind for p in first] == ["referrer", "referrer", "att", "referrer", "sig"]
    tags = sorted(repository.list_tags())
    referrers = repository.referrers(digest)
    second = sign_and_attest(target, name, signer, attestations=attestations, replace=True)
    assert [p.kind for p in second] == ["sig"]  # the .sig tag is re-read: unchanged
    assert sorted(repository.list_tags()) == tags and repository.referrers(digest) == referrers
    assert len(sig_manifest(repository, digest).layers) == 1
    assert len(att_layers(repository, digest)) == 2


def test_replace_supersedes_the_signers_bundles_of_that_type_only(registry: RegistryServer) -> None:
    repository, name, digest = push_image(registry)
    mine, theirs = (
        KeySigner(generate_signing_key(), bundles=True),
        KeySigner(generate_signing_key(), bundles=True),
    )
    target = _target(repository, digest)
    sign_and_attest(target, name, mine, attestations=[Attestation(CYCLONEDX, {"v": 1})], sign=False)
    sign_and_attest(target, name, mine, attestations=[Attestation(OPENVEX, {"v": 1})], sign=False)
    sign_and_attest(target, name, theirs, attestations=[Attestation(CYCLONEDX, {"v": 1})], sign=False)
    # without replace, a different statement accumulates
    sign_and_attest(target, name, mine, attestations=[Attestation(CYCLONEDX, {"v": 2})], sign=False)
    assert _types(repository, digest) == [CYCLONEDX] * 3 + [OPENVEX]
    sign_and_attest(
        target, name, mine, attestations=[Attestation(CYCLONEDX, {"v": 3})], replace=True, sign=False
    )
    assert _types(repository, digest) == [CYCLONEDX, CYCLONEDX, OPENVEX]  # theirs and my v3
    predicates = sorted(
        json.loads(_payload(bundle))["predicate"]["v"] for _, bundle in bundles_of(repository, digest)
    )
    assert predicates == [1, 1, 3]  # theirs v1, my openvex v1, my cyclonedx v3
    cyclonedx = [
        layer for layer in att_layers(repository, digest) if layer.annotations["predicateType"] == CYCLONEDX
    ]
    assert len(cyclonedx) == 2  # the .att tag too: theirs and my v3


def _payload(bundle: bytes) -> bytes:
    import base64

    return base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"])


@pytest.fixture(scope="module")
def stack() -> Iterator[SigstoreStack]:
    with SigstoreStack() as running:
        yield running


def test_keyless_rerun_and_replace_of_a_detached_predicate(
    registry: RegistryServer, stack: SigstoreStack, tmp_path: Path
) -> None:
    (tmp_path / "trust.json").write_text(json.dumps(stack.client_trust_config()))
    signer = KeylessSigner(stack.token(), tmp_path / "trust.json")
    repository, name, digest = push_image(registry)
    target = _target(repository, digest)
    big = Attestation(CYCLONEDX, {"components": ["x" * MAX_INLINE_STATEMENT_BYTES]})
    sign_and_attest(target, name, signer, attestations=[big], replace=True)
    referrers = repository.referrers(digest)
    assert len(referrers) == 3  # the detached predicate, its bundle, the signature bundle
    again = sign_and_attest(target, name, signer, attestations=[big], replace=True)
    assert again == [] and repository.referrers(digest) == referrers
    smaller = Attestation(CYCLONEDX, {"components": ["y" * MAX_INLINE_STATEMENT_BYTES]})
    sign_and_attest(target, name, signer, attestations=[smaller], replace=True, sign=False)
    after = repository.referrers(digest)
    assert len(after) == 3  # the old bundle and the predicate only it named are gone
    assert len([d for d in after if d.artifact_type == PREDICATE_ARTIFACT_TYPE]) == 1
    assert {d.digest for d in after} != {d.digest for d in referrers}
    assert f"{referrers_tag(digest)}.sig" not in repository.list_tags()


def test_a_statement_that_differs_only_in_its_times_is_already_published(registry: RegistryServer) -> None:
    repository, name, digest = push_image(registry)
    signer = KeySigner(generate_signing_key(), bundles=True)
    target = _target(repository, digest)
    first = {"timeVerified": "2026-01-01T00:00:00Z", "verificationResult": "PASSED"}
    later = {"timeVerified": "2026-01-02T10:00:00Z", "verificationResult": "PASSED"}
    failed = {"timeVerified": "2026-01-02T10:00:00Z", "verificationResult": "FAILED"}
    sign_and_attest(
        target, name, signer, attestations=[Attestation(OPENVEX, first)], replace=True, sign=False
    )
    tags, referrers = sorted(repository.list_tags()), repository.referrers(digest)
    again = sign_and_attest(
        target, name, signer, attestations=[Attestation(OPENVEX, later)], replace=True, sign=False
    )
    assert (
        again == [] and sorted(repository.list_tags()) == tags and repository.referrers(digest) == referrers
    )
    sign_and_attest(
        target, name, signer, attestations=[Attestation(OPENVEX, failed)], replace=True, sign=False
    )
    assert len(att_layers(repository, digest)) == 1  # replaced, not added
    [(_, bundle)] = bundles_of(repository, digest)
    assert json.loads(_payload(bundle))["predicate"]["verificationResult"] == "FAILED"
