"""``deepdetector robustness``: how scores move when the input or the pipeline changes.

The reference study's experiments plus compression, each a sweep over levels:

==============  ===========================================================  ==================
experiment      what changes                                                 baseline level
==============  ===========================================================  ==================
brightness      pixel values x0.4 (dark) .. x1.6 (bright)                    x1.0
detector        face detector backend (every registered one)                 the configured one
margin          crop size 1.2x .. 2.0x the face box                          the model card's
resolution      downscale to 1/2, 1/3, 1/4, then back up to the frame size   1
size            the whole picture stored at x0.5 .. x3 its pixels            x1
rotation        -30 .. +30 degrees                                           0
scale           face size in the frame: 0.25x (shrunk into a canvas) .. 2x  1
jpeg            JPEG re-encoding at quality 95 .. 30                         original
==============  ===========================================================  ==================

Every item is first scanned unperturbed (the baseline); each level reports AUC, accuracy, TPR
and FPR at the model's threshold, and the mean (absolute) change of the item scores against the
baseline. Results are cached as JSON lines in the work folder, one file per experiment, so an
interrupted study resumes where it stopped; a cache made with another model or other settings
is ignored (each record carries a fingerprint of them).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deepdetector import metrics as M
from deepdetector.config import ScanConfig
from deepdetector.datasets.manifest import ManifestItem
from deepdetector.errors import ConfigError, DeepDetectorError
from deepdetector.media import perturb
from deepdetector.types import Thresholds

if TYPE_CHECKING:
    from deepdetector.api import Detector

FrameTransform = Callable[[np.ndarray], np.ndarray]
BASELINE = "baseline"


# --- experiments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One setting of an experiment."""

    key: str  # stable id in the cache, e.g. "0.4"
    label: str  # shown in tables and plots, e.g. "x0.4"
    transform: FrameTransform | None = None
    overrides: tuple[tuple[str, Any], ...] = ()  # ScanConfig fields changed at this level
    is_baseline: bool = False  # identical to the unperturbed run: its results are reused


@dataclass(frozen=True)
class Experiment:
    """A sweep: ``make_level`` turns a value (as typed on the command line) into a :class:`Level`."""

    name: str
    title: str
    description: str
    default_values: tuple[str, ...]
    make_level: Callable[[str], Level]

    def levels(self, values: Sequence[str] | None = None) -> list[Level]:
        out = []
        for v in values or self.default_values:
            try:
                out.append(self.make_level(v.strip()))
            except (ValueError, ZeroDivisionError):
                raise ConfigError(f"{v!r} is not a level of the {self.name} experiment (e.g. {', '.join(self.default_values)})") from None
        return out


def _num(v: str) -> float:
    return float(Fraction(v)) if "/" in v else float(v)


def _label(v: float) -> str:
    return f"{v:g}"


