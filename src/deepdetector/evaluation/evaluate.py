"""``deepdetector evaluate``: scan every manifest item, write ``predictions.csv``, then the metrics
(JSON next to the predictions, a rich table, and optionally a self-contained HTML report)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deepdetector import metrics as M
from deepdetector.datasets.manifest import ManifestError, ManifestItem, Selection
from deepdetector.evaluation import plots
from deepdetector.evaluation.html import HtmlPage, fmt, pct
from deepdetector.evaluation.predictions import PredictionRow, PredictionWriter, rows_for
from deepdetector.evaluation.summary import EvaluationMetrics, SubsetMetrics, compute_metrics
from deepdetector.types import Thresholds

if TYPE_CHECKING:
    from rich.console import Console

    from deepdetector.api import Detector

ItemCallback = Callable[[ManifestItem, PredictionRow], None]


def metrics_path_for(output: str | Path) -> Path:
    """``predictions.csv`` -> ``predictions.metrics.json`` (beside it)."""
    output = Path(output)
    return output.with_name(output.stem + ".metrics.json")


def scan_item(detector: "Detector", item: ManifestItem, frame_transform: Callable[[np.ndarray], np.ndarray] | None = None) -> PredictionRow:
    """Scan one manifest item and turn the result into a prediction row (never raises for bad media)."""
    started = time.perf_counter()
    result = detector.scan(item.file, frame_transform=frame_transform)
    return PredictionRow.from_result(item, result, time.perf_counter() - started)


def run_predictions(
    detector: "Detector",
    items: Sequence[ManifestItem],
    writer: PredictionWriter,
    on_item: ItemCallback | None = None,
) -> list[PredictionRow]:
    """Scan the items that ``writer`` does not hold yet; returns the rows of all ``items``."""
    done = {r.path for r in writer.done}
    new: list[PredictionRow] = []
    for item in items:
        if item.path in done:
            continue
        row = scan_item(detector, item)
        writer.write(row)
        new.append(row)
        if on_item is not None:
            on_item(item, row)
    return rows_for(items, [*writer.done, *new])


@dataclass
class RunInfo:
    """What produced an evaluation (quoted in the JSON and the report)."""

    manifest: str
    predictions: str
    model: dict[str, Any]
    config: dict[str, Any]
    selection_notes: list[str]
    n_manifest: int
    n_selected: int
    n_scanned_now: int
    seconds: float
    splits: list[str] = field(default_factory=list)  # split files applied (to rebuild the command)

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest,
            "predictions": self.predictions,
            "model": self.model,
            "config": self.config,
            "selection": self.selection_notes,
            "n_manifest": self.n_manifest,
            "splits": self.splits,
            "n_selected": self.n_selected,
            "n_scanned_now": self.n_scanned_now,
            "seconds_this_run": round(self.seconds, 1),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


def model_info(detector: "Detector") -> dict[str, Any]:
    card = detector.card
    return {
        "name": card.name,
        "version": card.version,
        "sha256": card.sha256,
        "file": str(card.file),
        "threshold": detector.threshold,
        "thresholds": detector.thresholds.to_dict(),
        "heads": detector.head_names,
        "untrained": card.untrained,
        "stills": None if detector.stills is None else {"name": detector.stills.card.label, "sha256": detector.stills.card.sha256},
    }


def config_info(detector: "Detector") -> dict[str, Any]:
    c = detector.config
    return {
        "frames": c.frames,
        "fps": c.fps,
        "detector": c.detector,
        "margin": detector.margin,
        "aggregation": c.aggregation,
        "flip_tta": c.flip_tta,
        "stills": detector.stills is not None,
        "cues": None if detector.fusion is None else detector.fusion.label,  # videos: the fusion that judged them
        "provenance": c.provenance,
        "threshold": detector.verdict_thresholds.describe(),
    }


#: Settings that change a file's score: rows made with other values cannot be resumed into one table.
SCORE_SETTINGS = ("frames", "fps", "detector", "margin", "aggregation", "flip_tta", "stills", "cues", "provenance")


def check_resume_settings(output: Path, now: dict[str, Any]) -> None:
    """``--resume`` keeps the rows already in ``output``; refuse it when the run that wrote them (its
    metrics JSON says how) scanned with other settings, since the table would mix two ways of
    scanning under the new run's name. Thresholds may change: scores do not depend on them."""
    path = metrics_path_for(output)
    try:
        before = json.loads(path.read_text(encoding="utf-8")).get("run", {}).get("config", {})
    except (OSError, ValueError, AttributeError):
        return  # an interrupted first run has no metrics yet: nothing to compare with
    if not isinstance(before, dict):
        return
    changed = [f"{k} {before[k]!r} -> {now.get(k)!r}" for k in SCORE_SETTINGS if k in before and before[k] != now.get(k)]
    if changed:
        raise ManifestError(
            f"the rows in {output} were scanned with other settings ({'; '.join(changed)}): "
            "resuming would mix them; rerun with those settings, or use --overwrite or another --output"
        )


