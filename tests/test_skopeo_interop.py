"""Real third-party verifiers and signers: skopeo 1.18 and cosign 2.5 from Debian 13 (trixie).

A session fixture runs ``debootstrap --variant=minbase --include=skopeo,cosign trixie ROOT``
(root and network needed, about a minute; a failing containers-common postinst makes debootstrap
exit 1 but leaves skopeo working) and runs the tools with ``chroot ROOT``, which shares the
host's loopback and so reaches the test registry. Nothing is mocked; these tests fail, never
skip, when debootstrap, root or the network are missing.

* skopeo (containers/image) accepts ``gate sign --key`` output under a ``sigstoreSigned`` policy
  with ``matchRepository`` and refuses unsigned, tampered, foreign-key and copied signatures;
  gate verifies what ``skopeo copy --sign-by-sigstore-private-key`` writes, with a key from
  ``skopeo generate-sigstore-key``, and signs with that key.
* cosign verifies gate's signatures and attestations (``verify``, ``verify-attestation``,
  ``--insecure-ignore-tlog``: there is no Rekor with a key), loads a key ``gate keygen`` wrote,
  and gate verifies a signature ``cosign sign`` made.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from gate.image.manifest import OCI_MANIFEST, Manifest
from gate.image.reference import parse_registry_reference
from gate.image.store import Store, referrers_tag
from gate.publish import Target, publish
from gate.sign.cosign import bundle_artifact
from gate.sign.keys import encrypt_private_key, generate_signing_key, load_private_key, load_public_key
from gate.sign.verify_key import verify_signatures
from tests.servers import RegistryServer
from tests.test_cli import run_gate
from tests.test_sign import COSIGN_KEY, FIXTURES, KEY_ENV, push_image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MIRROR = os.environ.get("GATE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PASSWORD = "fixture-password"


@dataclass(frozen=True)
class Trixie:
    """A Debian 13 root with skopeo and cosign; ``work`` is a directory inside it (host path)."""

    root: Path

    def workdir(self) -> tuple[Path, str]:
        """A fresh directory: its host path and its path inside the chroot."""
        inside = f"/gate-test/{uuid.uuid4().hex[:8]}"
        host = self.root / inside.lstrip("/")
        host.mkdir(parents=True)
        return host, inside

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        clean = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", **(env or {})}
        return subprocess.run(
            ["chroot", str(self.root), *args],
            capture_output=True,
            text=True,
            env=clean,
            timeout=300,
            check=False,
        )


@pytest.fixture(scope="session")
def trixie(tmp_path_factory: pytest.TempPathFactory) -> Trixie:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        pytest.fail("debootstrap is not installed: run `apt-get install debootstrap` (this test never skips)")
    if os.geteuid() != 0:
        pytest.fail("debootstrap and chroot need root: run this test as root (e.g. in CI)")
    reuse = os.environ.get("GATE_TRIXIE_ROOT")  # a root made earlier by this fixture, to iterate faster
    if reuse:
        return Trixie(Path(reuse))
    root = tmp_path_factory.mktemp("trixie") / "root"
    result = subprocess.run(
        [debootstrap, "--variant=minbase", "--include=skopeo,cosign", "trixie", str(root), MIRROR],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    trixie = Trixie(root)
    versions = [trixie.run("skopeo", "--version"), trixie.run("cosign", "version")]
    if any(v.returncode != 0 for v in versions):
        pytest.fail(
            f"debootstrap ({result.returncode}) left no working skopeo/cosign:\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}\n{versions[0].stderr}{versions[1].stderr}"
        )
    assert "skopeo version 1.18" in versions[0].stdout
    return trixie


def skopeo_verify(
    trixie: Trixie, registry: RegistryServer, reference: str, public_key: bytes
) -> subprocess.CompletedProcess[str]:
    """``skopeo copy`` under a sigstoreSigned/matchRepository policy for ``reference``'s repository."""
    host, inside = trixie.workdir()
    (host / "key.pub").write_bytes(public_key)
    repository = parse_registry_reference(reference).name
    policy = {
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {
                repository: [
                    {
                        "type": "sigstoreSigned",
                        "keyPath": f"{inside}/key.pub",
                        "signedIdentity": {"type": "matchRepository"},
                    }
                ]
            }
        },
    }
    (host / "policy.json").write_text(json.dumps(policy))
    _registries_d(host, registry)
    return trixie.run(
        "skopeo",
        "--policy",
        f"{inside}/policy.json",
        "--registries.d",
        f"{inside}/registries.d",
        "copy",
        "--src-tls-verify=false",
        "--remove-signatures",
        f"docker://{reference}",
        f"oci:{inside}/out:x",
    )