def build_experiments(base_detector: str, base_margin: float, detector_names: Sequence[str]) -> dict[str, Experiment]:
    """The standard experiments; ``base_detector`` and ``base_margin`` are the unperturbed settings."""

    def brightness(v: str) -> Level:
        f = _num(v)
        if f <= 0:
            raise ValueError(v)
        return Level(_label(f), f"x{_label(f)}", perturb.Brightness(f), is_baseline=f == 1.0)

    def detector(v: str) -> Level:
        if v not in detector_names:
            raise ValueError(v)
        return Level(v, v, overrides=(("detector", v),), is_baseline=v == base_detector)

    def margin(v: str) -> Level:
        m = _num(v)
        if m <= 0:
            raise ValueError(v)
        return Level(_label(m), f"{_label(m)}x", overrides=(("margin", m),), is_baseline=abs(m - base_margin) < 1e-9)

    def resolution(v: str) -> Level:
        f = _num(v)
        if not 0 < f <= 1:
            raise ValueError(v)
        label = "full" if f == 1 else (v if "/" in v else f"{_label(f)}x")
        return Level(_label(round(f, 6)), label, None if f == 1 else perturb.Resolution(f), is_baseline=f == 1)

    def size(v: str) -> Level:
        f = _num(v)
        if not 0 < f <= 4:
            raise ValueError(v)
        return Level(_label(f), f"x{_label(f)}", None if f == 1 else perturb.Size(f), is_baseline=f == 1)

    def rotation(v: str) -> Level:
        d = _num(v)
        return Level(_label(d), f"{_label(d)}°", None if d == 0 else perturb.Rotation(d), is_baseline=d == 0)

    def scale(v: str) -> Level:
        f = _num(v)
        if f <= 0:
            raise ValueError(v)
        return Level(_label(f), f"x{_label(f)}", None if f == 1 else perturb.Scale(f), is_baseline=f == 1)

    def jpeg(v: str) -> Level:
        if v.lower() in {"original", "none", "100"}:
            return Level("original", "original", is_baseline=True)
        q = int(v)
        if not 1 <= q <= 99:
            raise ValueError(v)
        return Level(str(q), f"q{q}", perturb.JpegQuality(q))

    experiments = [
        Experiment(
            "brightness",
            "Brightness",
            "Every pixel multiplied by a factor (dark < 1 < bright), saturating.",
            ("0.4", "0.6", "0.8", "1", "1.2", "1.4", "1.6"),
            brightness,
        ),
        Experiment("detector", "Face detector", "Each registered face detector backend in turn.", tuple(detector_names), detector),
        Experiment("margin", "Crop margin", "Crop side as a multiple of the detected face box.", ("1.2", "1.4", "1.6", "1.8", "2.0"), margin),
        Experiment(
            "resolution", "Resolution", "Frames downscaled by a factor, then upscaled back to their size.", ("1", "1/2", "1/3", "1/4"), resolution
        ),
        Experiment(
            "size",
            "Size (pixels)",
            "The same picture stored at another size: width and height multiplied (area down, Lanczos up).",
            ("0.5", "1", "2", "3"),
            size,
        ),
        Experiment("rotation", "Rotation", "Frames rotated about their centre (black corners).", ("-30", "-15", "0", "15", "30"), rotation),
        Experiment(
            "scale",
            "Scale (face size)",
            "Frames shrunk into a black canvas (< 1) or zoomed into the centre (> 1).",
            ("0.25", "0.5", "0.75", "1", "1.5", "2"),
            scale,
        ),
        Experiment(
            "jpeg",
            "JPEG quality",
            "Frames re-encoded as JPEG at a quality (on top of any video codec).",
            ("original", "95", "80", "60", "45", "30"),
            jpeg,
        ),
    ]
    return {e.name: e for e in experiments}


# --- records and cache ----------------------------------------------------------------------------


@dataclass
class Record:
    """The outcome of scanning one item at one level."""

    path: str
    label: int
    media: str
    score: float | None
    verdict: str
    n_faces: int
    seconds: float
    error: str = ""

    def to_json(self, fingerprint: str, level: str) -> str:
        return json.dumps(
            {
                "fp": fingerprint,
                "level": level,
                "path": self.path,
                "label": self.label,
                "media": self.media,
                "score": None if self.score is None else round(self.score, 6),
                "verdict": self.verdict,
                "n_faces": self.n_faces,
                "seconds": round(self.seconds, 4),
                "error": self.error,
            }
        )


