"""The CSV report (``deepdetector scan --csv``): one row per file."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from deepdetector.evidence.words import evidence_sentences, missing_reason
from deepdetector.report._common import ReportError, ensure_parent, total_seconds
from deepdetector.types import FileResult, Verdict
from deepdetector.verdict.explain import fused_face_score

#: Column names, in order (documented in docs/output-formats.md).
CSV_COLUMNS = (
    "path",
    "verdict",
    "probability",
    "threshold",
    "n_faces",
    "n_tracks",
    "frames",
    "swap_score",
    "synthetic_score",
    "generated_score",
    "face_classifier_probability",
    "evidence",
    "error",
    "seconds",
    "provenance",
    "provenance_generator",
    "c2pa",
    "reasons",
)

# A cell starting with one of these is run as a formula by spreadsheet programs (CSV injection);
# file names and error messages come from untrusted input, so such cells get a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _num(value: float | None, digits: int = 4) -> str:
    """``value`` rounded to ``digits`` decimals without trailing zeros; empty for None."""
    if value is None:
        return ""
    return f"{float(value):.{digits}f}".rstrip("0").rstrip(".")


def _evidence_text(result: FileResult) -> str | None:
    """Videos: the sentences about the cues across frames (as in the explanation), or why there are none."""
    if not result.evidence:
        return None
    reason = missing_reason(result.evidence)
    return f"no evidence across frames: {reason}" if reason else " ".join(evidence_sentences(result.evidence, limit=3)) or None


def csv_row(result: FileResult) -> dict[str, str]:
    """The CSV row of one result (empty cells for unknown values)."""
    frames = result.media.sampled_frames if result.media is not None else len(result.frames)
    seconds = total_seconds(result)
    return {
        "path": _text(result.path),
        "verdict": Verdict(result.verdict).value,
        "probability": _num(result.probability),
        "threshold": _num(result.threshold),
        "n_faces": str(len(result.faces)),
        "n_tracks": str(len(result.tracks)),
        "frames": str(frames) if result.ok else "",
        "swap_score": _num(result.scores.get("swap")),
        "synthetic_score": _num(result.scores.get("synthetic")),
        "generated_score": _num(result.scores.get("generated")),
        "face_classifier_probability": _num(fused_face_score(result)),
        "evidence": _text(_evidence_text(result)),
        "error": _text(result.error),
        "seconds": _num(seconds, 3),
        "provenance": (result.provenance.generated or "none") if result.provenance is not None else "",
        "provenance_generator": _text(result.provenance.generator) if result.provenance is not None else "",
        "c2pa": (result.provenance.c2pa or "") if result.provenance is not None else "",
        "reasons": _text(" | ".join(result.reasons)),
    }


def write_csv(results: Iterable[FileResult], path_or_stream: str | Path | IO[str]) -> None:
    """Write one row per file (columns :data:`CSV_COLUMNS`, header first) to a path or text stream.

    Files are written as UTF-8 with ``\\r\\n`` line ends (the csv module's default, what
    spreadsheet programs expect).
    """
    if hasattr(path_or_stream, "write"):
        _write_rows(results, path_or_stream)  # type: ignore[arg-type]
        return
    path = Path(path_or_stream)  # type: ignore[arg-type]
    ensure_parent(path)
    try:
        with path.open("w", newline="", encoding="utf-8") as fh:
            _write_rows(results, fh)
    except OSError as exc:
        raise ReportError(f"cannot write the CSV report {path}: {exc.strerror or exc}") from exc


def _write_rows(results: Iterable[FileResult], stream: IO[str]) -> None:
    writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for result in results:
        writer.writerow(csv_row(result))