def _registries_d(host: Path, registry: RegistryServer) -> None:
    (host / "registries.d").mkdir()
    (host / "registries.d" / "test.yaml").write_text(
        f"docker:\n  {registry.host}:\n    use-sigstore-attachments: true\n"
    )


# -- skopeo verifies gate --------------------------------------------------------------------


def test_skopeo_accepts_gate_signature_and_rejects_unsigned(trixie: Trixie, registry: RegistryServer) -> None:
    _, name, digest = push_image(registry)
    public = (FIXTURES / "cosign.pub").read_bytes()
    unsigned = skopeo_verify(trixie, registry, f"{name}@{digest}", public)
    assert unsigned.returncode != 0, unsigned.stderr
    assert "A signature was required, but no signature exists" in unsigned.stderr, unsigned.stderr
    assert run_gate("sign", f"{name}:v1", "--key", COSIGN_KEY, env=KEY_ENV).returncode == 0
    accepted = skopeo_verify(trixie, registry, f"{name}@{digest}", public)
    assert accepted.returncode == 0, accepted.stderr
    by_tag = skopeo_verify(trixie, registry, f"{name}:v1", public)
    assert by_tag.returncode == 0, by_tag.stderr
    other_key = skopeo_verify(trixie, registry, f"{name}@{digest}", generate_signing_key().public_key.pem())
    assert other_key.returncode != 0
    assert "cryptographic signature verification failed" in other_key.stderr, other_key.stderr


def test_skopeo_rejects_tampered_and_copied_signatures(trixie: Trixie, registry: RegistryServer) -> None:
    repository, name, digest = push_image(registry)
    assert run_gate("sign", f"{name}:v1", "--key", COSIGN_KEY, env=KEY_ENV).returncode == 0
    tag = f"{referrers_tag(digest)}.sig"
    signed = repository.get_document(tag)
    assert isinstance(signed, Manifest)
    document = json.loads(signed.raw)
    annotation = "dev.cosignproject.cosign/signature"
    signature = bytearray(base64.b64decode(document["layers"][0]["annotations"][annotation]))
    signature[-1] ^= 0x01
    document["layers"][0]["annotations"][annotation] = base64.b64encode(bytes(signature)).decode()
    repository.push_manifest(json.dumps(document).encode(), media_type=OCI_MANIFEST, tag=tag)
    public = (FIXTURES / "cosign.pub").read_bytes()
    tampered = skopeo_verify(trixie, registry, f"{name}@{digest}", public)
    assert tampered.returncode != 0, tampered.stderr
    assert "cryptographic signature verification failed" in tampered.stderr, tampered.stderr

    # a valid signature of another image in the same repository, copied to this image's tag
    other_digest = push_other_image(repository)
    repository.push_manifest(signed.raw, media_type=OCI_MANIFEST, tag=f"{referrers_tag(other_digest)}.sig")
    repository.push_manifest(signed.raw, media_type=OCI_MANIFEST, tag=tag)  # restore the good one
    assert skopeo_verify(trixie, registry, f"{name}@{digest}", public).returncode == 0
    copied = skopeo_verify(trixie, registry, f"{name}@{other_digest}", public)
    assert copied.returncode != 0, copied.stderr
    assert f"Signature for digest {digest} does not match" in copied.stderr, copied.stderr


def push_other_image(repository: Store) -> str:
    from gate.image.build import LayerBuilder, build_image

    layer = LayerBuilder().add_file("etc/other", uuid.uuid4().bytes).build()
    return build_image([layer]).push(repository, tag="other")


