"""Plots for the evaluation and robustness reports, as base64 PNG data URIs.

matplotlib (the ``eval`` extra) is imported inside the functions and drawn with the Agg canvas
(no display, no pyplot global state). Without matplotlib every function returns ``None`` and the
reports say how to get the plots.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from deepdetector import metrics as M

PLOTS_MISSING = "plots need matplotlib: pip install 'deepdetector[eval]'"
FAKE_COLOUR, REAL_COLOUR = "#d62728", "#1f77b4"


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float = 5.5, height: float = 4.0, ncols: int = 1) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), dpi=100)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def to_data_uri(fig: Any) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def roc_plot(curves: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str) -> str | None:
    """ROC curves: ``(label, labels, scores)`` triples; undefined curves are left out."""
    if not matplotlib_available():
        return None
    drawn = [(name, M.roc_curve(y, s), M.roc_auc(y, s)) for name, y, s in curves]
    drawn = [(n, c, a) for n, c, a in drawn if c.reason is None]
    if not drawn:
        return None
    fig, (ax,) = _figure()
    ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--", label="chance")
    for name, curve, auc in drawn:
        ax.plot(curve.fpr, curve.tpr, lw=1.6, drawstyle="default", label=f"{name} (AUC {auc.value:.3f})")
    ax.set_xlabel("false-positive rate (reals called fake)")
    ax.set_ylabel("true-positive rate (fakes caught)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7)
    ax.grid(alpha=0.3)
    return to_data_uri(fig)


def histogram_plot(panels: Sequence[tuple[str, np.ndarray, np.ndarray, float | None]]) -> str | None:
    """Score histograms of reals and fakes, one panel per ``(title, labels, scores, threshold)``
    (threshold ``None``: the panel mixes items judged at different thresholds; no line)."""
    if not matplotlib_available() or not panels:
        return None
    fig, axes = _figure(4.2, 3.4, ncols=len(panels))
    bins = np.linspace(0, 1, 21)
    for ax, (title, y, s, threshold) in zip(axes, panels):
        y, s = np.asarray(y), np.asarray(s, dtype=float)
        ax.hist(s[y == 0], bins=bins, alpha=0.6, color=REAL_COLOUR, label=f"real ({int((y == 0).sum())})")
        ax.hist(s[y == 1], bins=bins, alpha=0.6, color=FAKE_COLOUR, label=f"fake ({int((y == 1).sum())})")
        if threshold is not None:
            ax.axvline(threshold, color="k", lw=1, ls="--", label=f"threshold {threshold:g}")
        ax.set_xlabel("probability of fake")
        ax.set_ylabel("items")
        ax.set_title(title)
        ax.legend(fontsize=7)
    return to_data_uri(fig)


def calibration_plot(labels: np.ndarray, scores: np.ndarray, n_bins: int = 10) -> str | None:
    """Reliability diagram: observed fraction of fakes per probability bin, with bin counts."""
    if not matplotlib_available() or len(labels) == 0:
        return None
    c = M.calibration_bins(labels, scores, n_bins)
    centres = (c.edges[:-1] + c.edges[1:]) / 2
    fig, axes = _figure(4.6, 4.2, ncols=2)
    ax = axes[0]
    ax.plot([0, 1], [0, 1], color="#999", ls="--", lw=0.8, label="perfect calibration")
    ok = c.count > 0
    ax.plot(c.mean_score[ok], c.fraction_fake[ok], marker="o", color=FAKE_COLOUR, label=f"model (ECE {c.ece:.3f})")
    ax.set_xlabel("mean predicted probability of fake")
    ax.set_ylabel("observed fraction of fakes")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("reliability")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    ax2 = axes[1]
    ax2.bar(centres, c.count, width=1.0 / n_bins * 0.9, color="#888")
    ax2.set_xlabel("predicted probability of fake")
    ax2.set_ylabel("items per bin")
    ax2.set_title("how many items per bin")
    return to_data_uri(fig)


def sweep_plot(
    title: str, levels: Sequence[str], series: dict[str, Sequence[float | None]], delta: Sequence[float | None], baseline_index: int | None
) -> str | None:
    """A robustness sweep: metrics per level (left) and mean absolute score change (right)."""
    if not matplotlib_available() or not levels:
        return None
    fig, axes = _figure(4.8, 3.6, ncols=2)
    x = np.arange(len(levels))

    def arr(v: Sequence[float | None]) -> np.ndarray:
        return np.array([np.nan if a is None else a for a in v], dtype=float)

    ax = axes[0]
    for name, values in series.items():
        ax.plot(x, arr(values), marker="o", label=name)
    if baseline_index is not None:
        ax.axvline(baseline_index, color="#999", ls=":", lw=1)
    ax.set_xticks(x, list(levels), rotation=30, fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax2 = axes[1]
    ax2.bar(x, np.nan_to_num(arr(delta)), color="#ff7f0e")
    ax2.set_xticks(x, list(levels), rotation=30, fontsize=8)
    ax2.set_title("mean |score change| vs baseline")
    ax2.grid(alpha=0.3, axis="y")
    return to_data_uri(fig)
