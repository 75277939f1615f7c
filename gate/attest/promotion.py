"""gate's promotion predicate (``https://gate.invalid/attestation/promotion/v1``).

Recorded by ``gate promote`` on the destination image after the source verified::

    {"source": {"name": "registry-a.example/app", "digest": {"sha256": "…"}},
     "destination": {"name": "registry-b.example/app", "tag": "1.4"},
     "verifier": {"id": "gate", "version": "0.1.0", "trust": "key 1a2b…",
                  "acceptedSigners": ["key 1a2b…"], "requirements": ["sbom", "vsa"]},
     "timePromoted": "2026-12-04T16:00:00Z",
     "policy": {"digest": {"sha256": "…"}}}          # null when no VSA named a policy

The URI uses the reserved ``.invalid`` domain: it identifies the predicate and is not fetched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gate import __version__
from gate.attest._time import now_rfc3339


@dataclass(frozen=True)
class PromotionRecord:
    source_name: str
    source_digest: str
    destination_name: str
    destination_tag: str | None
    trust: str
    accepted_signers: tuple[str, ...]
    requirements: tuple[str, ...]
    policy_digest: str | None


def promotion_predicate(record: PromotionRecord) -> dict[str, Any]:
    return {
        "source": {"name": record.source_name, "digest": _digest(record.source_digest)},
        "destination": {"name": record.destination_name, "tag": record.destination_tag},
        "verifier": {
            "id": "gate",
            "version": __version__,
            "trust": record.trust,
            "acceptedSigners": list(record.accepted_signers),
            "requirements": list(record.requirements),
        },
        "timePromoted": now_rfc3339(),
        "policy": {"digest": _digest(record.policy_digest)} if record.policy_digest else None,
    }


def same_promotion(predicate: Any, record: PromotionRecord) -> bool:
    """True when ``predicate`` records this promotion already (same source, destination, policy)."""
    if not isinstance(predicate, dict):
        return False
    expected = promotion_predicate(record)
    return all(predicate.get(key) == expected[key] for key in ("source", "destination", "policy"))


def _digest(digest: str) -> dict[str, str]:
    algorithm, _, encoded = digest.partition(":")
    return {algorithm: encoded}
