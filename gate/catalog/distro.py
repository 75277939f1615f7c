"""Which operating system an image is: ``/etc/os-release`` and its fallbacks.

Gives the purl ``distro`` qualifier (``debian-12``) and the OSV ecosystem its OS packages'
advisories live in (``Debian:12``, ``Alpine:v3.19``, ``AlmaLinux:9``, ``Ubuntu:22.04:LTS``,
``Red Hat:enterprise_linux:9``).
"""

from __future__ import annotations

import re
import shlex

from gate.image.filesystem import FileSystem
from gate.model import Distro

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
MAX_RELEASE_FILE = 64 * 1024


def detect_distro(fs: FileSystem) -> Distro | None:
    """The distro described by the image's release files, or None for a distroless/scratch image."""
    for path in OS_RELEASE_PATHS:
        text = _read(fs, path)
        if text is not None:
            distro = parse_os_release(text)
            if distro is not None:
                return distro
    if (text := _read(fs, "etc/alpine-release")) is not None:
        return Distro("alpine", text.strip())
    if (text := _read(fs, "etc/debian_version")) is not None:
        version = text.strip()
        return Distro("debian", version.split(".")[0] if version[:1].isdigit() else "")
    if (text := _read(fs, "etc/redhat-release")) is not None:
        return _parse_redhat_release(text)
    return None


def parse_os_release(text: str) -> Distro | None:
    """Parse os-release (shell-style ``KEY=value`` lines, quotes allowed)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep or not key.strip() or key.strip().startswith("#"):
            continue
        try:
            parts = shlex.split(value, comments=False)
        except ValueError:
            parts = [value.strip().strip("\"'")]
        fields[key.strip()] = parts[0] if parts else ""
    distro_id = fields.get("ID", "").lower()
    if not distro_id:
        return None
    return Distro(
        id=distro_id,
        version_id=fields.get("VERSION_ID", ""),
        pretty_name=fields.get("PRETTY_NAME", ""),
        id_like=tuple(fields.get("ID_LIKE", "").split()),
        version_codename=fields.get("VERSION_CODENAME", ""),
    )


def _parse_redhat_release(text: str) -> Distro:
    match = re.search(r"release (\d+(?:\.\d+)?)", text)
    lowered = text.lower()
    distro_id = (
        "centos"
        if "centos" in lowered
        else "almalinux"
        if "alma" in lowered
        else ("rocky" if "rocky" in lowered else "rhel")
    )
    return Distro(distro_id, match.group(1) if match else "", pretty_name=text.strip())


def osv_ecosystem(distro: Distro | None) -> str:
    """The OSV ecosystem for this distro's OS packages; empty when OSV has none we know."""
    if distro is None:
        return ""
    major = distro.version_id.split(".")[0]
    major_minor = ".".join(distro.version_id.split(".")[:2])
    match distro.id:
        case "debian":
            return f"Debian:{major}" if major else "Debian"
        case "ubuntu":
            lts = ":LTS" if re.fullmatch(r"\d*[02468]\.04", major_minor) else ""
            return f"Ubuntu:{major_minor}{lts}"
        case "alpine":
            return f"Alpine:v{major_minor}" if major_minor else "Alpine"
        case "almalinux":
            return f"AlmaLinux:{major}"
        case "rocky":
            return f"Rocky Linux:{major}"
        case "rhel":
            # Red Hat files advisories per product stream and repository
            # ("Red Hat:enterprise_linux:9::baseos"); gate.match looks up the repositories.
            return f"Red Hat:enterprise_linux:{major}" if major else "Red Hat"
        case "opensuse-leap":
            return f"openSUSE:Leap {major_minor}"
        case "sles":
            return "SUSE"
        case "wolfi":
            return "Wolfi"
        case "chainguard":
            return "Chainguard"
    return ""


def _read(fs: FileSystem, path: str) -> str | None:
    entry = fs.stat(path)
    if entry is None or not entry.is_file:
        return None
    return fs.read_bytes(entry, limit=MAX_RELEASE_FILE).decode("utf-8", "replace")
