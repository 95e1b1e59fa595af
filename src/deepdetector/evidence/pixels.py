"""Pixel evidence for photos: how the picture was made, read at its own resolution.

Generators leave traces in the pixels that resizing averages away: a GAN's 2x up-sampling layers
leave every second row and column more alike than their neighbours (a period-2 pattern, peaks at
the Nyquist frequency), a diffusion model's decoder leaves noise that is too even and too alike
across colour channels. This module measures such traces on native-resolution patches, never
resized, of two regions of a photo:

- ``face``: the square ``FACE_MARGIN`` x the face box, centred on it and clipped to the picture;
- ``image``: the whole picture.

Each region gives ``PATCHES`` patches of ``PATCH`` pixels (a 2 x 2 grid from corner to corner, at
even coordinates so the picture's own 2-pixel grid is kept), so the work is bounded on huge photos.
Three families of features, each a small function over one grey patch (or colour patch), averaged
over the patches:

- **NPR** (neighbouring-pixel residuals, :func:`npr_features`): the picture against its 2x
  nearest-neighbour down-up copy, and the same on the grid shifted by one pixel;
- **spectrum** (:func:`spectrum_features`): the radially averaged power spectrum's shape and its
  peaks at periods 2 and 4;
- **noise** (:func:`noise_features`): the residual after a 3 x 3 mean (its level, tails, evenness,
  and how alike it is across colour channels).

Two heads read them (:class:`PixelModel`): ``gan_pixels`` (GAN-like generation) and
``diffusion_pixels`` (diffusion-like). Each is a small logistic fusion of two *feature heads*
(logistic models over the standardised features, one fitted on GAN faces, one on diffusion faces)
and the face's scores from the face classifier and stills model. All of it is stored as JSON
(``weights/pixel_heads.json``), applied with numpy and fitted by ``deepdetector fit-pixels``
(training/pixels.py). See docs/evidence.md, "Pixel evidence (photos)".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepdetector.errors import ModelError
from deepdetector.metrics import logit
from deepdetector.types import Box

DEFAULT_PATH = Path(__file__).resolve().parent / "weights" / "pixel_heads.json"
PATCH = 128  # native patch side, pixels (even)
MIN_PATCH = 64  # a region smaller than this is not measured
PATCHES = 2  # a PATCHES x PATCHES grid of patches per region
FACE_MARGIN = 1.2  # the face region, as a multiple of the box's longer side
EPS = 1e-6
REGIONS = ("face", "image")
SPECTRUM_BANDS = 6


# --- patches --------------------------------------------------------------------------------------


def face_region(shape: tuple[int, ...], box: Box, margin: float = FACE_MARGIN) -> tuple[int, int, int, int]:
    """The square (x1, y1, x2, y2) of side ``margin`` x the box's longer side, centred on the box and
    clipped to the picture; corners on even coordinates, so that the picture's 2-pixel grid is kept."""
    h, w = shape[:2]
    cx, cy = (box.x1 + box.x2) / 2.0, (box.y1 + box.y2) / 2.0
    side = margin * max(box.x2 - box.x1, box.y2 - box.y1)
    x1, y1 = int(max(0.0, cx - side / 2.0)) & ~1, int(max(0.0, cy - side / 2.0)) & ~1
    x2, y2 = int(min(float(w), cx + side / 2.0)), int(min(float(h), cy + side / 2.0))
    return x1, y1, max(x2, x1 + 2), max(y2, y1 + 2)


def patches(region: np.ndarray, size: int = PATCH, grid: int = PATCHES) -> list[np.ndarray]:
    """``grid`` x ``grid`` native-resolution patches of at most ``size`` pixels, corner to corner
    (overlapping when the region is small), each starting on an even row and column. A region
    smaller than ``size`` is one patch of its own (even) size; smaller than ``MIN_PATCH``: none."""
    h, w = region.shape[:2]
    ph, pw = min(size, h) & ~1, min(size, w) & ~1
    if min(ph, pw) < MIN_PATCH:
        return []
    ys = sorted({int(v) & ~1 for v in np.linspace(0, h - ph, grid)})
    xs = sorted({int(v) & ~1 for v in np.linspace(0, w - pw, grid)})
    return [region[y : y + ph, x : x + pw] for y in ys for x in xs]