# -- gate verifies skopeo ------------------------------------------------------------------------


def test_gate_verifies_skopeo_signatures_and_signs_with_skopeo_keys(
    trixie: Trixie, registry: RegistryServer, tmp_path: Path
) -> None:
    _, source, digest = push_image(registry)
    host, inside = trixie.workdir()
    (host / "pass").write_text(PASSWORD)
    made = trixie.run(
        "skopeo",
        "generate-sigstore-key",
        "--output-prefix",
        f"{inside}/k",
        "--passphrase-file",
        f"{inside}/pass",
    )
    assert made.returncode == 0, made.stderr
    (host / "policy.json").write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    _registries_d(host, registry)
    destination = f"{registry.host}/sign/skopeo-{uuid.uuid4().hex[:8]}"
    copied = trixie.run(
        "skopeo",
        "--policy",
        f"{inside}/policy.json",
        "--registries.d",
        f"{inside}/registries.d",
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--sign-by-sigstore-private-key",
        f"{inside}/k.private",
        "--sign-passphrase-file",
        f"{inside}/pass",
        f"docker://{source}@{digest}",
        f"docker://{destination}:v2",
    )
    assert copied.returncode == 0, copied.stderr
    from gate.image import RegistryClient

    dst = RegistryClient().repository(parse_registry_reference(f"{destination}:v2"))
    public = load_public_key((host / "k.pub").read_bytes())
    [verified] = verify_signatures(dst, digest, public, repository=destination)
    assert verified.claims.docker_reference == f"{destination}:v2"  # skopeo signs the tag too
    assert verified.claims.optional and verified.claims.optional["creator"].startswith("containers/image")
    # and gate signs with the skopeo-made key, which skopeo then accepts
    _, other_name, other_digest = push_image(registry)
    signed = run_gate(
        "sign", f"{other_name}:v1", "--key", str(host / "k.private"), env={"GATE_PASSWORD": PASSWORD}
    )
    assert signed.returncode == 0, signed.stderr
    assert (
        skopeo_verify(
            trixie, registry, f"{other_name}@{other_digest}", (host / "k.pub").read_bytes()
        ).returncode
        == 0
    )


# -- cosign -----------------------------------------------------------------------------------------


