"""in-toto Statement v1 (``in-toto/attestation:spec/v1/statement.md``) about one image.

The predicate is embedded as parsed JSON and re-serialised without float conversion, so
integers stay integers (the in-toto-attestation package turns them into floats).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gate import safejson
from gate.errors import GateError, VerificationError
from gate.image.digest import validate_digest

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"


@dataclass(frozen=True)
class Statement:
    statement_type: str
    subjects: tuple[tuple[str, dict[str, str]], ...]
    predicate_type: str
    predicate: Any

    def names_digest(self, digest: str) -> bool:
        """True if some subject's ``sha256`` is ``digest``'s (cosign's IntotoSubjectClaimVerifier)."""
        algorithm, encoded = digest.split(":", 1)
        return any(digests.get(algorithm) == encoded for _, digests in self.subjects)


def build_statement(subject_name: str, digest: str, predicate_type: str, predicate: Any) -> bytes:
    """Statement bytes: subject = ``subject_name`` with the image digest, then the predicate."""
    algorithm, encoded = validate_digest(digest).split(":", 1)
    document = {
        "_type": STATEMENT_V1,
        "subject": [{"name": subject_name, "digest": {algorithm: encoded}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def load_predicate(raw: bytes, source: str) -> Any:
    """A predicate file's JSON; a clear error when it is not JSON."""
    try:
        return safejson.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise GateError(f"{source} is not valid JSON: {error}") from error


def parse_statement(raw: bytes) -> Statement:
    """A Statement v1 or v0.1; raise :class:`VerificationError` for anything else."""
    try:
        document = safejson.loads(raw)
        kind = document["_type"]
        subjects = tuple((str(s.get("name", "")), dict(s["digest"])) for s in document["subject"])
        predicate_type = document["predicateType"]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise VerificationError("attestation payload is not an in-toto statement") from error
    if kind not in (STATEMENT_V1, STATEMENT_V01) or not isinstance(predicate_type, str):
        raise VerificationError(f"attestation payload has unsupported _type {kind!r}")
    return Statement(kind, subjects, predicate_type, document.get("predicate"))


DETACHED_KEY = "gate.detachedPredicate"


def detached_predicate(predicate_digest: str, size: int, artifact_digest: str) -> dict[str, Any]:
    """The stand-in predicate of a statement whose real predicate is stored as its own artifact.

    Public Rekor refuses entries over 100 KB, so keyless attestations of large predicates (SBOMs)
    sign this instead: the predicate blob's digest and size, and the referrer manifest holding it.
    """
    algorithm, encoded = validate_digest(predicate_digest).split(":", 1)
    return {
        DETACHED_KEY: {
            "mediaType": "application/json",
            "digest": {algorithm: encoded},
            "size": size,
            "artifact": validate_digest(artifact_digest),
        }
    }
