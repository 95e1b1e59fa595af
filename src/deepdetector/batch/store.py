"""The job store: one SQLite file (WAL mode) that makes a batch resumable and deduplicated.

Two tables:

``files``: one row per listed file: ``path`` (unique), ``size``, ``mtime``, content ``hash`` and
``state``:

- ``pending``: listed, not hashed yet;
- ``hashing``: a worker is hashing it;
- ``hashed``: hash known; its result is the ``scans`` row of that hash;
- ``error``: could not be read (``error`` says why); final.

``scans``: one row per distinct content hash: ``state`` (``pending``, ``running``, ``done``), the
``FileResult.to_dict()`` record as JSON, and counters: ``scan_count`` (scans completed: 1 for every
done row, whatever interruptions happened), ``attempts`` (times handed to a worker), ``crashes``
(workers that died on it).

A file whose content was already scanned (same hash, in this run or an earlier one) is not scanned
again. Every change is committed before the next task is handed out, so a killed run loses at most
the scans that were in flight; :meth:`JobStore.recover` puts those back to pending on the next run.
A file whose size or mtime changed since it was listed is hashed (and, if its content is new,
scanned) again.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepdetector.batch.sources import SourceFile
from deepdetector.errors import ConfigError, DeepDetectorError

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER,
    mtime REAL,
    hash TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    error TEXT
);
CREATE INDEX IF NOT EXISTS files_state ON files (state);
CREATE INDEX IF NOT EXISTS files_hash ON files (hash);
CREATE TABLE IF NOT EXISTS scans (
    hash TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    verdict TEXT,
    probability REAL,
    result TEXT,
    scan_count INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    crashes INTEGER NOT NULL DEFAULT 0,
    seconds REAL
);
CREATE INDEX IF NOT EXISTS scans_state ON scans (state);
CREATE INDEX IF NOT EXISTS scans_probability ON scans (probability);
"""


class JobStoreError(DeepDetectorError):
    """The job store cannot be opened, is locked by another run, or belongs to another job."""


@dataclass(frozen=True)
class Progress:
    """How far a job is: ``finished`` of ``total`` files have a final result."""

    total: int
    finished: int


@dataclass(frozen=True)
class Row:
    """One file's outcome as read back for the output: its path, content hash and result record."""

    path: str
    hash: str | None
    result: dict[str, Any]