class ResultCache:
    """JSON-lines files in ``workdir``: ``<experiment>.jsonl``, one line per (level, item)."""

    def __init__(self, workdir: Path, fingerprint: str) -> None:
        self.workdir = Path(workdir)
        self.fingerprint = fingerprint
        self._loaded: dict[str, dict[tuple[str, str], Record]] = {}
        self.ignored = 0  # records of another model / other settings

    def file(self, experiment: str) -> Path:
        return self.workdir / f"{experiment}.jsonl"

    def load(self, experiment: str) -> dict[tuple[str, str], Record]:
        if experiment in self._loaded:
            return self._loaded[experiment]
        records: dict[tuple[str, str], Record] = {}
        path = self.file(experiment)
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    d = json.loads(line)
                except ValueError:
                    continue  # a line cut short by an interruption
                if d.get("fp") != self.fingerprint:
                    self.ignored += 1
                    continue
                records[(d["level"], d["path"])] = Record(
                    d["path"],
                    int(d["label"]),
                    d.get("media", ""),
                    d.get("score"),
                    d.get("verdict", ""),
                    int(d.get("n_faces", 0)),
                    float(d.get("seconds", 0)),
                    d.get("error") or "",
                )
        self._loaded[experiment] = records
        return records

    def add(self, experiment: str, level: str, record: Record) -> None:
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the work folder {self.workdir}: {exc}") from None
        path = self.file(experiment)
        torn = False
        if path.exists() and path.stat().st_size > 0:
            with path.open("rb") as fh:
                fh.seek(-1, 2)
                torn = fh.read(1) != b"\n"  # the last run stopped mid-line: start a fresh one
        with path.open("a", encoding="utf-8") as fh:
            fh.write(("\n" if torn else "") + record.to_json(self.fingerprint, level) + "\n")
        self.load(experiment)[(level, record.path)] = record


def fingerprint(detector: "Detector") -> str:
    """What makes cached scores reusable: the model file and the settings that change scores."""
    c = detector.config
    keys = (
        "frames",
        "fps",
        "max_frames",
        "detector",
        "detector_confidence",
        "detect_max_side",
        "min_face_size",
        "max_faces",
        "track_iou",
        "aggregation",
        "flip_tta",
        "extra",
    )
    payload = {k: getattr(c, k) for k in keys}
    payload["margin"] = detector.margin
    payload["model_sha256"] = detector.card.sha256
    payload["stills_sha256"] = None if detector.stills is None else detector.stills.card.sha256
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- results ----------------------------------------------------------------------------------------


@dataclass
class LevelResult:
    """Metrics of one level of one experiment."""

    key: str
    label: str
    is_baseline: bool
    n: int
    n_scored: int
    n_no_face: int
    n_error: int
    auc: M.Metric
    at_threshold: M.ThresholdMetrics | None
    mean_abs_change: float | None  # mean |score - baseline score| over items scored at both
    mean_change: float | None  # signed: > 0 means scores moved towards "fake"
    n_paired: int
    seconds: float
    unavailable: str | None = None  # why the level could not run (e.g. a detector backend missing)
    auc_change: M.AucDifference | None = None  # AUC(level) - AUC(baseline) on the items scored at both, paired bootstrap

    @property
    def auc_change_text(self) -> str:
        """``-0.120 (-0.25 to -0.01)*``: the paired change and its 95% interval; ``*`` when it excludes 0."""
        d = self.auc_change
        if d is None or d.delta is None:
            return ""
        iv = d.interval
        if iv.low is None or iv.high is None:
            return f"{d.delta:+.3f}"
        return f"{d.delta:+.3f} ({iv.low:+.2f} to {iv.high:+.2f})" + ("*" if d.differs else "")

    def to_dict(self) -> dict[str, Any]:
        t = self.at_threshold
        return {
            "level": self.key,
            "label": self.label,
            "baseline": self.is_baseline,
            "n": self.n,
            "n_scored": self.n_scored,
            "n_no_face": self.n_no_face,
            "n_error": self.n_error,
            "auc": _r(self.auc.value),
            "accuracy": None if t is None else _r(t.accuracy),
            "tpr": None if t is None else _r(t.tpr),
            "fpr": None if t is None else _r(t.fpr),
            "mean_abs_change": _r(self.mean_abs_change),
            "mean_change": _r(self.mean_change),
            "n_paired": self.n_paired,
            "seconds": round(self.seconds, 2),
            "unavailable": self.unavailable,
            "auc_change": None if self.auc_change is None else _r(self.auc_change.delta),
            "auc_change_ci": None if self.auc_change is None else self.auc_change.interval.to_list(),
            "auc_change_differs": None if self.auc_change is None else self.auc_change.differs,
            "reasons": {k: v for k, v in {"auc": self.auc.reason, **({} if t is None else t.reasons)}.items() if v},
        }


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


