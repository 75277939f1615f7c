"""in-toto supply-chain layouts: run in-toto's reference verification, then tie it to this image.

    check = layout_check(InTotoLayout(Path("root.layout"), Path("owner.pub"), Path("links/")))
    VerifyOptions(extra_checks=(check,))

in-toto's ``in_toto_verify`` checks the layout's signature (with the layout key) and expiry, that
every step's links are there and signed by its functionaries (thresholds included), and every
artifact rule, for example that the gate step consumed exactly what the build step produced.
Then gate checks what in-toto cannot know: that the gate step's verified link names this image's
digest among its materials (``gate run --in-toto-link`` records the manifest digest as
``image/…``), so links about another image do not vouch for this one.

Layouts with inspections are refused: inspections run commands on the verifying machine, and
``gate verify`` runs none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from in_toto import verifylib
from in_toto.models.layout import Layout
from in_toto.models.metadata import Metadata
from securesystemslib.signer import SSlibKey

from gate.errors import GateError
from gate.intoto import STEP_NAME
from gate.sign.keys import load_public_key
from gate.verify import Check, ExtraCheck, ImageAtRest
from gate.verify.evidence import Evidence

CHECK_NAME = "in-toto"


@dataclass(frozen=True)
class InTotoLayout:
    layout: Path
    layout_key: Path
    links: Path
    step: str = STEP_NAME


def layout_check(options: InTotoLayout) -> ExtraCheck:
    """A check for :class:`~gate.verify.VerifyOptions` ``extra_checks``; bad files fail early."""
    metadata = _load_layout(options.layout)
    key = _layout_key(options.layout_key)
    layout = metadata.get_payload()
    if layout.inspect:
        names = ", ".join(inspection.name for inspection in layout.inspect)
        raise GateError(f"{options.layout} has inspections ({names}), which run commands: gate runs none")
    if options.step not in layout.get_step_name_list():
        raise GateError(f"{options.layout} has no step named {options.step!r} for gate")
    if not options.links.is_dir():
        raise GateError(f"--links {options.links} is not a directory")

    def verify_layout(image: ImageAtRest, _evidence: Evidence) -> Check:
        try:
            verifylib.in_toto_verify(
                metadata, {key["keyid"]: key}, str(options.links), persist_inspection_links=False
            )
            links = verifylib.verify_link_signature_thresholds(
                layout, verifylib.load_links_for_layout(layout, str(options.links))
            )
        except Exception as error:  # in-toto raises many types; any failure is a rejection
            return Check(CHECK_NAME, False, f"in-toto verification failed: {_describe(error)}")
        return _gate_link_names(image.digest, links.get(options.step, {}), options.step)

    return verify_layout


def _gate_link_names(digest: str, links: dict[str, Any], step: str) -> Check:
    encoded = digest.split(":", 1)[1]
    named: list[str] = []
    for metablock in links.values():
        materials = metablock.signed.materials
        hashes = [value.get("sha256") for value in materials.values() if isinstance(value, dict)]
        if encoded in hashes:
            return Check(CHECK_NAME, True, f"the layout verified and the {step!r} step's link names {digest}")
        named += [f"sha256:{value}" for value in hashes if value]
    return Check(
        CHECK_NAME,
        False,
        f"the layout verified, but the {step!r} step's link is about another image: "
        f"its materials name {', '.join(named) or 'nothing'}, not {digest}",
    )


def _load_layout(path: Path) -> Any:
    try:
        metadata = Metadata.load(str(path))
    except OSError as error:
        raise GateError(f"cannot read the in-toto layout {path}: {error.strerror}") from None
    except Exception as error:  # a malformed layout file
        raise GateError(f"{path} is not an in-toto layout: {_describe(error)}") from None
    if not isinstance(metadata.get_payload(), Layout):
        raise GateError(
            f"{path} is not an in-toto layout (it holds a {type(metadata.get_payload()).__name__})"
        )
    return metadata


def _layout_key(path: Path) -> dict[str, Any]:
    """The layout owner's PEM public key, as in-toto's verification wants it (a key dict)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise GateError(f"cannot read the layout key {path}: {error.strerror}") from None
    public = load_public_key(data, source=str(path))
    key = SSlibKey.from_crypto(public.key)
    document: dict[str, Any] = key.to_dict()
    document["keyid"] = key.keyid
    return document


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:400]
