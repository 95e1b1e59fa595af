"""Drawing heatmaps: colour them, blend them over frames and cut face panels, for every report.

The heat itself (a face's map over its crop region, upsampled onto the frame) is the explanation
stage's (``explanation/heatmap.py``); here it is only coloured and blended where it is significant,
so the rest of the picture stays readable.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from deepdetector.explanation.heatmap import heat_patch
from deepdetector.faces.crop import crop_square
from deepdetector.types import Box, FaceResult

#: Heat below this is not drawn at all; between it and ``HEAT_FULL`` the colour fades in.
HEAT_FLOOR = 0.2
#: Heat from which the overlay is drawn at full ``alpha``.
HEAT_FULL = 0.5

FAKE_RGB = (230, 40, 40)
REAL_RGB = (40, 190, 70)
NEUTRAL_RGB = (200, 200, 200)

# JET as an RGB user colormap for cv2.applyColorMap (OpenCV's built-in colormaps produce BGR).
_JET_RGB_CV = np.ascontiguousarray(cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), cv2.COLORMAP_JET)[:, :, ::-1])


def _weight_lut(alpha: float) -> np.ndarray:
    """Blend weight of the colour per uint8 heat level: 0 under HEAT_FLOOR, ramping to ``alpha`` at HEAT_FULL."""
    levels = np.arange(256, dtype=np.float32) / 255.0
    return np.clip((levels - HEAT_FLOOR) * (alpha / (HEAT_FULL - HEAT_FLOOR)), 0.0, alpha).astype(np.float32)


def colorize(heat: np.ndarray) -> np.ndarray:
    """Heat (float in ``[0, 1]`` or uint8) as an RGB uint8 picture (JET: blue = low, red = high)."""
    idx = heat if heat.dtype == np.uint8 else cv2.convertScaleAbs(np.asarray(heat, np.float32), alpha=255.0)
    return cv2.applyColorMap(np.ascontiguousarray(idx), _JET_RGB_CV)


def blend_heat(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> None:
    """Blend the coloured ``heat`` into ``image`` (an RGB uint8 view of the same height and width) in place.

    ``heat`` is float in ``[0, 1]`` or uint8. Pixels with heat under :data:`HEAT_FLOOR` keep their
    exact value; the colour fades in up to :data:`HEAT_FULL`, where it has weight ``alpha``.
    """
    idx = heat if heat.dtype == np.uint8 else cv2.convertScaleAbs(np.asarray(heat, np.float32), alpha=255.0)
    # Only the bounding rectangle of the visible heat is blended.
    floor = int(np.ceil(HEAT_FLOOR * 255.0))
    _, visible = cv2.threshold(np.ascontiguousarray(idx), floor, 255, cv2.THRESH_BINARY)
    x, y, w, h = cv2.boundingRect(visible)
    if w == 0 or h == 0:
        return
    idx = np.ascontiguousarray(idx[y : y + h, x : x + w])
    image = image[y : y + h, x : x + w]
    lut = _weight_lut(alpha)
    w_colour = cv2.LUT(idx, lut)
    w_image = cv2.LUT(idx, (1.0 - lut).astype(np.float32))
    colour = cv2.applyColorMap(idx, _JET_RGB_CV)
    image[...] = cv2.blendLinear(colour, np.ascontiguousarray(image), w_colour, w_image)


def verdict_colour(probability: float | None, threshold: float) -> tuple[int, int, int]:
    """Red for a probability at or over ``threshold``, green under it, grey when unknown."""
    if probability is None:
        return NEUTRAL_RGB
    return FAKE_RGB if probability >= threshold else REAL_RGB


def face_label(face: FaceResult, threshold: float, word: str | None = None) -> str:
    """Short text drawn next to a face, e.g. ``"fake 87%"``; with ``word``, e.g. ``"frame 44%"``."""
    if word is None:
        word = "fake" if face.probability >= threshold else "real"
    return f"{word} {face.probability:.0%}"


def _draw_box_and_label(image: np.ndarray, face: FaceResult, threshold: float, word: str | None = None, fake_tracks: set[int] | None = None) -> None:
    if fake_tracks is None:
        colour = verdict_colour(face.probability, threshold)
    else:  # coloured by the verdict of the face's person, not by this one frame
        colour = FAKE_RGB if face.track_id in fake_tracks else REAL_RGB
    height, width = image.shape[:2]
    bx1, by1 = int(round(max(face.box.x1, 0))), int(round(max(face.box.y1, 0)))
    bx2, by2 = int(round(min(face.box.x2, width - 1))), int(round(min(face.box.y2, height - 1)))
    if bx2 <= bx1 or by2 <= by1:
        return
    side = max(bx2 - bx1, by2 - by1)
    thickness = max(1, side // 100)
    cv2.rectangle(image, (bx1, by1), (bx2, by2), colour, thickness, cv2.LINE_AA)

    # Label: a filled tag on the box's top-left corner, readable but never past the crop region's
    # right edge (so the overlay changes nothing outside the regions).
    text = face_label(face, threshold, word)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, 1.0, 1)
    room = min(face.region.x2, width) - bx1
    scale = min(max(side / 160.0, 0.4), 1.5, room * 0.85 / tw)
    t_thick = max(1, int(round(scale * 1.5)))
    (tw, th), base = cv2.getTextSize(text, font, scale, t_thick)
    pad = max(2, int(th * 0.3))
    tag_h = th + base + 2 * pad
    # Above the box when that stays inside the crop region and the frame, else just inside the box.
    ty1 = by1 - tag_h if by1 - tag_h >= max(0.0, face.region.y1) else by1
    cv2.rectangle(image, (bx1, ty1), (min(bx1 + tw + 2 * pad, width - 1), ty1 + tag_h), colour, -1)
    cv2.putText(image, text, (bx1 + pad, ty1 + pad + th), font, scale, (255, 255, 255), t_thick, cv2.LINE_AA)


def overlay_heatmaps(
    frame_rgb: np.ndarray,
    faces: Sequence[FaceResult],
    alpha: float = 0.45,
    threshold: float = 0.5,
    draw_boxes: bool = True,
    word: str | None = None,
    fake_tracks: set[int] | None = None,
) -> np.ndarray:
    """Draw the faces' heatmaps, boxes and labels on a copy of ``frame_rgb``.

    Args:
        frame_rgb: RGB uint8 ``(H, W, 3)`` frame the faces were found in.
        faces: the faces of that frame; faces without a heatmap get only a box and label.
        alpha: opacity of the heatmap colour where the heat is high.
        threshold: decision threshold; boxes and labels are red at or above it, green below.
        draw_boxes: draw each face's box and its ``fake 87%`` / ``real 12%`` label.
        word: label faces ``"<word> 44%"`` instead (a video's frame: ``"frame 44%"``, one frame of a
            person whose frames are combined, so not a verdict).
        fake_tracks: colour each box by whether its track is judged fake, instead of by the threshold.

    Returns:
        A new RGB uint8 array of the frame's shape. Pixels outside the faces' crop regions are
        unchanged (labels stay inside the region above the box).
    """
    if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
        raise ValueError(f"frame must be RGB (H, W, 3), got shape {frame_rgb.shape}")
    out = np.array(frame_rgb, dtype=np.uint8, copy=True)
    # One combined heat map per overlapping area: the max over faces, so heat is not blended twice.
    patches = [p for f in faces if f.heatmap is not None for p in [heat_patch(f.heatmap, f.region, out.shape, as_uint8=True)] if p is not None]
    if len(patches) == 1:
        p = patches[0]
        blend_heat(out[p.slices], p.heat, alpha)
    elif patches:
        x1, y1 = min(p.x1 for p in patches), min(p.y1 for p in patches)
        x2, y2 = max(p.x2 for p in patches), max(p.y2 for p in patches)
        heat = np.zeros((y2 - y1, x2 - x1), dtype=np.uint8)
        for p in patches:
            sub = heat[p.y1 - y1 : p.y2 - y1, p.x1 - x1 : p.x2 - x1]
            np.maximum(sub, p.heat, out=sub)
        blend_heat(out[y1:y2, x1:x2], heat, alpha)
    if draw_boxes:
        for face in faces:
            _draw_box_and_label(out, face, threshold, word, fake_tracks)
    return out


def face_panel(
    frame_rgb: np.ndarray,
    face: FaceResult,
    size: int = 160,
    alpha: float = 0.45,
    gap: int = 4,
) -> np.ndarray:
    """A thumbnail of one face: its crop region beside the same crop with the heatmap overlaid.

    Returns an RGB uint8 array ``(size, 2 * size + gap, 3)`` (left: the crop the model saw,
    right: the heatmap on it; white gap between). A face without a heatmap shows the crop twice.
    """
    crop = crop_square(frame_rgb, face.region, size)
    hot = crop.copy()
    if face.heatmap is not None:
        heat = heat_patch(face.heatmap, Box(0.0, 0.0, float(size), float(size)), (size, size), as_uint8=True)
        if heat is not None:
            blend_heat(hot, heat.heat, alpha)
    panel = np.full((size, 2 * size + gap, 3), 255, dtype=np.uint8)
    panel[:, :size] = crop
    panel[:, size + gap :] = hot
    return panel