def grey(patch: np.ndarray) -> np.ndarray:
    """Luma (BT.601) as float32; a 2-D patch is taken as grey already."""
    if patch.ndim == 2:
        return patch.astype(np.float32)
    p = patch.astype(np.float32)
    return 0.299 * p[..., 0] + 0.587 * p[..., 1] + 0.114 * p[..., 2]


# --- the three families ---------------------------------------------------------------------------


def npr_features(g: np.ndarray) -> dict[str, float]:
    """Neighbouring-pixel residuals of a grey patch ``g`` (float, even sides).

    The patch minus its 2x nearest-neighbour down-up copy leaves, in each 2 x 2 block, the
    differences to the block's top-left pixel; a picture up-sampled 2x has small differences inside
    its blocks and large ones across block borders. Compared with the same on the grid shifted by one
    pixel, the 2 x 2 phase statistics say whether the picture has such a grid, and where:

    - ``npr_h`` / ``npr_v``: log of (differences across 2-pixel borders / inside 2-pixel blocks),
      between columns / rows; 0 when no period-2 pattern, signed by the grid's phase;
    - ``npr_phase``: ``|npr_h| + |npr_v|``, the pattern's strength whatever its phase;
    - ``npr_shift``: log of the NPR residual's energy on the grid shifted by one pixel over the
      aligned grid's (the three non-zero phases together);
    - ``npr_diag``: log of the diagonal phase's residual over the two axial phases' (aligned grid).
    """
    dh = np.abs(g[:, 1:] - g[:, :-1])
    dv = np.abs(g[1:, :] - g[:-1, :])
    h = math.log((float(dh[:, 1::2].mean()) + EPS) / (float(dh[:, 0::2].mean()) + EPS))
    v = math.log((float(dv[1::2, :].mean()) + EPS) / (float(dv[0::2, :].mean()) + EPS))

    def phases(a: np.ndarray) -> tuple[float, float, float]:
        a = a[: a.shape[0] & ~1, : a.shape[1] & ~1]
        top_left = a[0::2, 0::2]
        return (float(np.abs(a[0::2, 1::2] - top_left).mean()), float(np.abs(a[1::2, 0::2] - top_left).mean()),
                float(np.abs(a[1::2, 1::2] - top_left).mean()))  # fmt: skip

    aligned = phases(g)
    shifted = phases(g[1:, 1:])
    return {
        "npr_h": h,
        "npr_v": v,
        "npr_phase": abs(h) + abs(v),
        "npr_shift": math.log((sum(shifted) + EPS) / (sum(aligned) + EPS)),
        "npr_diag": math.log((aligned[2] + EPS) / ((aligned[0] + aligned[1]) / 2.0 + EPS)),
    }


def _peak(power: np.ndarray, k: int) -> float:
    """Log ratio of the power in column/row ``k`` of an unshifted power spectrum over its two
    neighbours' on each side (horizontal and vertical averaged)."""
    n = power.shape[0]
    side = [k - 2, k - 1, k + 1, k + 2]
    side = [i % n for i in side]
    col = float(power[:, k].mean()) / (float(power[:, side].mean()) + EPS)
    row = float(power[k, :].mean()) / (float(power[side, :].mean()) + EPS)
    return 0.5 * (math.log(col + EPS) + math.log(row + EPS))


_SPECTRUM_GRID: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # side -> (window, band of each frequency, count per band)