def cosign(trixie: Trixie, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return trixie.run("cosign", *args, env={"COSIGN_PASSWORD": PASSWORD, **(env or {})})


def test_cosign_verifies_gate_signatures_and_attestations(
    trixie: Trixie, registry: RegistryServer, tmp_path: Path
) -> None:
    _, name, digest = push_image(registry)
    host, inside = trixie.workdir()
    shutil.copy(FIXTURES / "cosign.pub", host / "cosign.pub")
    flags = ("--key", f"{inside}/cosign.pub", "--insecure-ignore-tlog", "--allow-http-registry")
    unsigned = cosign(trixie, "verify", *flags, f"{name}@{digest}")
    assert unsigned.returncode != 0 and "no signatures found" in unsigned.stderr.lower(), unsigned.stderr
    assert run_gate("sign", f"{name}:v1", "--key", COSIGN_KEY, env=KEY_ENV).returncode == 0
    verified = cosign(trixie, "verify", *flags, f"{name}@{digest}")
    assert verified.returncode == 0, verified.stderr
    [payload] = json.loads(verified.stdout)
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": [{"name": "zlib"}]}
    (tmp_path / "bom.json").write_text(json.dumps(bom))
    attested = run_gate(
        "attest",
        f"{name}:v1",
        "--predicate",
        str(tmp_path / "bom.json"),
        "--type",
        "cyclonedx",
        "--key",
        COSIGN_KEY,
        env=KEY_ENV,
    )
    assert attested.returncode == 0, attested.stderr
    checked = cosign(trixie, "verify-attestation", *flags, "--type", "cyclonedx", f"{name}@{digest}")
    assert checked.returncode == 0, checked.stderr
    envelope = json.loads(checked.stdout.splitlines()[0])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicate"] == bom
    wrong_type = cosign(trixie, "verify-attestation", *flags, "--type", "slsaprovenance1", f"{name}@{digest}")
    assert wrong_type.returncode != 0 and "none of the attestations matched" in wrong_type.stderr
    (host / "other.pub").write_bytes(generate_signing_key().public_key.pem())
    other = cosign(
        trixie,
        "verify",
        "--key",
        f"{inside}/other.pub",
        "--insecure-ignore-tlog",
        "--allow-http-registry",
        f"{name}@{digest}",
    )
    assert other.returncode != 0 and "no matching signatures" in other.stderr


def test_cosign_loads_gate_keys_and_gate_verifies_cosign_signatures(
    trixie: Trixie, registry: RegistryServer
) -> None:
    host, inside = trixie.workdir()
    key = generate_signing_key()
    (host / "gate.key").write_bytes(encrypt_private_key(key, PASSWORD.encode()))
    exported = cosign(trixie, "public-key", "--key", f"{inside}/gate.key")
    assert exported.returncode == 0, exported.stderr
    assert load_public_key(exported.stdout.encode()).der() == key.public_key.der()
    wrong = cosign(trixie, "public-key", "--key", f"{inside}/gate.key", env={"COSIGN_PASSWORD": "nope"})
    assert wrong.returncode != 0

    repository, name, digest = push_image(registry)
    shutil.copy(FIXTURES / "cosign.key", host / "cosign.key")
    signed = cosign(
        trixie,
        "sign",
        "--key",
        f"{inside}/cosign.key",
        "--tlog-upload=false",
        "--allow-http-registry",
        "--yes",
        f"{name}@{digest}",
    )
    assert signed.returncode == 0, signed.stderr
    [verified] = verify_signatures(
        repository, digest, load_public_key((FIXTURES / "cosign.pub").read_bytes()), repository=name
    )
    assert verified.claims.docker_reference == name
    # gate adds its signature to cosign's manifest: cosign's layer is kept
    assert (
        run_gate("sign", f"{name}:v1", "--key", str(FIXTURES / "skopeo.private"), env=KEY_ENV).returncode == 0
    )
    assert len(repository.get_document(f"{referrers_tag(digest)}.sig").layers) == 2


def test_cosign_verifies_gate_bundle_referrers(trixie: Trixie, registry: RegistryServer) -> None:
    """cosign 2.5 reads key-signed bundle v0.3 attestations from OCI 1.1 referrers (the fallback tag here).

    cosign 2.5 looks for image-signature bundles only from v3 on, so `gate sign --bundle` is covered
    by the `.sig` checks above and by gate's own bundle verification.
    """
    repository, name, digest = push_image(registry)
    host, inside = trixie.workdir()
    shutil.copy(FIXTURES / "cosign.pub", host / "cosign.pub")
    (host / "other.pub").write_bytes(generate_signing_key().public_key.pem())
    # keys only: a trusted root with no CA and no log (cosign requires one with --new-bundle-format)
    (host / "root.json").write_text(
        json.dumps({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"})
    )
    vex = {"@context": "https://openvex.dev/ns/v0.2.0", "statements": []}
    key = load_private_key((FIXTURES / "cosign.key").read_bytes(), lambda: PASSWORD.encode())
    bundle = bundle_artifact(key, name, digest, "https://openvex.dev/ns", vex)
    publish(Target(repository, repository.resolve(digest)), attestation_bundles=[bundle])
    assert f"{referrers_tag(digest)}.att" not in repository.list_tags()  # only the bundle can verify

    def verify(key: str) -> subprocess.CompletedProcess[str]:
        return cosign(
            trixie,
            "verify-attestation",
            "--type",
            "openvex",
            "--key",
            f"{inside}/{key}",
            "--insecure-ignore-tlog",
            "--allow-http-registry",
            "--new-bundle-format",
            "--trusted-root",
            f"{inside}/root.json",
            f"{name}@{digest}",
        )

    good = verify("cosign.pub")
    assert good.returncode == 0, good.stderr
    assert "The signatures were verified against the specified public key" in good.stderr
    assert verify("other.pub").returncode != 0
