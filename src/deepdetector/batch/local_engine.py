"""The local engine: worker processes on this machine, each holding one Detector.

Each worker is a ``spawn``-ed process (no state inherited from the driver, safe with onnxruntime
and OpenCV threads) with its own inbox pipe, so the driver always knows which tasks a worker
holds, and its own result pipe, so a worker killed in the middle of sending a result can only
garble its own pipe, never another worker's. When a worker dies (a decoder crash, the OOM killer,
``kill -9``), the tasks it held come back as ``crashed`` outcomes and a new worker takes its place.

When the driver dies (``kill -9``), its workers leave at once and without a word: a watch thread
in each sees that the parent is gone (even in the middle of a scan), and the inbox pipe's other end
closes. Plain pipes, not ``multiprocessing.Queue``, carry the tasks: a queue's semaphores would be
reported as leaked by the resource tracker when the driver cannot clean them up.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from deepdetector.batch.tasks import Outcome, Task, Worker
from deepdetector.config import ScanConfig
from deepdetector.errors import DeepDetectorError

#: Tasks queued per worker beyond the one it is running (keeps workers busy, queues bounded).
PREFETCH = 2


class EngineError(DeepDetectorError):
    """The workers could not start (for example the model cannot be loaded) or keep dying."""


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


#: How often a worker checks that its driver is still alive (seconds).
PARENT_CHECK_S = 0.2


def _leave_quietly() -> None:
    """End this worker now, printing nothing (no traceback, no exit handlers: the driver is gone)."""
    os._exit(0)


def _watch_parent(parent_pid: int) -> None:
    """Worker thread: leave as soon as the driver is gone (re-parented: ``getppid`` changes)."""
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            _leave_quietly()


def _worker_main(config: ScanConfig, inbox: Connection, results: Connection, parent_pid: int) -> None:
    """Body of a worker process: build the Detector once, then run tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="watch-driver", daemon=True).start()

    def send(message: tuple) -> None:
        try:
            results.send(message)
        except OSError:  # the driver closed its end or died: nobody to tell
            _leave_quietly()

    try:
        worker = Worker(config)
    except DeepDetectorError as exc:
        send(("fatal", str(exc)))
        return
    except Exception as exc:  # anything else that stops the model from loading
        send(("fatal", f"the scanner could not start ({type(exc).__name__}: {exc})"))
        return
    send(("ready", os.getpid()))
    while True:
        try:
            task = inbox.recv()
        except (EOFError, OSError):  # the driver closed the inbox or died
            return
        if task is None:
            return
        send(("done", worker.run(task)))


@dataclass
class _Slot:
    """One worker process and the tasks it holds."""

    process: Any
    inbox: Connection  # the driver's writing end of this worker's task pipe
    results: Connection  # the driver's reading end of this worker's result pipe
    tasks: dict[int, Task] = field(default_factory=dict)


class LocalEngine:
    """Runs tasks on ``workers`` local processes.

    Args:
        config: the scan settings every worker's Detector is built with.
        workers: number of processes (default: one per core).
    """

    name = "local"

    def __init__(self, config: ScanConfig, workers: int | None = None) -> None:
        self.config = config
        self.workers = workers or default_workers()
        self.capacity = self.workers * (1 + PREFETCH)
        self._ctx = mp.get_context("spawn")
        self._slots: list[_Slot] = []
        self._deaths_without_progress = 0

    # ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._slots = [self._spawn(i) for i in range(self.workers)]

    def _spawn(self, index: int) -> _Slot:
        task_reader, task_writer = self._ctx.Pipe(duplex=False)
        reader, writer = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_worker_main, args=(self.config, task_reader, writer, os.getpid()), name=f"deepdetector-batch-{index}", daemon=True
        )
        proc.start()
        writer.close()  # the worker holds the only writing end: its death shows as end-of-file here
        task_reader.close()  # and the only reading end of its inbox: the driver's death shows there
        return _Slot(process=proc, inbox=task_writer, results=reader)

    @property
    def pids(self) -> list[int]:
        """Process ids of the current workers."""
        return [s.process.pid for s in self._slots]

    def outstanding(self) -> int:
        return sum(len(s.tasks) for s in self._slots)

    def submit(self, task: Task) -> None:
        """Hand ``task`` to the least busy worker (the caller keeps at most ``capacity`` outstanding)."""
        slot = min(self._slots, key=lambda s: len(s.tasks))
        slot.tasks[task.id] = task
        try:
            slot.inbox.send(task)  # a few hundred bytes, at most 1 + PREFETCH waiting: never blocks long
        except OSError:
            pass  # the worker is gone: the next poll reports its tasks as crashed and replaces it

    def poll(self, timeout: float) -> list[Outcome]:
        """Outcomes that arrived within ``timeout`` seconds (all that are ready, possibly none)."""
        outcomes: list[Outcome] = []
        by_conn = {slot.results: index for index, slot in enumerate(self._slots)}
        dead: set[int] = set()
        for conn in wait(list(by_conn), timeout=max(0.0, timeout)):
            index = by_conn[conn]  # type: ignore[index]
            try:
                while conn.poll():  # type: ignore[union-attr]
                    self._handle(index, conn.recv(), outcomes)  # type: ignore[union-attr]
            except (EOFError, OSError, pickle.UnpicklingError):  # the worker is gone (or died mid-message)
                dead.add(index)
        dead.update(i for i, slot in enumerate(self._slots) if not slot.process.is_alive())
        for index in sorted(dead):
            self._replace(index, outcomes)
        return outcomes

    def _handle(self, index: int, message: tuple, outcomes: list[Outcome]) -> None:
        kind, payload = message
        if kind == "fatal":
            raise EngineError(payload)
        if kind == "done":
            self._slots[index].tasks.pop(payload.task.id, None)
            outcomes.append(payload)
            self._deaths_without_progress = 0

    def _replace(self, index: int, outcomes: list[Outcome]) -> None:
        """Report the tasks of a dead worker as crashed and start a new worker in its place."""
        slot = self._slots[index]
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(timeout=5.0)
        for task in slot.tasks.values():
            outcomes.append(Outcome(task, crashed=True, error=f"worker process died (exit code {slot.process.exitcode})"))
        self._deaths_without_progress += 1
        if self._deaths_without_progress > 3 * self.workers:
            raise EngineError("batch worker processes keep dying before finishing any file")
        slot.inbox.close()  # tasks left in a dead worker's inbox are dropped
        slot.results.close()
        self._slots[index] = self._spawn(index)

    def close(self) -> None:
        """Stop every worker (politely, then by force)."""
        for slot in self._slots:
            try:
                slot.inbox.send(None)
            except (ValueError, OSError):
                pass
        deadline = time.monotonic() + 5.0
        for slot in self._slots:
            slot.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=5.0)
            slot.inbox.close()
            slot.results.close()
        self._slots = []
