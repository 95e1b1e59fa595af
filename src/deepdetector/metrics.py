"""Binary detection metrics and score calibration, used by training and evaluation alike.

Numpy only (no scikit-learn; Platt fitting uses scipy's optimiser, imported when called).

Conventions: label ``1`` = fake (the positive class), ``0`` = real; a score is the probability of
fake. An item is called fake when ``score >= threshold`` (as :mod:`deepdetector.verdict` does).

Metrics that need both classes (AUC, EER, AP, FPR on an all-fake set, ...) are *undefined* on a
one-class set: they come back as ``None`` with a ``reason`` instead of raising, so a table can say
why a cell is empty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

LOG_LOSS_EPS = 1e-6
"""Probabilities are clipped to ``[eps, 1 - eps]`` before the log-loss, so one confident mistake
costs at most ``-log(1e-6) = 13.8`` instead of infinity."""


# --- small result records ---------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A number that may be undefined. ``value`` is ``None`` exactly when ``reason`` says why."""

    value: float | None
    reason: str | None = None

    @property
    def defined(self) -> bool:
        return self.value is not None

    def __float__(self) -> float:
        return math.nan if self.value is None else float(self.value)


@dataclass(frozen=True)
class RocCurve:
    """Points of the ROC curve, from ``(0, 0)`` (threshold +inf) to ``(1, 1)``.

    ``thresholds[i]`` is the score threshold giving ``(fpr[i], tpr[i])`` with the rule
    ``score >= threshold``. Empty arrays with a ``reason`` when undefined.
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    reason: str | None = None


@dataclass(frozen=True)
class EqualErrorRate:
    """The error rate where the false-positive and false-negative rates are equal.

    ``threshold`` is the first score threshold (walking down from the top score) at which the
    miss rate falls to or below the false-alarm rate.
    """

    value: float | None
    threshold: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Counts:
    """Confusion counts at one threshold."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def n_pos(self) -> int:
        return self.tp + self.fn

    @property
    def n_neg(self) -> int:
        return self.tn + self.fp


@dataclass(frozen=True)
class ThresholdMetrics:
    """Decision quality at one threshold. Each rate is ``None`` when its denominator is zero."""

    threshold: float | None  # None: items were judged at thresholds of their own (per media type)
    counts: Counts
    accuracy: float | None
    tpr: float | None  # recall / detection rate: fakes called fake
    fpr: float | None  # false alarms: reals called fake
    tnr: float | None  # reals called real
    fnr: float | None  # misses: fakes called real
    precision: float | None  # of the items called fake, the share that are fake
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CalibrationBins:
    """Reliability diagram data: equal-width probability bins.

    ``mean_score[i]`` / ``fraction_fake[i]`` are ``nan`` for an empty bin. ``ece`` is the expected
    calibration error: the count-weighted mean of ``|fraction_fake - mean_score|``.
    """

    edges: np.ndarray
    count: np.ndarray
    mean_score: np.ndarray
    fraction_fake: np.ndarray
    ece: float | None
    reason: str | None = None


