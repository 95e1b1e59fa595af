"""Video fusion: the face classifier's video score and the cues, combined into one calibrated probability.

A logistic model over standardised inputs, stored as plain JSON (``weights/video_fusion.json``)
and applied with numpy. It is fitted by ``deepdetector fuse`` (training/fusion.py) on the videos of
several manifests, with sources left out to measure it; its file records how, and what it measured.

Each input's contribution (coefficient x standardised value, in log-odds) is what the outputs call
a cue's ``effect``: the sum of the effects plus the intercept is the fused log-odds. A cue that
could not be measured sits at its training mean and so contributes nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepdetector import metrics
from deepdetector.errors import ModelError
from deepdetector.evidence.cues import Cue

DEFAULT_PATH = Path(__file__).resolve().parent / "weights" / "video_fusion.json"
FACE_INPUT = "face_classifier"  # the face classifier's video probability, entered as its log-odds
EPS = 1e-4
LOG_EPS = 1e-4  # log inputs: log(value + LOG_EPS), so that a zero stays finite
WORDS_EFFECT = 0.25  # log-odds: a cue that moved the score at least this much gets its sentence


def logit(p: float) -> float:
    """The face classifier's probability as the fusion's input (clipped at ``EPS``)."""
    return metrics.logit(p, EPS)


@dataclass
class FusionModel:
    """Standardise, weigh, add: ``p = sigmoid(intercept + sum(coef * (x - mean) / scale))``."""

    inputs: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float  # on the fused probability, for videos
    real_ranges: dict[str, list[float]] = field(default_factory=dict)  # 5th-95th percentile over real training videos
    log_inputs: list[str] = field(default_factory=list)  # inputs entered as log(value + LOG_EPS): spreads, speeds, jitter
    name: str = "video-fusion"
    version: str = "1"
    extra: dict[str, Any] = field(default_factory=dict)  # how it was fitted and what it measured

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH) -> "FusionModel":
        try:
            raw = json.loads(Path(path).read_text())
            model = cls(**{k: raw[k] for k in ("inputs", "mean", "scale", "coef", "intercept", "threshold")},
                        real_ranges=raw.get("real_ranges", {}), log_inputs=raw.get("log_inputs", []), name=raw.get("name", "video-fusion"),
                        version=str(raw.get("version", "1")), extra=raw.get("extra", {}))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot read the video fusion model {path}: {exc}") from None
        if not (len(model.inputs) == len(model.mean) == len(model.scale) == len(model.coef)) or FACE_INPUT not in model.inputs:
            raise ModelError(f"the video fusion model {path} is inconsistent (inputs, means, scales and weights differ in length)")
        return model

    def save(self, path: str | Path) -> None:
        data = {"name": self.name, "version": self.version, "inputs": self.inputs, "mean": self.mean, "scale": self.scale,
                "coef": self.coef, "intercept": self.intercept, "threshold": self.threshold,
                "real_ranges": self.real_ranges, "log_inputs": self.log_inputs, "extra": self.extra}  # fmt: skip
        Path(path).write_text(json.dumps(data, indent=1) + "\n")

    def vector(self, face_probability: float, cues: dict[str, float | None]) -> np.ndarray:
        """The raw inputs in the model's order; NaN where a cue is missing."""
        values = []
        for name in self.inputs:
            if name == FACE_INPUT:
                values.append(logit(face_probability))
            else:
                v = cues.get(name)
                if v is None:
                    values.append(np.nan)
                elif name in self.log_inputs:
                    values.append(math.log(max(float(v), 0.0) + LOG_EPS))
                else:
                    values.append(float(v))
        return np.array(values, dtype=np.float64)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Log-odds each input adds (0 for a missing one)."""
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        z = np.where(np.isfinite(z), z, 0.0)
        return np.asarray(self.coef) * z

    def probability(self, x: np.ndarray) -> float:
        s = self.intercept + float(self.contributions(x).sum())
        return 1.0 / (1.0 + math.exp(-s)) if s >= 0 else math.exp(s) / (1.0 + math.exp(s))

    def apply(self, face_probability: float, cues: list[Cue]) -> tuple[float, list[Cue]]:
        """The fused probability, and the evidence list with the face classifier first, each with
        its effect, its range in real videos and, where it stands out, words."""
        from deepdetector.evidence.cues import CUES

        by_name = {c.name: c for c in cues}
        x = self.vector(face_probability, {c.name: c.value for c in cues})
        effects = dict(zip(self.inputs, self.contributions(x)))
        face = Cue(FACE_INPUT, float(face_probability), "the face classifier's score for the video (frames judged one by one, aggregated)",
                   "probability", effect=float(effects[FACE_INPUT]))  # fmt: skip
        if effects[FACE_INPUT] >= WORDS_EFFECT:
            face.words = "single frames look manipulated to the face classifier"
        elif effects[FACE_INPUT] <= -WORDS_EFFECT:
            face.words = "single frames look like real footage to the face classifier"
        out = [face]
        z = dict(zip(self.inputs, (x - np.asarray(self.mean)) / np.asarray(self.scale)))
        for cue in cues:
            # a cue not measured sits at its mean and moves nothing: no effect to show, not a zero one
            cue.effect = float(effects[cue.name]) if cue.name in effects and cue.value is not None else None
            rng = self.real_ranges.get(cue.name)
            cue.real_range = None if rng is None else (float(rng[0]), float(rng[1]))
            if cue.value is None or cue.name not in CUES:
                out.append(cue)
                continue
            meta = CUES.entry(cue.name).meta
            side = None
            if cue.effect is not None and abs(cue.effect) >= WORDS_EFFECT and np.isfinite(z[cue.name]):
                side = "high" if z[cue.name] > 0 else "low"  # what moved the score
            elif rng is not None and rng[0] < rng[1] and not rng[0] <= cue.value <= rng[1]:  # a range of one value says nothing
                side = "low" if cue.value < rng[0] else "high"  # unusual, though not weighed much
            if side is not None:
                hint = meta.get(f"{side}_fake") if (cue.effect or 0.0) > 0 else None
                cue.words = meta.get(side) + (f", {hint}" if hint else "")
            out.append(cue)
        for name in self.inputs:  # a cue the model knows but this build did not measure
            if name != FACE_INPUT and name not in by_name:
                out.append(Cue(name, None, "", reason="not measured by this version"))
        return self.probability(x), out
