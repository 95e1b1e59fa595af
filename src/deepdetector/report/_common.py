"""Small helpers shared by the report writers."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from deepdetector.errors import DeepDetectorError
from deepdetector.types import FileResult, Verdict


class ReportError(DeepDetectorError):
    """An output file (JSON, CSV, heatmap PNG, HTML report) could not be written."""


#: Order in which verdicts are counted and listed.
VERDICT_ORDER = (Verdict.FAKE, Verdict.REAL, Verdict.NO_FACE, Verdict.ERROR)


def summary_counts(results: Iterable[FileResult]) -> dict[str, int]:
    """``{"files": n, "fake": .., "real": .., "no_face": .., "error": ..}``."""
    counts = {"files": 0, **{v.value: 0 for v in VERDICT_ORDER}}
    for r in results:
        counts["files"] += 1
        counts[Verdict(r.verdict).value] += 1
    return counts


def summary_line(counts: dict[str, int]) -> str:
    """``"4 files: 1 fake, 2 real, 1 no face, 0 errors"``."""
    n = counts["files"]
    return (
        f"{n} file{'s' if n != 1 else ''}: {counts['fake']} fake, {counts['real']} real, "
        f"{counts['no_face']} no face, {counts['error']} error{'s' if counts['error'] != 1 else ''}"
    )


def model_name(results: Iterable[FileResult]) -> str | None:
    """The model named by the first result that names one."""
    return next((r.model for r in results if r.model), None)


def total_seconds(result: FileResult) -> float | None:
    """Wall time spent on the file: ``timings["total"]``, else the sum of the stages, else None."""
    if not result.timings:
        return None
    if "total" in result.timings:
        return float(result.timings["total"])
    return float(sum(result.timings.values()))


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(path: str, max_len: int = 60) -> str:
    """A file-name-safe, collision-free stem for outputs about the input ``path``.

    Keeps the readable part of the input's file name (ASCII letters, digits, ``._-``; everything
    else becomes ``_``) and adds 8 hex digits of the full path's hash, so ``a/x.jpg`` and
    ``b/x.jpg`` (or two names differing only in non-ASCII letters) never overwrite each other.
    """
    name = Path(path).name or "file"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    clean = _UNSAFE.sub("_", ascii_name).strip("._-")[:max_len] or "file"
    digest = hashlib.sha1(path.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{clean}-{digest}"


def ensure_parent(path: Path) -> None:
    """Create ``path``'s folder, turning failures into a :class:`ReportError`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create the folder {path.parent}: {exc.strerror or exc}") from exc


def check_writable(path: Path, what: str, folder: bool = False) -> None:
    """Raise a :class:`ReportError` now if ``path`` plainly cannot be written later: it is a folder
    where a file is wanted (or a file where a folder is), a folder it would need is a file, or that
    folder is not writable. Front ends call this before a long scan so that a mistyped output
    path costs nothing; the writers still report anything it cannot foresee (a full disk)."""
    if folder:
        if path.exists() and not path.is_dir():
            raise ReportError(f"cannot write the {what} into {path}: it is a file, not a folder")
        start = path
    else:
        if path.is_dir():
            raise ReportError(f"cannot write the {what} {path}: it is a folder")
        start = path.parent
    existing = start
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ReportError(f"cannot write the {what} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ReportError(f"cannot write the {what} {path}: no permission to write in {existing}")
