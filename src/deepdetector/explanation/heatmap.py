"""Class-activation heatmaps: a face's heatmap from the model's map, and where it lies on its frame.

The model gives, per face, a small heatmap (e.g. 7x7) in ``[0, 1]`` over the square crop
``region`` the model saw (see ``faces/crop.py``). Here it is upsampled smoothly (bicubic) onto the
frame at that region and clipped at the frame edges. Drawing it (colours, overlays, face panels) is
the report's job: ``report/drawing.py``.

Everything works on the region's part of the frame only, so the cost depends on the size of the
faces, not on the size of the frame (a few ms for a 1080p frame with one face).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from deepdetector.types import Box

#: Bicubic upsampling factor of the first stage (see :func:`heat_patch`).
_CUBIC_FACTOR = 8


@dataclass(frozen=True)
class HeatPatch:
    """An upsampled heatmap covering the rectangle ``[y1:y2, x1:x2]`` of a frame.

    ``heat`` is float32 in ``[0, 1]``, or uint8 in ``[0, 255]`` when asked for with ``as_uint8``.
    """

    x1: int
    y1: int
    x2: int
    y2: int
    heat: np.ndarray

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y1, self.y2), slice(self.x1, self.x2)


def heatmap_from_cam(cam: np.ndarray, probability: float) -> np.ndarray:
    """A face's heatmap from the model's class-activation map: float32 in [0, 1], positive evidence
    only, scaled by how fake the face is judged, so that a face judged real shows little heat."""
    positive = np.maximum(cam.astype(np.float32), 0.0)
    peak = float(positive.max())
    if peak <= 1e-6:
        return np.zeros_like(positive)
    return positive / peak * float(probability)


def heat_patch(heatmap: np.ndarray, region: Box, frame_shape: Sequence[int], as_uint8: bool = False) -> HeatPatch | None:
    """Upsample ``heatmap`` (over ``region``) onto the part of the frame the region covers.

    Two stages keep it smooth and fast: a bicubic resize of the small map by 8x, then one linear
    affine warp onto the frame rectangle that does the remaining scaling and the clipping at the
    frame edges at once (OpenCV's cubic warp is ~10x slower than this on large faces).
    Returns ``None`` when the region does not overlap the frame.
    """
    hm = np.asarray(heatmap, dtype=np.float32)
    if hm.ndim != 2 or hm.size == 0:
        raise ValueError(f"heatmap must be a 2-D array, got shape {hm.shape}")
    height, width = int(frame_shape[0]), int(frame_shape[1])
    x1, y1 = max(0, int(np.floor(region.x1))), max(0, int(np.floor(region.y1)))
    x2, y2 = min(width, int(np.ceil(region.x2))), min(height, int(np.ceil(region.y2)))
    if x2 <= x1 or y2 <= y1:
        return None
    h, w = hm.shape
    small = cv2.resize(hm, (w * _CUBIC_FACTOR, h * _CUBIC_FACTOR), interpolation=cv2.INTER_CUBIC)
    np.clip(small, 0.0, 1.0, out=small)
    if as_uint8:
        small = cv2.convertScaleAbs(small, alpha=255.0)
    sh, sw = small.shape
    sx = max(region.width, 1e-3) / sw  # frame pixels per cell of `small`
    sy = max(region.height, 1e-3) / sh
    # cell centre v of `small` lies at frame x = (v + 0.5) * sx + region.x1 - 0.5 (pixel centres);
    # the output starts at (x1, y1).
    matrix = np.array(
        [[sx, 0.0, 0.5 * sx + region.x1 - 0.5 - x1], [0.0, sy, 0.5 * sy + region.y1 - 0.5 - y1]],
        dtype=np.float64,
    )
    up = cv2.warpAffine(small, matrix, (x2 - x1, y2 - y1), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return HeatPatch(x1, y1, x2, y2, up)


def heatmap_on_frame(heatmap: np.ndarray, region: Box, frame_shape: Sequence[int]) -> np.ndarray:
    """The heatmap of one face as a float32 ``(H, W)`` map over the whole frame (0 outside ``region``).

    Args:
        heatmap: float32 ``(h, w)`` in ``[0, 1]`` covering ``region``.
        region: the square crop region the model saw, in frame pixels (may extend past the frame).
        frame_shape: the frame's shape, ``(H, W)`` or ``(H, W, 3)``.
    """
    out = np.zeros((int(frame_shape[0]), int(frame_shape[1])), dtype=np.float32)
    patch = heat_patch(heatmap, region, frame_shape)
    if patch is not None:
        out[patch.slices] = patch.heat
    return out
