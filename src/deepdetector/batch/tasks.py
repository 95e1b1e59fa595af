"""The two kinds of work an engine runs, and the code a worker runs for each.

- ``hash``: read a file once and return its content hash (BLAKE2b, streamed in 1 MiB blocks).
  Hashing runs on the workers, not the driver, so that reading the files scales with the workers.
- ``scan``: run :meth:`deepdetector.Detector.scan` on a file and return ``FileResult.to_dict()``.

Both engines (local processes, Ray actors) hold one :class:`Worker` per process and call
:meth:`Worker.run` for each task; the driver only moves small :class:`Task` and :class:`Outcome`
records and writes outcomes into the job store.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from deepdetector.config import ScanConfig

HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class Task:
    """One unit of work: hash a file, or scan the file holding a given content."""

    id: int  # unique within a run
    kind: Literal["hash", "scan"]
    key: int | str  # files.id for "hash", the content hash for "scan"
    path: str


@dataclass
class Outcome:
    """What came back for a task. ``crashed`` means the worker died while running it."""

    task: Task
    value: Any = None  # hash: the hex digest; scan: the FileResult record (dict)
    error: str | None = None  # hash: why the file could not be read
    crashed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def hash_file(path: str) -> str:
    """The BLAKE2b-160 hex digest of the file's content, read in blocks (memory stays flat)."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        while block := fh.read(HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


def read_error(exc: OSError) -> str:
    """A person's message for a file that cannot be read (same wording as the media stage)."""
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if isinstance(exc, PermissionError):
        return "no permission to read the file"
    return f"cannot read the file ({exc.strerror or exc})"


def batch_config(config: ScanConfig) -> ScanConfig:
    """The settings a batch worker scans with: heatmaps off (the batch outputs do not carry them,
    probabilities are the same) and, unless set, one onnxruntime thread per worker process."""
    return config.with_(heatmaps=False, threads=config.threads or 1)


def limit_threads(threads: int) -> None:
    """Give this worker process ``threads`` threads in every native thread pool it uses.

    Must run before the face detector is first imported: YuNet (yuface) runs on OpenMP, which
    reads ``OMP_NUM_THREADS`` once, when it loads. Without this, each worker starts one OpenMP
    thread per core, and on a busy machine their spinning made detection about 5x slower
    (benchmarks/bench_batch.py, one worker, busy 2-core machine: 1.06 s against 0.24 s per image).
    """
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import cv2

    cv2.setNumThreads(threads)


class Worker:
    """Runs tasks in one process with one :class:`deepdetector.Detector` (one onnxruntime session)."""

    def __init__(self, config: ScanConfig) -> None:
        config = batch_config(config)
        limit_threads(config.threads)
        from deepdetector.api import Detector

        self.detector = Detector(config)

    def run(self, task: Task) -> Outcome:
        """Run one task. Never raises for a bad file: unreadable files and broken media come back
        as an ``error`` (hash) or an ``error`` verdict (scan)."""
        if task.kind == "hash":
            try:
                return Outcome(task, value=hash_file(task.path))
            except OSError as exc:
                return Outcome(task, error=read_error(exc))
        result = self.detector.scan(task.path)
        return Outcome(task, value=result.to_dict())
