"""in-toto links for the gate step of a supply-chain layout, made and signed with the ``in-toto`` package.

    path = write_link(Path("links"), key, materials={...}, products={...}, command=["gate", "run", ...])

A layout names gate as a step (say ``gate``) whose functionary key is the one ``gate run --key``
signs with; the link records what the step consumed (the image manifest and config, the policy,
the vulnerability DB) and what it produced (the signature and attestation manifests it
published), each as ``{"sha256": hex}``. The file is ``<step>.<keyid[:8]>.link``, the name
in-toto's verification looks for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from in_toto.models.link import Link
from in_toto.models.metadata import Metablock
from securesystemslib.signer import CryptoSigner, SSlibKey

from gate.errors import GateError
from gate.sign.keys import SigningKey

STEP_NAME = "gate"

Artifacts = Mapping[str, str]  # artifact name -> "sha256:<hex>"


def functionary_key(key: SigningKey) -> SSlibKey:
    """The in-toto (securesystemslib) public key of ``key``, as a layout lists it."""
    return SSlibKey.from_crypto(key.key.public_key())


def write_link(
    directory: Path,
    key: SigningKey,
    *,
    materials: Artifacts,
    products: Artifacts,
    command: Sequence[str],
    step: str = STEP_NAME,
) -> Path:
    """Sign a link for ``step`` with ``key`` and write it into ``directory``; return its path."""
    link = Link(
        name=step,
        command=list(command),
        materials={name: _hashes(digest) for name, digest in materials.items()},
        products={name: _hashes(digest) for name, digest in products.items()},
        byproducts={},
        environment={},
    )
    metablock = Metablock(signed=link)
    signer = CryptoSigner(key.key, functionary_key(key))
    metablock.create_signature(signer)
    path = directory / f"{step}.{signer.public_key.keyid[:8]}.link"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        metablock.dump(str(path))
    except OSError as error:
        raise GateError(f"cannot write the in-toto link {path}: {error.strerror}") from error
    return path


def _hashes(digest: str) -> dict[str, str]:
    algorithm, _, encoded = digest.partition(":")
    if not encoded:
        raise GateError(f"in-toto artifact digest {digest!r} is not ALGORITHM:HEX")
    return {algorithm: encoded}
