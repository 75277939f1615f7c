"""Write `gate verify`'s trust and requirements as the configuration of verifiers consumers already run.

    request = ExportRequest(trust=Trust(keys=(key,)), images="registry.example/app")
    files = export_policy(request, "containers-policy")  # {"policy.json": …, "registries.d/gate.yaml": …}

* ``containers-policy``: ``policy.json`` (containers-policy.json(5)) plus a ``registries.d`` entry
  that turns on sigstore attachments, for podman, cri-o and skopeo. containers/image checks the
  signature only: it has no notion of attestations, and its keyless (``fulcio``) rule matches
  e-mail identities only, so keyless CI identities cannot be expressed there.
* ``policy-controller``: a sigstore policy-controller ``ClusterImagePolicy`` (policy.sigstore.dev/v1beta1).
* ``kyverno``: a Kyverno ``ClusterPolicy`` (kyverno.io/v1) with a ``verifyImages`` rule.

Both Kubernetes outputs require the signature and every attestation ``gate verify --require`` would,
and, with ``require_vsa_passed``, a VSA whose ``verificationResult`` is ``PASSED``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import yaml

from gate.attest import types
from gate.errors import GateError
from gate.image.reference import parse_registry_reference
from gate.verify.requirements import Required
from gate.verify.trust import Trust

FORMATS = ("containers-policy", "policy-controller", "kyverno")
PUBLIC_REKOR = "https://rekor.sigstore.dev"
# gate run attests CycloneDX; one predicate type per requirement is what both admission controllers take
_PREFERRED = {"sbom": types.CYCLONEDX, "provenance": types.SLSA_PROVENANCE_V1}


@dataclass(frozen=True)
class ExportRequest:
    """Who must have signed which images, and which attestations they must carry."""

    trust: Trust
    images: str
    """A repository (``registry/path``) or a glob over references (``registry/team/*``)."""
    required: tuple[Required, ...] = ()
    require_vsa_passed: bool = False
    name: str = "gate"


def export_policy(request: ExportRequest, output_format: str) -> dict[str, str]:
    """The files of ``output_format``: relative path → text."""
    if request.trust.trusted_root is not None:
        raise GateError("--trusted-root cannot be exported: configure the private instance in the verifier")
    if output_format == "containers-policy":
        return containers_policy(request)
    if output_format == "policy-controller":
        return {"clusterimagepolicy.yaml": _yaml(cluster_image_policy(request))}
    if output_format == "kyverno":
        return {"clusterpolicy.yaml": _yaml(kyverno_cluster_policy(request))}
    raise GateError(f"--format {output_format!r}: use one of {', '.join(FORMATS)}")


def containers_policy(request: ExportRequest) -> dict[str, str]:
    """``policy.json``: reject all but ``request.images`` signed by the key; and a registries.d entry."""
    if request.trust.keyless:
        raise GateError(
            "containers-policy: policy.json's keyless rule matches e-mail identities only and needs the "
            "Fulcio CA file; export with --key, or use policy-controller or kyverno for CI identities"
        )
    if request.required or request.require_vsa_passed:
        raise GateError(
            "containers-policy checks signatures only (containers/image has no attestation rules): "
            "drop --require/--require-vsa-passed, or use policy-controller or kyverno"
        )
    scope = _repository_scope(request.images)
    if len(request.trust.keys) > 1:
        raise GateError("containers-policy: export a single --key (every listed requirement must hold)")
    requirements = [
        {
            "type": "sigstoreSigned",
            "keyData": base64.b64encode(request.trust.keys[0].pem()).decode(),
            "signedIdentity": {"type": "matchRepository"},
        }
    ]
    policy = {"default": [{"type": "reject"}], "transports": {"docker": {scope: requirements}}}
    registry = scope.split("/", 1)[0]
    registries_d = yaml.safe_dump({"docker": {registry: {"use-sigstore-attachments": True}}}, sort_keys=False)
    return {"policy.json": json.dumps(policy, indent=2) + "\n", "registries.d/gate.yaml": registries_d}


def cluster_image_policy(request: ExportRequest) -> dict[str, Any]:
    """A policy-controller ClusterImagePolicy: the signature, then each required attestation."""
    authority: dict[str, Any] = {"name": request.name}
    trust = request.trust
    if trust.keyless:
        identity = (
            {"issuer": trust.issuer, "subject": trust.identity}
            if trust.identity is not None
            else {"issuer": trust.issuer, "subjectRegExp": trust.identity_regexp}
        )
        authority["keyless"] = {"url": "https://fulcio.sigstore.dev", "identities": [identity]}
        authority["ctlog"] = {"url": PUBLIC_REKOR}
    else:
        if len(trust.keys) > 1:
            raise GateError("policy-controller: export one --key per authority (give a single --key)")
        authority["key"] = {"data": trust.keys[0].pem().decode(), "hashAlgorithm": "sha256"}
    attestations = [
        _controller_attestation(predicate_type, vsa=request.require_vsa_passed)
        for predicate_type in _predicate_types(request)
    ]
    if attestations:
        authority["attestations"] = attestations
    return {
        "apiVersion": "policy.sigstore.dev/v1beta1",
        "kind": "ClusterImagePolicy",
        "metadata": {"name": request.name},
        "spec": {"mode": "enforce", "images": [{"glob": _glob(request.images)}], "authorities": [authority]},
    }


def kyverno_cluster_policy(request: ExportRequest) -> dict[str, Any]:
    """A Kyverno ClusterPolicy whose verifyImages rule checks the signature and each attestation."""
    attestors = [{"count": 1, "entries": [_kyverno_entry(request.trust)]}]
    attestations: list[dict[str, Any]] = []
    for predicate_type in _predicate_types(request):
        attestation: dict[str, Any] = {"type": predicate_type, "attestors": attestors}
        if predicate_type == types.SLSA_VSA_V1 and request.require_vsa_passed:
            condition = {"key": "{{ verificationResult }}", "operator": "Equals", "value": "PASSED"}
            attestation["conditions"] = [{"all": [condition]}]
        attestations.append(attestation)
    verify: dict[str, Any] = {
        "imageReferences": [_glob(request.images)],
        "failureAction": "Enforce",
        "mutateDigest": True,
        "verifyDigest": True,
        "required": True,
        "attestors": attestors,
    }
    if attestations:
        verify["attestations"] = attestations
    rule = {
        "name": "gate-verified",
        "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
        "verifyImages": [verify],
    }
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": request.name},
        "spec": {"webhookTimeoutSeconds": 30, "background": False, "rules": [rule]},
    }


def _kyverno_entry(trust: Trust) -> dict[str, Any]:
    if trust.keyless:
        keyless: dict[str, Any] = {"issuer": trust.issuer, "rekor": {"url": PUBLIC_REKOR}}
        if trust.identity is not None:
            keyless["subject"] = trust.identity
        else:
            keyless["subjectRegExp"] = trust.identity_regexp
        return {"keyless": keyless}
    if len(trust.keys) > 1:
        raise GateError("kyverno: export a single --key")
    # gate signs with a key without a transparency log entry (as cosign --tlog-upload=false)
    return {
        "keys": {
            "publicKeys": trust.keys[0].pem().decode(),
            "rekor": {"ignoreTlog": True, "url": PUBLIC_REKOR},
            "ctlog": {"ignoreSCT": True},
        }
    }


def _controller_attestation(predicate_type: str, *, vsa: bool) -> dict[str, Any]:
    attestation: dict[str, Any] = {"name": _attestation_name(predicate_type), "predicateType": predicate_type}
    if predicate_type == types.SLSA_VSA_V1 and vsa:
        # policy-controller hands CUE the whole in-toto statement
        attestation["policy"] = {"type": "cue", "data": 'predicate: verificationResult: "PASSED"\n'}
    return attestation


def _predicate_types(request: ExportRequest) -> list[str]:
    chosen = [_PREFERRED.get(item.name, item.predicate_types[0]) for item in request.required]
    if request.require_vsa_passed and types.SLSA_VSA_V1 not in chosen:
        chosen.append(types.SLSA_VSA_V1)
    return chosen


def _attestation_name(predicate_type: str) -> str:
    for short, uri in types.SHORT_NAMES.items():
        if uri == predicate_type:
            return short
    return predicate_type.rstrip("/").rsplit("/", 1)[-1] or "custom"


def _repository_scope(images: str) -> str:
    if any(char in images for char in "*?[") or "@" in images:
        raise GateError(
            f"--images {images!r}: containers-policy scopes by repository (registry/path), "
            "not by a glob or digest"
        )
    reference = parse_registry_reference(images)
    return reference.name


def _glob(images: str) -> str:
    if "@" in images:
        raise GateError(f"--images {images!r}: give a repository or a glob, not a digest")
    return images


class _Dumper(yaml.SafeDumper):
    """Plain YAML for kubectl readers: no anchors, PEM keys as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _yaml(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=1000)
