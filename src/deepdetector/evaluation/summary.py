"""From prediction rows to the metric tables: overall, per media type, per ``kind``, per
``source_dataset``, and the project's targets.

Unscored items (no face found, unreadable) are counted in every row of the table and excluded
from the score-based metrics; nothing is dropped silently.

A subset holding one class only (e.g. "FaceForensics++ c23 Deepfakes", all fake) has no AUC of
its own, so its ranking metrics (AUC, AP, EER, frame AUC) are computed against the *reference*
items of the other class: those whose ``source_dataset`` shares the longest word prefix with it
("FaceForensics++ c23 original"), or else every item of the other class of the same media type
("all real videos"). The table's ``vs`` column names the reference. Threshold metrics (accuracy,
TPR, FPR) and log-loss always use the subset's own items only.

Every AUC comes with a 95% bootstrap interval (:func:`~deepdetector.metrics.auc_interval`,
seeded): on subsets of a few dozen files it is wide, and a difference between two models smaller
than it is not evidence (``deepdetector compare`` tests such a difference on the same items).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepdetector import metrics as M
from deepdetector.evaluation.predictions import PredictionRow
from deepdetector.types import Thresholds

Predicate = Callable[[PredictionRow], bool]


@dataclass
class SubsetMetrics:
    """One row of the metric table."""

    name: str
    level: str  # overall | media | kind | source_dataset | target
    n: int
    n_fake: int
    n_real: int
    n_scored: int
    n_no_face: int
    n_error: int
    reference: str | None  # the borrowed other class ("vs ..."), None when the subset has both
    n_reference: int
    auc: M.Metric  # item level: the video score for videos, the image score for images
    ap: M.Metric
    eer: M.EqualErrorRate
    frame_auc: M.Metric  # every frame with a face, labelled like its file
    n_frame_scores: int
    log_loss: M.Metric
    at_threshold: M.ThresholdMetrics
    ece: float | None
    mean_seconds: float | None
    aggregations: dict[str, M.Metric] = field(default_factory=dict)  # video AUC per re-aggregation of frame scores
    auc_ci: M.Interval = field(default_factory=lambda: M.Interval(None, None, reason="not computed"))  # bootstrap 95% interval of ``auc``

    def value(self, metric: str) -> float | None:
        """An unrounded metric by name: auc, frame_auc, ap, eer, log_loss, accuracy, tpr, fpr, precision."""
        ranking = {
            "auc": self.auc.value,
            "frame_auc": self.frame_auc.value,
            "ap": self.ap.value,
            "eer": self.eer.value,
            "log_loss": self.log_loss.value,
        }
        if metric in ranking:
            return ranking[metric]
        return getattr(self.at_threshold, metric)

    def to_dict(self) -> dict[str, Any]:
        t = self.at_threshold
        reasons = {
            k: v
            for k, v in (
                ("auc", self.auc.reason),
                ("ap", self.ap.reason),
                ("eer", self.eer.reason),
                ("frame_auc", self.frame_auc.reason),
                ("log_loss", self.log_loss.reason),
            )
            if v
        }
        reasons.update(t.reasons)
        return {
            "name": self.name,
            "level": self.level,
            "n": self.n,
            "n_fake": self.n_fake,
            "n_real": self.n_real,
            "n_scored": self.n_scored,
            "n_no_face": self.n_no_face,
            "n_error": self.n_error,
            "vs": self.reference,
            "n_vs": self.n_reference,
            "auc": _r(self.auc.value),
            "auc_ci": self.auc_ci.to_list(),
            "frame_auc": _r(self.frame_auc.value),
            "n_frame_scores": self.n_frame_scores,
            "ap": _r(self.ap.value),
            "eer": _r(self.eer.value),
            "eer_threshold": _r(self.eer.threshold),
            "log_loss": _r(self.log_loss.value),
            "ece": _r(self.ece),
            "threshold": t.threshold,
            "accuracy": _r(t.accuracy),
            "tpr": _r(t.tpr),
            "fpr": _r(t.fpr),
            "precision": _r(t.precision),
            "counts": {"tp": t.counts.tp, "fp": t.counts.fp, "tn": t.counts.tn, "fn": t.counts.fn},
            "mean_seconds": _r(self.mean_seconds, 3),
            "video_auc_by_aggregation": {k: _r(v.value) for k, v in self.aggregations.items()},
            "reasons": reasons,
        }


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)


# --- the project's targets (issue "Evaluation lab") -----------------------------------------


@dataclass(frozen=True)
class Target:
    """A goal on one metric of one subset, e.g. "FF++ c23 video AUC >= 0.97"."""

    name: str
    metric: str  # a key of SubsetMetrics.to_dict(): auc, accuracy, tpr, fpr
    goal: float
    higher_is_better: bool
    members: Predicate
    description: str


def _src(text: str, media: str | None = None) -> Predicate:
    return lambda r: text.lower() in r.source_dataset.lower() and (media is None or r.media == media)


def _kind_is(kind: str, label: int | None = None) -> Predicate:
    return lambda r: r.kind.lower() == kind and (label is None or r.label == label)


def _real_of(media: str) -> Predicate:
    return lambda r: r.label == 0 and r.media == media


def _either(*preds: Predicate) -> Predicate:
    return lambda r: any(p(r) for p in preds)


TARGETS: tuple[Target, ...] = (
    Target("FF++ c23 video AUC", "auc", 0.97, True, _src("FaceForensics++ c23", "video"), "FaceForensics++ c23 fake vs c23 original videos"),
    Target("FF++ c40 video AUC", "auc", 0.90, True, _src("FaceForensics++ c40", "video"), "FaceForensics++ c40 fake vs c40 real videos"),
    Target("GAN-face AUC", "auc", 0.99, True, _either(_kind_is("gan-image"), _real_of("image")), "gan-image fakes vs real images"),
    Target("diffusion-face AUC", "auc", 0.99, True, _either(_kind_is("diffusion-image"), _real_of("image")), "diffusion-image fakes vs real images"),
    Target(
        "talking-head video AUC",
        "auc",
        0.90,
        True,
        _either(_kind_is("talking-head-video"), _real_of("video")),
        "talking-head-video fakes vs real videos",
    ),
    Target("accuracy, all videos", "accuracy", 0.92, True, lambda r: r.media == "video", "every video at the shipped threshold"),
    Target("TPR, all videos", "tpr", 0.92, True, lambda r: r.media == "video", "every video at the shipped threshold"),
    Target("FPR, all videos", "fpr", 0.09, False, lambda r: r.media == "video", "every video at the shipped threshold"),
)


@dataclass
class TargetResult:
    target: Target
    value: float | None
    status: str  # "met", "missed" or "n/a"
    subset: SubsetMetrics | None
    reason: str | None = None

    @property
    def interval(self) -> M.Interval | None:
        """95% interval of the value: bootstrap for an AUC, Wilson for accuracy / TPR / FPR."""
        if self.subset is None or self.value is None:
            return None
        if self.target.metric == "auc":
            return self.subset.auc_ci
        c = self.subset.at_threshold.counts
        k_n = {"accuracy": (c.tp + c.tn, c.n), "tpr": (c.tp, c.n_pos), "fpr": (c.fp, c.n_neg)}.get(self.target.metric)
        return None if k_n is None else M.rate_interval(*k_n)

    def to_dict(self) -> dict[str, Any]:
        t = self.target
        return {
            "name": t.name,
            "metric": t.metric,
            "goal": f"{'>=' if t.higher_is_better else '<='} {t.goal}",
            "value": _r(self.value),
            "ci": self.interval.to_list() if self.interval else None,
            "status": self.status,
            "on": t.description,
            "n": None if self.subset is None else self.subset.n,
            "n_scored": None if self.subset is None else self.subset.n_scored,
            "reason": self.reason,
        }


# --- computing ---------------------------------------------------------------------------------


def subset_metrics(
    name: str,
    level: str,
    rows: Sequence[PredictionRow],
    threshold: "float | Thresholds",
    reference: Sequence[PredictionRow] = (),
    reference_name: str | None = None,
    aggregations: Sequence[str] = (),
) -> SubsetMetrics:
    """Metrics of ``rows`` (ranking metrics over ``rows + reference``).

    ``threshold``: one for every item, or :class:`~deepdetector.types.Thresholds` (each item judged
    at the threshold of its media type, as the scanner does).
    """
    th = as_thresholds(threshold)
    scored = [r for r in rows if r.scored]
    ranked = scored + [r for r in reference if r.scored]
    y = np.array([r.label for r in ranked], dtype=np.int64)
    s = np.array([r.score for r in ranked], dtype=np.float64)
    frame_y = np.array([r.label for r in ranked for _ in r.frame_probabilities], dtype=np.int64)
    frame_s = np.array([p for r in ranked for p in r.frame_probabilities], dtype=np.float64)
    own_y = np.array([r.label for r in scored], dtype=np.int64)
    own_s = np.array([r.score for r in scored], dtype=np.float64)
    calib = M.calibration_bins(own_y, own_s)
    agg: dict[str, M.Metric] = {}
    videos = [r for r in ranked if r.is_video and r.frame_probabilities]
    if videos:
        for method in aggregations:
            vs = [M.aggregate_frame_scores(r.frame_probabilities, method) for r in videos]
            agg[method] = M.roc_auc([r.label for r in videos], vs)
    seconds = [r.seconds for r in rows if r.verdict != "error"]
    return SubsetMetrics(
        name=name,
        level=level,
        n=len(rows),
        n_fake=sum(r.label for r in rows),
        n_real=sum(1 - r.label for r in rows),
        n_scored=len(scored),
        n_no_face=sum(1 for r in rows if r.verdict == "no_face"),
        n_error=sum(1 for r in rows if r.verdict == "error"),
        reference=reference_name,
        n_reference=len(reference),
        auc=M.roc_auc(y, s),
        ap=M.average_precision(y, s),
        eer=M.equal_error_rate(y, s),
        frame_auc=M.roc_auc(frame_y, frame_s),
        n_frame_scores=int(frame_y.size),
        log_loss=M.log_loss(own_y, own_s),
        at_threshold=M.threshold_metrics(own_y, own_s, th.of_items([r.media for r in scored])),
        ece=calib.ece,
        mean_seconds=float(np.mean(seconds)) if seconds else None,
        aggregations=agg,
        auc_ci=M.auc_interval(y, s),
    )


def _common_prefix_words(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.lower().split(), b.lower().split()):
        if x != y:
            break
        n += 1
    return n


def find_reference(rows: Sequence[PredictionRow], all_rows: Sequence[PredictionRow]) -> tuple[list[PredictionRow], str | None]:
    """The other-class items a one-class subset is ranked against, and how to name them."""
    labels = {r.label for r in rows}
    if len(labels) != 1:
        return [], None
    other = 1 - labels.pop()
    other_name = "fake" if other == 1 else "real"
    candidates = [r for r in all_rows if r.label == other]
    if not candidates:
        return [], None
    sources = {r.source_dataset for r in rows}
    if len(sources) == 1:
        source = next(iter(sources))
        best = max((_common_prefix_words(source, c.source_dataset) for c in candidates), default=0)
        if best >= 1:
            ref = [c for c in candidates if _common_prefix_words(source, c.source_dataset) == best]
            names = sorted({c.source_dataset for c in ref})
            return ref, " + ".join(names)
    media = {r.media for r in rows}
    if len(media) == 1:
        m = next(iter(media))
        ref = [c for c in candidates if c.media == m]
        if ref:
            return ref, f"all {other_name} {m}s"
    return candidates, f"all {other_name} items"


@dataclass
class EvaluationMetrics:
    """Every table of an evaluation."""

    threshold: float  # the default (the only one unless ``thresholds`` holds one per media type)
    subsets: list[SubsetMetrics]
    targets: list[TargetResult]
    aggregations: list[str]
    thresholds: Thresholds | None = None

    def by_level(self, level: str) -> list[SubsetMetrics]:
        return [s for s in self.subsets if s.level == level]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "thresholds": (self.thresholds or Thresholds.of(self.threshold)).to_dict(),
            "subsets": [s.to_dict() for s in self.subsets],
            "targets": [t.to_dict() for t in self.targets],
            "aggregations": self.aggregations,
        }


@dataclass
class SubsetPart:
    """The items of one table row, and the other-class items it borrows (see :func:`find_reference`)."""

    name: str
    level: str
    rows: list[PredictionRow]
    reference: list[PredictionRow]
    reference_name: str | None


def subset_parts(rows: Sequence[PredictionRow]) -> list[SubsetPart]:
    """The rows of the metric table: all items, each media type, each ``kind``, each ``source_dataset``."""
    out = [SubsetPart("all items", "overall", list(rows), [], None)]
    for media in ("video", "image"):
        part = [r for r in rows if r.media == media]
        if part and len(part) != len(rows):
            out.append(SubsetPart(f"all {media}s", "media", part, [], None))
    for level, key in (("kind", lambda r: r.kind), ("source_dataset", lambda r: r.source_dataset)):
        groups: OrderedDict[str, list[PredictionRow]] = OrderedDict()
        for r in rows:
            groups.setdefault(key(r) or "(none)", []).append(r)
        if len(groups) < 2:
            continue
        for name, part in groups.items():
            ref, ref_name = find_reference(part, rows)
            out.append(SubsetPart(name, level, part, ref, ref_name))
    return out


def as_thresholds(threshold: "float | Thresholds") -> Thresholds:
    return threshold if isinstance(threshold, Thresholds) else Thresholds.of(float(threshold))


def compute_metrics(rows: Sequence[PredictionRow], threshold: "float | Thresholds", aggregations: Sequence[str] | None = None) -> EvaluationMetrics:
    """The overall, per-media, per-kind and per-source tables and the target checks.

    ``threshold``: one for every item, or the model's :class:`~deepdetector.types.Thresholds`.
    """
    if aggregations is None:
        from deepdetector.verdict.aggregation import AGGREGATIONS

        aggregations = AGGREGATIONS.names()
    aggs = list(aggregations)
    out = [subset_metrics(sp.name, sp.level, sp.rows, threshold, sp.reference, sp.reference_name, aggregations=aggs) for sp in subset_parts(rows)]
    targets: list[TargetResult] = []
    for t in TARGETS:
        part = [r for r in rows if t.members(r)]
        if not part or (t.metric == "auc" and not any(r.label == 1 for r in part)):
            targets.append(TargetResult(t, None, "n/a", None, "no such fakes in this evaluation"))
            continue
        sm = subset_metrics(t.name, "target", part, threshold, aggregations=aggs)
        value = sm.value(t.metric)
        if value is None:
            targets.append(TargetResult(t, None, "n/a", sm, sm.to_dict()["reasons"].get(t.metric, "undefined")))
            continue
        ok = value >= t.goal if t.higher_is_better else value <= t.goal
        targets.append(TargetResult(t, value, "met" if ok else "missed", sm))
    th = as_thresholds(threshold)
    return EvaluationMetrics(threshold=th.default, subsets=out, targets=targets, aggregations=aggs, thresholds=th)
