"""`gate db push` / `gate db update --from oci://REF` against a real distribution registry."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from gate.image import OciLayout, RegistryClient
from gate.image.manifest import OCI_MANIFEST, canonical_json
from gate.image.reference import parse_registry_reference
from gate.vulndb import SCHEMA_VERSION, VulnDB, VulnDBError, import_paths
from gate.vulndb.oci import ARTIFACT_TYPE, LAYER_MEDIA_TYPE, pull_db, push_db
from tests.test_cli import run_gate

FIXTURES = Path(__file__).parent / "fixtures" / "osv"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "source.db"
    import_paths(path, [FIXTURES / "go", FIXTURES / "rustsec", FIXTURES / "debian"])
    return path


def _digest(path: Path) -> str:
    with VulnDB.open(path) as db:
        return db.digest


def test_push_and_pull_through_a_registry(registry, db_path: Path, tmp_path: Path) -> None:
    reference = f"{registry.host}/vulndb-{uuid.uuid4().hex[:8]}:latest"
    pushed = run_gate("db", "push", reference, "--db", str(db_path))
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.strip().startswith(f"{reference}@sha256:")
    repository = RegistryClient().repository(parse_registry_reference(reference))
    manifest = repository.get_document("latest")
    assert manifest.artifact_type == ARTIFACT_TYPE
    assert [layer.media_type for layer in manifest.layers] == [LAYER_MEDIA_TYPE]
    assert manifest.annotations["dev.gate.vulndb.digest"] == _digest(db_path)
    local = tmp_path / "ci" / "v.db"
    pulled = run_gate("db", "update", "--from", f"oci://{reference}", "--db", str(local))
    assert pulled.returncode == 0, pulled.stderr
    assert _digest(local) == _digest(db_path)
    with VulnDB.open(local) as db:
        assert db.candidates("Debian:12", "glibc")[0].record_id == "DSA-5514-1"


def test_pull_refuses_tampered_content_and_keeps_the_old_db(registry, db_path: Path, tmp_path: Path) -> None:
    """A database whose records no longer hash to the pushed digest is refused."""
    tampered = tmp_path / "tampered.db"
    tampered.write_bytes(db_path.read_bytes())
    with sqlite3.connect(tampered) as connection:  # change a record but keep the old digest in meta
        connection.execute("UPDATE records SET sha256 = 'x' WHERE id = 'DSA-5514-1'")
    reference = f"{registry.host}/vulndb-{uuid.uuid4().hex[:8]}:latest"
    push_db(tampered, reference)
    local = tmp_path / "local.db"
    local.write_bytes(db_path.read_bytes())
    with pytest.raises(VulnDBError, match="does not match its annotation"):
        pull_db(f"oci://{reference}", local)
    assert _digest(local) == _digest(db_path)
    assert not list(tmp_path.glob(".local.db.*"))


def test_pull_refuses_artifacts_that_are_not_databases(registry, tmp_path: Path) -> None:
    from gate.image.build import LayerBuilder, build_image

    reference = f"{registry.host}/not-a-db-{uuid.uuid4().hex[:8]}"
    repository = RegistryClient().repository(parse_registry_reference(reference))
    build_image([LayerBuilder().add_file("etc/hostname", b"x\n").build()]).push(repository, tag="v1")
    with pytest.raises(VulnDBError, match="is not a gate vulnerability database"):
        pull_db(f"oci://{reference}:v1", tmp_path / "v.db")
    assert not (tmp_path / "v.db").exists()
    with pytest.raises(VulnDBError, match="needs an oci:// reference"):
        pull_db(f"{reference}:v1", tmp_path / "v.db")


def test_push_to_a_layout_and_pull_back(db_path: Path, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    push_db(db_path, f"oci:{layout}:db")
    assert OciLayout.open(layout).get_document("db").artifact_type == ARTIFACT_TYPE
    assert pull_db(f"oci://oci:{layout}:db", tmp_path / "pulled.db") == _digest(db_path)


def test_corrupt_layer_is_refused(registry, tmp_path: Path) -> None:
    reference = f"{registry.host}/vulndb-{uuid.uuid4().hex[:8]}"
    repository = RegistryClient().repository(parse_registry_reference(reference))
    layer = repository.push_blob(b"not zstd at all")
    config = repository.push_blob(b"{}")
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config.digest, "size": 2},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer.digest, "size": layer.size}],
        "annotations": {"dev.gate.vulndb.schema-version": str(SCHEMA_VERSION),
                        "dev.gate.vulndb.digest": "sha256:" + "0" * 64},
    }  # fmt: skip
    repository.push_manifest(canonical_json(manifest), media_type=OCI_MANIFEST, tag="bad")
    result = run_gate("db", "update", "--from", f"oci://{reference}:bad", "--db", str(tmp_path / "v.db"))
    assert result.returncode == 1 and "not valid zstd" in result.stderr
    assert not (tmp_path / "v.db").exists()
