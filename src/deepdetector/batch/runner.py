"""The batch driver: list files into the job store, hand work to an engine, store what comes back.

    from deepdetector.batch import BatchOptions, run_batch
    summary = run_batch(BatchOptions(sources=[Path("archive/")], out=Path("results.jsonl")))

The driver is one loop in one process. Each turn it lists a chunk of files into the store (so the
listing and the scanning overlap and memory stays flat), keeps the engine's workers fed (scans of
new content first, then files to hash), and writes every outcome into the store before handing out
more work. Output files are written from the store at the end.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from deepdetector.batch.output import output_format, write_output
from deepdetector.batch.sources import SourceFile, describe_source, iter_sources, manifest_paths
from deepdetector.batch.store import JobStore, check_store_path, default_job_path, error_record
from deepdetector.batch.tasks import Outcome, Task
from deepdetector.config import ScanConfig
from deepdetector.errors import ConfigError

LIST_CHUNK = 1000  # files listed into the store per turn of the loop
MAX_CRASHES = 2  # a file that kills this many workers is recorded as an error

#: ScanConfig fields that do not change results (left out of the job's identity).
_NEUTRAL_SETTINGS = ("threads", "batch_size", "heatmaps", "model_path")

ProgressCallback = Callable[[int, "int | None"], None]


class Engine(Protocol):
    """What the driver needs from an engine (see local_engine.LocalEngine, ray_engine.RayEngine)."""

    name: str
    workers: int
    capacity: int

    def start(self) -> None: ...
    def submit(self, task: Task) -> None: ...
    def poll(self, timeout: float) -> list[Outcome]: ...
    def close(self) -> None: ...


@dataclass
class BatchOptions:
    """Everything ``deepdetector batch`` was asked to do."""

    sources: list[Path]
    out: Path
    job: Path | None = None  # default: next to ``out`` (see store.default_job_path)
    engine: str = "local"  # "local" or "ray"
    workers: int | None = None  # default: one per core (local) or the cluster's CPUs (ray)
    address: str | None = None  # Ray cluster address
    min_score: float | None = None  # keep only rows with probability >= this in the output
    config: ScanConfig = field(default_factory=ScanConfig)

    @property
    def job_path(self) -> Path:
        return self.job if self.job is not None else default_job_path(self.out)


@dataclass
class BatchSummary:
    """What a batch did: counts per verdict over the whole job, this run's speed, where things are."""

    total: int
    counts: dict[str, int]
    top: list[tuple[str, float, str]]  # (path, probability, verdict), most suspicious first
    errors: list[tuple[str, str]]  # (path, message), first few
    scans: int  # distinct contents scanned
    reused: int  # files whose result was reused from an identical file
    finished_this_run: int
    seconds: float
    engine: str
    workers: int
    out: Path
    job: Path
    rows_written: int = 0
    interrupted: bool = False

    @property
    def files_per_second(self) -> float:
        return self.finished_this_run / self.seconds if self.seconds > 0 else 0.0

    @property
    def n_errors(self) -> int:
        return self.counts.get("error", 0)


def job_identity(options: BatchOptions) -> dict[str, Any]:
    """What must stay the same for a job to be resumed: the sources, the model and the settings
    that change results."""
    from deepdetector.model import ModelCard, default_card_path
    from deepdetector.model.stills import stills_card_path

    config = options.config
    card = ModelCard.load(config.model_path if config.model_path is not None else default_card_path())
    stills_path = stills_card_path(card) if config.stills else None
    stills = ModelCard.load(stills_path) if stills_path is not None else None
    settings = {k: v for k, v in config.to_dict().items() if k not in _NEUTRAL_SETTINGS}
    return {
        "sources": [str(p.resolve()) for p in options.sources],
        "model": f"{card.label} sha256:{card.sha256}" + (f" + stills sha256:{stills.sha256}" if stills is not None else ""),
        "settings": settings,
    }


def make_engine(options: BatchOptions) -> Engine:
    """The engine named by ``options.engine``."""
    if options.engine == "local":
        from deepdetector.batch.local_engine import LocalEngine

        return LocalEngine(options.config, options.workers)
    if options.engine == "ray":
        from deepdetector.batch.ray_engine import RayEngine

        return RayEngine(options.config, options.workers, options.address)
    raise ConfigError(f"unknown engine {options.engine!r}; use 'local' or 'ray'")


def check_options(options: BatchOptions) -> None:
    """Refuse bad options before anything starts (missing sources, bad output suffix, ...)."""
    if not options.sources:
        raise ConfigError("give at least one SOURCE: a folder, a text file of paths, or a manifest CSV")
    for source in options.sources:
        if describe_source(source) == "manifest":
            next(iter(manifest_paths(source)), None)  # raises ConfigError when there is no path column
    output_format(options.out)
    for what, target in (("output", options.out), ("job store", options.job_path)):
        for source in options.sources:  # writing over a source (a manifest, a list, a named file) would destroy it
            if os.path.realpath(target) == os.path.realpath(source) or (target.exists() and source.exists() and os.path.samefile(target, source)):
                raise ConfigError(f"the {what} {target} is the source {source}: writing it would replace that source; choose another path")
    if options.engine not in ("local", "ray"):
        raise ConfigError(f"unknown engine {options.engine!r}; use 'local' or 'ray'")
    if options.workers is not None and options.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if options.config.frames < 1:
        raise ConfigError("--frames must be at least 1")
    options.config.validate()  # in the workers a bad setting would fail every file; refuse it here, once
    check_store_path(options.job_path)


