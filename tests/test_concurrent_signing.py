"""20 signers and attesters on one digest at once lose nothing: in a real registry (cosign
``.sig``/``.att`` tags and the ``sha256-<hex>`` referrers fallback index, which distribution
2.8 needs because it has no referrers API) and in an OCI layout (whose index.json holds all tags).

Each writer has its own key and publishes an attestation of its own predicate type, a signature
and (``bundles``) one sigstore bundle referrer for each, exactly as ``gate sign``/``gate run`` do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from gate.image import RegistryClient
from gate.image.attachments import attestation_tag, signature_tag
from gate.image.build import LayerBuilder, build_image
from gate.image.layout import OciLayout
from gate.image.manifest import Manifest
from gate.image.reference import parse_registry_reference
from gate.image.registry import RegistryRepository
from gate.image.store import Store, read_fallback_referrers
from gate.publish import Target
from gate.sign.keys import generate_signing_key
from gate.sign.verify_key import verify_attestations, verify_signatures
from gate.signing import Attestation, KeySigner, sign_and_attest
from tests.servers import RegistryServer

WRITERS = 20


def _sign_all_at_once(
    open_store: Callable[[], OciLayout | RegistryRepository], repository: str, digest: str
) -> list[KeySigner]:
    signers = [KeySigner(generate_signing_key(), bundles=True) for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def write(number: int) -> None:
        store = open_store()
        try:
            target = Target(store, store.resolve(digest))
            start.wait()
            sign_and_attest(
                target,
                repository,
                signers[number],
                attestations=[Attestation(f"https://example.com/predicate/{number}", {"writer": number})],
            )
        except BaseException as error:  # collected and reported by the test
            errors.append(error)

    threads = [threading.Thread(target=write, args=(number,)) for number in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    return signers


def _assert_nothing_lost(store: Store, digest: str, signers: list[KeySigner]) -> None:
    signature_manifest = store.get_document(signature_tag(digest))
    attestation_manifest = store.get_document(attestation_tag(digest))
    assert isinstance(signature_manifest, Manifest) and isinstance(attestation_manifest, Manifest)
    assert len(signature_manifest.layers) == WRITERS
    assert len(attestation_manifest.layers) == WRITERS
    for signer in signers:
        assert verify_signatures(store, digest, signer.key.public_key)
        [attestation] = verify_attestations(store, digest, signer.key.public_key)
        assert attestation is not None
    referrers = read_fallback_referrers(store, digest)
    assert len({entry.digest for entry in referrers}) == 2 * WRITERS  # a bundle per signature and attestation


def test_twenty_parallel_signers_in_a_registry(registry: RegistryServer) -> None:
    ref = parse_registry_reference(f"{registry.host}/concurrent/app:v1")
    layer = LayerBuilder().add_file("etc/marker", b"concurrent registry").build()
    digest = build_image([layer]).push(RegistryClient().repository(ref), tag="v1")

    def open_store() -> RegistryRepository:
        return RegistryClient().repository(ref)

    signers = _sign_all_at_once(open_store, f"{registry.host}/concurrent/app", digest)
    _assert_nothing_lost(open_store(), digest, signers)


def test_twenty_parallel_signers_in_an_oci_layout(tmp_path: Path) -> None:
    layer = LayerBuilder().add_file("etc/marker", b"concurrent layout").build()
    digest = build_image([layer]).push(OciLayout.create(tmp_path / "layout"), tag="v1")

    def open_store() -> OciLayout:
        return OciLayout.open(tmp_path / "layout")

    signers = _sign_all_at_once(open_store, "example.com/concurrent/app", digest)
    _assert_nothing_lost(open_store(), digest, signers)