class JobStore:
    """A batch job's state on disk. Only one process may run a job at a time (an exclusive lock on
    ``<job>.lock``, released by the OS when the process ends, even on ``kill -9``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JobStoreError(f"cannot create the folder for the job store {self.path}: {exc.strerror or exc}") from None
        self._lock_fh = self._acquire_lock()
        try:
            self.db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # committed rows survive a killed process
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._release_lock()
            raise JobStoreError(f"{self.path} is not a usable job store ({exc}); pass another --job path") from None
        self._in_tx = False

    # --- locking -------------------------------------------------------------------------------
    def _acquire_lock(self):
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fh = open(lock_path, "a+")
        except OSError as exc:
            raise JobStoreError(f"cannot create the lock file {lock_path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise JobStoreError(f"the job {self.path} is being run by another process; wait for it to finish or pass another --job path") from None
        return fh

    def _release_lock(self) -> None:
        if self._lock_fh is not None:
            try:
                fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            finally:
                self._lock_fh.close()
                self._lock_fh = None

    def close(self) -> None:
        """Commit and close the database, release the lock."""
        try:
            self.commit()
            self.db.close()
        finally:
            self._release_lock()

    def __enter__(self) -> "JobStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transactions --------------------------------------------------------------------------
    def _begin(self) -> None:
        if not self._in_tx:
            self.db.execute("BEGIN")
            self._in_tx = True

    def commit(self) -> None:
        """Make every change so far durable."""
        if self._in_tx:
            self.db.execute("COMMIT")
            self._in_tx = False

    def rollback(self) -> None:
        """Drop the changes since the last commit (used when interrupted in the middle of one)."""
        if self._in_tx:
            self.db.execute("ROLLBACK")
            self._in_tx = False

    # --- job identity --------------------------------------------------------------------------
    def check_identity(self, identity: dict[str, Any]) -> None:
        """Record what the job is (sources, model, scan settings) on first use; on later runs refuse
        different settings, whose results would not be comparable with those already stored.

        Raises:
            JobStoreError: the store was made for another job.
        """
        want = json.dumps(identity, sort_keys=True)
        row = self.db.execute("SELECT value FROM meta WHERE key='identity'").fetchone()
        if row is None:
            self._begin()
            self.db.execute("INSERT INTO meta VALUES ('identity', ?), ('schema', ?)", (want, SCHEMA_VERSION))
            self.commit()
            return
        if row[0] != want and not self._anything_finished():
            # nothing was finished under the old settings (e.g. the first run failed to start):
            # start this job afresh rather than refuse it
            self._begin()
            self.db.execute("DELETE FROM files")
            self.db.execute("DELETE FROM scans")
            self.db.execute("UPDATE meta SET value=? WHERE key='identity'", (want,))
            self.commit()
            return
        if row[0] != want:
            have = json.loads(row[0])
            diffs = [k for k in sorted(set(have) | set(identity)) if have.get(k) != identity.get(k)]
            raise JobStoreError(
                f"the job store {self.path} was made by a batch with other settings ({', '.join(diffs)} differ); "
                "rerun with the same sources and settings to resume it, or pass a new --job path"
            )

    def _anything_finished(self) -> bool:
        return bool(
            self.db.execute("SELECT EXISTS (SELECT 1 FROM scans WHERE state='done') OR EXISTS (SELECT 1 FROM files WHERE state='error')").fetchone()[
                0
            ]
        )

    # --- state changes -------------------------------------------------------------------------
    def recover(self) -> int:
        """Put work left in flight by an interrupted run back to pending. Returns how many items."""
        self._begin()
        n = self.db.execute("UPDATE files SET state='pending' WHERE state='hashing'").rowcount
        n += self.db.execute("UPDATE scans SET state='pending' WHERE state='running'").rowcount
        self.commit()
        return n

    def add_files(self, files: Iterable[SourceFile]) -> None:
        """Insert newly listed files as pending (or as ``error`` when the listing already says why
        they cannot be scanned); a known file whose size or mtime changed, or whose listing error
        is new, is reset. Unchanged files keep their state."""
        self._begin()
        self.db.executemany(
            """INSERT INTO files (path, size, mtime, state, error) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (path) DO UPDATE SET size=excluded.size, mtime=excluded.mtime, hash=NULL,
                   state=excluded.state, error=excluded.error
               WHERE files.size IS NOT excluded.size OR files.mtime IS NOT excluded.mtime
                   OR (excluded.state='error' AND files.error IS NOT excluded.error)""",
            ((f.path, f.size, f.mtime, "error" if f.error else "pending", f.error) for f in files),
        )

    def take_scans(self, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` pending scans as ``(hash, path)``, marked running."""
        rows = self.db.execute("SELECT hash, path FROM scans WHERE state='pending' LIMIT ?", (limit,)).fetchall()
        if rows:
            self._begin()
            self.db.executemany("UPDATE scans SET state='running', attempts=attempts+1 WHERE hash=?", ((h,) for h, _ in rows))
        return rows

    def take_files(self, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` files waiting to be hashed as ``(id, path)``, marked hashing."""
        rows = self.db.execute("SELECT id, path FROM files WHERE state='pending' LIMIT ?", (limit,)).fetchall()
        if rows:
            self._begin()
            self.db.executemany("UPDATE files SET state='hashing' WHERE id=?", ((i,) for i, _ in rows))
        return rows

    def set_hash(self, file_id: int, digest: str, path: str) -> str:
        """Record a file's content hash. Returns what happens next: ``done`` (that content already
        has a result), ``wait`` (it is being scanned for another file) or ``scan`` (a new scan was
        queued for it)."""
        self._begin()
        self.db.execute("UPDATE files SET hash=?, state='hashed' WHERE id=?", (digest, file_id))
        row = self.db.execute("SELECT state FROM scans WHERE hash=?", (digest,)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO scans (hash, path) VALUES (?, ?)", (digest, path))
            return "scan"
        return "done" if row[0] == "done" else "wait"

    def set_file_error(self, file_id: int, message: str) -> None:
        """The file could not be read; this is its final result."""
        self._begin()
        self.db.execute("UPDATE files SET state='error', error=? WHERE id=?", (message, file_id))

    def requeue_file(self, file_id: int) -> None:
        self._begin()
        self.db.execute("UPDATE files SET state='pending' WHERE id=?", (file_id,))

    def set_result(self, digest: str, result: dict[str, Any]) -> int:
        """Store the scan result of a content hash. Returns the number of files it completes."""
        self._begin()
        timings = result.get("timings") or {}
        self.db.execute(
            """UPDATE scans SET state='done', verdict=?, probability=?, result=?, scan_count=scan_count+1, seconds=?
               WHERE hash=?""",
            (result.get("verdict"), result.get("probability"), json.dumps(result), timings.get("total"), digest),
        )
        return self.db.execute("SELECT COUNT(*) FROM files WHERE hash=? AND state='hashed'", (digest,)).fetchone()[0]

    def record_crash(self, digest: str, max_crashes: int) -> bool:
        """A worker died while scanning this content. Returns True when it should be tried again,
        False when it has now crashed ``max_crashes`` times (the caller then stores an error result)."""
        self._begin()
        self.db.execute("UPDATE scans SET crashes=crashes+1, state='pending' WHERE hash=?", (digest,))
        crashes = self.db.execute("SELECT crashes FROM scans WHERE hash=?", (digest,)).fetchone()[0]
        return crashes < max_crashes

    # --- reading -------------------------------------------------------------------------------
    def progress(self) -> Progress:
        total = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM files").fetchone()[0]
        finished = self.db.execute(
            """SELECT (SELECT COUNT(*) FROM files WHERE state='error')
                    + (SELECT COUNT(*) FROM files f JOIN scans s ON s.hash=f.hash
                       WHERE f.state='hashed' AND s.state='done')"""
        ).fetchone()[0]
        return Progress(total=total, finished=finished)

    def has_work(self) -> bool:
        """True when some file waits to be hashed or some content waits to be scanned."""
        return bool(
            self.db.execute(
                "SELECT EXISTS (SELECT 1 FROM files WHERE state='pending') OR EXISTS (SELECT 1 FROM scans WHERE state='pending')"
            ).fetchone()[0]
        )

    def unfinished(self) -> int:
        """Files without a final result yet."""
        p = self.progress()
        return p.total - p.finished

    def rows(self, min_score: float | None = None) -> Iterator[Row]:
        """Every file's final result, ordered by path, read in pages (memory stays flat).

        ``min_score`` keeps only files whose probability of fake is at least that (files without a
        probability, no face or errors, are left out)."""
        last = ""
        page = 1000
        where = "" if min_score is None else "AND s.probability >= :min"
        sql = f"""SELECT f.path, f.hash, f.state, f.error, s.result FROM files f
                  LEFT JOIN scans s ON s.hash=f.hash AND s.state='done'
                  WHERE f.path > :last AND (f.state='error' OR s.result IS NOT NULL) {where}
                  ORDER BY f.path LIMIT :page"""
        while True:
            batch = self.db.execute(sql, {"last": last, "page": page, "min": min_score}).fetchall()
            if not batch:
                return
            for path, digest, state, error, result in batch:
                if state == "error":
                    record = error_record(path, error or "could not read the file")
                else:
                    record = json.loads(result)
                    record["path"] = path  # the scanned copy may have had another name
                yield Row(path=path, hash=digest if state != "error" else None, result=record)
            last = batch[-1][0]

    def verdict_counts(self) -> dict[str, int]:
        """Files per verdict (``error`` includes unreadable files)."""
        counts: dict[str, int] = {}
        for verdict, n in self.db.execute(
            """SELECT s.verdict, COUNT(*) FROM files f JOIN scans s ON s.hash=f.hash
               WHERE f.state='hashed' AND s.state='done' GROUP BY s.verdict"""
        ):
            counts[verdict] = counts.get(verdict, 0) + n
        errors = self.db.execute("SELECT COUNT(*) FROM files WHERE state='error'").fetchone()[0]
        if errors:
            counts["error"] = counts.get("error", 0) + errors
        return counts

    def top_suspicious(self, n: int = 10) -> list[tuple[str, float, str]]:
        """The ``n`` files with the highest probability of fake, as ``(path, probability, verdict)``."""
        return [
            (p, prob, v)
            for p, prob, v in self.db.execute(
                """SELECT f.path, s.probability, s.verdict FROM scans s JOIN files f ON f.hash=s.hash
                   WHERE s.state='done' AND s.probability IS NOT NULL AND f.state='hashed'
                   ORDER BY s.probability DESC, f.path LIMIT ?""",
                (n,),
            )
        ]

    def errors(self, n: int = 10) -> list[tuple[str, str]]:
        """Up to ``n`` files that could not be analysed, as ``(path, message)``."""
        out = [(p, e or "") for p, e in self.db.execute("SELECT path, error FROM files WHERE state='error' ORDER BY path LIMIT ?", (n,))]
        if len(out) < n:
            for path, result in self.db.execute(
                """SELECT f.path, s.result FROM scans s JOIN files f ON f.hash=s.hash
                   WHERE s.state='done' AND s.verdict='error' AND f.state='hashed' ORDER BY f.path LIMIT ?""",
                (n - len(out),),
            ):
                out.append((path, json.loads(result).get("error") or ""))
        return out

    def scan_stats(self) -> dict[str, int]:
        """``scans`` (distinct contents scanned), ``reused`` (files whose result came from another
        file with the same content) and ``max_scan_count`` (1 unless something was scanned twice)."""
        scans, max_count = self.db.execute("SELECT COUNT(*), COALESCE(MAX(scan_count), 0) FROM scans WHERE state='done'").fetchone()
        hashed = self.db.execute("SELECT COUNT(*) FROM files f JOIN scans s ON s.hash=f.hash WHERE f.state='hashed' AND s.state='done'").fetchone()[0]
        return {"scans": scans, "reused": hashed - scans, "max_scan_count": max_count}


def error_record(path: str, message: str) -> dict[str, Any]:
    """The result record of a file that could not be read (same fields as ``FileResult.to_dict``)."""
    from deepdetector.types import FileResult, Verdict

    return FileResult(path=path, verdict=Verdict.ERROR, error=message).to_dict()


def default_job_path(out: Path) -> Path:
    """The job store used when ``--job`` is not given: next to the output, named after it."""
    return out.with_name(out.name + ".job.sqlite")


def check_store_path(path: Path) -> None:
    """Refuse a job path that is a folder."""
    if path.is_dir():
        raise ConfigError(f"--job {path} is a folder; give a file path such as {path / 'job.sqlite'}")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise ConfigError(f"the job store {path} is not writable")