def run_batch(options: BatchOptions, on_progress: ProgressCallback | None = None, engine: Engine | None = None) -> BatchSummary:
    """Run (or resume) a batch job and write its output.

    Args:
        options: what to scan and where to write.
        on_progress: called with ``(finished, total)`` as files finish; ``total`` is None while the
            sources are still being listed.
        engine: an engine to use instead of the one ``options`` names (tests, embedding).

    Returns the summary. On Ctrl-C (KeyboardInterrupt) the work in flight is put back to pending,
    the store is closed, and a summary with ``interrupted=True`` is returned without writing the output.

    Raises:
        DeepDetectorError (ConfigError, ModelError, JobStoreError, EngineError, OutputError): a message for a person.
    """
    check_options(options)
    identity = job_identity(options)
    started = time.perf_counter()
    store = JobStore(options.job_path)
    try:
        store.check_identity(identity)
        store.recover()
        engine = engine or make_engine(options)
        driver = _Driver(store, engine, iter_sources(options.sources), on_progress)
        try:
            with _StopOnSignal() as stop:
                driver.stop = stop
                driver.run()
            interrupted = stop.requested
        except KeyboardInterrupt:  # a second Ctrl-C, or one outside the loop: drop the open transaction
            store.rollback()
            interrupted = True
        finally:
            engine.close()
        if interrupted:
            store.recover()
        rows = 0 if interrupted else write_output(store, options.out, options.min_score)
        stats = store.scan_stats()
        return BatchSummary(
            total=store.progress().total,
            counts=store.verdict_counts(),
            top=store.top_suspicious(10),
            errors=store.errors(10),
            scans=stats["scans"],
            reused=stats["reused"],
            finished_this_run=driver.finished - driver.finished_at_start,
            seconds=time.perf_counter() - started,
            engine=engine.name,
            workers=engine.workers,
            out=options.out,
            job=options.job_path,
            rows_written=rows,
            interrupted=interrupted,
        )
    except BaseException:
        store.rollback()  # never commit half of a step; what was committed stays, the rest is redone
        raise
    finally:
        store.close()


class _Driver:
    """The scheduling loop (see the module docstring)."""

    def __init__(self, store: JobStore, engine: Engine, listing: Iterator[SourceFile], on_progress: ProgressCallback | None) -> None:
        self.store = store
        self.engine = engine
        self.listing = listing
        self.listing_done = False
        self.on_progress = on_progress
        self.inflight: dict[int, Task] = {}
        self.scan_queue: deque[Task] = deque()
        self.hash_queue: deque[Task] = deque()
        self.ids = itertools.count(1)
        self.stop = _StopOnSignal()
        self.started = False
        progress = store.progress()
        self.total = progress.total
        self.finished = self.finished_at_start = progress.finished

    def run(self) -> None:
        self._report()
        while not self.stop.requested:
            if not self.listing_done:
                self._list_chunk()
            self._feed()
            if not self.inflight:
                if self.listing_done:
                    break
                continue
            outcomes = self.engine.poll(0.5 if self.listing_done else 0.0)
            for outcome in outcomes:
                self._record(outcome)
            self.store.commit()
            if outcomes:
                self._report()
        self.store.commit()
        self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.finished, self.total if self.listing_done else None)

    def _list_chunk(self) -> None:
        chunk = list(itertools.islice(self.listing, LIST_CHUNK))
        if chunk:
            self.store.add_files(chunk)
            self.store.commit()
            self.total = self._max_id()
        if len(chunk) < LIST_CHUNK:
            self.listing_done = True
            progress = self.store.progress()  # exact counts once everything is listed
            self.total, self.finished = progress.total, progress.finished
            self._report()

    def _max_id(self) -> int:
        return self.store.db.execute("SELECT COALESCE(MAX(id), 0) FROM files").fetchone()[0]

    def _next_task(self) -> Task | None:
        want = max(1, self.engine.capacity)
        if not self.scan_queue:
            self.scan_queue.extend(Task(next(self.ids), "scan", h, p) for h, p in self.store.take_scans(want))
        if self.scan_queue:
            return self.scan_queue.popleft()
        if not self.hash_queue:
            self.hash_queue.extend(Task(next(self.ids), "hash", i, p) for i, p in self.store.take_files(want))
        if self.hash_queue:
            return self.hash_queue.popleft()
        return None

    def _feed(self) -> None:
        if not self.started:
            if not self.store.has_work():
                return
            self.engine.start()  # only when there is something to do: a finished job starts no workers
            self.started = True
        while len(self.inflight) < self.engine.capacity:
            task = self._next_task()
            if task is None:
                break
            self.inflight[task.id] = task
            self.engine.submit(task)
        self.store.commit()  # tasks handed out are marked running before their results can arrive

    def _record(self, outcome: Outcome) -> None:
        task = outcome.task
        if self.inflight.pop(task.id, None) is None:
            return
        if task.kind == "hash":
            assert isinstance(task.key, int)
            if outcome.crashed:
                self.store.set_file_error(task.key, f"the worker process died while reading this file ({outcome.error})")
                self.finished += 1
            elif outcome.error is not None:
                self.store.set_file_error(task.key, outcome.error)
                self.finished += 1
            elif self.store.set_hash(task.key, outcome.value, task.path) == "done":
                self.finished += 1
            return
        assert isinstance(task.key, str)
        if outcome.crashed:
            if self.store.record_crash(task.key, MAX_CRASHES):
                return  # back to pending: another worker will try it
            record = error_record(task.path, f"the scanner process died on this file {MAX_CRASHES} times ({outcome.error}); skipped")
            self.finished += self.store.set_result(task.key, record)
            return
        self.finished += self.store.set_result(task.key, outcome.value)


class _StopOnSignal:
    """While active, the first Ctrl-C (SIGINT) or SIGTERM only asks the loop to stop at the next
    safe point (between store transactions); a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._saved: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self) -> "_StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()
