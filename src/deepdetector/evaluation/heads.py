"""What each model head ranks, and whether a learnt combination of heads beats their maximum.

``deepdetector heads predictions.csv [more.csv ...] [--judge reals.csv]`` reads ``deepdetector
evaluate`` outputs (their ``score_<head>`` columns) and answers two questions without scanning
anything again:

1. **Which head catches what**: the AUC of every head's score, and of the file score the scanner
   decided with (the highest head), per subset. A head that ranks a subset below its reals
   (AUC < 0.5) makes the maximum worse on that subset.
2. **Would a learnt combination do better than the maximum?** The candidate is a soft OR of
   recalibrated heads, ``logit p = log(sum_k exp(a_k * z_k + b_k))`` over the heads' logits
   ``z_k``: each head gets its own slope and offset (so a head with a shallow calibration can
   still decide), and a file is as suspicious as its most suspicious recalibrated head, smoothly.
   It is fitted by weighted logistic loss, every (label, kind) cell of the fitting files counting
   equally within its class, so that no manipulation kind dominates by its file count.

   Its AUCs are **cross-fitted**: files are split into ``folds`` by ``group`` (files of one group
   always in one fold), and every file is scored by a combination fitted on the other folds only.
   Files given with ``--judge`` are never fitted on: they are scored by the combination fitted
   on every fitting file (use them for real photos of other sources, which then measure how the
   combination treats reals it never saw). The difference to the maximum on the same files comes
   with the paired bootstrap interval of ``deepdetector compare``.

A file's head scores in ``predictions.csv`` are each head's highest over the file's faces, so for a
file with several faces the combination here sees a mix of faces; the study uses photos with one
face and videos with at most one face per analysed frame (the others are counted and left out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from deepdetector import metrics
from deepdetector import metrics as M
from deepdetector.errors import DeepDetectorError
from deepdetector.evaluation.compare import fmt_auc
from deepdetector.evaluation.predictions import PredictionRow, check_unique, load_predictions
from deepdetector.evaluation.summary import subset_parts

EPS = 1e-6
"""Head probabilities are clipped to [EPS, 1 - EPS] before taking logits (the CSV rounds them)."""
L2 = 1e-3
"""Ridge penalty on the combination's parameters (keeps a fit on few files finite)."""


class HeadsError(DeepDetectorError):
    """The predictions cannot be studied (no head columns, too few files, bad options)."""


def logit(p: np.ndarray) -> np.ndarray:
    return metrics.logit(p, EPS)


