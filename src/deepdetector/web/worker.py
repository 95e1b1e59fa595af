"""The bounded scan queue and the pool of worker threads that analyse uploads.

Each worker thread owns one :class:`deepdetector.Detector` (onnxruntime sessions may be shared,
but a detector backend keeps per-call state, so one each is the simple safe choice). A worker
takes a scan id, runs ``Detector.scan`` on the uploaded file, stores the result JSON and the
heatmap PNGs, and deletes the upload.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepdetector.config import ScanConfig
from deepdetector.types import FileResult
from deepdetector.web.store import HeatmapImage, ScanStore

log = logging.getLogger("deepdetector.web")

DetectorFactory = Callable[[ScanConfig], Any]
#: Heatmap pictures show the crop the model saw and the same crop with the heat drawn on it.
HEATMAP_SIZE = 224
#: Seconds between progress writes to the database while a video is analysed.
PROGRESS_INTERVAL = 0.2


class ScanQueue:
    """A FIFO of scan ids with a fixed number of places.

    An upload first ``reserve``s a place (so a full queue is refused before the body is read),
    then ``put``s its id or ``release``s the place. Scans recovered after a restart are put with
    ``force=True``: nothing accepted earlier is ever dropped, even if it overfills the queue.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[str] = deque()
        self._reserved = 0
        self._closed = False
        self._cond = threading.Condition()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def position(self, scan_id: str) -> int | None:
        """1 for the next scan to be analysed; ``None`` when ``scan_id`` is not waiting here."""
        with self._cond:
            try:
                return self._items.index(scan_id) + 1
            except ValueError:
                return None

    def reserve(self) -> bool:
        with self._cond:
            if len(self._items) + self._reserved >= self.capacity:
                return False
            self._reserved += 1
            return True

    def release(self) -> None:
        with self._cond:
            self._reserved = max(0, self._reserved - 1)

    def put(self, scan_id: str, reserved: bool = True, force: bool = False) -> bool:
        """Add ``scan_id``; with ``reserved`` it takes the place reserved earlier."""
        with self._cond:
            if reserved:
                self._reserved = max(0, self._reserved - 1)
            elif not force and len(self._items) + self._reserved >= self.capacity:
                return False
            self._items.append(scan_id)
            self._cond.notify()
            return True

    def get(self, timeout: float) -> str | None:
        """The next id, or ``None`` after ``timeout`` seconds or once the queue is closed."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._closed or not self._items:
                return None
            return self._items.popleft()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def upload_path(uploads_dir: Path, scan_id: str) -> Path:
    """Where an upload waits for its scan; the name comes from the server-made id only."""
    return uploads_dir / f"{scan_id}.upload"


def render_heatmaps(result: FileResult, limit: int) -> list[HeatmapImage]:
    """PNG pictures of the faces whose frame was kept by the scan (every face of an image; each
    person's most suspicious frame in a video), most suspicious first, at most ``limit``."""
    from PIL import Image

    from deepdetector.report.drawing import face_panel

    chosen = [(i, f) for i, f in enumerate(result.faces) if f.heatmap is not None and f.frame_index in result.keyframes]
    chosen.sort(key=lambda item: (-item[1].probability, item[0]))
    images: list[HeatmapImage] = []
    for i, face in chosen[:limit]:
        panel = face_panel(result.keyframes[face.frame_index], face, size=HEATMAP_SIZE)
        buf = io.BytesIO()
        Image.fromarray(panel).save(buf, format="PNG", optimize=False, compress_level=6)
        images.append(HeatmapImage(i, face.frame_index, face.track_id, float(face.probability), buf.getvalue()))
    return images


class WorkerPool:
    """``workers`` threads taking scan ids from ``queue`` until :meth:`stop`."""

    def __init__(
        self,
        store: ScanStore,
        queue: ScanQueue,
        uploads_dir: Path,
        scan_config: ScanConfig,
        workers: int,
        max_heatmaps: int,
        detector_factory: DetectorFactory,
    ) -> None:
        self.store = store
        self.queue = queue
        self.uploads_dir = uploads_dir
        self.max_heatmaps = max_heatmaps
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Build the detectors now, so a missing or damaged model stops the service at startup with
        # a clear message instead of failing every scan later.
        config = scan_config
        if workers > 1 and config.threads == 0:
            config = config.with_(threads=max(1, (os.cpu_count() or 1) // workers))  # share the cores
        self.detectors = [detector_factory(config) for _ in range(workers)]

    @property
    def size(self) -> int:
        return len(self.detectors)

    def start(self) -> None:
        for n, detector in enumerate(self.detectors):
            t = threading.Thread(target=self._run, args=(detector,), name=f"deepdetector-worker-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the workers to stop after their current scan. A scan still running when the process
        ends stays ``running`` in the database and is analysed again at the next start."""
        self._stop.set()
        self.queue.close()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _run(self, detector: Any) -> None:
        while not self._stop.is_set():
            scan_id = self.queue.get(timeout=0.5)
            if scan_id is None:
                continue
            try:
                self._process(detector, scan_id)
            except Exception as exc:  # a bug must not kill the worker thread; the scan says what happened
                log.exception("scan %s failed", scan_id)
                self.store.fail(scan_id, f"internal error while analysing this file ({type(exc).__name__})")
                upload_path(self.uploads_dir, scan_id).unlink(missing_ok=True)

    def _process(self, detector: Any, scan_id: str) -> None:
        record = self.store.get(scan_id)
        if record is None or record.status not in ("queued", "running"):
            return
        path = upload_path(self.uploads_dir, scan_id)
        if not path.is_file():
            self.store.fail(scan_id, "the uploaded file is missing from the server; please upload it again")
            return
        self.store.start(scan_id)
        last = [0.0]

        def on_progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL or done >= total:
                last[0] = now
                self.store.progress(scan_id, done, total)

        result: FileResult = detector.scan(path, on_progress=on_progress)
        record_json = result.to_dict()
        record_json["path"] = record.filename  # never reveal where the server kept the file
        heatmaps = render_heatmaps(result, self.max_heatmaps) if result.ok else []
        for n, h in enumerate(heatmaps):
            record_json["faces"][h.face]["heatmap_file"] = f"/api/v1/scans/{scan_id}/heatmaps/{n}.png"
        self.store.finish(scan_id, record_json, heatmaps)
        path.unlink(missing_ok=True)
        log.info("scan %s: %s", scan_id, result.verdict.value)
