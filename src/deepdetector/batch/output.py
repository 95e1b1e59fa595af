"""Writing a batch's results from the job store: JSON Lines, CSV or Parquet (by the file's suffix).

Rows are read from the store in pages and written as they come, so a million-row output never
sits in memory. The file is written under a temporary name and moved into place at the end: a
reader never sees half an output.

- ``.jsonl``: one ``FileResult.to_dict()`` record per line, plus ``"hash"`` (the content hash).
- ``.csv``: the columns of ``deepdetector scan --csv`` (the report stage's CSV writer).
- ``.parquet``: flat columns for filtering (path, hash, verdict, probability, ..., provenance:
  ``generated`` verified/claimed, its generator, the C2PA state), per-head
  ``scores`` as a map, and ``result``: the full JSON record (requires the ``batch`` extra: pyarrow).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deepdetector.batch.store import JobStore, Row
from deepdetector.errors import ConfigError, DeepDetectorError
from deepdetector.types import FileResult

FORMATS = (".jsonl", ".csv", ".parquet")
PARQUET_PAGE = 2000


class OutputError(DeepDetectorError):
    """The output file could not be written."""


def output_format(out: Path) -> str:
    """``jsonl``, ``csv`` or ``parquet`` from the output's suffix; checks that pyarrow is there for Parquet.

    Raises:
        ConfigError: another suffix, or Parquet without pyarrow.
    """
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"--out must end in {', '.join(FORMATS)} (got {out.name!r})")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("Parquet output needs pyarrow: pip install 'deepdetector[batch]' (or use --out results.jsonl)") from None
    return suffix[1:]


def write_output(store: JobStore, out: Path, min_score: float | None = None) -> int:
    """Write every finished file of the job (only those with probability >= ``min_score`` when
    given) to ``out``. Returns the number of rows written."""
    fmt = output_format(out)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        rows = store.rows(min_score)
        if fmt == "jsonl":
            n = _write_jsonl(rows, tmp)
        elif fmt == "csv":
            n = _write_csv(rows, tmp)
        else:
            n = _write_parquet(rows, tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return n


def _write_jsonl(rows: Iterator[Row], path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({**row.result, "hash": row.hash}, ensure_ascii=False) + "\n")
            n += 1
    return n


def _write_csv(rows: Iterator[Row], path: Path) -> int:
    try:
        from deepdetector.report import write_csv
    except ImportError:  # the report stage's writer is not available: write its core columns ourselves
        write_csv = _minimal_csv
    count = [0]

    def results() -> Iterator[FileResult]:
        for row in rows:
            count[0] += 1
            yield FileResult.from_dict(row.result)

    write_csv(results(), path)
    return count[0]


def _minimal_csv(results: Iterator[FileResult], path: Path) -> None:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "verdict", "probability", "threshold", "n_faces", "error"])
        for r in results:
            w.writerow([r.path, r.verdict.value, "" if r.probability is None else r.probability, r.threshold or "", len(r.faces), r.error or ""])


def _parquet_columns(row: Row) -> dict[str, Any]:
    r = row.result
    media = r.get("media") or {}
    return {
        "path": row.path,
        "hash": row.hash,
        "verdict": r.get("verdict"),
        "probability": r.get("probability"),
        "threshold": r.get("threshold"),
        "error": r.get("error"),
        "model": r.get("model"),
        "kind": media.get("kind"),
        "width": media.get("width"),
        "height": media.get("height"),
        "duration": media.get("duration"),
        "frames": media.get("sampled_frames"),
        "n_faces": len(r.get("faces") or []),
        "n_tracks": len(r.get("tracks") or []),
        "scores": list((r.get("scores") or {}).items()),
        "seconds": (r.get("timings") or {}).get("total"),
        "provenance": (r.get("provenance") or {}).get("generated"),
        "provenance_generator": (r.get("provenance") or {}).get("generator"),
        "c2pa": (r.get("provenance") or {}).get("c2pa"),
        "result": json.dumps(r, ensure_ascii=False),
    }


def parquet_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("path", pa.string()),
            ("hash", pa.string()),
            ("verdict", pa.string()),
            ("probability", pa.float64()),
            ("threshold", pa.float64()),
            ("error", pa.string()),
            ("model", pa.string()),
            ("kind", pa.string()),
            ("width", pa.int64()),
            ("height", pa.int64()),
            ("duration", pa.float64()),
            ("frames", pa.int64()),
            ("n_faces", pa.int64()),
            ("n_tracks", pa.int64()),
            ("scores", pa.map_(pa.string(), pa.float64())),
            ("seconds", pa.float64()),
            ("provenance", pa.string()),
            ("provenance_generator", pa.string()),
            ("c2pa", pa.string()),
            ("result", pa.string()),
        ]
    )


def _write_parquet(rows: Iterator[Row], path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    n = 0
    page: list[dict[str, Any]] = []
    with pq.ParquetWriter(str(path), schema) as writer:
        for row in rows:
            page.append(_parquet_columns(row))
            if len(page) >= PARQUET_PAGE:
                writer.write_table(pa.Table.from_pylist(page, schema=schema))
                n += len(page)
                page = []
        if page or n == 0:
            writer.write_table(pa.Table.from_pylist(page, schema=schema))
            n += len(page)
    return n