def write_metrics_json(path: Path, info: RunInfo, metrics: EvaluationMetrics) -> Path:
    payload = {"run": info.to_dict(), **metrics.to_dict()}
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path


# --- terminal -------------------------------------------------------------------------------------

TABLE_NOTE = (
    "AUC, frame AUC, AP and EER rank scored items only (no-face and error items are excluded but counted); "
    "'vs' names the other-class items a one-class subset is ranked against. Acc/TPR/FPR use the subset's own scored items. "
    "AUC 95%: bootstrap interval (fakes and reals resampled, 2,000 times, seeded)."
)


def subset_cells(s: SubsetMetrics) -> list[str]:
    t = s.at_threshold
    vs = "" if s.reference is None else f"{s.reference} ({s.n_reference})"
    return [
        s.name,
        vs,
        str(s.n),
        f"{s.n_fake}/{s.n_real}",
        str(s.n_scored),
        str(s.n_no_face),
        str(s.n_error),
        fmt(s.auc.value),
        ci_text(s.auc_ci),
        fmt(s.frame_auc.value),
        pct(t.accuracy),
        pct(t.tpr),
        pct(t.fpr),
        fmt(s.eer.value),
        fmt(s.ap.value),
        fmt(s.log_loss.value),
    ]


SUBSET_HEADER = [
    "subset",
    "vs",
    "n",
    "fake/real",
    "scored",
    "no face",
    "error",
    "AUC",
    "AUC 95%",
    "frame AUC",
    "acc",
    "TPR",
    "FPR",
    "EER",
    "AP",
    "log-loss",
]


TERMINAL_HEADER = ["subset", "n", "scored", "no face", "error", "AUC", "AUC 95%", "frame AUC", "acc", "TPR", "FPR", "EER", "AP", "log-loss"]


def terminal_cells(s: SubsetMetrics, mark: str = "") -> list[str]:
    """The terminal's compact row: as the HTML row without the fake/real split and with the
    reference as a footnote mark."""
    cells = subset_cells(s)
    return [cells[0] + mark, *cells[2:3], *cells[4:]]


def ci_text(interval: "M.Interval | None") -> str:
    """``0.71-0.92``: a bootstrap interval in a table cell (empty when undefined)."""
    if interval is None or interval.low is None or interval.high is None:
        return ""
    return f"{interval.low:.2f}-{interval.high:.2f}"


def threshold_text(metrics: EvaluationMetrics) -> str:
    return (metrics.thresholds or Thresholds.of(metrics.threshold)).describe()


