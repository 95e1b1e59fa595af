"""Metrics and calibration used by training: ROC AUC, Platt scaling, threshold choice, per-file aggregation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with tied ranks); None when a class is missing."""
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    score = np.asarray(score, np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


@dataclass
class Platt:
    """``p = sigmoid(a * logit + b)``."""

    a: float = 1.0
    b: float = 0.0

    def __call__(self, logit: np.ndarray) -> np.ndarray:
        return sigmoid(self.a * np.asarray(logit, np.float64) + self.b)


def fit_platt(logits: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> Platt:
    """Fit Platt scaling by weighted logistic regression on one logit (Platt's smoothed targets).

    ``weights`` let every class (or file) count equally whatever its number of frames.
    """
    from scipy.optimize import minimize

    x = np.asarray(logits, np.float64)
    y = np.asarray(y, np.float64)
    if len(np.unique(y)) < 2:
        return Platt()
    w = np.ones_like(x) if weights is None else np.asarray(weights, np.float64)
    n_pos, n_neg = float(w[y == 1].sum()), float(w[y == 0].sum())
    t = np.where(y == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        z = p[0] * x + p[1]
        # log(1 + exp(z)) - t*z, numerically stable
        l = np.logaddexp(0.0, z) - t * z
        g = (sigmoid(z) - t) * w
        return float((l * w).sum()), np.array([(g * x).sum(), g.sum()])

    res = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    a, b = (float(v) for v in res.x)
    if not (math.isfinite(a) and math.isfinite(b)):
        return Platt()
    return Platt(a, b)


def balanced_threshold(y: np.ndarray, prob: np.ndarray) -> float:
    """The threshold on ``prob`` that maximises balanced accuracy ((TPR + TNR) / 2), midway between scores."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(prob, np.float64)
    if y.all() or (~y).all():
        return 0.5
    cands = np.unique(p)
    mids = np.concatenate([[0.0], (cands[:-1] + cands[1:]) / 2.0, [1.0]])
    best_t, best = 0.5, -1.0
    for t in mids:
        pred = p >= t
        bacc = 0.5 * (pred[y].mean() + (~pred[~y]).mean())
        if bacc > best + 1e-12 or (abs(bacc - best) <= 1e-12 and abs(t - 0.5) < abs(best_t - 0.5)):
            best, best_t = bacc, float(t)
    return best_t


def rates(y: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, float | None]:
    """Accuracy, TPR and FPR at ``threshold`` (None where undefined)."""
    y = np.asarray(y).astype(bool)
    pred = np.asarray(prob) >= threshold
    return {
        "accuracy": float((pred == y).mean()) if len(y) else None,
        "tpr": float(pred[y].mean()) if y.any() else None,
        "fpr": float(pred[~y].mean()) if (~y).any() else None,
    }
