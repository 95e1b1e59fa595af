"""Training and validation samples built from the face cache.

A training step sees, in one batch:

* ``pairs`` real faces and their self-blended fakes (labels: swap 0 / swap 1); with
  ``SBIConfig.cross_frame`` a video face may be blended with another frame of its video,
* ``synthetic`` generated faces (GAN, diffusion; synthetic 1) and as many real still images from
  the same sources (both heads 0), so the synthetic head cannot learn "portrait photo = fake",
* ``supervised`` real manipulated video faces of TRAINING groups (face swaps, reenactment,
  talking heads; swap 1) and as many real video faces from the same sources (both heads 0).

Every sample is re-cropped from the cached wide crop with ``crop_square`` at a jittered margin
around the model's margin, flipped, augmented (pairs share one draw) and resized to the input size.
Which head a fake trains is decided by :func:`head_of`. A label of -1 means "no label for this
head" (masked out of the loss).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deepdetector.datasets.manifest import MediaItem
from deepdetector.datasets.sbi import MAX_ALIGN_RESIDUAL, SBIConfig, align_to, flip_landmarks, self_blend
from deepdetector.faces.crop import DEFAULT_MARGIN, crop_region, crop_square, to_crop_coords
from deepdetector.training.augment import AugmentConfig, augment_pair
from deepdetector.training.cache import CachedFaces
from deepdetector.types import Box

SYNTHETIC_KINDS = ("gan", "diffusion", "synthetic", "generated")


def head_of(item: MediaItem) -> str:
    """Which head a FAKE item trains: ``synthetic`` for whole generated images, ``swap`` otherwise.

    Manifest kinds decide (``gan-image``, ``diffusion-image`` -> synthetic; ``faceswap-video``,
    ``talking-head-video`` -> swap); without a kind, fake still images count as synthetic and
    fake videos as swaps.
    """
    kind = item.kind.lower()
    if any(k in kind for k in SYNTHETIC_KINDS):
        return "synthetic"
    if "video" in kind or "swap" in kind or item.is_video:
        return "swap"
    return "synthetic"


@dataclass
class FacePool:
    """All cached faces of a list of items, flattened to (item index, frame index) entries."""

    faces: list[CachedFaces] = field(default_factory=list)
    entries: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))

    @classmethod
    def build(cls, faces: list[CachedFaces], per_item_weighting: bool = False) -> "FacePool":
        rows = []
        for i, f in enumerate(faces):
            for j in range(len(f)):
                rows.append((i, j))
        return cls(faces, np.asarray(rows, np.int64).reshape(-1, 2))

    def __len__(self) -> int:
        return int(self.entries.shape[0])

    def pick_entry(self, rng: np.random.Generator) -> tuple[CachedFaces, int]:
        """A random face: the file's cached faces and the frame index (one draw, as :meth:`pick`)."""
        i, j = self.entries[int(rng.integers(len(self.entries)))]
        return self.faces[int(i)], int(j)

    def pick(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f, j = self.pick_entry(rng)
        return f.crops[j], f.landmarks[j], f.boxes[j]


def other_frame(faces: CachedFaces, j: int, p: float, rng: np.random.Generator) -> np.ndarray | None:
    """With probability ``p``, another cached frame of the same file aligned onto frame ``j``'s
    landmarks (the source of a cross-frame blend); None when the file has one cached face (a still),
    when not drawn, or when the drawn frame's landmarks do not fit (see ``MAX_ALIGN_RESIDUAL``).

    Draws no random number when ``p`` is 0 or the file has one face, so the published recipe's
    batches stay the same.
    """
    n = len(faces)
    if p <= 0 or n < 2 or rng.random() >= p:
        return None
    k = int(rng.integers(n - 1))
    k += k >= j  # any frame but j
    return align_to(faces.crops[k], faces.landmarks[k], faces.landmarks[j], faces.crops[j].shape[:2], MAX_ALIGN_RESIDUAL)


@dataclass
class SampleConfig:
    input_size: int = 224
    margin: float = DEFAULT_MARGIN
    margin_jitter: tuple[float, float] = (0.9, 1.15)  # multiplies the margin
    shift_jitter: float = 0.04  # centre shift as a fraction of the box side
    sbi: SBIConfig = field(default_factory=SBIConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def model_crop(crop: np.ndarray, box: np.ndarray, size: int, margin: float) -> tuple[np.ndarray, Box]:
    """The scanner's crop (``margin`` x the box, ``size`` px) re-cut from a cached wide crop."""
    region = crop_region(Box(*[float(v) for v in box]), margin)
    return crop_square(crop, region, size), region


def _jittered_region(box: np.ndarray, cfg: SampleConfig, rng: np.random.Generator) -> Box:
    b = Box(*[float(v) for v in box])
    side = max(b.width, b.height)
    dx, dy = rng.uniform(-cfg.shift_jitter, cfg.shift_jitter, size=2) * side
    b = Box(b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy)
    return crop_region(b, cfg.margin * rng.uniform(*cfg.margin_jitter))


def _flip(crop: np.ndarray, lm: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = crop.shape[1]
    box = np.array([w - box[2], box[1], w - box[0], box[3]], np.float32)
    return np.ascontiguousarray(crop[:, ::-1]), flip_landmarks(lm, w), box


def make_pair(
    crop, lm, box, cfg: SampleConfig, rng: np.random.Generator, source: np.ndarray | None = None, mesh: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A (real, self-blended fake) pair at the model's input size, augmented together.

    ``source``: the picture blended in, aligned to ``crop`` (a cross-frame blend); default the crop itself.
    ``mesh``: the face's 468 FaceMesh points in crop coordinates (dense masks, ``SBIConfig.dense``).
    """
    if rng.random() < cfg.augment.p_flip:
        w = crop.shape[1]
        crop, lm, box = _flip(crop, lm, box)
        if source is not None:
            source = np.ascontiguousarray(source[:, ::-1])
        if mesh is not None:  # the mask regions are left/right symmetric sets: mirroring the points is enough
            mesh = np.column_stack([w - 1 - mesh[:, 0], mesh[:, 1]]).astype(np.float32)
    blend = self_blend(crop, lm, rng, cfg.sbi, source=source, mesh=mesh)
    region = _jittered_region(box, cfg, rng)
    real = crop_square(blend.real, region, cfg.input_size)
    fake = crop_square(blend.fake, region, cfg.input_size)
    lm_c = to_crop_coords(lm, region, cfg.input_size)
    real, fake = augment_pair([real, fake], lm_c, rng, cfg.augment)
    return real, fake


def make_single(crop, lm, box, cfg: SampleConfig, rng: np.random.Generator) -> np.ndarray:
    """One real or fake face at the model's input size, augmented."""
    if rng.random() < cfg.augment.p_flip:
        crop, lm, box = _flip(crop, lm, box)
    region = _jittered_region(box, cfg, rng)
    img = crop_square(crop, region, cfg.input_size)
    return augment_pair([img], to_crop_coords(lm, region, cfg.input_size), rng, cfg.augment)[0]


@dataclass
class Pools:
    """The face pools a training batch draws from (see the module docstring)."""

    sbi_reals: FacePool
    synthetic_fakes: FacePool
    synthetic_reals: FacePool
    supervised_fakes: FacePool
    supervised_reals: FacePool

    def counts(self) -> dict[str, dict[str, int]]:
        return {name: {"files": len(p.faces), "faces": len(p)} for name, p in vars(self).items()}


@dataclass
class BatchSpec:
    pairs: int = 8
    synthetic: int = 4
    supervised: int = 4


def make_batch(pools: Pools, spec: BatchSpec, cfg: SampleConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N,S,S,3] and labels float32 [N,2] (swap, synthetic; -1 = unlabelled)."""
    images: list[np.ndarray] = []
    labels: list[tuple[float, float]] = []
    for _ in range(spec.pairs):
        faces, j = pools.sbi_reals.pick_entry(rng)
        source = other_frame(faces, j, cfg.sbi.cross_frame, rng)
        mesh = faces.mesh[j] if cfg.sbi.dense and faces.mesh is not None else None
        real, fake = make_pair(faces.crops[j], faces.landmarks[j], faces.boxes[j], cfg, rng, source=source, mesh=mesh)
        images += [real, fake]
        labels += [(0.0, 0.0), (1.0, -1.0)]
    for pool_f, pool_r, n, fake_label in (
        (pools.synthetic_fakes, pools.synthetic_reals, spec.synthetic, (-1.0, 1.0)),
        (pools.supervised_fakes, pools.supervised_reals, spec.supervised, (1.0, -1.0)),
    ):
        if len(pool_f) == 0 or len(pool_r) == 0:
            continue
        for _ in range(n):
            images.append(make_single(*pool_f.pick(rng), cfg, rng))
            labels.append(fake_label)
            images.append(make_single(*pool_r.pick(rng), cfg, rng))
            labels.append((0.0, 0.0))
    return np.stack(images), np.asarray(labels, np.float32)