def print_tables(console: "Console", metrics: EvaluationMetrics) -> None:
    from rich.table import Table

    footnotes: list[str] = []
    for title, levels in (("overall", ("overall", "media")), ("by kind", ("kind",)), ("by source dataset", ("source_dataset",))):
        subsets = [s for s in metrics.subsets if s.level in levels]
        if not subsets:
            continue
        table = Table(title=f"{title} (threshold {threshold_text(metrics)})", title_justify="left")
        for i, h in enumerate(TERMINAL_HEADER):
            table.add_column(h, justify="left" if i == 0 else "right", overflow="fold", min_width=None if i else 12)
        for s in subsets:
            mark = ""
            if s.reference is not None:
                footnotes.append(f"{s.name}: ranked vs {s.reference} ({s.n_reference})")
                mark = f" [{len(footnotes)}]"
            table.add_row(*terminal_cells(s, mark))
        console.print(table)
    for i, note in enumerate(footnotes, start=1):
        console.print(f"[dim][{i}] {note}[/dim]", highlight=False)
    console.print(f"[dim]{TABLE_NOTE}[/dim]")
    table = Table(title="targets", title_justify="left")
    for h in ("target", "goal", "measured", "95% interval", "status", "on"):
        table.add_column(h)
    style = {"met": "green", "missed": "red", "n/a": "dim"}
    for t in metrics.targets:
        d = t.to_dict()
        measured = fmt(t.value) if t.value is not None else (t.reason or "—")
        table.add_row(t.target.name, d["goal"], measured, ci_text(t.interval), f"[{style[t.status]}]{t.status}[/]", t.target.description)
    console.print(table)


# --- HTML -----------------------------------------------------------------------------------------


def _arrays(rows: Sequence[PredictionRow]) -> tuple[np.ndarray, np.ndarray]:
    scored = [r for r in rows if r.scored]
    return np.array([r.label for r in scored], dtype=np.int64), np.array([r.score for r in scored], dtype=float)


def _frame_arrays(rows: Sequence[PredictionRow]) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array([r.label for r in rows for _ in r.frame_probabilities], dtype=np.int64),
        np.array([p for r in rows for p in r.frame_probabilities], dtype=float),
    )


def write_report(path: Path, rows: Sequence[PredictionRow], metrics: EvaluationMetrics, info: RunInfo) -> Path:
    """One self-contained HTML page: run details, targets, tables, ROC curves, histograms, calibration."""
    page = HtmlPage(f"DeepDetector evaluation: {Path(info.manifest).name}")
    m = info.model
    page.items(
        [
            f"model: {m['name']} v{m['version']} (sha256 {m['sha256'][:12]}…), threshold {info.config['threshold']}"
            + (" (UNTRAINED test model)" if m.get("untrained") else ""),
            "settings: " + ", ".join(f"{k}={v}" for k, v in info.config.items()),
            f"manifest: {info.manifest} ({info.n_manifest} items); evaluated {info.n_selected}",
            *info.selection_notes,
            f"predictions: {info.predictions}",
        ]
    )
    if not plots.matplotlib_available():
        page.paragraph(plots.PLOTS_MISSING, "warn")

    page.heading("Targets")
    page.table(
        ["target", "on", "goal", "measured", "95% interval", "status", "items (scored)"],
        [
            [
                t.target.name,
                t.target.description,
                t.to_dict()["goal"],
                fmt(t.value) if t.value is not None else (t.reason or "—"),
                ci_text(t.interval),
                t.status,
                "" if t.subset is None else f"{t.subset.n} ({t.subset.n_scored})",
            ]
            for t in metrics.targets
        ],
        left=2,
        row_classes=[t.status for t in metrics.targets],
    )

    for title, levels in (("Overall", ("overall", "media")), ("By kind", ("kind",)), ("By source dataset", ("source_dataset",))):
        subsets = [s for s in metrics.subsets if s.level in levels]
        if subsets:
            page.heading(title)
            page.table(SUBSET_HEADER, [subset_cells(s) for s in subsets], left=2)
    page.paragraph(TABLE_NOTE)

    video_rows = [s for s in metrics.subsets if s.aggregations and s.level in ("overall", "media", "kind")] + [
        t.subset for t in metrics.targets if t.subset is not None and t.subset.aggregations and t.target.metric == "auc"
    ]
    if video_rows and metrics.aggregations:
        page.heading("Video AUC by aggregation of frame scores")
        page.paragraph(
            "Each video's frame scores (max over faces per frame) re-aggregated offline with every strategy; "
            "the AUC column above uses the scanner's own aggregation per tracked face, so the two can differ slightly."
        )
        page.table(["subset", *metrics.aggregations], [[s.name, *(fmt(s.aggregations[a].value) for a in metrics.aggregations)] for s in video_rows])

    page.heading("ROC curves")
    by_media = [(f"{s.name}", s) for s in metrics.subsets if s.level in ("overall", "media")]
    curves = []
    for name, s in by_media:
        part = rows if s.level == "overall" else [r for r in rows if f"all {r.media}s" == s.name]
        y, sc = _arrays(part)
        curves.append((name, y, sc))
        fy, fs = _frame_arrays(part)
        if s.name != "all images" and fy.size != y.size:
            curves.append((f"{name}, frame level", fy, fs))
    page.image(plots.roc_plot(curves, "overall"), "ROC curves, overall")
    target_curves = []
    for t in metrics.targets:
        if t.target.metric == "auc" and t.subset is not None:
            part = [r for r in rows if t.target.members(r)]
            y, sc = _arrays(part)
            target_curves.append((t.target.name, y, sc))
    page.image(plots.roc_plot(target_curves, "target subsets"), "ROC curves per target subset")

    page.heading("Score histograms")
    th = metrics.thresholds or Thresholds.of(metrics.threshold)
    panels = [("all items", *_arrays(rows), th.default if th.single else None)]
    for media in ("video", "image"):
        part = [r for r in rows if r.media == media]
        if part and (len(part) != len(rows) or not th.single):
            panels.append((f"{media}s", *_arrays(part), th.for_media(media)))
    page.image(plots.histogram_plot(panels), "score histograms")

    page.heading("Calibration")
    y, sc = _arrays(rows)
    page.paragraph(
        "Reliability: among items given probability p, the share that are fake should be p. Points below the "
        "diagonal mean the model is over-confident that items are fake; above it, under-confident. ECE is the "
        "count-weighted mean distance to the diagonal."
    )
    page.image(plots.calibration_plot(y, sc), "reliability diagram")

    unscored = [r for r in rows if not r.scored]
    if unscored:
        page.heading(f"Items without a score ({len(unscored)})")
        page.table(
            ["path", "label", "verdict", "error"], [[r.path, "fake" if r.label else "real", r.verdict, r.error] for r in unscored[:200]], left=4
        )
        if len(unscored) > 200:
            page.paragraph(f"... and {len(unscored) - 200} more (see the predictions CSV)")
    return page.write(path)


