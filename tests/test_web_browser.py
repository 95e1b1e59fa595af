"""End-to-end test of the web page in headless Chromium (Debian's ``chromium`` package).

The service is started for real (``python -m deepdetector.cli serve`` in a subprocess, on a free
loopback port, with the tiny test model). Chromium is driven over the DevTools protocol through
``--remote-debugging-pipe`` (no websocket library, no browser download): the test chooses a face
photo in the page's file input, waits for the verdict, checks that the heatmap picture loaded,
and saves a screenshot. All traffic stays on 127.0.0.1: Chromium gets a dead proxy for every
other host and its background services are switched off.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.media_factory import face_photo, write_image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium; `make test` installs it)")

TIMEOUT = 60.0
#: HTTP opener that never uses a proxy from the environment: the test talks to 127.0.0.1 only.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class DevTools:
    """A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe``: JSON messages
    separated by NUL bytes, commands written to the browser's fd 3 and answers read from its fd 4."""

    def __init__(self, chromium: str, user_data_dir: Path) -> None:
        # Pipe ends numbered 10 or above, so that the shell's "3<&N 4>&M" cannot clobber one with the other.
        to_browser_r, self._to_browser = (_high_fd(fd) for fd in os.pipe())
        self._from_browser, from_browser_w = (_high_fd(fd) for fd in os.pipe())
        self.log = user_data_dir.parent / "chromium.log"
        self._log_file = open(self.log, "wb")
        args = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
            "--proxy-server=http://127.0.0.1:9",  # every non-loopback request goes to a dead port
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--user-data-dir={user_data_dir}",
            "--window-size=1200,900",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # bash puts the two pipe ends on fds 3 and 4, where Chromium expects them (dash cannot
        # redirect from fds above 9).
        launcher = f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        self.proc = subprocess.Popen(
            ["bash", "-c", launcher, "bash", *args],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the DevTools pipe (it exited):\n{self.log.read_text(errors='replace')[-3000:]}")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = True, timeout: float = 30.0) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        try:
            os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(f"Chromium exited:\n{self.log.read_text(errors='replace')[-3000:]}") from None
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def open_page(self) -> None:
        """Attach to the first page; later commands go to it."""
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, session=False)["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        problem = ""
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError as exc:  # e.g. while a navigation replaces the page
                problem = str(exc)
                value = None
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(
            f"timed out waiting for {what} ({problem or 'condition never true'}); page says: {self.evaluate('document.body.innerText')[:2000]}"
        )

    def page_errors(self) -> list[str]:
        """Uncaught exceptions and console errors the page reported so far."""
        out = []
        for e in self.events:
            if e.get("method") == "Runtime.exceptionThrown":
                out.append(json.dumps(e["params"]["exceptionDetails"])[:500])
            elif e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") == "error":
                out.append(json.dumps(e["params"]["args"])[:500])
        return out

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._log_file.close()


def _high_fd(fd: int) -> int:
    """A copy of ``fd`` numbered 10 or above (close-on-exec), the original closed."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(base: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited ({proc.returncode}):\n{log.read_text()}")
        try:
            with LOCAL.open(f"{base}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the server did not start:\n{log.read_text()}")


@pytest.fixture
def server(tmp_path: Path, tiny_model_dir: Path):
    """``deepdetector serve`` on a free loopback port, with the tiny model and a fresh database."""
    port = _free_port()
    log = tmp_path / "server.log"
    cmd = [
        sys.executable, "-m", "deepdetector.cli", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--db", str(tmp_path / "scans.sqlite3"), "--model", str(tiny_model_dir), "--log-level", "warning",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_page_uploads_a_face_photo_and_shows_verdict_and_heatmap(server: str, tmp_path: Path) -> None:
    photo = write_image(tmp_path / "portrait.jpg", face_photo(), quality=92)
    browser = DevTools(CHROMIUM, tmp_path / "chromium-profile")
    try:
        browser.open_page()
        browser.send("Page.navigate", {"url": server + "/"})
        browser.wait_for("document.readyState === 'complete' && !!document.getElementById('file-input')", "the page to load")
        browser.wait_for("document.getElementById('limits').textContent.length > 0", "the health check")

        node = browser.send("Runtime.evaluate", {"expression": "document.getElementById('file-input')"})["result"]
        browser.send("DOM.setFileInputFiles", {"files": [str(photo)], "objectId": node["objectId"]})

        verdict = browser.wait_for(
            "!document.getElementById('result').hidden && document.getElementById('verdict').dataset.verdict",
            "the verdict",
        )
        assert verdict in ("fake", "real"), verdict  # the tiny model is untrained: either answer is fine
        title = browser.evaluate("document.getElementById('verdict').textContent")
        assert title == {"fake": "Likely manipulated", "real": "No manipulation found"}[verdict]
        assert browser.evaluate("document.getElementById('probability').textContent").endswith("probability of manipulation")
        # the scanner's own explanation (#27), not a sentence of the page's
        explain = browser.evaluate("document.getElementById('verdict-explain').textContent")
        assert explain.startswith(f"{title}: the file's probability of fake, ") and "image threshold" in explain, explain
        assert browser.evaluate("location.pathname").startswith("/scans/")  # stable link to this scan

        # The heatmap picture is fetched from the API by URL and really decoded by the browser.
        images = browser.wait_for(
            "(() => { const imgs = [...document.querySelectorAll('#faces img')];"
            " return imgs.length && imgs.every(i => i.complete && i.naturalWidth > 0)"
            " ? imgs.map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight]) : null; })()",
            "the heatmap picture",
        )
        src, width, height = images[0]
        assert src.startswith("/api/v1/scans/") and src.endswith("/heatmaps/0.png")
        assert (width, height) == (452, 224)  # face crop + gap + crop with heat

        # The history lists the scan with a link to its page.
        browser.wait_for("document.querySelectorAll('#history-rows tr').length === 1", "the history row")
        assert browser.evaluate("document.querySelector('#history-rows a').textContent") == "portrait.jpg"

        height_px = browser.evaluate("Math.ceil(document.documentElement.scrollHeight)")
        browser.send("Emulation.setDeviceMetricsOverride", {"width": 1200, "height": int(height_px), "deviceScaleFactor": 1, "mobile": False})
        shot = browser.send("Page.captureScreenshot", {"format": "png"})
        screenshot = tmp_path / "web_page.png"
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        print(f"screenshot: {screenshot}")
        assert screenshot.stat().st_size > 10_000

        assert browser.page_errors() == []
    finally:
        browser.close()


def test_page_shows_a_videos_explanation_and_frame_scores(server: str, tmp_path: Path) -> None:
    """#27: a video's page tells the scanner's story: its explanation, crops labelled as frame scores."""
    from tests.media_factory import write_video

    clip = write_video(tmp_path / "clip.mp4", n_frames=24)
    browser = DevTools(CHROMIUM, tmp_path / "chromium-profile")
    try:
        browser.open_page()
        browser.send("Page.navigate", {"url": server + "/"})
        browser.wait_for("document.readyState === 'complete' && !!document.getElementById('file-input')", "the page to load")
        node = browser.send("Runtime.evaluate", {"expression": "document.getElementById('file-input')"})["result"]
        browser.send("DOM.setFileInputFiles", {"files": [str(clip)], "objectId": node["objectId"]})
        verdict = browser.wait_for("!document.getElementById('result').hidden && document.getElementById('verdict').dataset.verdict", "the verdict")
        assert verdict in ("fake", "real"), verdict
        explain = browser.evaluate("document.getElementById('verdict-explain').textContent")
        assert "video threshold" in explain and "combined over the frames" in explain, explain
        assert not browser.evaluate("document.getElementById('timeline-section').hidden")
        pills = browser.wait_for(
            "(() => { const p = [...document.querySelectorAll('#faces .pill')]; return p.length ? p.map(x => x.textContent) : null; })()",
            "the face crops",
        )
        assert all(p.startswith("frame score ") for p in pills), pills
        # the cues measured across frames: one row each (1 s at 24 fps: enough frames, with the tiny model not weighed)
        assert not browser.evaluate("document.getElementById('evidence-section').hidden")
        rows = browser.evaluate("[...document.querySelectorAll('#evidence tr')].map(r => r.textContent)")
        assert any(r.startswith("eye opening variation") for r in rows) and any("not weighed" in r for r in rows), rows
        assert browser.page_errors() == []
    finally:
        browser.close()