@dataclass(frozen=True)
class SoftOr:
    """``logit p = logsumexp_k(a_k * z_k + b_k)`` over head logits ``z`` (shape [n, K])."""

    heads: tuple[str, ...]
    a: tuple[float, ...]
    b: tuple[float, ...]

    def logits(self, z: np.ndarray) -> np.ndarray:
        return np.logaddexp.reduce(np.asarray(z, np.float64) * np.asarray(self.a) + np.asarray(self.b), axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": "soft-or", "heads": list(self.heads), "a": [round(v, 6) for v in self.a], "b": [round(v, 6) for v in self.b]}


def cell_weights(labels: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """Weights that make each class sum to 1/2 and every (label, kind) cell equal within its class."""
    y = np.asarray(labels).astype(int)
    kinds = np.asarray([k or "(none)" for k in kinds], dtype=object)
    w = np.zeros(y.size, np.float64)
    for label in (0, 1):
        cells = sorted({k for k, l in zip(kinds, y) if l == label})
        for k in cells:
            m = (y == label) & (kinds == k)
            w[m] = 0.5 / len(cells) / m.sum()
    return w


def fit_soft_or(z: np.ndarray, labels: np.ndarray, weights: np.ndarray, heads: Sequence[str], l2: float = L2) -> SoftOr:
    """Fit the soft OR by weighted logistic loss (L-BFGS), starting from the plain maximum (a=1, b=0)."""
    from scipy.optimize import minimize

    z = np.asarray(z, np.float64)
    t = np.asarray(labels, np.float64)
    w = np.asarray(weights, np.float64)
    k = z.shape[1]
    if len(np.unique(t)) < 2:
        raise HeadsError("the combination needs fake and real files to fit on")

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        terms = z * p[:k] + p[k:]
        top = terms.max(axis=1, keepdims=True)
        e = np.exp(terms - top)
        s = e.sum(axis=1, keepdims=True)
        out = top[:, 0] + np.log(s[:, 0])
        share = e / s  # d out / d terms
        g = (1.0 / (1.0 + np.exp(-out)) - t) * w
        value = float(((np.logaddexp(0.0, out) - t * out) * w).sum() + l2 * (p**2).sum())
        grad = np.concatenate([(share * z).T @ g, share.T @ g]) + 2.0 * l2 * p
        return value, grad

    res = minimize(loss, np.concatenate([np.ones(k), np.zeros(k)]), jac=True, method="L-BFGS-B")
    a, b = res.x[:k], res.x[k:]
    if not np.all(np.isfinite(res.x)):
        raise HeadsError("the combination's fit did not converge")
    return SoftOr(tuple(heads), tuple(float(v) for v in a), tuple(float(v) for v in b))


def group_folds(groups: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """Fold number of every file: groups shuffled (seeded) and dealt round-robin into ``folds``."""
    names = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[i]: n % folds for n, i in enumerate(order)}
    return np.array([fold_of[g] for g in groups], dtype=np.int64)


@dataclass
class HeadRow:
    """One subset: AUC of the decision score and of every head, and of the cross-fitted combination."""

    name: str
    level: str
    vs: str | None
    n_fake: int
    n_real: int
    head_auc: dict[str, float | None]
    score_auc: float | None  # the scanner's own file score (the highest head)
    combined: M.AucDifference | None = None  # soft OR (A) minus the file score (B), same files
    caught_max: float | None = None  # fakes at or above the threshold with the file score (the verdict)
    caught_combined: float | None = None  # ... and with the combination at p >= 0.5
    role: str = "fit"  # the subset's own files: fit (cross-fitted), judge (never fitted on) or mixed

    def to_dict(self) -> dict[str, Any]:
        c = self.combined
        return {
            "name": self.name,
            "level": self.level,
            "vs": self.vs,
            "n_fake": self.n_fake,
            "n_real": self.n_real,
            "auc_by_head": {k: M._r(v) for k, v in self.head_auc.items()},
            "auc_score": M._r(self.score_auc),
            "auc_combined": None if c is None else M._r(c.auc_a),
            "combined_minus_score": None if c is None else M._r(c.delta),
            "ci": None if c is None else c.interval.to_list(),
            "differs": None if c is None else c.differs,
            "flagged_score": M._r(self.caught_max),
            "flagged_combined": M._r(self.caught_combined),
            "role": self.role,
        }


@dataclass
class HeadStudy:
    heads: list[str]
    rows: list[HeadRow]
    combination: SoftOr
    folds: int  # folds actually used (at most the number of fitting groups)
    seed: int
    n_fit: int
    n_judge: int
    left_out: dict[str, int] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)  # path -> the combination's logit (cross-fitted, or the final fit for judge files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": {
                "heads": self.heads,
                "folds": self.folds,
                "seed": self.seed,
                "n_fit": self.n_fit,
                "n_judge": self.n_judge,
                "left_out": self.left_out,
                "sources": self.sources,
                "combination_fitted_on_all": self.combination.to_dict(),
                "flagged": "share of the subset's own files called fake (its fakes, or the reals of a real-only subset): file score at its verdict, combination at p >= 0.5",
            },
            "rows": [r.to_dict() for r in self.rows],
        }


def _usable(rows: Sequence[PredictionRow], media: str | None, left_out: dict[str, int], exclude: Sequence[str] = ()) -> list[PredictionRow]:
    out = []
    for r in rows:
        if media is not None and r.media != media:
            continue
        if any(t.lower() in r.kind.lower() or t.lower() in r.source_dataset.lower() for t in exclude):
            left_out["excluded (--exclude)"] = left_out.get("excluded (--exclude)", 0) + 1
            continue
        if not r.scored:
            left_out["no score (no face or error)"] = left_out.get("no score (no face or error)", 0) + 1
        elif r.n_faces > (max(r.n_frames, 1) if r.is_video else 1):  # a video: at most one face per analysed frame
            left_out["more than one face (per frame)"] = left_out.get("more than one face (per frame)", 0) + 1
        else:
            out.append(r)
    return out


