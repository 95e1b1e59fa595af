"""Scans, their results and heatmap pictures, kept in one SQLite file.

A scan goes ``queued -> running -> done | error``. Finished results (the JSON record of
``FileResult.to_dict()``) and heatmap PNGs are stored in the database, so a restart loses nothing;
scans left ``queued`` or ``running`` by a stopped server are handed back to the queue on startup.
Uploaded files wait in the uploads folder under a name made from the scan id, never from the client.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from deepdetector.errors import ConfigError

Status = Literal["queued", "running", "done", "error"]
STATUSES: tuple[Status, ...] = ("queued", "running", "done", "error")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    id             TEXT PRIMARY KEY,
    filename       TEXT NOT NULL,          -- the client's file name, for display only
    media_type     TEXT NOT NULL,          -- sniffed from the content, e.g. image/jpeg
    kind           TEXT NOT NULL,          -- image | video (as sniffed)
    size           INTEGER NOT NULL,
    status         TEXT NOT NULL,
    created        REAL NOT NULL,
    started        REAL,
    finished       REAL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    progress_done  INTEGER NOT NULL DEFAULT 0,
    progress_total INTEGER NOT NULL DEFAULT 0,
    verdict        TEXT,
    probability    REAL,
    result         TEXT,                   -- FileResult.to_dict() as JSON
    error          TEXT
);
CREATE INDEX IF NOT EXISTS scans_created ON scans (created);
CREATE TABLE IF NOT EXISTS heatmaps (
    scan_id     TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,
    face        INTEGER NOT NULL,          -- index in result["faces"]
    frame_index INTEGER NOT NULL,
    track_id    INTEGER NOT NULL,
    probability REAL NOT NULL,
    png         BLOB NOT NULL,
    PRIMARY KEY (scan_id, n)
);
"""

_SUMMARY_COLUMNS = (
    "id, filename, media_type, kind, size, status, created, started, finished, attempts, progress_done, progress_total, verdict, probability, error"
)


@dataclass(frozen=True)
class HeatmapImage:
    """One face's heatmap picture (PNG bytes) and which face it shows."""

    face: int
    frame_index: int
    track_id: int
    probability: float
    png: bytes


@dataclass(frozen=True)
class HeatmapInfo:
    """A stored heatmap picture without its bytes (what the API lists)."""

    n: int
    face: int
    frame_index: int
    track_id: int
    probability: float


@dataclass(frozen=True)
class ScanRecord:
    """One row of the ``scans`` table."""

    id: str
    filename: str
    media_type: str
    kind: str
    size: int
    status: Status
    created: float
    started: float | None
    finished: float | None
    attempts: int
    progress_done: int
    progress_total: int
    verdict: str | None
    probability: float | None
    result_json: str | None
    error: str | None

    @property
    def result(self) -> dict[str, Any] | None:
        return None if self.result_json is None else json.loads(self.result_json)


