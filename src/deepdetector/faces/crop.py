"""Cutting a face out of a frame: the ONE place where faces are prepared, for training and scanning alike.

A crop is a square centred on the detected box, ``margin`` times its longer side, resized to the
model's input size. Where the square leaves the frame the border pixels are replicated (no black
padding, which a model could learn as a shortcut). The generated-stills model looks at the same
square at the photo's own resolution instead (:func:`native_region`).
"""

from __future__ import annotations

import cv2
import numpy as np

from deepdetector.types import Box, Face, FaceCrop

DEFAULT_MARGIN = 1.6


def crop_region(box: Box, margin: float = DEFAULT_MARGIN) -> Box:
    """The square region (frame coordinates) a crop of ``box`` with ``margin`` shows."""
    cx, cy = box.center
    half = max(box.width, box.height) * margin / 2.0
    return Box(cx - half, cy - half, cx + half, cy + half)


def native_region(shape: tuple[int, ...], box: Box, margin: float) -> tuple[int, int, int, int]:
    """The pixels of :func:`crop_region` inside an image of ``shape``, at its own resolution: integer
    bounds (x1, y1, x2, y2), clipped to the image (so it may be a rectangle at the border), at least
    one pixel wide and high. The generated-stills model reads its patches from here."""
    h, w = shape[:2]
    region = crop_region(box, margin)
    x1, y1 = int(max(0.0, region.x1)), int(max(0.0, region.y1))
    x2, y2 = int(min(float(w), region.x2)), int(min(float(h), region.y2))
    return x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)


def crop_square(image: np.ndarray, region: Box, size: int) -> np.ndarray:
    """Cut ``region`` out of ``image`` (replicating edges outside it) and resize it to ``size``x``size``.

    Uses one affine warp, so it costs the same wherever the region lies.
    """
    side = max(region.width, 1e-3)
    scale = size / side
    # maps frame -> crop: x' = (x - x1) * scale
    matrix = np.array([[scale, 0.0, -region.x1 * scale], [0.0, scale, -region.y1 * scale]], dtype=np.float64)
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, matrix, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)


def crop_face(
    image: np.ndarray,
    face: Face,
    size: int,
    margin: float = DEFAULT_MARGIN,
    frame_index: int = 0,
    timestamp: float | None = None,
) -> FaceCrop:
    """Prepare one detected face for the model."""
    region = crop_region(face.box, margin)
    return FaceCrop(
        image=crop_square(image, region, size),
        region=region,
        face=face,
        frame_index=frame_index,
        timestamp=timestamp,
    )


def to_crop_coords(points: np.ndarray, region: Box, size: int) -> np.ndarray:
    """Map frame coordinates (N, 2) into the coordinates of a ``size`` crop of ``region``."""
    scale = size / max(region.width, 1e-3)
    out = np.asarray(points, dtype=np.float32).copy()
    out[:, 0] = (out[:, 0] - region.x1) * scale
    out[:, 1] = (out[:, 1] - region.y1) * scale
    return out
