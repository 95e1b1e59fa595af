"""The outputs of a robustness study: terminal tables, JSON and the HTML page."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepdetector.evaluation import plots
from deepdetector.evaluation.html import HtmlPage, fmt, pct
from deepdetector.evaluation.robustness import ExperimentResult, LevelResult

if TYPE_CHECKING:
    from rich.console import Console

LEVEL_HEADER = ["level", "AUC", "AUC change (95%)", "acc", "TPR", "FPR", "mean |Δ|", "mean Δ", "scored", "no face", "error", "s/item"]


def level_cells(lv: LevelResult) -> list[str]:
    t = lv.at_threshold
    if lv.unavailable:
        return [lv.label, lv.unavailable, *[""] * (len(LEVEL_HEADER) - 2)]
    return [
        lv.label + (" (baseline)" if lv.is_baseline else ""),
        fmt(lv.auc.value),
        "" if lv.is_baseline else lv.auc_change_text,
        pct(None if t is None else t.accuracy),
        pct(None if t is None else t.tpr),
        pct(None if t is None else t.fpr),
        "0" if lv.is_baseline else fmt(lv.mean_abs_change),
        "0" if lv.is_baseline else (fmt(lv.mean_change) if lv.mean_change is None else f"{lv.mean_change:+.3f}"),
        f"{lv.n_scored}/{lv.n}",
        str(lv.n_no_face),
        str(lv.n_error),
        f"{lv.seconds / lv.n:.2f}" if lv.n else "—",
    ]


def summary_rows(results: Sequence[ExperimentResult]) -> list[list[str]]:
    rows = []
    for res in results:
        bi = res.baseline_index
        base_auc = res.levels[bi].auc.value if bi is not None else None
        worst_auc, worst_delta = res.worst()
        drop = None if worst_auc is None or base_auc is None else base_auc - worst_auc.auc.value  # type: ignore[operator]
        rows.append(
            [
                res.experiment.title,
                fmt(base_auc),
                "—" if worst_auc is None else f"{worst_auc.label}: {fmt(worst_auc.auc.value)}",
                fmt(drop),
                "—" if worst_delta is None else f"{worst_delta.label}: {fmt(worst_delta.mean_abs_change)}",
            ]
        )
    return rows


SUMMARY_HEADER = ["experiment", "baseline AUC", "worst level: AUC", "AUC drop", "largest mean |Δ|"]


def print_results(console: "Console", results: Sequence[ExperimentResult], threshold: "float | str") -> None:
    from rich.table import Table

    for res in results:
        table = Table(title=f"{res.experiment.title}: {res.experiment.description}", title_justify="left")
        for i, h in enumerate(LEVEL_HEADER):
            table.add_column(h, justify="left" if i == 0 else "right")
        for lv in res.levels:
            table.add_row(*level_cells(lv))
        console.print(table)
    table = Table(
        title=f"summary (threshold {threshold:g})" if isinstance(threshold, float) else f"summary (threshold {threshold})", title_justify="left"
    )
    for h in SUMMARY_HEADER:
        table.add_column(h)
    for row in summary_rows(results):
        table.add_row(*row)
    console.print(table)


def to_dict(results: Sequence[ExperimentResult], info: dict[str, Any]) -> dict[str, Any]:
    return {"run": {**info, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}, "experiments": [r.to_dict() for r in results]}


def write_json(results: Sequence[ExperimentResult], path: Path, info: dict[str, Any]) -> Path:
    """Write the study as JSON to ``path`` (what first, then where, like :func:`deepdetector.report.write_json`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_dict(results, info), indent=2), encoding="utf-8")
    return path


def write_html(results: Sequence[ExperimentResult], path: Path, info: dict[str, Any]) -> Path:
    page = HtmlPage("DeepDetector robustness study")
    page.items([f"{k}: {v}" for k, v in info.items() if not isinstance(v, (list, dict))] + list(info.get("selection", [])))
    page.paragraph(
        "Each experiment changes one thing and re-scans the same items. AUC (ranking quality) and accuracy/TPR/FPR at the "
        "model's threshold are computed on the items that still had a face; 'mean |Δ|' is the mean absolute change of an "
        "item's probability of fake against the unperturbed baseline (items scored in both), 'mean Δ' its signed mean "
        "(positive: pushed towards fake). Items where no face was found any more are counted in 'no face'."
    )
    if not plots.matplotlib_available():
        page.paragraph(plots.PLOTS_MISSING, "warn")
    page.heading("Summary")
    page.table(SUMMARY_HEADER, summary_rows(results))
    for res in results:
        page.heading(res.experiment.title)
        page.paragraph(res.experiment.description)
        levels = [lv for lv in res.levels]
        page.image(
            plots.sweep_plot(
                res.experiment.title,
                [lv.label for lv in levels],
                {
                    "AUC": [lv.auc.value for lv in levels],
                    "accuracy": [None if lv.at_threshold is None else lv.at_threshold.accuracy for lv in levels],
                    "share scored": [lv.n_scored / lv.n if lv.n else None for lv in levels],
                },
                [0.0 if lv.is_baseline else lv.mean_abs_change for lv in levels],
                res.baseline_index,
            ),
            f"{res.experiment.title} sweep",
        )
        page.table(LEVEL_HEADER, [level_cells(lv) for lv in levels])
    return page.write(path)
