"""``predictions.csv``: one row per evaluated file, written as the scan goes (so a run can resume).

Columns: ``path,label,kind,source_dataset,group,media,score,verdict,n_faces,n_frames,seconds,
error,model,score_<head>...,frame_scores``.

- ``score``: the file's calibrated probability of fake; empty when no face was found or the file
  could not be read (``verdict`` says which: ``no_face`` or ``error``).
- ``n_faces``: face crops judged (over all sampled frames); ``n_frames``: frames analysed.
- ``score_<head>``: the file-level score of each model head (``score_swap``, ``score_synthetic``).
- ``frame_scores``: JSON list of ``[frame_index, probability]`` pairs, probability ``null`` for a
  frame without a face; the frame-level AUC is computed from it.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from deepdetector.datasets.manifest import ManifestError, ManifestItem

if TYPE_CHECKING:
    from deepdetector.types import FileResult

BASE_COLUMNS = (
    "path",
    "label",
    "kind",
    "source_dataset",
    "group",
    "media",
    "score",
    "verdict",
    "n_faces",
    "n_frames",
    "seconds",
    "error",
    "model",
)
FRAME_COLUMN = "frame_scores"
HEAD_PREFIX = "score_"


@dataclass
class PredictionRow:
    """What the detector said about one manifest item."""

    path: str
    label: int  # 1 fake, 0 real
    kind: str
    source_dataset: str
    group: str
    media: str  # "image" or "video" (as decoded; from the manifest when the file could not be read)
    score: float | None
    verdict: str  # fake / real / no_face / error
    n_faces: int
    n_frames: int
    seconds: float
    error: str = ""
    model: str = ""
    head_scores: dict[str, float] = field(default_factory=dict)
    frame_scores: list[tuple[int, float | None]] = field(default_factory=list)

    @property
    def scored(self) -> bool:
        return self.score is not None

    @property
    def is_video(self) -> bool:
        return self.media == "video"

    @property
    def frame_probabilities(self) -> list[float]:
        """Scores of the frames that had a face."""
        return [p for _, p in self.frame_scores if p is not None]

    @classmethod
    def from_result(cls, item: ManifestItem, result: "FileResult", seconds: float) -> "PredictionRow":
        media = result.media.kind if result.media is not None else ("video" if item.is_video else "image")
        return cls(
            path=item.path,
            label=item.label,
            kind=item.kind,
            source_dataset=item.source_dataset,
            group=item.group,
            media=media,
            score=None if result.probability is None else float(result.probability),
            verdict=result.verdict.value,
            n_faces=len(result.faces),
            n_frames=result.media.sampled_frames if result.media is not None else 0,
            seconds=seconds,
            error=result.error or "",
            model=result.model or "",
            head_scores={k: float(v) for k, v in result.scores.items()},
            frame_scores=[(f.index, None if f.probability is None else float(f.probability)) for f in result.frames],
        )

    def to_csv(self, heads: Sequence[str]) -> dict[str, str]:
        row = {
            "path": self.path,
            "label": "fake" if self.label == 1 else "real",
            "kind": self.kind,
            "source_dataset": self.source_dataset,
            "group": self.group,
            "media": self.media,
            "score": _fmt(self.score),
            "verdict": self.verdict,
            "n_faces": str(self.n_faces),
            "n_frames": str(self.n_frames),
            "seconds": f"{self.seconds:.3f}",
            "error": self.error,
            "model": self.model,
        }
        for h in heads:
            row[HEAD_PREFIX + h] = _fmt(self.head_scores.get(h))
        row[FRAME_COLUMN] = json.dumps([[i, None if p is None else round(p, 4)] for i, p in self.frame_scores], separators=(",", ":"))
        return row

    @classmethod
    def from_csv(cls, row: dict[str, str], where: str) -> "PredictionRow":
        try:
            label_text = (row.get("label") or "").strip().lower()
            if label_text not in {"fake", "real"}:
                raise ValueError(f"label {label_text!r}")
            frames_raw = json.loads(row.get(FRAME_COLUMN) or "[]")
            return cls(
                path=row["path"],
                label=1 if label_text == "fake" else 0,
                kind=row.get("kind") or "",
                source_dataset=row.get("source_dataset") or "",
                group=row.get("group") or "",
                media=row.get("media") or "",
                score=_parse(row.get("score")),
                verdict=row.get("verdict") or "",
                n_faces=int(row.get("n_faces") or 0),
                n_frames=int(row.get("n_frames") or 0),
                seconds=float(row.get("seconds") or 0.0),
                error=row.get("error") or "",
                model=row.get("model") or "",
                head_scores={
                    k[len(HEAD_PREFIX) :]: v for k, v in ((k, _parse(x)) for k, x in row.items() if k and k.startswith(HEAD_PREFIX)) if v is not None
                },
                frame_scores=[(int(i), None if p is None else float(p)) for i, p in frames_raw],
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ManifestError(f"{where}: not a predictions row ({exc})") from None


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.6f}"


def _parse(x: str | None) -> float | None:
    if x is None or not x.strip():
        return None
    v = float(x)
    if math.isnan(v):
        return None
    return v


def read_predictions(path: str | Path) -> list[PredictionRow]:
    """Every row of a predictions CSV written by :class:`PredictionWriter`."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("path", "label", "score", "verdict") if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{path} is not a predictions file (no column {', '.join(missing)}); choose another --output")
        return [PredictionRow.from_csv(row, f"{path}:{n}") for n, row in enumerate(reader, start=2)]


