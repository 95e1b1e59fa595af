"""Is model A better than model B, or is the gap resampling noise?

``deepdetector compare A/predictions.csv B/predictions.csv`` takes two ``deepdetector evaluate``
outputs, keeps the items both scored, and for every row of the metric table (and every AUC
target) gives AUC(A), AUC(B), their difference and a *paired* bootstrap interval of it: the same
resampled items score both models, so what the two share (an easy or a hard clip) cancels out.
A difference whose interval holds 0 is not evidence that either model ranks that subset better.
On a few dozen validation videos, most differences between training runs are of that kind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepdetector import metrics as M
from deepdetector.errors import DeepDetectorError
from deepdetector.evaluation.predictions import PredictionRow, load_predictions
from deepdetector.evaluation.summary import TARGETS, subset_parts
from deepdetector.markdown import fmt_auc, fmt_interval


class CompareError(DeepDetectorError):
    """The two prediction files cannot be compared."""


@dataclass
class ComparisonRow:
    name: str
    level: str  # target | overall | media | kind | source_dataset
    vs: str | None  # other-class items a one-class subset is ranked against
    difference: M.AucDifference

    def to_dict(self) -> dict[str, Any]:
        d = self.difference

        def r(x: float | None) -> float | None:
            return None if x is None else round(float(x), 4)

        return {
            "name": self.name,
            "level": self.level,
            "vs": self.vs,
            "n_fake": d.n_fake,
            "n_real": d.n_real,
            "auc_a": r(d.auc_a),
            "auc_b": r(d.auc_b),
            "delta": r(d.delta),
            "ci": d.interval.to_list(),
            "p_value": None if d.p_value is None else round(d.p_value, 4),
            "differs": d.differs,
            "reason": d.reason,
        }


@dataclass
class Comparison:
    a: str
    b: str
    n_common: int
    only_a: int  # items scored in A only (no face in B, missing from B, ...)
    only_b: int
    rows: list[ComparisonRow]

    def to_dict(self) -> dict[str, Any]:
        return {
            "comparison": {
                "a": self.a,
                "b": self.b,
                "n_common": self.n_common,
                "only_a": self.only_a,
                "only_b": self.only_b,
                "level": 0.95,
                "bootstrap_samples": M.bootstrap_samples(self.n_common),
            },
            "rows": [r.to_dict() for r in self.rows],
        }


def _read(path: Path) -> dict[str, PredictionRow]:
    return {r.path: r for r in load_predictions(path)}


def compare_predictions(path_a: str | Path, path_b: str | Path, seed: int = 0) -> Comparison:
    """Paired AUC differences of two evaluate outputs on the items both scored."""
    a, b = _read(Path(path_a)), _read(Path(path_b))
    scored_a = {p for p, r in a.items() if r.scored}
    scored_b = {p for p, r in b.items() if r.scored}
    common = sorted(scored_a & scored_b)
    mismatched = [p for p in common if a[p].label != b[p].label]
    if mismatched:
        raise CompareError(f"{len(mismatched)} items have different labels in the two files (first: {mismatched[0]}): not the same manifest")
    if not common:
        raise CompareError(f"{path_a} and {path_b} share no scored item: evaluate both models on the same manifest")
    rows_a = [a[p] for p in common]
    score_b = {p: b[p].score for p in common}

    def diff(part: Sequence[PredictionRow]) -> M.AucDifference:
        y = np.array([r.label for r in part], dtype=np.int64)
        sa = np.array([r.score for r in part], dtype=np.float64)
        sb = np.array([score_b[r.path] for r in part], dtype=np.float64)
        return M.auc_difference(y, sa, sb, seed=seed)

    out: list[ComparisonRow] = []
    for t in TARGETS:
        if t.metric != "auc":
            continue
        part = [r for r in rows_a if t.members(r)]
        if part:
            out.append(ComparisonRow(t.name, "target", t.description, diff(part)))
    for sp in subset_parts(rows_a):
        out.append(ComparisonRow(sp.name, sp.level, sp.reference_name, diff(sp.rows + sp.reference)))
    return Comparison(str(path_a), str(path_b), len(common), len(scored_a - scored_b), len(scored_b - scored_a), out)


def write_json(comparison: Comparison, path: Path) -> Path:
    """Write ``comparison`` as JSON to ``path`` (what first, then where, like :func:`deepdetector.report.write_json`)."""
    path.write_text(json.dumps(comparison.to_dict(), indent=2), encoding="utf-8")
    return path


def print_comparison(console: Any, comparison: Comparison) -> None:
    from rich.table import Table

    table = Table(title=f"A = {comparison.a}\nB = {comparison.b}", title_justify="left")
    for h in ("subset", "fake/real", "AUC A", "AUC B", "A - B", "95% interval", "p", "differs"):
        table.add_column(h, justify="left" if h == "subset" else "right")
    for row in comparison.rows:
        d = row.to_dict()
        style = ("green" if (d["delta"] or 0) > 0 else "red") if d["differs"] else "dim"
        table.add_row(
            row.name,
            f"{d['n_fake']}/{d['n_real']}",
            fmt_auc(d["auc_a"]),
            fmt_auc(d["auc_b"]),
            f"[{style}]{fmt_auc(d['delta'], True)}[/]",
            fmt_interval(d["ci"]),
            "" if d["p_value"] is None else f"{d['p_value']:.3f}",
            "yes" if d["differs"] else "no",
        )
    console.print(table)
    console.print(
        f"[dim]{comparison.n_common} items scored by both ({comparison.only_a} by A only, {comparison.only_b} by B only). "
        "'differs': the paired 95% bootstrap interval of AUC(A) - AUC(B) excludes 0.[/dim]"
    )
