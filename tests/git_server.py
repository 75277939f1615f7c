"""A git server over smart HTTP on 127.0.0.1: ``git http-backend`` (git's own CGI) behind a
small threading HTTP server, for tests whose tools clone or fetch from a remote (gitlab-ci-local
fetching a CI/CD component project).
"""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MAX_REQUEST = 16 * 1024 * 1024


def _handler(root: Path) -> type[http.server.BaseHTTPRequestHandler]:
    class GitBackend(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._backend()

        def do_POST(self) -> None:
            self._backend()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test's own assertions say what went wrong."""

        def _backend(self) -> None:
            path, _, query = self.path.partition("?")
            length = min(int(self.headers.get("Content-Length") or 0), MAX_REQUEST)
            environment = {
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "REMOTE_ADDR": self.client_address[0],
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            }
            done = subprocess.run(
                ["git", "http-backend"], input=self.rfile.read(length), env=environment,
                capture_output=True, timeout=60, check=False,
            )  # fmt: skip
            head, _, body = done.stdout.partition(b"\r\n\r\n")
            status, headers = 200, []
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(": ")
                if name.lower() == "status":
                    status = int(value.split()[0])
                elif name:
                    headers.append((name, value))
            self.send_response(status if done.returncode == 0 else 500)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return GitBackend


@contextmanager
def git_http_server(root: Path) -> Iterator[str]:
    """Serve the bare repositories under ``root`` (``<root>/<group>/<name>.git``); yields host:port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
