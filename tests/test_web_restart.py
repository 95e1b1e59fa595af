"""Killing the server (SIGKILL) in the middle of a video scan and starting it again finishes the scan.

The real ``deepdetector serve`` runs in a subprocess with the tiny test model; the test waits until
the scan is being analysed, kills the process without warning, starts a new one on the same
database and waits for the result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from deepdetector.web.store import ScanStore  # noqa: E402
from tests.media_factory import write_video  # noqa: E402
from tests.test_web_browser import LOCAL, TIMEOUT, _free_port, _wait_healthy  # noqa: E402

FRAMES = 40  # enough frames that the scan is still running when the test sees it start


def _start(tmp_path: Path, model_dir: Path, port: int, log: Path) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "deepdetector.cli", "serve", "--port", str(port), "--workers", "1",
        "--db", str(tmp_path / "scans.sqlite3"), "--model", str(model_dir), "--frames", str(FRAMES), "--log-level", "warning",
    ]  # fmt: skip
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _get(url: str) -> dict:
    with LOCAL.open(url, timeout=10) as r:
        return json.loads(r.read())


def _post_file(url: str, path: Path) -> dict:
    boundary = "deepdetector-restart-test"
    body = (
        (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\nContent-Type: video/mp4\r\n\r\n').encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with LOCAL.open(request, timeout=30) as r:
        assert r.status == 202
        return json.loads(r.read())


def test_killed_server_finishes_the_scan_after_restart(tmp_path: Path, tiny_model_dir: Path) -> None:
    video = write_video(tmp_path / "long.mp4", n_frames=FRAMES, fps=24, size=(320, 240))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"

    first = _start(tmp_path, tiny_model_dir, port, log)
    try:
        _wait_healthy(base, first, log)
        scan_url = base + _post_file(f"{base}/api/v1/scans", video)["url"]
        deadline = time.monotonic() + TIMEOUT
        while True:
            scan = _get(scan_url)
            if scan["status"] == "running" and scan["progress"]["done"] >= 1:
                break
            assert scan["status"] in ("queued", "running"), f"the scan ended before it could be interrupted: {scan['status']}"
            assert time.monotonic() < deadline, "the scan never started"
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)  # no shutdown code runs
    finally:
        if first.poll() is None:
            first.kill()
        first.wait()
    # Really interrupted in the middle: the database still says so.
    store = ScanStore(tmp_path / "scans.sqlite3")
    left = store.get(scan["id"])
    store.close()
    assert left is not None and left.status == "running" and left.progress_done < FRAMES

    second = _start(tmp_path, tiny_model_dir, port, log)
    try:
        _wait_healthy(base, second, log)
        deadline = time.monotonic() + TIMEOUT
        while (scan := _get(scan_url))["status"] not in ("done", "error"):
            assert time.monotonic() < deadline, f"the scan did not finish after the restart: {scan}"
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGINT)
        try:
            second.wait(timeout=15)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait()
    assert scan["status"] == "done", scan
    assert scan["result"]["media"]["kind"] == "video"
    assert scan["result"]["media"]["sampled_frames"] == len(scan["result"]["frames"]) == FRAMES
    assert not any((tmp_path / "uploads").iterdir())  # the upload was removed once scanned
