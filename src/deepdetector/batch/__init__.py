"""Batch scanning at scale: resumable, deduplicated, on local worker processes or a Ray cluster.

    deepdetector batch archive/ --out results.jsonl              # local worker processes
    deepdetector batch archive/ --out results.parquet --engine ray --address auto

    from deepdetector.batch import BatchOptions, run_batch
    summary = run_batch(BatchOptions(sources=[Path("archive")], out=Path("results.jsonl")))

Layout: ``sources`` (what to scan, streamed), ``store`` (the SQLite job store), ``tasks`` (the work
a worker does), ``local_engine`` / ``ray_engine`` (who does it), ``runner`` (the driver loop),
``output`` (JSONL / CSV / Parquet), ``cli`` (the ``batch`` command). See docs/batch.md.
"""

from deepdetector.batch.runner import BatchOptions, BatchSummary, run_batch
from deepdetector.batch.store import JobStore

__all__ = ["BatchOptions", "BatchSummary", "JobStore", "run_batch"]