def spectrum_features(g: np.ndarray) -> dict[str, float]:
    """The power spectrum of a grey patch (square-cropped, mean removed, Hann window).

    - ``spec_band0`` .. ``spec_band5``: log mean power in six equal radial frequency bands up to
      Nyquist, minus their average (the spectrum's shape, not the picture's contrast);
    - ``spec_peak2``: power at the Nyquist frequency (period 2) over its neighbours' (log);
    - ``spec_peak4``: the same at half Nyquist (period 4).
    """
    import cv2

    n = min(g.shape) & ~3
    cached = _SPECTRUM_GRID.get(n)
    if cached is None:
        win = np.hanning(n).astype(np.float32)
        f = np.fft.fftfreq(n)
        r = np.minimum(np.sqrt(f[:, None] ** 2 + f[None, :] ** 2) / 0.5, 0.9999)
        band = (r * SPECTRUM_BANDS).astype(np.intp).ravel()
        cached = _SPECTRUM_GRID[n] = (win[:, None] * win[None, :], band, np.bincount(band, minlength=SPECTRUM_BANDS)[:SPECTRUM_BANDS])
    window, band, counts = cached
    x = g[:n, :n]
    spec = cv2.dft((x - float(x.mean())) * window, flags=cv2.DFT_COMPLEX_OUTPUT)
    power = cv2.magnitude(spec[..., 0], spec[..., 1]) ** 2
    sums = np.bincount(band, weights=power.ravel(), minlength=SPECTRUM_BANDS)[:SPECTRUM_BANDS]
    logs = np.log(sums / np.maximum(counts, 1) + EPS)
    logs -= logs.mean()
    out = {f"spec_band{i}": float(v) for i, v in enumerate(logs)}
    out["spec_peak2"] = _peak(power, n // 2)
    out["spec_peak4"] = _peak(power, n // 4)
    return out


def noise_features(patch: np.ndarray) -> dict[str, float]:
    """The residual after a 3 x 3 mean, per colour channel (a grey patch counts as one channel).

    - ``noise_level``: log of the residual's standard deviation (grey);
    - ``noise_kurtosis``: log of its kurtosis (heavy tails: edges and sensor noise; light: smooth
      synthetic texture);
    - ``noise_evenness``: log of the coefficient of variation of the residual's level over 16 x 16
      blocks (camera noise follows brightness and texture; a decoder's can be too even);
    - ``noise_rgb``: mean correlation of the red and blue residuals with the green (1 for grey).
    """
    import cv2

    p = patch.astype(np.float32)
    res = (p - cv2.blur(p, (3, 3), borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    colour = res.ndim == 3 and res.shape[2] == 3
    g = grey(res) if colour else (res if res.ndim == 2 else res[..., 0])
    mean, sd = cv2.meanStdDev(g)
    d2 = (g - float(mean[0, 0])) ** 2
    var = float(sd[0, 0]) ** 2 + EPS
    kurt = float(cv2.mean(d2 * d2)[0]) / var**2
    h, w = (g.shape[0] // 16) * 16, (g.shape[1] // 16) * 16
    local = cv2.resize(d2[:h, :w], (w // 16, h // 16), interpolation=cv2.INTER_AREA)  # mean square per 16 x 16 block
    blocks = np.sqrt(np.maximum(local, 0.0))
    even = float(blocks.std()) / (float(blocks.mean()) + EPS)
    if colour:
        r, gg, b = cv2.split(res)
        sr, sg, sb = (float(cv2.meanStdDev(c)[1][0, 0]) + EPS for c in (r, gg, b))
        # residuals are near zero-mean: correlation from the mean products
        rgb = 0.5 * (float(cv2.mean(r * gg)[0]) / (sr * sg) + float(cv2.mean(b * gg)[0]) / (sb * sg))
    else:
        rgb = 1.0
    sd = math.sqrt(var)
    return {"noise_level": math.log(sd), "noise_kurtosis": math.log(kurt + EPS), "noise_evenness": math.log(even + EPS), "noise_rgb": rgb}


FAMILIES = {"npr": npr_features, "spectrum": spectrum_features, "noise": noise_features}


def family_of(feature: str) -> str:
    """``face.npr_h`` -> ``npr``."""
    stem = feature.split(".", 1)[-1]
    return {"npr": "npr", "spec": "spectrum", "noise": "noise"}[stem.split("_", 1)[0]]


def patch_features(patch: np.ndarray) -> dict[str, float]:
    """Every feature of one native-resolution patch (uint8 RGB or grey)."""
    g = grey(patch)
    return {**npr_features(g), **spectrum_features(g), **noise_features(patch)}


def region_features(region: np.ndarray, size: int = PATCH, grid: int = PATCHES) -> dict[str, float] | None:
    """Features averaged over the region's patches; None when the region is too small to measure."""
    cut = patches(region, size, grid)
    if not cut:
        return None
    rows = [patch_features(p) for p in cut]
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def photo_features(image: np.ndarray, box: Box | None, size: int = PATCH, grid: int = PATCHES,
                   whole: dict[str, float] | None = None) -> dict[str, float | None]:  # fmt: skip
    """``face.<feature>`` and ``image.<feature>`` for one face of a photo (uint8, its own resolution).

    ``whole`` reuses the whole picture's features when several faces share the photo. Missing
    values (a region under ``MIN_PATCH`` pixels, no face) are None."""
    out: dict[str, float | None] = {}
    if whole is None:
        whole = region_features(image, size, grid)
    face = None
    if box is not None:
        x1, y1, x2, y2 = face_region(image.shape, box)
        face = region_features(image[y1:y2, x1:x2], size, grid)
    for name, feats in (("face", face), ("image", whole)):
        for k in FEATURE_STEMS:
            out[f"{name}.{k}"] = None if feats is None else feats[k]
    return out


FEATURE_STEMS: list[str] = list(patch_features(np.zeros((MIN_PATCH, MIN_PATCH, 3), np.uint8)))
FEATURE_NAMES: list[str] = [f"{r}.{k}" for r in REGIONS for k in FEATURE_STEMS]


# --- the heads -------------------------------------------------------------------------------------


SCORE_INPUT = "score:"  # an input that is the log-odds of another of the face's scores (``score:synthetic``)
FEATURE_HEAD_INPUT = "features:"  # an input that is the log-odds of a feature head (``features:gan``)


@dataclass
class PixelHead:
    """One logistic head: ``u = intercept + sum(coef * (x - mean) / scale)`` over its inputs (a
    missing input sits at its mean). Its probability on the photo threshold's scale is
    ``sigmoid(u - cut + logit(image_threshold))``: at ``u = cut`` it meets the threshold.

    Inputs are pixel features (``face.npr_h``), a feature head's log-odds (``features:gan``) or the
    log-odds of one of the face's scores from the face classifier and stills model (``score:swap``)."""

    name: str
    inputs: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    cut: float  # log-odds at which this head alone flags a photo
    words: str = ""  # the sentence shown when it does

    def logit(self, x: dict[str, float | None]) -> float:
        z = 0.0
        for name, m, s, c in zip(self.inputs, self.mean, self.scale, self.coef):
            v = x.get(name)
            if v is not None and math.isfinite(v):
                z += c * (float(v) - m) / s
        return self.intercept + z

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "inputs": self.inputs, "mean": self.mean, "scale": self.scale, "coef": self.coef,
                "intercept": self.intercept, "cut": self.cut, "words": self.words}  # fmt: skip


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def _logit(p: float) -> float:
    return logit(p, 1e-6)


@dataclass
class PixelModel:
    """The pixel heads, the photo threshold they were fitted with, and the models they belong to.

    Used only with the face classifier (and stills model) whose sha256 ``extra`` names: the heads
    read their scores, and the cuts were chosen with them."""

    heads: list[PixelHead]  # the reported heads (gan_pixels, diffusion_pixels)
    image_threshold: float
    feature_heads: list[PixelHead] = field(default_factory=list)  # pixel features only; inputs of the heads
    # the shipped models' scores that still decide a photo by themselves, each with the log-odds at which
    # it flags (``{"swap": ...}``); the others (synthetic, generated) count only through the heads
    score_cuts: dict[str, float] = field(default_factory=dict)
    patch: int = PATCH
    grid: int = PATCHES
    name: str = "pixel-heads"
    version: str = "1"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def head_names(self) -> list[str]:
        return [h.name for h in self.heads]

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH) -> "PixelModel":
        try:
            raw = json.loads(Path(path).read_text())
            heads = [PixelHead(**h) for h in raw["heads"]]
            model = cls(heads=heads, feature_heads=[PixelHead(**h) for h in raw.get("feature_heads", [])],
                        score_cuts={str(k): float(v) for k, v in raw.get("score_cuts", {}).items()},
                        image_threshold=float(raw["image_threshold"]), patch=int(raw.get("patch", PATCH)),
                        grid=int(raw.get("grid", PATCHES)), name=raw.get("name", "pixel-heads"),
                        version=str(raw.get("version", "1")), extra=raw.get("extra", {}))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot read the pixel heads {path}: {exc}") from None
        known = set(FEATURE_NAMES) | {FEATURE_HEAD_INPUT + h.name for h in model.feature_heads}
        for h in model.heads + model.feature_heads:
            allowed = set(FEATURE_NAMES) if h in model.feature_heads else known
            inputs_ok = all(n in allowed or (n.startswith(SCORE_INPUT) and h not in model.feature_heads) for n in h.inputs)
            if not (len(h.inputs) == len(h.mean) == len(h.scale) == len(h.coef)) or not inputs_ok:
                raise ModelError(f"the pixel heads {path} are inconsistent (head {h.name}: inputs and weights differ, or unknown inputs)")
        if not 0.0 < model.image_threshold < 1.0 or model.patch < MIN_PATCH or not 1 <= model.grid <= 4:
            raise ModelError(f"the pixel heads {path}: image_threshold, patch or grid out of range")
        return model

    def save(self, path: str | Path) -> None:
        data = {"name": self.name, "version": self.version, "image_threshold": self.image_threshold, "patch": self.patch,
                "grid": self.grid, "score_cuts": self.score_cuts, "feature_heads": [h.to_dict() for h in self.feature_heads],
                "heads": [h.to_dict() for h in self.heads],
                "extra": self.extra}  # fmt: skip
        Path(path).write_text(json.dumps(data, indent=1) + "\n")

    def matches(self, classifier_sha256: str, stills_sha256: str | None) -> bool:
        """Whether these heads were fitted with these models (else they are not used)."""
        return self.extra.get("classifier_sha256") == classifier_sha256 and self.extra.get("stills_sha256") == stills_sha256

    def face_probability(self, scores: dict[str, float]) -> float:
        """A photo face's probability of fake: the highest of the heads and of the scores in
        ``score_cuts`` (each rescaled so that it meets the photo threshold at its cut); the face's
        other scores count only through the heads."""
        t = _logit(self.image_threshold)
        values = [scores[h.name] for h in self.heads if h.name in scores]
        values += [_sigmoid(_logit(scores[n]) - cut + t) for n, cut in self.score_cuts.items() if n in scores]
        return float(max(values)) if values else 0.0

    def inputs(self, features: dict[str, float | None], scores: dict[str, float] | None = None) -> dict[str, float | None]:
        """Every input the heads may read: the features, the feature heads' log-odds, the face's scores' log-odds."""
        x: dict[str, float | None] = dict(features)
        for h in self.feature_heads:
            x[FEATURE_HEAD_INPUT + h.name] = h.logit(features)
        for name, p in (scores or {}).items():
            x[SCORE_INPUT + name] = _logit(p)
        return x

    def probabilities(self, image: np.ndarray, boxes: list[Box], scores: list[dict[str, float]] | None = None) -> list[dict[str, float]]:
        """Per face box (with its scores from the face classifier and stills model, when the heads
        read them): each head's probability on the photo threshold's scale."""
        whole = region_features(image, self.patch, self.grid)
        t = _logit(self.image_threshold)
        out = []
        for i, box in enumerate(boxes):
            x = self.inputs(photo_features(image, box, self.patch, self.grid, whole=whole), None if scores is None else scores[i])
            out.append({h.name: _sigmoid(h.logit(x) - h.cut + t) for h in self.heads})
        return out


def pixel_evidence(model: PixelModel, faces: list) -> list:
    """A photo's evidence list: per head, its highest probability over the photo's faces, its effect
    (log-odds above (+) or below (-) the photo threshold) and, when it reaches the threshold, its sentence."""
    from deepdetector.evidence.cues import Cue

    out = []
    t = _logit(model.image_threshold)
    for head in model.heads:
        values = [f.scores[head.name] for f in faces if head.name in f.scores]
        if not values:
            out.append(Cue(head.name, None, HEAD_DESCRIPTIONS.get(head.name, ""), "probability", reason="no face measured"))
            continue
        v = float(max(values))
        cue = Cue(head.name, v, HEAD_DESCRIPTIONS.get(head.name, ""), "probability", effect=_logit(v) - t)
        if v >= model.image_threshold:
            cue.words = head.words
        out.append(cue)
    return out


HEAD_DESCRIPTIONS = {
    "gan_pixels": "GAN-like generation: pixel evidence at the photo's own resolution (up-sampling traces, spectrum, noise) "
    "fused with the face classifier's and stills model's scores",
    "diffusion_pixels": "diffusion-like generation: pixel evidence at the photo's own resolution (noise, spectrum, up-sampling traces) "
    "fused with the face classifier's and stills model's scores",
}
