"""An OCI distribution client: pull, push, referrers and tags, on ``requests``.

    client = RegistryClient()
    repo = client.repository(parse_registry_reference("127.0.0.1:5000/team/app"))
    manifest = repo.get_document("1.0")
    with repo.open_blob(manifest.config) as blob: ...

Every manifest and blob read is checked against its digest and size; a registry that
answers with other content is an error, never silently accepted. Every digest this client
reports was computed from bytes it read (a HEAD's ``Docker-Content-Digest`` is never trusted).

Credentials are bound to the registry's origin: a URL the registry hands over (an upload
``Location``, a tags ``Link``) on another origin is sent without them, answering at most
that origin's own anonymous bearer challenge (see docs/security.md).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from gate import safejson
from gate.errors import ImageFormatError, IntegrityError, NotFoundError, RacedWriteError, RegistryError
from gate.image.auth import RegistryAuth, repository_scope
from gate.image.credentials import Credentials, lookup_credentials
from gate.image.digest import VerifyingReader, digest_of, validate_digest, verify_bytes
from gate.image.manifest import (
    ACCEPTED_MANIFEST_TYPES,
    MAX_MANIFEST_SIZE,
    OCI_INDEX,
    Descriptor,
    Index,
    Manifest,
    parse_document,
)
from gate.image.reference import RegistryRef
from gate.image.store import add_fallback_referrer, as_document, read_fallback_referrers, read_small_blob
from gate.image.transport import MAX_ERROR_BODY, Transport, offline_from_env, origin_of

logger = logging.getLogger(__name__)

_ACCEPT = ", ".join(ACCEPTED_MANIFEST_TYPES)
MAX_TAGS_PAGE = 8 * 1024 * 1024
MAX_TAG_PAGES = 1000
MAX_CATALOG_PAGES = 1000


@dataclass
class RegistryClient:
    """Talks to any number of registries, one authenticator per host.

    ``offline`` (default: ``GATE_OFFLINE``) tells the stages that use this client to skip
    every optional lookup (the base image); the image itself is still read.
    """

    transport: Transport = field(default_factory=Transport)
    credentials: dict[str, Credentials | None] = field(default_factory=dict)
    offline: bool = field(default_factory=offline_from_env)
    _auth: dict[str, RegistryAuth] = field(default_factory=dict)

    def with_budget(self, seconds: float) -> RegistryClient:
        """A client for an optional lookup: same credentials, all requests done within ``seconds``."""
        return RegistryClient(self.transport.with_budget(seconds), self.credentials, self.offline)

    def repository(self, ref: RegistryRef) -> RegistryRepository:
        return RegistryRepository(self, ref.api_host, ref.repository, ref.registry)

    def list_repositories(self, ref: RegistryRef) -> list[str]:
        """Every repository ``/v2/_catalog`` lists on ``ref``'s registry (``Link`` pages, bounded)."""
        return RegistryCatalog(self, ref.api_host, "", ref.registry).list_repositories()

    def auth_for(self, host: str, registry: str) -> RegistryAuth:
        if host not in self._auth:
            creds = (
                self.credentials[registry] if registry in self.credentials else lookup_credentials(registry)
            )
            self._auth[host] = RegistryAuth(host=host, transport=self.transport, credentials=creds)
        return self._auth[host]

    def foreign_auth(self, origin: str, registry: str) -> RegistryAuth:
        """The authenticator for a URL ``registry`` sent us to on another origin: no credentials."""
        key = f"{origin} via {registry}"
        if key not in self._auth:
            self._auth[key] = RegistryAuth(
                host=origin.split("://", 1)[1], transport=self.transport, referred_by=registry
            )
        return self._auth[key]


RACED_PUT_ATTEMPTS = 3  # distribution refuses a manifest PUT racing another one (DIGEST_INVALID)


