"""The Ray engine: the same tasks, run by Ray actors that each hold one Detector.

The driver (the ``deepdetector batch`` process) keeps the job store and hands out tasks exactly as
with the local engine; actors only hash and scan. So the results, the store and the outputs are
the same as with the local engine, and an interrupted Ray run resumes like a local one.

Requirements on a cluster: every node has DeepDetector (and the model, if ``--model`` is given)
installed at the same paths, and sees the files to scan at the same paths as the driver (a shared
or network file system). Ray is imported only here: the ``ray`` extra is optional.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from deepdetector.batch.local_engine import PREFETCH, EngineError, default_workers
from deepdetector.batch.tasks import Outcome, Task, Worker
from deepdetector.config import ScanConfig
from deepdetector.errors import ConfigError, DeepDetectorError


class _ActorBody:
    """What one Ray actor runs: a :class:`Worker`, or the reason it could not be built."""

    def __init__(self, config: ScanConfig) -> None:
        self.worker: Worker | None = None
        self.failure: str | None = None
        try:
            self.worker = Worker(config)
        except DeepDetectorError as exc:
            self.failure = str(exc)
        except Exception as exc:
            self.failure = f"the scanner could not start ({type(exc).__name__}: {exc})"

    def ready(self) -> str | None:
        """None when the actor can scan, else why not."""
        return self.failure

    def run(self, task: Task) -> Outcome:
        assert self.worker is not None
        return self.worker.run(task)


@dataclass
class _Actor:
    handle: Any
    tasks: dict[Any, Task] = field(default_factory=dict)  # object ref -> task


class RayEngine:
    """Runs tasks on Ray actors (``workers`` of them, one CPU each).

    Args:
        config: the scan settings every actor's Detector is built with.
        workers: number of actors (default: the CPUs of the Ray cluster).
        address: a Ray cluster to join (``auto``, ``HOST:PORT`` or ``ray://HOST:10001``); None joins
            the Ray instance this process already started, or starts a local one.
    """

    name = "ray"

    def __init__(self, config: ScanConfig, workers: int | None = None, address: str | None = None) -> None:
        self.config = config
        self.address = address
        self.workers = workers or 0
        self.capacity = 0
        self._ray: Any = None
        self._owns_ray = False
        self._actors: list[_Actor] = []
        self._remote_cls: Any = None
        self._deaths_without_progress = 0

    def start(self) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("the Ray engine needs Ray: pip install 'deepdetector[ray]'") from None
        self._ray = ray
        if not ray.is_initialized():
            try:
                if self.address is None:
                    ray.init(num_cpus=self.workers or default_workers(), include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
                else:
                    ray.init(address=self.address, log_to_driver=False, logging_level=logging.ERROR)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(f"cannot start or join Ray{' at ' + self.address if self.address else ''}: {exc}") from None
            self._owns_ray = True
        if not self.workers:
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.capacity = self.workers * (1 + PREFETCH)
        self._remote_cls = ray.remote(num_cpus=1, max_restarts=0)(_ActorBody)
        self._actors = [_Actor(self._remote_cls.remote(self.config)) for _ in range(self.workers)]
        for failure in ray.get([a.handle.ready.remote() for a in self._actors]):
            if failure:
                raise EngineError(failure)

    def outstanding(self) -> int:
        return sum(len(a.tasks) for a in self._actors)

    def submit(self, task: Task) -> None:
        actor = min(self._actors, key=lambda a: len(a.tasks))
        actor.tasks[actor.handle.run.remote(task)] = task

    def poll(self, timeout: float) -> list[Outcome]:
        ray = self._ray
        refs = [ref for a in self._actors for ref in a.tasks]
        if not refs:
            return []
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        outcomes: list[Outcome] = []
        ready_set = set(ready)
        for index, actor in enumerate(self._actors):
            done = [ref for ref in actor.tasks if ref in ready_set]
            died = False
            for ref in done:
                task = actor.tasks.pop(ref)
                try:
                    outcomes.append(ray.get(ref))
                    self._deaths_without_progress = 0
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                    outcomes.append(Outcome(task, crashed=True, error=f"Ray actor died ({type(exc).__name__})"))
                    died = True
                except ray.exceptions.RayError as exc:  # the task itself failed; the actor lives on
                    outcomes.append(Outcome(task, crashed=True, error=f"the task failed on Ray ({type(exc).__name__})"))
            if died:
                # the actor is gone: everything else it held is lost too
                for task in actor.tasks.values():
                    outcomes.append(Outcome(task, crashed=True, error="Ray actor died"))
                self._deaths_without_progress += 1
                if self._deaths_without_progress > 3 * self.workers:
                    raise EngineError("Ray actors keep dying before finishing any file")
                self._actors[index] = _Actor(self._remote_cls.remote(self.config))
        return outcomes

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for actor in self._actors:
            try:
                ray.kill(actor.handle)
            except Exception:
                pass
        self._actors = []
        if self._owns_ray:
            ray.shutdown()
        self._ray = None