@dataclass
class ExperimentResult:
    experiment: Experiment
    levels: list[LevelResult]

    @property
    def baseline_index(self) -> int | None:
        return next((i for i, lv in enumerate(self.levels) if lv.is_baseline), None)

    def worst(self) -> tuple[LevelResult | None, LevelResult | None]:
        """The level with the lowest AUC and the one with the largest mean |score change|."""
        with_auc = [lv for lv in self.levels if lv.auc.value is not None and not lv.is_baseline]
        with_delta = [lv for lv in self.levels if lv.mean_abs_change is not None and not lv.is_baseline]
        return (
            min(with_auc, key=lambda lv: lv.auc.value) if with_auc else None,  # type: ignore[arg-type, return-value]
            max(with_delta, key=lambda lv: lv.mean_abs_change) if with_delta else None,  # type: ignore[arg-type, return-value]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.experiment.name,
            "title": self.experiment.title,
            "description": self.experiment.description,
            "levels": [lv.to_dict() for lv in self.levels],
        }


def level_result(
    level: Level, records: Sequence[Record], baseline: dict[str, Record], threshold: "float | Thresholds", unavailable: str | None = None
) -> LevelResult:
    """``threshold``: one for all items, or per media type (each item judged as the scanner would)."""
    th = threshold if isinstance(threshold, Thresholds) else Thresholds.of(float(threshold))
    scored = [r for r in records if r.score is not None]
    y = np.array([r.label for r in scored], dtype=np.int64)
    s = np.array([r.score for r in scored], dtype=float)
    paired = [r for r in scored if r.path in baseline and baseline[r.path].score is not None]
    diffs = [r.score - baseline[r.path].score for r in paired]  # type: ignore[operator]
    change = None
    if unavailable is None and not level.is_baseline and paired:
        py = np.array([r.label for r in paired], dtype=np.int64)
        change = M.auc_difference(py, np.array([r.score for r in paired], float), np.array([baseline[r.path].score for r in paired], float))
        if change.delta is None:
            change = None
    return LevelResult(
        key=level.key,
        label=level.label,
        is_baseline=level.is_baseline,
        n=len(records),
        n_scored=len(scored),
        n_no_face=sum(1 for r in records if r.verdict == "no_face"),
        n_error=sum(1 for r in records if r.verdict == "error"),
        auc=M.roc_auc(y, s) if unavailable is None else M.Metric(None, unavailable),
        at_threshold=M.threshold_metrics(y, s, th.of_items([r.media for r in scored])) if unavailable is None else None,
        mean_abs_change=float(np.mean(np.abs(diffs))) if diffs else None,
        mean_change=float(np.mean(diffs)) if diffs else None,
        n_paired=len(diffs),
        seconds=float(sum(r.seconds for r in records)),
        unavailable=unavailable,
        auc_change=change,
    )


# --- running ------------------------------------------------------------------------------------------

UnitCallback = Callable[[str, str, ManifestItem], None]
DetectorFactory = Callable[[ScanConfig], "Detector"]


def _default_factory(config: ScanConfig) -> "Detector":
    from deepdetector.api import Detector

    return Detector(config)


def _scan(detector: "Detector", item: ManifestItem, transform: FrameTransform | None) -> Record:
    started = time.perf_counter()
    res = detector.scan(item.file, frame_transform=transform)
    media = res.media.kind if res.media is not None else ("video" if item.is_video else "image")
    return Record(item.path, item.label, media, res.probability, res.verdict.value, len(res.faces), time.perf_counter() - started, res.error or "")


@dataclass
class StudyPlan:
    """Which levels of which experiments to run, and how many scans are still to do."""

    experiments: list[tuple[Experiment, list[Level]]]
    todo: int
    cached: int