@dataclass
class RegistryRepository:
    """One repository (``team/app``) in one registry."""

    client: RegistryClient
    host: str
    name: str
    registry: str

    def describe(self) -> str:
        return f"{self.registry}/{self.name}"

    # -- reading --------------------------------------------------------------------------

    def resolve(self, reference: str) -> Descriptor:
        """The media type, digest and size of a tag or digest, from the manifest bytes themselves.

        A HEAD would be cheaper, but its ``Docker-Content-Digest`` is the registry's word: what
        gate signs or attests must be the digest of bytes it read and hashed.
        """
        return self.get_document(reference).descriptor

    def get_document(self, reference: str) -> Manifest | Index:
        """GET a manifest or index by tag or digest, verified."""
        response = self._send(
            "GET", f"manifests/{reference}", headers={"Accept": _ACCEPT}, limit=MAX_MANIFEST_SIZE
        )
        self._raise_for_status(response, f"manifest {reference}")
        raw = response.content
        expected = reference if ":" in reference else response.headers.get("Docker-Content-Digest")
        if expected:
            verify_bytes(raw, validate_digest(expected), what=f"manifest {self.describe()}:{reference}")
        try:
            return parse_document(raw, media_type=response.headers.get("Content-Type"), digest=expected)
        except ImageFormatError as error:
            raise ImageFormatError(f"{self.describe()}:{reference}: {error.message}") from error

    @contextlib.contextmanager
    def open_blob(self, descriptor: Descriptor) -> Iterator[VerifyingReader]:
        """Stream a blob; reading it to the end checks its size and digest."""
        response = self._send(
            "GET",
            f"blobs/{descriptor.digest}",
            limit=None,  # VerifyingReader stops one byte past the descriptor's size
            stream=True,
            deadline=self.client.transport.stream_deadline(descriptor.size),
        )
        with contextlib.closing(response):
            self._raise_for_status(response, f"blob {descriptor.digest}")
            yield VerifyingReader(
                response.raw, descriptor.digest, descriptor.size, what=f"blob {descriptor.digest}"
            )

    def read_blob(self, descriptor: Descriptor, max_size: int) -> bytes:
        return read_small_blob(self, descriptor, max_size)

    def has_blob(self, digest: str, *, for_push: bool = False) -> bool:
        """HEAD a blob; ``for_push`` asks for the push scope up front (one token per push)."""
        response = self._send("HEAD", f"blobs/{digest}", push=for_push)
        if response.status_code == 404:
            return False
        self._raise_for_status(response, f"blob {digest}")
        return True

    def list_tags(self) -> list[str]:
        tags: list[str] = []
        url: str | None = self._url("tags/list")
        for _page in range(MAX_TAG_PAGES):
            if url is None:
                return tags
            response = self._send_url("GET", url, self._scopes("pull"), limit=MAX_TAGS_PAGE)
            if response.status_code == 404:
                return tags
            self._raise_for_status(response, "tag list")
            data = _json_object(response, f"{self.describe()} tag list")
            tags.extend(t for t in data.get("tags") or [] if isinstance(t, str))
            url = self._server_url(response, _next_link(response), "tag list Link")
        raise RegistryError(f"{self.describe()}: tag list goes on for more than {MAX_TAG_PAGES} pages")

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose subject is ``digest``: the referrers API, else the fallback tag."""
        params = {"artifactType": artifact_type} if artifact_type else None
        response = self._send("GET", f"referrers/{digest}", params=params, limit=MAX_MANIFEST_SIZE)
        if response.status_code == 200:
            index = parse_document(response.content, media_type=OCI_INDEX)
            if not isinstance(index, Index):
                raise ImageFormatError(f"{self.describe()}: referrers answer is not an index")
            found = list(index.manifests)
        elif response.status_code == 404:
            found = read_fallback_referrers(self, digest)
        else:
            self._raise_for_status(response, f"referrers of {digest}")
            found = []
        if artifact_type:
            found = [d for d in found if d.artifact_type == artifact_type]
        return found

    def probe(self, method: str, path: str, *, push: bool = False, **kwargs: Any) -> Any:
        """An authenticated request below ``/v2/<name>/`` whose answer is returned unchecked.

        For callers that need the status itself (`gate doctor` asks what a registry supports).
        """
        return self._send(method, path, push=push, **kwargs)

    # -- writing --------------------------------------------------------------------------

    def push_blob(
        self,
        content: bytes | Path,
        *,
        digest: str | None = None,
        mount_from: str | None = None,
        chunk_size: int | None = None,
    ) -> Descriptor:
        """Upload a blob unless present; mount it from ``mount_from`` in the same registry if we can."""
        size = len(content) if isinstance(content, bytes) else content.stat().st_size
        digest = digest or _digest_content(content)
        descriptor = Descriptor("application/octet-stream", digest, size)
        if self.has_blob(digest, for_push=True):
            return descriptor
        if mount_from and mount_from != self.name:
            location = self._start_upload(params={"mount": digest, "from": mount_from}, mount_from=mount_from)
        else:
            location = self._start_upload()
        if location is None:  # the registry mounted the blob from the other repository
            return descriptor
        if chunk_size:
            location = self._upload_chunks(location, content, chunk_size)
            self._finish_upload(location, digest, b"")
        else:
            self._finish_upload(location, digest, content)
        return descriptor

    def mount_blob(self, digest: str, source_repository: str) -> bool:
        """Cross-repository mount of ``digest`` from ``source_repository`` in this registry.

        True when the registry mounted it; False when it does not mount (it opened an upload
        session instead, which is abandoned: the registry expires it), so the caller copies.
        """
        location = self._start_upload(
            params={"mount": validate_digest(digest), "from": source_repository}, mount_from=source_repository
        )
        return location is None

    def exclusive(self) -> contextlib.AbstractContextManager[bool]:
        """No lock: a registry offers no compare-and-swap (see gate.image.store.confirmed)."""
        return contextlib.nullcontext(False)

    def push_manifest(
        self, document: Manifest | Index | bytes, *, media_type: str | None = None, tag: str | None = None
    ) -> Descriptor:
        """PUT a manifest or index by tag (or by digest) and keep the referrers index current."""
        parsed = as_document(document, media_type)
        reference = tag or parsed.digest
        for attempt in range(1, RACED_PUT_ATTEMPTS + 1):
            response = self._send(
                "PUT",
                f"manifests/{reference}",
                body=parsed.raw,
                push=True,
                headers={"Content-Type": parsed.media_type},
            )
            try:
                self._raise_for_status(response, f"manifest {reference}", expected=(201,))
                break
            except RacedWriteError:
                if attempt == RACED_PUT_ATTEMPTS:
                    raise
                time.sleep(0.05 * attempt)  # the same bytes again: the racing write is done by then
        returned = response.headers.get("Docker-Content-Digest")
        if returned and returned != parsed.digest:
            raise IntegrityError(
                f"{self.describe()}: registry stored manifest as {returned}, expected {parsed.digest}"
            )
        descriptor = parsed.descriptor
        if parsed.subject and not response.headers.get("OCI-Subject"):
            add_fallback_referrer(self, parsed)
        return descriptor

    def _start_upload(
        self, params: dict[str, str] | None = None, mount_from: str | None = None
    ) -> str | None:
        extra = frozenset({repository_scope(mount_from, "pull")}) if mount_from else frozenset()
        response = self._send(
            "POST", "blobs/uploads/", params=params, push=True, extra_scopes=extra, body=b""
        )
        if response.status_code == 201 and params and "mount" in params:
            return None
        self._raise_for_status(response, "blob upload", expected=(202,))
        location = self._server_url(response, response.headers.get("Location"), "upload Location")
        if not location:
            raise RegistryError(f"{self.describe()}: upload started without a Location")
        return location

    def _upload_chunks(self, location: str, content: bytes | Path, chunk_size: int) -> str:
        offset = 0
        for chunk in _iter_chunks(content, chunk_size):
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                "Content-Length": str(len(chunk)),
            }
            response = self._send_url(
                "PATCH",
                location,
                self._scopes("pull,push"),
                headers=headers,
                body=chunk,
                deadline=self.client.transport.stream_deadline(len(chunk)),
            )
            self._raise_for_status(response, "blob chunk", expected=(202,))
            next_location = response.headers.get("Location")
            location = self._server_url(response, next_location, "upload Location") or location
            offset += len(chunk)
        return location

    def _finish_upload(self, location: str, digest: str, content: bytes | Path) -> None:
        body: Any = content if isinstance(content, bytes) else (lambda: content.open("rb"))
        size = len(content) if isinstance(content, bytes) else content.stat().st_size
        separator = "&" if "?" in location else "?"
        response = self._send_url(
            "PUT",
            f"{location}{separator}digest={digest}",
            self._scopes("pull,push"),
            headers={"Content-Type": "application/octet-stream"},
            body=body,
            deadline=self.client.transport.stream_deadline(size),
        )
        self._raise_for_status(response, f"blob {digest}", expected=(201,))
        returned = response.headers.get("Docker-Content-Digest")
        if returned and returned != digest:
            raise IntegrityError(f"{self.describe()}: registry stored blob as {returned}, expected {digest}")

    # -- plumbing -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.client.transport.base_url(self.host)}/v2/{self.name}/{path}"

    def _scopes(self, actions: str) -> frozenset[str]:
        return frozenset({repository_scope(self.name, actions)})

    def _send(
        self,
        method: str,
        path: str,
        *,
        push: bool = False,
        extra_scopes: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> Any:
        scopes = self._scopes("pull,push" if push else "pull") | extra_scopes
        return self._send_url(method, self._url(path), scopes, **kwargs)

    def _server_url(self, response: Any, link: str | None, what: str) -> str | None:
        """A URL the registry handed us, made absolute and checked against the URL policy."""
        if not link:
            return None
        url = urljoin(response.url, link)
        self.client.transport.check_url(url, named_by=f"{self.describe()} {what}")
        return url

    def _auth_for(self, url: str) -> RegistryAuth:
        """The registry's own authenticator on its origin; an anonymous one anywhere else."""
        if origin_of(url) == origin_of(self._url("")):
            return self.client.auth_for(self.host, self.registry)
        return self.client.foreign_auth(origin_of(url), self.registry)

    def _send_url(
        self,
        method: str,
        url: str,
        scopes: frozenset[str],
        *,
        headers: dict[str, str] | None = None,
        limit: int | None = MAX_ERROR_BODY,
        **kwargs: Any,
    ) -> Any:
        auth = self._auth_for(url)
        headers = dict(headers or {})
        transport = self.client.transport
        response = transport.request(
            method, url, headers={**headers, **auth.headers_for(scopes)}, limit=limit, **kwargs
        )
        if response.status_code == 401:
            response.close()
            retry_headers = auth.answer_challenge(response, scopes)
            response = transport.request(
                method, url, headers={**headers, **retry_headers}, limit=limit, **kwargs
            )
            if response.status_code == 401:
                raise auth.refused(401, scopes)
        if response.status_code == 403:
            raise auth.refused(403, scopes)
        return response

    def _raise_for_status(self, response: Any, what: str, expected: tuple[int, ...] = (200,)) -> None:
        status = response.status_code
        if status in expected:
            return
        if status == 404:
            raise NotFoundError(f"{self.describe()}: {what} not found")
        detail = _error_detail(response)
        if status == 400 and what.startswith("manifest ") and detail.startswith(" DIGEST_INVALID"):
            raise RacedWriteError(f"{self.describe()}: {what}: HTTP {status}{detail}")
        raise RegistryError(f"{self.describe()}: {what}: HTTP {status}{detail}")


