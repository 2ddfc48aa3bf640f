"""Headless Debian chromium driven over the DevTools protocol, for the browser tests.

Launched with a fresh profile and every background service off; nothing is downloaded."""

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.processes import stop
from tests.support.tools import needs_tool

CHROMIUM = Path("/usr/bin/chromium")
# skips without it; fails in CI (tests/support/tools.py). CHROMIUM is looked up as each test starts.
needs_chromium = needs_tool(
    "chromium",
    lambda: CHROMIUM.exists(),
    "the browser tests need Debian's chromium at "
    "/usr/bin/chromium (apt-get install chromium, as root; `make test` tries)",
)


class Tab:
    """A Chromium tab driven over the DevTools protocol."""

    def __init__(self, ws):
        self.ws, self.last_id = ws, 0
        self.events: list[dict] = []  # the events that arrived while waiting for answers (Network.* once enabled)

    def call(self, method: str, **params) -> dict:
        self.last_id += 1
        self.ws.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        for _ in range(10000):  # keep the events that arrive in between
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self.last_id:
                assert "error" not in message, message["error"]
                return message["result"]
            if "method" in message:
                self.events.append(message)
        raise AssertionError(f"no answer to {method}")

    def responses(self, url_part: str) -> list[dict]:
        """Network.responseReceived responses (url, status, headers) whose URL contains url_part."""
        return [
            e["params"]["response"]
            for e in self.events
            if e["method"] == "Network.responseReceived" and url_part in e["params"]["response"]["url"]
        ]

    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for(self, expression: str):
        for _ in range(600):
            if self.eval(expression):
                return
            time.sleep(0.1)
        raise AssertionError(f"still false: {expression}")


@contextlib.contextmanager
def chromium(url: str, profile: Path, extra_flags: tuple[str, ...] = ()):
    """Headless Chromium with a fresh profile showing `url`; yields its tab."""
    from websockets.sync.client import connect

    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        *extra_flags,
    ]
    browser = subprocess.Popen([str(CHROMIUM), *flags, url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"  # Chromium writes the port it picked here
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            assert browser.poll() is None, "chromium exited"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as answer:
            tab = next(t for t in json.load(answer) if t["type"] == "page")
        with connect(tab["webSocketDebuggerUrl"], max_size=None) as ws:
            yield Tab(ws)
    finally:
        stop(browser)


def free_port() -> int:
    """A free loopback port, for a server the browser visits."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot(tab, path: Path) -> Path:
    path.write_bytes(base64.b64decode(tab.call("Page.captureScreenshot", format="png")["data"]))
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    return path


def keep_screenshots(shots):
    """Copies the screenshots to $AI_ME_SCREENSHOTS when it is set."""
    if os.environ.get("AI_ME_SCREENSHOTS"):
        keep = Path(os.environ["AI_ME_SCREENSHOTS"])
        keep.mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copy(shot, keep / shot.name)