def study_heads(
    fit_paths: Sequence[str | Path],
    judge_paths: Sequence[str | Path] = (),
    media: str | None = "image",
    folds: int = 5,
    seed: int = 0,
    exclude: Sequence[str] = (),
) -> HeadStudy:
    """Per-head AUCs and the cross-fitted soft-OR combination (see the module docstring).

    ``exclude``: leave out files whose ``kind`` or ``source_dataset`` contains any of these texts
    (case-insensitive), from fitting and judging alike.
    """
    if folds < 2:
        raise HeadsError("--folds must be at least 2")
    left_out: dict[str, int] = {}
    fit_all = [r for p in fit_paths for r in load_predictions(p)]
    judge_all = [r for p in judge_paths for r in load_predictions(p)]
    check_unique(fit_all, "the predictions files")  # the same file given twice would double the data
    check_unique(judge_all, "the --judge files")
    fit_rows = _usable(fit_all, media, left_out, exclude)
    judge_rows = _usable(judge_all, media, left_out, exclude)
    fit_paths_set = {r.path for r in fit_rows}
    fit_groups = {r.group for r in fit_rows if r.group}
    kept = []
    for r in judge_rows:
        if r.path in fit_paths_set:
            left_out["judge file also fitted on"] = left_out.get("judge file also fitted on", 0) + 1
        elif r.group and r.group in fit_groups:
            left_out["judge file in a fitted group"] = left_out.get("judge file in a fitted group", 0) + 1
        else:
            kept.append(r)
    judge_rows = kept
    if not fit_rows:
        raise HeadsError(f"no scored {media or ''} file with one face in the predictions to fit on".replace("  ", " "))
    common = set.intersection(*(set(r.head_scores) for r in fit_rows + judge_rows))
    heads = [h for h in fit_rows[0].head_scores if h in common]  # in the CSV's column order
    if len(heads) < 2:
        raise HeadsError(
            f"the predictions carry {len(heads)} head score column(s) common to every file; a combination needs two or more "
            "(evaluate with a model that has several heads, e.g. the shipped model with its stills model on photos)"
        )
    rows = fit_rows + judge_rows
    z = logit(np.array([[r.head_scores[h] for h in heads] for r in rows]))
    y = np.array([r.label for r in rows], dtype=np.int64)
    n_fit = len(fit_rows)
    fy = y[:n_fit]
    if fy.min() == fy.max():
        raise HeadsError("the fitting files hold one class only; the combination needs fakes and reals (real-only files can go in --judge)")
    fold = group_folds([r.group or r.path for r in fit_rows], folds, seed)
    if len(set(fold.tolist())) < 2:
        raise HeadsError("the fitting files form a single group: cross-fitting needs files of two or more groups")
    kinds = [r.kind for r in fit_rows]
    combined = np.empty(len(rows), np.float64)
    for k in range(folds):
        train, test = fold != k, np.flatnonzero(fold == k)
        if test.size == 0:
            continue
        if not train.any() or fy[train].min() == fy[train].max():
            raise HeadsError(
                f"fold {k}: the files outside its groups hold one class only, so nothing can be fitted to score it "
                "(cross-fitting needs fakes and reals outside every fold's groups; fewer --folds may help)"
            )
        fitted = fit_soft_or(z[:n_fit][train], fy[train], cell_weights(fy[train], [kinds[i] for i in np.flatnonzero(train)]), heads)
        combined[test] = fitted.logits(z[test])
    final = fit_soft_or(z[:n_fit], fy, cell_weights(fy, kinds), heads)
    if judge_rows:
        combined[n_fit:] = final.logits(z[n_fit:])
    index = {id(r): i for i, r in enumerate(rows)}
    role_of = ["fit"] * n_fit + ["judge"] * len(judge_rows)
    table: list[HeadRow] = []
    for sp in subset_parts(rows):
        part = sp.rows + sp.reference
        idx = np.array([index[id(r)] for r in part])
        yy = y[idx]
        head_auc = {h: M.roc_auc(yy, z[idx, j]).value for j, h in enumerate(heads)}
        score = np.array([r.score for r in part], np.float64)
        diff = M.auc_difference(yy, combined[idx], score, seed=seed)
        own = np.array([index[id(r)] for r in sp.rows if r.label == 1])
        caught_max = caught_comb = None
        if own.size:
            caught_max = float(np.mean([rows[i].verdict == "fake" for i in own]))
            caught_comb = float(np.mean(combined[own] >= 0.0))
        elif sp.rows:  # a real-only subset: the share called fake
            own_r = np.array([index[id(r)] for r in sp.rows])
            caught_max = float(np.mean([rows[i].verdict == "fake" for i in own_r]))
            caught_comb = float(np.mean(combined[own_r] >= 0.0))
        roles = {role_of[index[id(r)]] for r in sp.rows}  # the subset's own files (a borrowed reference may be fitted on)
        table.append(
            HeadRow(
                sp.name,
                sp.level,
                sp.reference_name,
                int(yy.sum()),
                int(yy.size - yy.sum()),
                head_auc,
                M.roc_auc(yy, score).value,
                diff,
                caught_max,
                caught_comb,
                roles.pop() if len(roles) == 1 else "mixed",
            )
        )
    return HeadStudy(
        heads,
        table,
        final,
        int(len(set(fold.tolist()))),
        seed,
        n_fit,
        len(judge_rows),
        left_out,
        [str(p) for p in fit_paths] + [f"judge: {p}" for p in judge_paths],
        scores={r.path: float(combined[i]) for i, r in enumerate(rows)},
    )


