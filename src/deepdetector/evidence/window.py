"""Following the main face through a dense window of consecutive frames.

The face detector runs on the window's first frame (and again whenever the face is lost); on the
other frames the face is found from the previous frame's landmarks, as MediaPipe's own pipeline
does: the square around the last mesh, enlarged 1.5x, turned to the eye line. That is cheaper than
detection and steadier, since the detector's box jitters more than the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from deepdetector.landmarks import DenseLandmarks, Landmarker
from deepdetector.landmarks import topology as mesh
from deepdetector.types import Box, Face


@dataclass
class FaceSeries:
    """The main face of one window: per frame its time and dense landmarks (NaN where lost)."""

    window: int
    timestamps: list[float] = field(default_factory=list)
    points: list[np.ndarray | None] = field(default_factory=list)  # (468, 3) per frame, or None
    frame_size: tuple[int, int] = (0, 0)  # (width, height)
    pixels: list[dict[str, np.ndarray] | None] = field(default_factory=list)  # small grey patches per frame (pixel_sample)

    def append(self, timestamp: float, landmarks: DenseLandmarks | None, pixels: dict[str, np.ndarray] | None = None) -> None:
        self.timestamps.append(float(timestamp))
        self.points.append(None if landmarks is None else landmarks.points)
        self.pixels.append(pixels)

    @property
    def found(self) -> int:
        return sum(p is not None for p in self.points)

    def as_array(self) -> np.ndarray:
        """``(T, 468, 3)`` float64 with NaN for frames where the face was not found."""
        n = len(self.points)
        out = np.full((n, mesh.MESH_POINTS, 3), np.nan)
        for i, p in enumerate(self.points):
            if p is not None:
                out[i] = p
        return out

    @property
    def seconds(self) -> float:
        return self.timestamps[-1] - self.timestamps[0] if len(self.timestamps) > 1 else 0.0


PATCH = 32  # side of the grey patches kept per frame (pixels)


def _patch(image: np.ndarray, x1: float, y1: float, x2: float, y2: float) -> np.ndarray | None:
    """The box of ``image`` as a PATCH x PATCH grey float32 patch, or None when it leaves the frame."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2))
    if x1 < 0 or y1 < 0 or x2 > w or y2 > h or x2 - x1 < 4 or y2 - y1 < 4:
        return None
    grey = cv2.cvtColor(np.ascontiguousarray(image[y1:y2, x1:x2]), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (PATCH, PATCH), interpolation=cv2.INTER_AREA).astype(np.float32)


def pixel_sample(image: np.ndarray, points: np.ndarray, background: tuple[float, float, float, float] | None) -> dict[str, np.ndarray]:
    """Small grey patches of one frame for the pixel cues: the mouth and the inner face (both placed
    by the landmarks, so they follow the face) and a fixed piece of background (frame coordinates,
    chosen in the window's first frame: it does not follow the face)."""
    xy = points[:, :2]
    eye = float(np.linalg.norm(xy[list(mesh.RIGHT_EYE)].mean(0) - xy[list(mesh.LEFT_EYE)].mean(0)))
    out: dict[str, np.ndarray] = {}
    lips = xy[list(mesh.LIPS_OUTER)]
    pad = 0.15 * eye
    m = _patch(image, lips[:, 0].min() - pad, lips[:, 1].min() - pad, lips[:, 0].max() + pad, lips[:, 1].max() + pad)
    cx, cy = xy[list(mesh.RIGID)].mean(0)  # the middle of the face, above the mouth
    f = _patch(image, cx - 0.6 * eye, cy - 0.6 * eye, cx + 0.6 * eye, cy + 0.3 * eye)
    if m is not None:
        out["mouth"] = m
    if f is not None:
        out["face"] = f
    if background is not None:
        b = _patch(image, *background)
        if b is not None:
            out["background"] = b
    return out


def background_box(points: np.ndarray, frame_size: tuple[int, int]) -> tuple[float, float, float, float] | None:
    """A square of background beside the face (the wider side of the frame), as large as the face
    is wide, at the height of the eyes; None when the frame has no room for it."""
    xy = points[:, :2]
    x1, y1 = xy.min(axis=0)
    x2, y2 = xy.max(axis=0)
    side = x2 - x1
    width, height = frame_size
    top = max(0.0, min((y1 + y2) / 2 - side / 2, height - side))
    gap = 0.5 * side
    if x1 - gap - side >= 0 and (x1 >= width - x2 or x2 + gap + side > width):
        return (x1 - gap - side, top, x1 - gap, top + side)
    if x2 + gap + side <= width:
        return (x2 + gap, top, x2 + gap + side, top + side)
    return None


def face_from_mesh(points: np.ndarray) -> Face:
    """A face record (box and eye centres) around a mesh, to place the next frame's landmark square."""
    xy = points[:, :2]
    x1, y1 = xy.min(axis=0)
    x2, y2 = xy.max(axis=0)
    eyes = np.stack([xy[list(mesh.RIGHT_EYE)].mean(axis=0), xy[list(mesh.LEFT_EYE)].mean(axis=0)])
    eyes = eyes[np.argsort(eyes[:, 0])]  # image-left eye first, as detectors give them
    return Face(box=Box(float(x1), float(y1), float(x2), float(y2)), confidence=1.0, landmarks=eyes.astype(np.float32))


class WindowFollower:
    """Collects a :class:`FaceSeries` per window from the frames the media stage yields."""

    def __init__(self, landmarker: Landmarker, detect, min_face_size: int = 32) -> None:
        """``detect(image) -> list[Face]`` finds faces (largest first) when the face is lost."""
        self.landmarker = landmarker
        self.detect = detect
        self.min_face_size = min_face_size
        self.series: dict[int, FaceSeries] = {}
        self._last: dict[int, np.ndarray | None] = {}
        self._background: dict[int, tuple[float, float, float, float] | None] = {}

    def add(self, window: int, timestamp: float | None, image: np.ndarray) -> None:
        """Find the main face's landmarks in one frame of ``window``."""
        series = self.series.get(window)
        if series is None:
            series = self.series[window] = FaceSeries(window, frame_size=(image.shape[1], image.shape[0]))
        t = float(timestamp if timestamp is not None else len(series.timestamps))
        found: DenseLandmarks | None = None
        last = self._last.get(window)
        if last is not None:
            found = self.landmarker.locate(image, [face_from_mesh(last)])[0]
        if found is None:  # first frame of the window, or the face was lost: ask the detector
            faces = [f for f in self.detect(image) if min(f.box.width, f.box.height) >= self.min_face_size]
            if faces:
                found = self.landmarker.locate(image, faces[:1])[0]
        self._last[window] = None if found is None else found.points
        pixels = None
        if found is not None:
            if window not in self._background:  # fixed for the window, where the face first was
                self._background[window] = background_box(found.points, series.frame_size)
            pixels = pixel_sample(image, found.points, self._background[window])
        series.append(t, found, pixels)

    def windows(self) -> list[FaceSeries]:
        return [self.series[w] for w in sorted(self.series)]
