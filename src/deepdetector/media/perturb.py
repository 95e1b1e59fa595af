"""Frame transforms (perturbations): the robustness study applies them to every decoded RGB frame
before face detection (``Detector.scan(path, frame_transform=...)``); training the stills model
uses :class:`Size` to shrink photos.

Each transform is a small frozen dataclass, so it has a readable name, compares by value and
can be pickled. All take and return RGB ``uint8`` arrays of shape ``(H, W, 3)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Brightness:
    """Multiply every pixel by ``factor`` (< 1 darker, > 1 brighter), saturating at 0 and 255."""

    factor: float

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return cv2.convertScaleAbs(image, alpha=float(self.factor), beta=0.0)


@dataclass(frozen=True)
class Resolution:
    """Downscale by ``factor`` (e.g. 0.25 = a quarter of the width and height), then back up to the
    original size: the detail is lost but the frame size, and so the face size, stays the same."""

    factor: float

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(1, round(w * self.factor)), max(1, round(h * self.factor))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class Size:
    """The same picture stored with more or fewer pixels: width and height multiplied by ``factor``
    (area averaging down, Lanczos up). Unlike :class:`Resolution` the frame keeps the new size, so
    the face is ``factor`` times as many pixels across, as in a phone photo or a thumbnail."""

    factor: float

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        f = float(self.factor)
        if f == 1.0:
            return image
        size = (max(1, round(w * f)), max(1, round(h * f)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LANCZOS4)


@dataclass(frozen=True)
class Rotation:
    """Rotate about the frame centre by ``degrees`` (counter-clockwise); uncovered corners are black,
    as in a rotated photo. The frame size is unchanged."""

    degrees: float

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), float(self.degrees), 1.0)
        return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


@dataclass(frozen=True)
class Scale:
    """Change the face size within the frame, keeping the frame size.

    ``factor < 1`` shrinks the whole picture into the centre of a black canvas of the original
    size (faces get smaller, as in a wide shot); ``factor > 1`` zooms into the centre (faces get
    larger; the edges are cut off).
    """

    factor: float

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        f = float(self.factor)
        if f == 1.0:
            return image
        if f < 1.0:
            nw, nh = max(1, round(w * f)), max(1, round(h * f))
            small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
            canvas = np.zeros_like(image)
            y0, x0 = (h - nh) // 2, (w - nw) // 2
            canvas[y0 : y0 + nh, x0 : x0 + nw] = small
            return canvas
        cw, ch = max(1, round(w / f)), max(1, round(h / f))
        x0, y0 = (w - cw) // 2, (h - ch) // 2
        return cv2.resize(image[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class JpegQuality:
    """Re-encode the frame as JPEG at ``quality`` (1-100, 4:2:0 chroma) and decode it again. For
    videos this comes on top of the codec's own compression."""

    quality: int

    def __call__(self, image: np.ndarray) -> np.ndarray:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(self.quality)])
        if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 frame
            raise RuntimeError("JPEG encoding failed")
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