def evaluate(
    detector: "Detector",
    selection: Selection,
    output: Path,
    report: Path | None,
    resume: bool,
    overwrite: bool,
    on_item: ItemCallback | None = None,
    on_start: Callable[[int], None] | None = None,
) -> tuple[list[PredictionRow], EvaluationMetrics, RunInfo]:
    """The whole command: predictions (resumable), metrics JSON, optional HTML report."""
    started = time.perf_counter()
    heads = detector.head_names
    if resume:
        check_resume_settings(output, config_info(detector))
    with PredictionWriter(output, heads, resume=resume, overwrite=overwrite) as writer:
        done = {r.path for r in writer.done}
        todo = sum(1 for i in selection.items if i.path not in done)
        if on_start is not None:
            on_start(todo)
        other_models = {r.model for r in writer.done if r.model} - {detector.model_label}
        rows = run_predictions(detector, selection.items, writer, on_item)
    notes = list(selection.notes)
    if resume and done:
        notes.append(f"resumed: {len(selection.items) - todo} rows were already in {output}")
    if other_models:
        notes.append(f"WARNING: some resumed rows were made by another model ({', '.join(sorted(other_models))})")
    metrics = compute_metrics(rows, detector.verdict_thresholds)  # a fused video's score has the fusion's threshold
    info = RunInfo(
        manifest=selection.manifest_text,
        predictions=str(output),
        model=model_info(detector),
        config=config_info(detector),
        selection_notes=notes,
        n_manifest=selection.total,
        n_selected=len(selection.items),
        n_scanned_now=todo,
        seconds=time.perf_counter() - started,
        splits=list(selection.splits),
    )
    write_metrics_json(metrics_path_for(output), info, metrics)
    if report is not None:
        write_report(report, rows, metrics, info)
    return rows, metrics, info