@dataclass(frozen=True)
class BinaryMetrics:
    """Every summary metric of one scored set (see :func:`binary_metrics`)."""

    n: int
    n_pos: int
    n_neg: int
    auc: Metric
    ap: Metric
    eer: EqualErrorRate
    log_loss: Metric
    at_threshold: ThresholdMetrics

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (undefined values are ``None``; reasons kept under ``reasons``)."""
        t = self.at_threshold
        reasons: dict[str, str] = {}
        for name, m in (("auc", self.auc), ("ap", self.ap), ("log_loss", self.log_loss)):
            if m.reason:
                reasons[name] = m.reason
        if self.eer.reason:
            reasons["eer"] = self.eer.reason
        reasons.update(t.reasons)
        return {
            "n": self.n,
            "n_fake": self.n_pos,
            "n_real": self.n_neg,
            "auc": _r(self.auc.value),
            "ap": _r(self.ap.value),
            "eer": _r(self.eer.value),
            "eer_threshold": _r(self.eer.threshold),
            "log_loss": _r(self.log_loss.value),
            "threshold": t.threshold,
            "accuracy": _r(t.accuracy),
            "tpr": _r(t.tpr),
            "fpr": _r(t.fpr),
            "precision": _r(t.precision),
            "counts": asdict(t.counts),
            "reasons": reasons,
        }


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)


# --- input checks -----------------------------------------------------------------------------


def _as_arrays(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"labels and scores must be 1-D and of equal length (got {y.shape} and {s.shape})")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers; drop unscored items (no face, error) before computing metrics")
    return y.astype(np.int64), s


def _two_classes(y: np.ndarray) -> str | None:
    """None when both classes are present, else the reason a ranking metric is undefined."""
    if y.size == 0:
        return "no scored items"
    n_pos = int(y.sum())
    if n_pos == 0:
        return "only real items: needs fakes too"
    if n_pos == y.size:
        return "only fake items: needs reals too"
    return None


# --- ranking metrics --------------------------------------------------------------------------


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with tied values sharing the mean of their ranks (like ``scipy.stats.rankdata``)."""
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(v, kind="mergesort")
    sorted_v = v[order]
    # start index of each run of equal values
    starts = np.flatnonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]])
    ends = np.r_[starts[1:], v.size]
    mean_rank = (starts + ends + 1) / 2.0  # ranks are 1-based: mean of (start+1 .. end)
    ranks = np.empty(v.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def roc_auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> Metric:
    """Area under the ROC curve: the probability that a random fake scores above a random real,
    ties counting one half (the Mann-Whitney U statistic divided by ``n_fake * n_real``)."""
    y, s = _as_arrays(labels, scores)
    reason = _two_classes(y)
    if reason:
        return Metric(None, reason)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    ranks = rankdata(s)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return Metric(float(u / (n_pos * n_neg)))


def roc_curve(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> RocCurve:
    """ROC curve points, one per distinct score (plus the origin)."""
    y, s = _as_arrays(labels, scores)
    reason = _two_classes(y)
    if reason:
        empty = np.zeros(0)
        return RocCurve(empty, empty, empty, reason)
    tps, fps, thresholds = _cumulative_counts(y, s)
    n_pos, n_neg = tps[-1], fps[-1]
    return RocCurve(
        fpr=np.r_[0.0, fps / n_neg],
        tpr=np.r_[0.0, tps / n_pos],
        thresholds=np.r_[np.inf, thresholds],
    )


def _cumulative_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True/false positives when calling fake every score >= each distinct threshold (descending)."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_run = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), y.size - 1]
    tps = np.cumsum(y_sorted)[last_of_run].astype(np.float64)
    fps = (last_of_run + 1 - tps).astype(np.float64)
    return tps, fps, s_sorted[last_of_run]


def equal_error_rate(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> EqualErrorRate:
    """EER: where the ROC curve crosses ``FPR = 1 - TPR``, interpolated linearly between the two
    ROC points around the crossing."""
    curve = roc_curve(labels, scores)
    if curve.reason:
        return EqualErrorRate(None, None, curve.reason)
    fnr = 1.0 - curve.tpr
    diff = fnr - curve.fpr  # starts at 1 (origin), ends at -1; non-increasing
    i = int(np.flatnonzero(diff <= 0)[0])  # exists: the last point has diff = -1
    if diff[i] == 0:
        value = float(curve.fpr[i])
    else:
        t = diff[i - 1] / (diff[i - 1] - diff[i])
        value = float(curve.fpr[i - 1] + t * (curve.fpr[i] - curve.fpr[i - 1]))
    return EqualErrorRate(value, float(curve.thresholds[i]))


def average_precision(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> Metric:
    """Average precision: ``sum_k (R_k - R_{k-1}) * P_k`` over distinct thresholds (the step-wise
    area under the precision-recall curve, as in scikit-learn; no interpolation)."""
    y, s = _as_arrays(labels, scores)
    reason = _two_classes(y)
    if reason:
        return Metric(None, reason)
    tps, fps, _ = _cumulative_counts(y, s)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    recall_steps = np.diff(np.r_[0.0, recall])
    return Metric(float(np.sum(recall_steps * precision)))


def log_loss(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, eps: float = LOG_LOSS_EPS) -> Metric:
    """Mean binary cross-entropy (natural log) of the probabilities, clipped to ``[eps, 1-eps]``.
    Defined on one class too (it measures confidence, not ranking)."""
    y, s = _as_arrays(labels, scores)
    if y.size == 0:
        return Metric(None, "no scored items")
    p = np.clip(s, eps, 1.0 - eps)
    return Metric(float(-np.mean(y * np.log(p) + (1 - y) * np.log(1.0 - p))))


# --- threshold metrics ------------------------------------------------------------------------


def confusion_counts(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float | Sequence[float] | np.ndarray
) -> Counts:
    """Confusion counts with the rule ``fake if score >= threshold`` (one threshold, or one per item)."""
    y, s = _as_arrays(labels, scores)
    called_fake = s >= np.asarray(threshold, dtype=np.float64)
    tp = int(np.sum(called_fake & (y == 1)))
    fp = int(np.sum(called_fake & (y == 0)))
    fn = int(np.sum(~called_fake & (y == 1)))
    tn = int(np.sum(~called_fake & (y == 0)))
    return Counts(tp=tp, fp=fp, tn=tn, fn=fn)


def threshold_metrics(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float | Sequence[float] | np.ndarray
) -> ThresholdMetrics:
    """Accuracy, TPR, FPR, TNR, FNR and precision at ``threshold`` (one, or one per item)."""
    c = confusion_counts(labels, scores, threshold)
    reasons: dict[str, str] = {}

    def rate(num: int, den: int, name: str, why: str) -> float | None:
        if den == 0:
            reasons[name] = why
            return None
        return num / den

    accuracy = rate(c.tp + c.tn, c.n, "accuracy", "no scored items")
    tpr = rate(c.tp, c.n_pos, "tpr", "no fake items")
    fnr = rate(c.fn, c.n_pos, "fnr", "no fake items")
    fpr = rate(c.fp, c.n_neg, "fpr", "no real items")
    tnr = rate(c.tn, c.n_neg, "tnr", "no real items")
    precision = rate(c.tp, c.tp + c.fp, "precision", "nothing called fake")
    t = np.unique(np.asarray(threshold, dtype=np.float64))
    return ThresholdMetrics(float(t[0]) if t.size == 1 else None, c, accuracy, tpr, fpr, tnr, fnr, precision, reasons)


def calibration_bins(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, n_bins: int = 10) -> CalibrationBins:
    """Equal-width bins of predicted probability with the observed fraction of fakes in each."""
    y, s = _as_arrays(labels, scores)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(s, edges[1:-1], right=False), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_score = np.bincount(which, weights=s, minlength=n_bins) / count
        fraction = np.bincount(which, weights=y.astype(np.float64), minlength=n_bins) / count
    if y.size == 0:
        return CalibrationBins(edges, count, mean_score, fraction, None, "no scored items")
    nonempty = count > 0
    ece = float(np.sum(count[nonempty] * np.abs(fraction[nonempty] - mean_score[nonempty])) / y.size)
    return CalibrationBins(edges, count, mean_score, fraction, ece)


def binary_metrics(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float) -> BinaryMetrics:
    """AUC, AP, EER, log-loss and the threshold metrics of one scored set in one call."""
    y, s = _as_arrays(labels, scores)
    n_pos = int(y.sum())
    return BinaryMetrics(
        n=int(y.size),
        n_pos=n_pos,
        n_neg=int(y.size) - n_pos,
        auc=roc_auc(y, s),
        ap=average_precision(y, s),
        eer=equal_error_rate(y, s),
        log_loss=log_loss(y, s),
        at_threshold=threshold_metrics(y, s, threshold),
    )


# --- uncertainty: bootstrap intervals -----------------------------------------------------------

BOOTSTRAP_SAMPLES = 2000
"""Resamples behind every interval (seeded: the same scores give the same interval); sets of more
than 50,000 items get proportionally fewer (at least 200: their intervals are narrow anyway)."""


def bootstrap_samples(n_items: int) -> int:
    """Resamples used for ``n_items`` items (see :data:`BOOTSTRAP_SAMPLES`)."""
    return BOOTSTRAP_SAMPLES if n_items <= 50_000 else max(200, BOOTSTRAP_SAMPLES * 50_000 // n_items)


MIN_PER_CLASS_FOR_INTERVAL = 5
"""Fewer fakes or reals than this and no interval is given: resampling one or two items of a class
says nothing about the spread (the interval would come out far too narrow)."""

_BOOTSTRAP_CHUNK_CELLS = 4_000_000
"""Resample weights held in memory at once (replicates x items), about 32 MB of float64."""


@dataclass(frozen=True)
class Interval:
    """A bootstrap confidence interval; ``low``/``high`` are ``None`` exactly when ``reason`` says why."""

    low: float | None
    high: float | None
    level: float = 0.95
    reason: str | None = None

    def to_list(self) -> list[float] | None:
        return None if self.low is None or self.high is None else [round(self.low, 4), round(self.high, 4)]


@dataclass(frozen=True)
class AucDifference:
    """AUC of scores A minus AUC of scores B on the same items, with a paired bootstrap interval.

    ``p_value`` is the two-sided bootstrap p-value of "no difference" (twice the smaller share of
    resampled differences on either side of zero, resamples at exactly zero counting half to each). ``differs`` is True when the interval excludes 0.
    """

    auc_a: float | None
    auc_b: float | None
    delta: float | None
    interval: Interval
    p_value: float | None
    n_fake: int
    n_real: int
    reason: str | None = None

    @property
    def differs(self) -> bool:
        iv = self.interval
        return iv.low is not None and iv.high is not None and (iv.low > 0 or iv.high < 0)


def _too_few(y: np.ndarray) -> str | None:
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if min(n_pos, n_neg) < MIN_PER_CLASS_FOR_INTERVAL:
        return f"too few items for an interval ({n_pos} fake, {n_neg} real; needs {MIN_PER_CLASS_FOR_INTERVAL} of each)"
    return None


def weighted_auc(pos: np.ndarray, neg: np.ndarray, w_pos: np.ndarray, w_neg: np.ndarray) -> np.ndarray:
    """AUCs of weighted samples: row ``b`` of ``w_pos`` [B, n_pos] / ``w_neg`` [B, n_neg] says how
    often each fake / real is counted (a bootstrap resample). Equal to :func:`roc_auc` of the items
    repeated that many times; O(n log n + B n), so a resample of a million items costs milliseconds."""
    order = np.argsort(neg, kind="mergesort")
    sorted_neg = neg[order]
    below = np.searchsorted(sorted_neg, pos, side="left")  # reals scoring strictly lower
    upto = np.searchsorted(sorted_neg, pos, side="right")  # ... or equal
    cum = np.zeros((w_neg.shape[0], neg.size + 1), dtype=np.float64)
    np.cumsum(w_neg[:, order], axis=1, out=cum[:, 1:])
    wins = cum[:, below] + 0.5 * (cum[:, upto] - cum[:, below])  # [B, n_pos]: weighted reals each fake beats
    return (wins * w_pos).sum(axis=1) / (w_pos.sum(axis=1) * w_neg.sum(axis=1))


def _resample_counts(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    """[b, n] counts of each item in ``b`` resamples of ``n`` items drawn with replacement."""
    idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def _bootstrap_aucs(y: np.ndarray, score_sets: Sequence[np.ndarray], n_boot: int, seed: int) -> np.ndarray:
    """``[n_boot, len(score_sets)]`` AUCs of class-stratified resamples (the same resample for every
    score set: paired). Fakes and reals are resampled separately, so every resample keeps both classes."""
    rng = np.random.default_rng(seed)
    pos_idx, neg_idx = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    out = np.empty((n_boot, len(score_sets)), dtype=np.float64)
    chunk = max(1, min(n_boot, _BOOTSTRAP_CHUNK_CELLS // max(1, y.size)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        w_pos = _resample_counts(rng, pos_idx.size, b)
        w_neg = _resample_counts(rng, neg_idx.size, b)
        for k, s in enumerate(score_sets):
            out[start : start + b, k] = weighted_auc(s[pos_idx], s[neg_idx], w_pos, w_neg)
    return out


def auc_interval(
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    level: float = 0.95,
    n_boot: int | None = None,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of the ROC AUC (fakes and reals resampled separately).

    Needs :data:`MIN_PER_CLASS_FOR_INTERVAL` fakes and reals. Items are resampled one by one: files that share a source (two fakes of one identity pair,
    clips cut from one video) are treated as independent, so on such data the interval is if
    anything too narrow. With a handful of items per class it is wide, which is the point.
    """
    y, s = _as_arrays(labels, scores)
    reason = _two_classes(y) or _too_few(y)
    if reason:
        return Interval(None, None, level, reason)
    aucs = _bootstrap_aucs(y, [s], n_boot or bootstrap_samples(y.size), seed)[:, 0]
    alpha = (1.0 - level) / 2.0
    return Interval(float(np.quantile(aucs, alpha)), float(np.quantile(aucs, 1.0 - alpha)), level)


def auc_difference(
    labels: Sequence[int] | np.ndarray,
    scores_a: Sequence[float] | np.ndarray,
    scores_b: Sequence[float] | np.ndarray,
    level: float = 0.95,
    n_boot: int | None = None,
    seed: int = 0,
) -> AucDifference:
    """AUC(A) - AUC(B) on the same items, with a paired bootstrap interval and p-value: the way to
    tell whether one model ranks a subset better than another or the gap is resampling noise."""
    y, a = _as_arrays(labels, scores_a)
    _, b = _as_arrays(labels, scores_b)
    if a.shape != b.shape:
        raise ValueError("scores_a and scores_b must score the same items")
    n_pos = int(y.sum())
    reason = _two_classes(y)
    if reason:
        return AucDifference(None, None, None, Interval(None, None, level, reason), None, n_pos, y.size - n_pos, reason)
    auc_a, auc_b = float(roc_auc(y, a).value), float(roc_auc(y, b).value)
    few = _too_few(y)
    if few:
        return AucDifference(auc_a, auc_b, auc_a - auc_b, Interval(None, None, level, few), None, n_pos, y.size - n_pos, few)
    boot = _bootstrap_aucs(y, [a, b], n_boot or bootstrap_samples(y.size), seed)
    d = boot[:, 0] - boot[:, 1]
    alpha = (1.0 - level) / 2.0
    ties = float(np.mean(d == 0))  # resamples where the two rank alike count half to each side (mid-p)
    p = min(1.0, 2.0 * min(float(np.mean(d < 0)) + ties / 2, float(np.mean(d > 0)) + ties / 2))
    return AucDifference(
        auc_a, auc_b, auc_a - auc_b, Interval(float(np.quantile(d, alpha)), float(np.quantile(d, 1.0 - alpha)), level), p, n_pos, y.size - n_pos
    )


def rate_interval(k: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval of a rate ``k / n`` (accuracy, TPR, FPR at the threshold)."""
    if n <= 0:
        return Interval(None, None, level, "no items")
    if not 0 <= k <= n:
        raise ValueError(f"a rate needs 0 <= k <= n, got {k} of {n}")
    z = {0.9: 1.6448536, 0.95: 1.9599640, 0.99: 2.5758293}.get(level)
    if z is None:
        raise ValueError("level must be 0.9, 0.95 or 0.99")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(max(0.0, centre - half), min(1.0, centre + half), level)


# --- frame scores -> video score --------------------------------------------------------------


def aggregate_frame_scores(frame_scores: Sequence[float | None], method: str = "mean") -> float | None:
    """One video score from its frame scores (``None`` = no face in that frame, skipped).

    ``method`` is any strategy of :data:`deepdetector.verdict.AGGREGATIONS` (``mean``, ``median``,
    ``max``, ``confident``, ...). Returns ``None`` when no frame has a score.
    """
    from deepdetector.verdict.aggregation import AGGREGATIONS

    values = np.asarray([v for v in frame_scores if v is not None], dtype=np.float64)
    if values.size == 0:
        return None
    return float(AGGREGATIONS.get(method)(values))


# --- calibration and thresholds (training fits them; `deepdetector calibrate` refits them) ------


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


def logit(p, eps: float = 1e-6):
    """``log(p / (1 - p))`` with ``p`` clipped to ``[eps, 1 - eps]``: a float for a number, an array
    for an array. The one log-odds helper of scoring, training and evaluation."""
    clipped = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    out = np.log(clipped / (1.0 - clipped))
    return float(out) if out.ndim == 0 else out
