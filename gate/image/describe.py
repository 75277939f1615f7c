"""What `gate inspect` reports about an image, as plain data (the CLI only renders it)."""

from __future__ import annotations

from typing import Any

from gate.image.filesystem import Kind
from gate.image.image import DirImage, Image

MAX_HISTORY_TEXT = 200


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
                    "createdBy": h.created_by[:MAX_HISTORY_TEXT],
                    "emptyLayer": h.empty_layer,
                }
                for h in config.history
            ],
        },
    }


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