@dataclass
class RobustnessStudy:
    """Runs experiments over ``items`` with a base configuration, caching results in ``workdir``."""

    config: ScanConfig
    items: list[ManifestItem]
    workdir: Path
    make_detector: DetectorFactory = _default_factory
    _detectors: dict[tuple[tuple[str, Any], ...], Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.base = self.make_detector(self.config)
        self._detectors[()] = self.base
        self.threshold: float = self.base.threshold  # the default; per media type in ``thresholds``
        self.thresholds: Thresholds = self.base.verdict_thresholds  # videos: the fusion's, when it judges them
        self.cache = ResultCache(self.workdir, fingerprint(self.base))

    def experiments(self) -> dict[str, Experiment]:
        from deepdetector.faces import FACE_DETECTORS

        return build_experiments(self.config.detector, self.base.margin, FACE_DETECTORS.names())

    def plan(self, chosen: Sequence[tuple[Experiment, list[Level]]]) -> StudyPlan:
        todo = cached = 0
        base = self.cache.load(BASELINE)
        for it in self.items:
            if (BASELINE, it.path) in base:
                cached += 1
            else:
                todo += 1
        for exp, levels in chosen:
            recs = self.cache.load(exp.name)
            for lv in levels:
                if lv.is_baseline:
                    continue
                for it in self.items:
                    if (lv.key, it.path) in recs:
                        cached += 1
                    else:
                        todo += 1
        return StudyPlan(list(chosen), todo, cached)

    def _detector_for(self, level: Level) -> tuple[Any | None, str | None]:
        if level.overrides in self._detectors:
            d = self._detectors[level.overrides]
            return (None, d) if isinstance(d, str) else (d, None)
        try:
            d = self.make_detector(self.config.with_(**dict(level.overrides)))
        except (DeepDetectorError, KeyError, ImportError, OSError) as exc:
            reason = f"unavailable: {exc}"
            self._detectors[level.overrides] = reason
            return None, reason
        self._detectors[level.overrides] = d
        return d, None

    def run(self, chosen: Sequence[tuple[Experiment, list[Level]]], on_unit: UnitCallback | None = None) -> list[ExperimentResult]:
        baseline = self._run_level(BASELINE, Level(BASELINE, BASELINE, is_baseline=True), self.base, on_unit)
        base_by_path = {r.path: r for r in baseline}
        results = []
        for exp, levels in chosen:
            out = []
            for lv in levels:
                if lv.is_baseline:
                    out.append(level_result(lv, baseline, base_by_path, self.thresholds))
                    continue
                detector, reason = self._detector_for(lv)
                if detector is None:
                    out.append(level_result(lv, [], base_by_path, self.thresholds, unavailable=reason))
                    continue
                records = self._run_level(exp.name, lv, detector, on_unit)
                out.append(level_result(lv, records, base_by_path, self.thresholds))
            results.append(ExperimentResult(exp, out))
        return results

    def _run_level(self, experiment: str, level: Level, detector: Any, on_unit: UnitCallback | None) -> list[Record]:
        cached = self.cache.load(experiment)
        records = []
        for it in self.items:
            rec = cached.get((level.key, it.path))
            if rec is None:
                rec = _scan(detector, it, level.transform)
                self.cache.add(experiment, level.key, rec)
                if on_unit is not None:
                    on_unit(experiment, level.label, it)
            records.append(rec)
        return records


def choose(experiments: dict[str, Experiment], names: Sequence[str] | None, levels: Sequence[str] | None) -> list[tuple[Experiment, list[Level]]]:
    """The experiments named (all when ``names`` is empty) with their levels (``levels`` only with one experiment)."""
    names = [n.strip() for n in names or [] if n.strip()] or list(experiments)
    unknown = [n for n in names if n not in experiments]
    if unknown:
        raise ConfigError(f"unknown experiment(s) {', '.join(unknown)}; available: {', '.join(experiments)}")
    if levels and len(names) != 1:
        raise ConfigError("--levels needs exactly one --experiments name (levels differ between experiments)")
    return [(experiments[n], experiments[n].levels(levels)) for n in names]