class RegistryCatalog(RegistryRepository):
    """The registry-wide ``/v2/_catalog`` endpoint, with the repository plumbing's auth and bounds."""

    def describe(self) -> str:
        return self.registry

    def list_repositories(self) -> list[str]:
        repositories: list[str] = []
        url: str | None = self._url("_catalog")
        for _page in range(MAX_CATALOG_PAGES):
            if url is None:
                return repositories
            response = self._send_url("GET", url, frozenset({"registry:catalog:*"}), limit=MAX_TAGS_PAGE)
            if response.status_code in (404, 405):
                raise RegistryError(f"{self.registry} does not list its repositories (no /v2/_catalog)")
            self._raise_for_status(response, "catalog")
            data = _json_object(response, f"{self.registry} catalog")
            repositories.extend(r for r in data.get("repositories") or [] if isinstance(r, str))
            url = self._server_url(response, _next_link(response), "catalog Link")
        raise RegistryError(f"{self.registry}: catalog goes on for more than {MAX_CATALOG_PAGES} pages")

    def _url(self, path: str) -> str:
        return f"{self.client.transport.base_url(self.host)}/v2/{path}"


def _error_detail(response: Any) -> str:
    try:
        errors = response.json().get("errors") or []
        first = errors[0]
        return f" {first.get('code', '')}: {first.get('message', '')}".rstrip(": ")
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""


def _json_object(response: Any, what: str) -> dict[str, Any]:
    try:
        data = safejson.loads(response.content)
    except ValueError as error:
        raise RegistryError(f"{what} is not valid JSON") from error
    if not isinstance(data, dict):
        raise RegistryError(f"{what} is not a JSON object")
    return data


def _next_link(response: Any) -> str | None:
    link = response.links.get("next", {}).get("url")
    return str(link) if link else None


def _digest_content(content: bytes | Path) -> str:
    if isinstance(content, bytes):
        return digest_of(content)
    import hashlib

    with content.open("rb") as handle:
        return f"sha256:{hashlib.file_digest(handle, 'sha256').hexdigest()}"


def _iter_chunks(content: bytes | Path, chunk_size: int) -> Iterator[bytes]:
    if isinstance(content, bytes):
        for start in range(0, len(content), chunk_size):
            yield content[start : start + chunk_size]
        return
    with content.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk
