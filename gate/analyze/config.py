"""Risky image configuration: the image config and the final filesystem, checked by rule.

Each rule has an id, a severity, a title and an explanation; each finding carries the
evidence that triggered it (never an environment variable's value).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from gate.analyze.model import AnalysisOptions, ConfigFinding
from gate.image.base import BASE_DIGEST, BASE_NAME
from gate.image.filesystem import FileSystem, Kind
from gate.image.manifest import ImageConfig
from gate.model import Catalog
from gate.severity import Severity

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ConfigRule:
    id: str
    severity: Severity
    title: str
    explanation: str

    def finding(self, *evidence: str, layer_digest: str | None = None) -> ConfigFinding:
        return ConfigFinding(self.id, self.title, self.severity, self.explanation, evidence, layer_digest)


ROOT_USER = ConfigRule(
    "root-user",
    Severity.HIGH,
    "Runs as root",
    "The container's processes run as uid 0 unless the runtime overrides it; a compromise of the "
    "application is then a compromise of root inside the container. Set USER to an unprivileged user.",
)
SENSITIVE_PORT = ConfigRule(
    "sensitive-port",
    Severity.MEDIUM,
    "Exposes a sensitive port",
    "The image declares a port used by remote-administration or database services, which should "
    "rarely be reachable from outside the container.",
)
SECRET_ENV_NAME = ConfigRule(
    "secret-env-name",
    Severity.MEDIUM,
    "Secret-looking environment variable baked into the image",
    "Environment variables set in the image config are readable by anyone who pulls the image. "
    "Pass secrets at run time (a secret store, a mounted file) instead.",
)
SETUID_ADDED = ConfigRule(
    "setuid-added",
    Severity.HIGH,
    "setuid/setgid file added on top of the base image",
    "A setuid or setgid executable runs with its owner's or group's privileges; one added by the "
    "image's own layers widens the attack surface for privilege escalation.",
)
WORLD_WRITABLE_PATH = ConfigRule(
    "world-writable-in-path",
    Severity.HIGH,
    "World-writable file or directory in PATH",
    "Any user in the container can replace a world-writable program in PATH (or add one to a "
    "world-writable PATH directory) and have it run by others, including root.",
)
SSH_SERVER = ConfigRule(
    "ssh-server-installed",
    Severity.HIGH,
    "SSH server installed",
    "Containers are administered through the runtime (exec), not SSH; an SSH server adds a "
    "network-facing login service and usually long-lived credentials.",
)
SUDO = ConfigRule(
    "sudo-installed",
    Severity.MEDIUM,
    "sudo (or doas) installed",
    "sudo lets a process become root inside the container; images should drop privileges once "
    "and never need to regain them.",
)
PACKAGE_CACHE = ConfigRule(
    "package-manager-cache",
    Severity.LOW,
    "Package manager cache left in the image",
    "Package indexes and downloaded archives make the image larger and go stale; remove them in "
    "the same layer that installs packages (e.g. rm -rf /var/lib/apt/lists/*, apk --no-cache, "
    "pip --no-cache-dir).",
)
SHELL_PRESENT = ConfigRule(
    "shell-present",
    Severity.INFO,
    "A shell is present",
    "For minimal-image policies: a shell helps an attacker who gets code execution.",
)
PACKAGE_MANAGER_PRESENT = ConfigRule(
    "package-manager-present",
    Severity.INFO,
    "A package manager is present",
    "For minimal-image policies: a package manager lets an attacker install tools.",
)
NO_HEALTHCHECK = ConfigRule(
    "no-healthcheck",
    Severity.INFO,
    "No HEALTHCHECK",
    "Without a HEALTHCHECK, runtimes that honour it (docker, podman) cannot tell a hung container "
    "from a healthy one.",
)
IMAGE_TOO_OLD = ConfigRule(
    "image-too-old",
    Severity.MEDIUM,
    "Image built long ago",
    "An old image misses the fixes released since it was built; rebuild it regularly.",
)
BASE_NOT_PINNED = ConfigRule(
    "base-image-not-pinned",
    Severity.LOW,
    "Base image not pinned by digest",
    "The base image is named by a tag, which can move; pin it by digest (FROM image@sha256:...) so "
    "builds are reproducible and reviewable.",
)

CONFIG_RULES: tuple[ConfigRule, ...] = (
    ROOT_USER,
    SENSITIVE_PORT,
    SECRET_ENV_NAME,
    SETUID_ADDED,
    WORLD_WRITABLE_PATH,
    SSH_SERVER,
    SUDO,
    PACKAGE_CACHE,
    SHELL_PRESENT,
    PACKAGE_MANAGER_PRESENT,
    NO_HEALTHCHECK,
    IMAGE_TOO_OLD,
    BASE_NOT_PINNED,
)

SENSITIVE_PORTS: dict[int, tuple[str, Severity]] = {
    21: ("FTP", Severity.MEDIUM),
    22: ("SSH", Severity.HIGH),
    23: ("telnet", Severity.HIGH),
    2375: ("Docker daemon (plain)", Severity.CRITICAL),
    2376: ("Docker daemon", Severity.HIGH),
    3389: ("RDP", Severity.HIGH),
    5900: ("VNC", Severity.HIGH),
    1433: ("SQL Server", Severity.MEDIUM),
    1521: ("Oracle", Severity.MEDIUM),
    3306: ("MySQL/MariaDB", Severity.MEDIUM),
    5432: ("PostgreSQL", Severity.MEDIUM),
    5984: ("CouchDB", Severity.MEDIUM),
    6379: ("Redis", Severity.MEDIUM),
    9042: ("Cassandra", Severity.MEDIUM),
    9200: ("Elasticsearch", Severity.MEDIUM),
    11211: ("memcached", Severity.MEDIUM),
    27017: ("MongoDB", Severity.MEDIUM),
    2379: ("etcd", Severity.MEDIUM),
}
_SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?|AUTH_?KEY", re.IGNORECASE
)
_REFERENCE_SUFFIXES = ("_FILE", "_PATH", "_DIR", "_URL", "_ENDPOINT", "_NAME", "_ID", "_TYPE")
SSH_PACKAGES = frozenset({"openssh-server", "dropbear", "dropbear-bin", "openssh-server-pam", "tinysshd"})
SSH_FILES = ("usr/sbin/sshd", "usr/sbin/dropbear", "usr/bin/dropbear")
SUDO_PACKAGES = frozenset({"sudo", "sudo-ldap", "sudo-rs", "doas", "opendoas"})
SUDO_FILES = ("usr/bin/sudo", "usr/bin/doas")
SHELLS = ("sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox")
PACKAGE_MANAGERS = (
    "apt",
    "apt-get",
    "dpkg",
    "apk",
    "yum",
    "dnf",
    "microdnf",
    "rpm",
    "zypper",
    "pip",
    "pip3",
    "npm",
)
BIN_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin")
CACHE_ROOTS = ("var/", "etc/apk/", "root/", "home/", "usr/local/share/")  # where every CACHES path starts
CACHES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("apt package lists", re.compile(r"var/lib/apt/lists/(?!lock$|partial/|auxfiles/)[^/]+")),
    ("apt downloaded packages", re.compile(r"var/cache/apt/archives/[^/]+\.deb")),
    ("apt package cache", re.compile(r"var/cache/apt/[^/]+\.bin")),
    ("apk cache", re.compile(r"(?:var/cache/apk|etc/apk/cache)/[^/]+")),
    ("yum/dnf cache", re.compile(r"var/cache/(?:yum|dnf)/.+")),
    ("pip cache", re.compile(r"(?:root|home/[^/]+)/\.cache/pip/.+")),
    ("npm cache", re.compile(r"(?:root|home/[^/]+)/\.npm/_cacache/.+")),
    ("yarn cache", re.compile(r"(?:usr/local/share|root|home/[^/]+)/\.cache/yarn/.+")),
)


@dataclass(frozen=True)
class CheckContext:
    """What the checks read: the config (None for ``dir:``), annotations, files and packages."""

    config: ImageConfig | None
    annotations: dict[str, str]
    fs: FileSystem
    catalog: Catalog
    base_layers: int
    now: datetime.datetime
    max_age_days: int


Check = Callable[[CheckContext], Iterator[ConfigFinding]]


def check_root_user(ctx: CheckContext) -> Iterator[ConfigFinding]:
    if ctx.config is None:
        return
    user = ctx.config.user.split(":", 1)[0]
    if user in ("", "0", "root"):
        yield ROOT_USER.finding(
            f"User is {ctx.config.user!r}" if user else "User is not set (defaults to root)"
        )
    elif not user.isdigit() and _passwd_uid(ctx.fs, user) == 0:
        yield ROOT_USER.finding(f"User {user!r} has uid 0 in /etc/passwd")


def _passwd_uid(fs: FileSystem, name: str) -> int | None:
    if not fs.exists("etc/passwd"):
        return None
    for line in fs.read_bytes("etc/passwd", limit=1 << 20).decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    return None


def check_sensitive_ports(ctx: CheckContext) -> Iterator[ConfigFinding]:
    if ctx.config is None:
        return
    for exposed in ctx.config.exposed_ports:
        number = exposed.split("/", 1)[0]
        if number.isdigit() and int(number) in SENSITIVE_PORTS:
            service, severity = SENSITIVE_PORTS[int(number)]
            yield replace(SENSITIVE_PORT.finding(f"ExposedPorts {exposed} ({service})"), severity=severity)


def check_secret_env_names(ctx: CheckContext) -> Iterator[ConfigFinding]:
    if ctx.config is None:
        return
    for item in ctx.config.env:
        name, _, value = item.partition("=")
        if value and _SECRET_NAME.search(name) and not name.upper().endswith(_REFERENCE_SUFFIXES):
            yield SECRET_ENV_NAME.finding(f"Env {name} is set (value not shown)")


def check_setuid_added(ctx: CheckContext) -> Iterator[ConfigFinding]:
    for entry in ctx.fs.files():
        if entry.mode & 0o6000 and entry.layer_index >= ctx.base_layers:
            bits = "setuid" if entry.mode & 0o4000 else "setgid"
            yield SETUID_ADDED.finding(
                f"/{entry.path} is {bits} (mode {entry.mode:04o}), added by layer {entry.layer_index} "
                f"(the first {ctx.base_layers} layer(s) are taken as the base image)",
                layer_digest=entry.layer_digest,
            )


def check_world_writable_in_path(ctx: CheckContext) -> Iterator[ConfigFinding]:
    path_dirs = {ctx.fs.resolve(d) for d in _path_dirs(ctx.config) if d.startswith("/")}
    for directory in sorted(path_dirs):
        entry = ctx.fs.stat(directory)
        if entry and entry.kind is Kind.DIR and entry.mode & 0o002 and not entry.mode & 0o1000:
            yield WORLD_WRITABLE_PATH.finding(
                f"/{directory} (in PATH) is world-writable (mode {entry.mode:04o})",
                layer_digest=entry.layer_digest,
            )
    for entry in ctx.fs.files():
        if entry.mode & 0o002 and entry.path.rpartition("/")[0] in path_dirs:
            yield WORLD_WRITABLE_PATH.finding(
                f"/{entry.path} is world-writable (mode {entry.mode:04o})", layer_digest=entry.layer_digest
            )


def _path_dirs(config: ImageConfig | None) -> list[str]:
    for item in config.env if config else ():
        if item.startswith("PATH="):
            return item[5:].split(":")
    return DEFAULT_PATH.split(":")


def check_ssh_and_sudo(ctx: CheckContext) -> Iterator[ConfigFinding]:
    for rule, packages, files in ((SSH_SERVER, SSH_PACKAGES, SSH_FILES), (SUDO, SUDO_PACKAGES, SUDO_FILES)):
        evidence = [f"package {p.name} {p.version}" for p in ctx.catalog.packages if p.name in packages]
        evidence += [f"/{path}" for path in files if _is_file(ctx.fs, path)]
        if evidence:
            yield rule.finding(*evidence)


def _is_file(fs: FileSystem, path: str) -> bool:
    entry = fs.stat(path)
    return entry is not None and entry.kind is Kind.FILE


def check_package_caches(ctx: CheckContext) -> Iterator[ConfigFinding]:
    totals: dict[str, list[int]] = {}
    for entry in ctx.fs.files():
        if not entry.path.startswith(CACHE_ROOTS):
            continue
        for label, pattern in CACHES:
            if pattern.fullmatch(entry.path):
                count_and_size = totals.setdefault(label, [0, 0])
                count_and_size[0] += 1
                count_and_size[1] += entry.size
                break
    if totals:
        yield PACKAGE_CACHE.finding(
            *(f"{label}: {count} file(s), {size} bytes" for label, (count, size) in sorted(totals.items()))
        )


def check_shells_and_package_managers(ctx: CheckContext) -> Iterator[ConfigFinding]:
    for rule, names in ((SHELL_PRESENT, SHELLS), (PACKAGE_MANAGER_PRESENT, PACKAGE_MANAGERS)):
        found = sorted(
            {
                f"/{ctx.fs.resolve(f'{d}/{n}')}"
                for d in BIN_DIRS
                for n in names
                if _is_file(ctx.fs, f"{d}/{n}")
            }
        )
        if found:
            yield rule.finding(*found)


def check_healthcheck(ctx: CheckContext) -> Iterator[ConfigFinding]:
    if ctx.config is None:
        return
    test = (ctx.config.healthcheck or {}).get("Test") or []
    if not test or test[0] == "NONE":
        yield NO_HEALTHCHECK.finding("config.Healthcheck is " + ("disabled (NONE)" if test else "not set"))


def check_age(ctx: CheckContext) -> Iterator[ConfigFinding]:
    if ctx.config is None or not ctx.config.created:
        return
    created = parse_created(ctx.config.created)
    if created is None:
        return
    age = ctx.now - created
    if age.days > ctx.max_age_days:
        yield IMAGE_TOO_OLD.finding(
            f"created {ctx.config.created}, {age.days} days ago (limit {ctx.max_age_days} days)"
        )


def parse_created(text: str) -> datetime.datetime | None:
    """RFC 3339 with up to nanosecond precision (docker writes nine digits)."""
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", text.strip())
    try:
        parsed = datetime.datetime.fromisoformat(trimmed)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def check_base_pinned(ctx: CheckContext) -> Iterator[ConfigFinding]:
    labels = {**(ctx.config.labels if ctx.config else {}), **ctx.annotations}
    name = labels.get(BASE_NAME)
    if name and not labels.get(BASE_DIGEST) and "@sha256:" not in name:
        yield BASE_NOT_PINNED.finding(f"{BASE_NAME}={name} and no {BASE_DIGEST}")


CHECKS: tuple[Check, ...] = (
    check_root_user,
    check_sensitive_ports,
    check_secret_env_names,
    check_setuid_added,
    check_world_writable_in_path,
    check_ssh_and_sudo,
    check_package_caches,
    check_shells_and_package_managers,
    check_healthcheck,
    check_age,
    check_base_pinned,
)


def check_image_config(
    image: object, fs: FileSystem, catalog: Catalog, options: AnalysisOptions
) -> list[ConfigFinding]:
    """Run every check on an opened image (``Image`` or ``DirImage``) and its filesystem."""
    config: ImageConfig | None = getattr(image, "config", None)
    manifest = getattr(image, "manifest", None)
    ctx = CheckContext(
        config=config,
        annotations=dict(getattr(manifest, "annotations", None) or {}),
        fs=fs,
        catalog=catalog,
        base_layers=options.base_layers if options.base_layers is not None else 1,
        now=options.now or datetime.datetime.now(datetime.UTC),
        max_age_days=options.max_age_days,
    )
    return [finding for check in CHECKS for finding in check(ctx)]