def load_predictions(path: str | Path) -> list[PredictionRow]:
    """A finished ``deepdetector evaluate`` output, for commands that read one (``compare``,
    ``calibrate``): every way of not being one is a :class:`ManifestError` saying which, and a
    score outside [0, 1] (no evaluate run writes one) is refused."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path} does not exist (write it with `deepdetector evaluate ... --output {path}`)")
    if not path.is_file():
        raise ManifestError(f"{path} is not a file: give the predictions.csv written by `deepdetector evaluate`")
    try:
        rows = read_predictions(path)
    except ManifestError as exc:
        raise ManifestError(str(exc).replace("; choose another --output", "")) from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise ManifestError(f"cannot read predictions {path}: {exc}") from None
    bad = [r.path for r in rows if r.score is not None and not 0.0 <= r.score <= 1.0]
    if bad:
        raise ManifestError(f"{path}: {len(bad)} scores are not probabilities in [0, 1] (first: {bad[0]}): not an evaluate output")
    check_unique(rows, str(path))
    return rows


def check_unique(rows: list[PredictionRow], where: str) -> None:
    """Refuse a file scored twice: evaluate writes each item once, and a repeat would count twice
    (or, in ``compare``, silently keep only its last score)."""
    seen: set[str] = set()
    for r in rows:
        if r.path in seen:
            twice = sum(x.path == r.path for x in rows)
            raise ManifestError(
                f"{where}: {r.path} appears {twice} times; each item must be scored once (merged predictions files? give each file's rows once)"
            )
        seen.add(r.path)


class PredictionWriter:
    """Appends rows to ``predictions.csv`` and flushes each one, so an interrupted run loses nothing.

    With ``resume`` an existing file is kept and its rows are returned by :attr:`done`; its header
    must match (same model heads), otherwise the run refuses to mix the two.
    """

    def __init__(self, path: str | Path, heads: Sequence[str], resume: bool = False, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.heads = list(heads)
        self.columns = [*BASE_COLUMNS, *(HEAD_PREFIX + h for h in self.heads), FRAME_COLUMN]
        self.done: list[PredictionRow] = []
        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists and not (resume or overwrite):
            raise ManifestError(f"{self.path} already exists: add --resume to continue it, or --overwrite to start again")
        append = exists and resume
        if append:
            _drop_torn_last_line(self.path)
            with self.path.open(newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), [])
            if header != self.columns:
                raise ManifestError(
                    f"{self.path} was written with other columns ({', '.join(h for h in header if h.startswith(HEAD_PREFIX)) or 'no head scores'}): "
                    "it comes from another model; use another --output or --overwrite"
                )
            self.done = read_predictions(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: TextIO = self.path.open("a" if append else "w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._fh, fieldnames=self.columns)
        if not append:
            self._writer.writeheader()
            self._fh.flush()

    def write(self, row: PredictionRow) -> None:
        self._writer.writerow(row.to_csv(self.heads))
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "PredictionWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _drop_torn_last_line(path: Path) -> None:
    """An interrupted run can leave half a row at the end: cut the file back to its last full line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def rows_for(items: Iterable[ManifestItem], rows: Iterable[PredictionRow]) -> list[PredictionRow]:
    """The rows of ``items`` (latest row per path), in item order; items without a row are skipped."""
    by_path = {r.path: r for r in rows}
    return [by_path[i.path] for i in items if i.path in by_path]