def write_json(study: HeadStudy, path: Path) -> Path:
    """Write ``study`` as JSON to ``path`` (what first, then where, like :func:`deepdetector.report.write_json`)."""
    path.write_text(json.dumps(study.to_dict(), indent=2), encoding="utf-8")
    return path


def print_study(console: Any, study: HeadStudy) -> None:
    from rich.table import Table

    left = ", ".join(f"{v} {k}" for k, v in study.left_out.items()) or "none"
    table = Table(
        title=f"AUC by head, and a soft OR of the heads cross-fitted over {study.folds} group folds "
        f"({study.n_fit} fitting files, {study.n_judge} judge-only; left out: {left})",
        title_justify="left",
    )
    cols = ["subset", "fake/real", *study.heads, "score (max)", "soft OR", "OR - max", "95% interval", "flagged max", "flagged OR"]
    for h in cols:
        table.add_column(h, justify="left" if h == "subset" else "right")
    for r in study.rows:
        c = r.combined
        style = ("green" if (c.delta or 0) > 0 else "red") if c is not None and c.differs else "dim"
        ci = "" if c is None or c.interval.low is None else f"{c.interval.low:+.3f} to {c.interval.high:+.3f}"
        name = r.name + (f" (vs {r.vs})" if r.vs else "") + ("" if r.role == "fit" else f" [{r.role}]")
        table.add_row(
            name,
            f"{r.n_fake}/{r.n_real}",
            *(fmt_auc(r.head_auc[h]) for h in study.heads),
            fmt_auc(r.score_auc),
            fmt_auc(None if c is None else c.auc_a),
            f"[{style}]{fmt_auc(None if c is None else c.delta, True)}[/]",
            ci,
            "" if r.caught_max is None else f"{r.caught_max:.0%}",
            "" if r.caught_combined is None else f"{r.caught_combined:.0%}",
        )
    console.print(table)
    fitted = study.combination
    console.print(
        "soft OR fitted on every fitting file: " + ", ".join(f"{h}: a={a:.3f} b={b:+.3f}" for h, a, b in zip(fitted.heads, fitted.a, fitted.b))
    )
    console.print(
        "[dim]flagged: share of the subset's own files called fake (its fakes, or for a real-only subset its reals): "
        "max = the verdict in the predictions, at the model's threshold; OR = the combination at p >= 0.5 "
        "(its balanced operating point). Cross-fitted files were scored by a fit that did not see their group.[/dim]"
    )
