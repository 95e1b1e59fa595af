"""The learned temporal model: a small network over a followed face's frames (inference side).

Each dense window's main face (:class:`~deepdetector.evidence.window.FaceSeries`) becomes a sequence
of per-frame descriptors (:func:`frame_descriptors`), cut into chunks of :data:`CHUNK` frames; the
model (ONNX, numpy in and out) scores each chunk and the video's temporal score is the mean of the
chunks' log-odds. Training and the leave-one-generator-out measurements are in
``training/temporal.py``; ``docs/evidence.md`` says what it learnt from.

A frame's descriptor is what generators change across time, with the person's identity removed:

- **landmark motion**: the mesh with head motion removed (:attr:`SeriesView.aligned`), as each
  point's offset from its median position in the window, for the mouth, eyes, brows and jaw;
- **pixel change**: for the inner face, the mouth and a fixed piece of background (the grey patches
  the follower keeps), the mean absolute frame-to-frame change and that of the fine texture
  (Laplacian) on a 4 x 4 grid, and how much each grid cell's texture still matches the previous
  frame's (a warped still drags one fixed texture around; a renderer re-invents it every frame; a
  camera adds fresh noise to face and background alike), each relative to its window's median so
  that the overall noise level of a recording (its codec) is not what counts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from deepdetector.landmarks import topology as mesh

CHUNK = 32  # frames per chunk the model scores (about 2 s at the windows' 15 fps)
MIN_CHUNK = 16  # a window with fewer usable frames gives no chunk
GRID = 4  # pixel change is measured on a GRID x GRID grid of each patch
REGIONS = ("face", "mouth", "background")
#: mesh points whose motion (head motion removed) the model sees
MOTION_POINTS = tuple(
    dict.fromkeys(mesh.LIPS_OUTER + mesh.LIPS_INNER + mesh.RIGHT_EYE + mesh.LEFT_EYE + (70, 105, 107, 300, 334, 336) + mesh.LOWER_FACE[::2])
)
FEATURE_VERSION = 1


def _grid(x: np.ndarray) -> np.ndarray:
    """Mean of ``x`` (..., 32, 32) over a GRID x GRID grid, flattened (..., GRID * GRID)."""
    s = x.shape[-1] // GRID
    return x.reshape(*x.shape[:-2], GRID, s, GRID, s).mean(axis=(-3, -1)).reshape(*x.shape[:-2], GRID * GRID)


def _laplacian(p: np.ndarray) -> np.ndarray:
    """4-neighbour Laplacian of patches (..., H, W), edges replicated."""
    q = np.pad(p, [(0, 0)] * (p.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    return 4 * p - q[..., :-2, 1:-1] - q[..., 2:, 1:-1] - q[..., 1:-1, :-2] - q[..., 1:-1, 2:]


def pixel_descriptors(patches: np.ndarray, have: np.ndarray) -> np.ndarray:
    """Per-frame pixel-change descriptors (T, 3 regions x 3 measures x GRID^2) from grey patches
    ``(T, 3, 32, 32)`` and which of them exist ``(T, 3)``; frame 0 and missing patches give 0."""
    t = len(patches)
    out = np.zeros((t, len(REGIONS), 3, GRID * GRID), np.float32)
    if t < 2:
        return out.reshape(t, -1)
    p = patches.astype(np.float32)
    lap = _laplacian(p)
    ok = have[1:] & have[:-1]  # (T-1, 3)
    change = _grid(np.abs(p[1:] - p[:-1]))  # (T-1, 3, G)
    texture = _grid(np.abs(lap[1:] - lap[:-1]))
    # texture persistence: per cell, correlation of the Laplacian with the previous frame's
    a = lap[1:].reshape(t - 1, len(REGIONS), GRID, 8, GRID, 8).transpose(0, 1, 2, 4, 3, 5).reshape(t - 1, len(REGIONS), GRID * GRID, 64)
    b = lap[:-1].reshape(t - 1, len(REGIONS), GRID, 8, GRID, 8).transpose(0, 1, 2, 4, 3, 5).reshape(t - 1, len(REGIONS), GRID * GRID, 64)
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    corr = (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1) + 1e-6)
    for k, m in enumerate((change, texture)):
        logm = np.log(m + 0.5)
        for r in range(len(REGIONS)):
            rows = ok[:, r]
            if rows.any():
                med = np.median(logm[rows, r, :])
                out[1:, r, k][rows] = logm[rows, r] - med  # relative to the window's median: the codec's noise level cancels
    out[1:, :, 2] = np.where(ok[:, :, None], corr, 0.0)
    return out.reshape(t, -1)


def motion_descriptors(aligned: np.ndarray) -> np.ndarray:
    """Per-frame landmark motion (T, 2 x len(MOTION_POINTS)): aligned points (T, 468, 2) in eye
    distances, as offsets from their median over the window, x10 (so a typical value is about 1)."""
    pts = aligned[:, list(MOTION_POINTS)]
    return (10.0 * (pts - np.median(pts, axis=0))).reshape(len(pts), -1).astype(np.float32)


@dataclass
class Sequence:
    """The usable frames of one window: per-frame descriptors (T, D) and their times."""

    features: np.ndarray
    timestamps: np.ndarray


def window_sequence(series) -> Sequence | None:
    """Descriptors of a :class:`FaceSeries` (only frames where the face was found), or None when it
    has fewer than :data:`MIN_CHUNK` such frames."""
    from deepdetector.evidence.cues import SeriesView

    view = SeriesView(series)
    if view.n < MIN_CHUNK:
        return None
    patches = np.zeros((view.n, len(REGIONS), 32, 32), np.float32)
    have = np.zeros((view.n, len(REGIONS)), bool)
    for i, px in enumerate(view.pixels):
        for r, name in enumerate(REGIONS):
            if px is not None and name in px:
                patches[i, r] = px[name]
                have[i, r] = True
    feats = np.concatenate([motion_descriptors(view.aligned), pixel_descriptors(patches, have)], axis=1)
    return Sequence(np.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32), view.t)


def feature_size() -> int:
    return 2 * len(MOTION_POINTS) + len(REGIONS) * 3 * GRID * GRID


def chunks(seq: Sequence, stride: int = CHUNK // 2) -> np.ndarray:
    """The sequence cut into chunks (N, CHUNK, D): overlapping by ``stride``, the last one ending at
    the last frame; a sequence shorter than CHUNK is padded by repeating its last frame."""
    x = seq.features
    if len(x) < CHUNK:
        x = np.concatenate([x, np.repeat(x[-1:], CHUNK - len(x), axis=0)])
    starts = list(range(0, len(x) - CHUNK + 1, stride))
    if starts[-1] != len(x) - CHUNK:
        starts.append(len(x) - CHUNK)
    return np.stack([x[s : s + CHUNK] for s in starts])


class TemporalModel:
    """The shipped temporal model: an ONNX file and a JSON card beside it (same stem)."""

    def __init__(self, onnx_path: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        self.path = Path(onnx_path)
        self.card = json.loads(self.path.with_suffix(".json").read_text())
        if self.card.get("feature_version") != FEATURE_VERSION or self.card.get("chunk") != CHUNK:
            raise ValueError(f"{self.path.name} was trained on other descriptors (version {self.card.get('feature_version')}); retrain it")
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        if digest != self.card.get("sha256"):
            raise ValueError(f"{self.path.name} does not match the sha256 in its card")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    @cached_property
    def threshold(self) -> float:
        return float(self.card.get("threshold", 0.5))

    def chunk_logits(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: x.astype(np.float32)})[0].reshape(-1)

    def score(self, sequences: list[Sequence]) -> float | None:
        """Probability that the face's motion was made by a generator: the sigmoid of the mean chunk
        log-odds over every window, or None without a usable window."""
        parts = [chunks(s) for s in sequences if s is not None]
        if not parts:
            return None
        logit = float(np.mean(self.chunk_logits(np.concatenate(parts))))
        return float(1.0 / (1.0 + np.exp(-logit)))
