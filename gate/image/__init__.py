"""Image access: references, registries, OCI layouts, docker archives, root filesystems.

    from gate.image import open_image

    with open_image("oci:sample-layout:demo") as image:
        with image.filesystem() as fs:
            print(fs.read_bytes("/etc/os-release").decode())

Later stages read images only through this package; they never touch HTTP or tar.
"""

from gate.image.filesystem import FileEntry, FileSystem, Kind, Location
from gate.image.image import DirImage, Image, Layer, open_image
from gate.image.layout import OciLayout
from gate.image.manifest import Descriptor, ImageConfig, Index, Manifest, Platform
from gate.image.reference import ArchiveRef, DirRef, ImageRef, LayoutRef, RegistryRef, parse_reference
from gate.image.registry import RegistryClient, RegistryRepository
from gate.image.transport import Transport

__all__ = [
    "ArchiveRef",
    "Descriptor",
    "DirImage",
    "DirRef",
    "FileEntry",
    "FileSystem",
    "Image",
    "ImageConfig",
    "ImageRef",
    "Index",
    "Kind",
    "Layer",
    "LayoutRef",
    "Location",
    "Manifest",
    "OciLayout",
    "Platform",
    "RegistryClient",
    "RegistryRef",
    "RegistryRepository",
    "Transport",
    "open_image",
    "parse_reference",
]
