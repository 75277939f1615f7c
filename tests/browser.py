"""Headless Chromium (Debian's ``chromium``) driven over the DevTools protocol, for page tests.

:func:`load_page` opens a file, waits for the load event, and returns what a person would have
seen (text of chosen elements after an optional script ran) with everything the page did that it
should not: console errors, uncaught exceptions, security-policy violations, and every request
for anything but the file itself. The browser gets a fresh profile and no network features.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

CHROMIUM = "chromium"
DEADLINE_SECONDS = 60.0
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)


@dataclass
class PageVisit:
    values: dict[str, Any]  # expression -> its value after the load (and the scripts)
    problems: list[str] = field(default_factory=list)  # console errors, exceptions, CSP reports
    requests: list[str] = field(default_factory=list)  # every URL the page asked for


def chromium_path() -> str:
    found = shutil.which(CHROMIUM)
    assert found, "Debian's chromium is not installed (.ci/run installs it)"
    return found


def load_page(path: Path, expressions: list[str]) -> PageVisit:
    """Open ``path``, then evaluate each expression in order (later ones see earlier effects)."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [chromium_path(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its renderer and GPU helpers end with it, by process group
        )
        try:
            return _visit(_browser_socket(process), path, expressions)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _browser_socket(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + DEADLINE_SECONDS
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if match := re.search(r"DevTools listening on (ws://\S+)", line):
            return match.group(1)
    raise AssertionError("chromium did not open its DevTools socket:\n" + "".join(seen[-20:]))


class _Session:
    def __init__(self, url: str) -> None:
        self.socket = websocket.create_connection(url, timeout=DEADLINE_SECONDS)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv())
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, *, start: int = 0, url: str | None = None) -> int:
        """The index of the first ``method`` event from ``start`` on (for ``url``'s frame, if given)."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        index = start
        while True:
            while index < len(self.events):
                event = self.events[index]
                frame = event.get("params", {}).get("frame", {})
                if event.get("method") == method and (url is None or frame.get("url") == url):
                    return index
                index += 1
            assert time.monotonic() < deadline, f"no {method} within {DEADLINE_SECONDS} s"
            self.events.append(json.loads(self.socket.recv()))


def _visit(url: str, path: Path, expressions: list[str]) -> PageVisit:
    browser = _Session(url)
    target = browser.call("Target.createTarget", url="about:blank")["targetId"]
    session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable", session)
    browser.events.clear()
    address = path.resolve().as_uri()
    browser.call("Page.navigate", session, url=address)
    # about:blank's own load event may still arrive: wait for this page's navigation, then its load
    navigated = browser.wait_for("Page.frameNavigated", url=address)
    browser.wait_for("Page.loadEventFired", start=navigated)
    values = {}
    for expression in expressions:
        result = browser.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        values[expression] = result["result"].get("value")
    visit = PageVisit(values)
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            visit.problems.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
            visit.problems.append(json.dumps(params.get("args"))[:500])
        elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
            visit.problems.append(params["entry"].get("text", "")[:500])
        elif method == "Network.requestWillBeSent":
            visit.requests.append(params["request"]["url"])
    browser.socket.close()
    return visit
