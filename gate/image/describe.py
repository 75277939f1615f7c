"""What `gate inspect` reports about an image, as plain data (the CLI only renders it)."""

from __future__ import annotations

import re
from typing import Any

from gate.image.filesystem import Kind
from gate.image.image import DirImage, Image

MAX_HISTORY_TEXT = 200
REDACTED = "<redacted>"

# A value after NAME=: double-quoted (with escapes), single-quoted, or up to the next blank.
_ASSIGNMENT = re.compile(r"""([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"?|'[^']*'?|\S*)""")
# The instruction part of a history line: "ENV ..." (BuildKit) or "/bin/sh -c #(nop)  ENV ..."
_INSTRUCTION = re.compile(r"(?:^|#\(nop\)\s+)(ENV|ARG)\s+(.*)", re.DOTALL)
# RUN steps of a build with ARGs: "|2 TOKEN=abc USER=x /bin/sh -c ..."
_BUILD_ARGS = re.compile(r"^\|(\d+)\s+")


def describe_image(image: Image | DirImage) -> dict[str, Any]:
    """Digest, media type, platforms, layers and a config summary (env names, never values)."""
    if isinstance(image, DirImage):
        return _describe_dir(image)
    config = image.config
    layers = [
        {
            "index": layer.index,
            "digest": layer.digest,
            "mediaType": layer.descriptor.media_type,
            "size": layer.size,
            "diffId": layer.diff_id,
        }
        for layer in image.layers
    ]
    return {
        "reference": str(image.ref),
        "digest": image.digest,
        "mediaType": image.media_type,
        "platform": str(image.platform) if image.platform else None,
        "platforms": [str(p) for p in image.index.platforms()] if image.index else None,
        "manifest": {
            "digest": image.manifest.digest,
            "mediaType": image.manifest.media_type,
            "size": len(image.manifest.raw),
        },
        "layers": layers,
        "totalSize": sum(layer["size"] for layer in layers),
        "config": {
            "digest": image.manifest.config.digest,
            "created": config.created,
            "user": config.user,
            "envNames": config.env_names,
            "entrypoint": list(config.entrypoint),
            "cmd": list(config.cmd),
            "workingDir": config.working_dir,
            "exposedPorts": list(config.exposed_ports),
            "labels": config.labels,
            "healthcheck": bool(config.healthcheck),
            "history": [
                {
                    "created": h.created,
                    "createdBy": redact_history(h.created_by)[:MAX_HISTORY_TEXT],
                    "emptyLayer": h.empty_layer,
                }
                for h in config.history
            ],
        },
    }


def redact_history(created_by: str) -> str:
    """A history line with the values of ENV, ARG and build-arg assignments replaced by <redacted>."""
    if arguments := _BUILD_ARGS.match(created_by):
        rest = created_by[arguments.end() :]
        for _ in range(int(arguments.group(1))):
            assignment = _ASSIGNMENT.match(rest)
            if assignment is None:
                break
            rest = rest[assignment.end() :].lstrip()
            created_by = created_by.replace(assignment.group(0), f"{assignment.group(1)}={REDACTED}", 1)
    instruction = _INSTRUCTION.search(created_by)
    if instruction is None:
        return created_by
    body = instruction.group(2)
    if "=" in body:
        redacted = _ASSIGNMENT.sub(lambda m: f"{m.group(1)}={REDACTED}", body)
    else:  # the legacy "ENV NAME value with spaces" form
        name, _, value = body.partition(" ")
        redacted = f"{name} {REDACTED}" if value.strip() else name
    return created_by[: instruction.start(2)] + redacted


def _describe_dir(image: DirImage) -> dict[str, Any]:
    filesystem = image.filesystem()
    files = [entry for entry in filesystem.walk() if entry.kind is Kind.FILE]
    return {
        "reference": str(image.ref),
        "digest": image.digest,
        "mediaType": image.media_type,
        "files": len(files),
        "totalSize": sum(entry.size for entry in files),
    }