class ScanStore:
    """Thread-safe access to the scans database (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the scans database {self.path}: {exc}") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------------------
    def add(self, scan_id: str, filename: str, media_type: str, kind: str, size: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO scans (id, filename, media_type, kind, size, status, created) VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                (scan_id, filename, media_type, kind, size, time.time()),
            )

    def delete(self, scan_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM scans WHERE id = ?", (scan_id,))

    def start(self, scan_id: str) -> int:
        """Mark the scan running; returns how many times it has been started, this time included."""
        with self._tx() as db:
            db.execute(
                "UPDATE scans SET status = 'running', started = ?, attempts = attempts + 1, progress_done = 0 WHERE id = ?",
                (time.time(), scan_id),
            )
            row = db.execute("SELECT attempts FROM scans WHERE id = ?", (scan_id,)).fetchone()
        return int(row["attempts"]) if row else 0

    def progress(self, scan_id: str, done: int, total: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE scans SET progress_done = ?, progress_total = ? WHERE id = ?", (done, total, scan_id))

    def finish(self, scan_id: str, result: dict[str, Any], heatmaps: list[HeatmapImage]) -> None:
        """Store a finished scan's result and pictures in one transaction."""
        with self._tx() as db:
            db.execute("DELETE FROM heatmaps WHERE scan_id = ?", (scan_id,))
            db.executemany(
                "INSERT INTO heatmaps (scan_id, n, face, frame_index, track_id, probability, png) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(scan_id, n, h.face, h.frame_index, h.track_id, h.probability, h.png) for n, h in enumerate(heatmaps)],
            )
            db.execute(
                "UPDATE scans SET status = 'done', finished = ?, verdict = ?, probability = ?, result = ?, error = ?,"
                " progress_done = MAX(progress_done, progress_total) WHERE id = ?",
                (time.time(), result.get("verdict"), result.get("probability"), json.dumps(result), result.get("error"), scan_id),
            )

    def fail(self, scan_id: str, message: str) -> None:
        """The scan could not be run at all (its file vanished, the worker broke): status ``error``."""
        with self._tx() as db:
            db.execute(
                "UPDATE scans SET status = 'error', verdict = 'error', finished = ?, error = ? WHERE id = ?",
                (time.time(), message, scan_id),
            )

    def recover(self, max_attempts: int) -> tuple[list[str], list[str]]:
        """After a restart: scans left ``running`` go back to ``queued``, except those already started
        ``max_attempts`` times, which become errors. Returns (ids to queue, oldest first; ids given up)."""
        with self._tx() as db:
            given_up = [r["id"] for r in db.execute("SELECT id FROM scans WHERE status = 'running' AND attempts >= ?", (max_attempts,))]
            for scan_id in given_up:
                db.execute(
                    "UPDATE scans SET status = 'error', verdict = 'error', finished = ?, error = ? WHERE id = ?",
                    (time.time(), f"the analysis was interrupted {max_attempts} times; this file may crash the decoder", scan_id),
                )
            db.execute("UPDATE scans SET status = 'queued' WHERE status = 'running'")
            queued = [r["id"] for r in db.execute("SELECT id FROM scans WHERE status = 'queued' ORDER BY created, id")]
        return queued, given_up

    # -- reading ---------------------------------------------------------------------------------
    def get(self, scan_id: str) -> ScanRecord | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone()
        return None if row is None else _record(row)

    def list(self, limit: int, offset: int = 0) -> tuple[list[ScanRecord], int]:
        """Newest first, without their result JSON; also the total number of scans."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_SUMMARY_COLUMNS}, NULL AS result FROM scans ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
            total = self._conn.execute("SELECT COUNT(*) FROM scans").fetchone()[0]
        return [_record(r) for r in rows], int(total)

    def count(self, status: Status) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM scans WHERE status = ?", (status,)).fetchone()[0])

    def heatmaps(self, scan_id: str) -> list[HeatmapInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT n, face, frame_index, track_id, probability FROM heatmaps WHERE scan_id = ? ORDER BY n", (scan_id,)
            ).fetchall()
        return [HeatmapInfo(r["n"], r["face"], r["frame_index"], r["track_id"], r["probability"]) for r in rows]

    def heatmap_png(self, scan_id: str, n: int) -> bytes | None:
        with self._lock:
            row = self._conn.execute("SELECT png FROM heatmaps WHERE scan_id = ? AND n = ?", (scan_id, n)).fetchone()
        return None if row is None else bytes(row["png"])


def _record(row: sqlite3.Row) -> ScanRecord:
    return ScanRecord(
        id=row["id"],
        filename=row["filename"],
        media_type=row["media_type"],
        kind=row["kind"],
        size=row["size"],
        status=row["status"],
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        attempts=row["attempts"],
        progress_done=row["progress_done"],
        progress_total=row["progress_total"],
        verdict=row["verdict"],
        probability=row["probability"],
        result_json=row["result"],
        error=row["error"],
    )
