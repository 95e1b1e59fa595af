"""Running a face detector on a frame: the ONE place that downscales, maps back and filters faces.

    detector = detector_from_config(config)
    faces = detect_faces(detector, frame.image, config)   # frame coordinates, largest first

Backends only ever see a frame whose longer side is at most ``config.detect_max_side`` (they are
trained on faces of a few dozen to a few hundred pixels; full-resolution 4K frames only cost time).
Boxes and landmarks come back in the coordinates of the full frame; faces smaller than
``config.min_face_size`` (source pixels) are dropped and at most ``config.max_faces`` are kept.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from deepdetector.config import ScanConfig
from deepdetector.errors import ConfigError
from deepdetector.faces.base import FACE_DETECTORS, FaceDetector, create_detector
from deepdetector.registry import RegistryError
from deepdetector.types import Box, Face


def detector_from_config(config: ScanConfig) -> FaceDetector:
    """The backend ``config.detector`` with ``config.detector_confidence`` and ``config.extra`` options.

    Raises :class:`ConfigError` for an unknown name or a backend whose package is missing.
    """
    try:
        return create_detector(config.detector, confidence=config.detector_confidence, **config.extra)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None
    except ImportError as exc:
        raise ConfigError(f"face detector {config.detector!r} needs a package that is not installed ({exc})") from None


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """``image`` resized so its longer side is at most ``max_side``, and the factor applied (<= 1)."""
    h, w = image.shape[:2]
    longest = max(h, w)
    if max_side <= 0 or longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, scale


def _to_frame(face: Face, scale: float) -> Face:
    if scale == 1.0:
        return face
    inv = 1.0 / scale
    b = face.box
    landmarks = None if face.landmarks is None else (np.asarray(face.landmarks, np.float32) * inv).astype(np.float32)
    return replace(face, box=Box(b.x1 * inv, b.y1 * inv, b.x2 * inv, b.y2 * inv), landmarks=landmarks)


def filter_faces(faces: list[Face], image_shape: tuple[int, ...], min_face_size: int, max_faces: int) -> list[Face]:
    """Drop faces smaller than ``min_face_size`` or outside the frame; keep the ``max_faces`` largest."""
    h, w = image_shape[:2]
    kept = [f for f in faces if min(f.box.width, f.box.height) >= min_face_size and f.box.x2 > 0 and f.box.y2 > 0 and f.box.x1 < w and f.box.y1 < h]
    kept.sort(key=lambda f: f.box.area, reverse=True)
    return kept[: max(0, max_faces)] if max_faces is not None else kept


def detect_faces(
    detector: FaceDetector,
    image: np.ndarray,
    config: ScanConfig | None = None,
    *,
    max_side: int | None = None,
    min_face_size: int | None = None,
    max_faces: int | None = None,
) -> list[Face]:
    """Faces in ``image`` (RGB uint8), in its own coordinates, largest first.

    The settings come from ``config`` (``detect_max_side``, ``min_face_size``, ``max_faces``);
    the keyword arguments override them.
    """
    config = config or ScanConfig()
    max_side = config.detect_max_side if max_side is None else max_side
    min_face_size = config.min_face_size if min_face_size is None else min_face_size
    max_faces = config.max_faces if max_faces is None else max_faces
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"detect_faces expects an RGB uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    small, scale = downscale(image, max_side)
    faces = [_to_frame(f, scale) for f in detector.detect(np.ascontiguousarray(small))]
    return filter_faces(faces, image.shape, min_face_size, max_faces)


class VideoFaceFinder:
    """Faces in the sampled frames of ONE video: a quick low-resolution search where it is enough.

    Detection is most of the cost of a video scan (YuNet: ~20 ms per 640 px frame, ~6 ms at 320
    px, both finding every face of FaceForensics++ frames; small faces in 1080p need 640). So every
    ``config.video_full_every``-th frame, the first included, is searched at both sizes; once the
    quick search misses a face the full one found, the rest of the video is searched at full size.
    The frames between get the quick search alone, and a full one whenever the quick pass finds
    fewer faces than the last full pass did. Boxes match the full search's to about
    1% (benchmarks/bench_detectors.py, "box vs yunet").
    """

    def __init__(self, detector: FaceDetector, config: ScanConfig, match_iou: float = 0.3) -> None:
        self.detector = detector
        self.config = config
        self.match_iou = match_iou
        self.count = 0  # frames seen
        self.full_only = config.video_quick_side <= 0 or config.video_quick_side >= config.detect_max_side
        self.expected = 0  # faces found by the last full search
        self.full_searches = 0

    def _full(self, image: np.ndarray) -> list[Face]:
        self.full_searches += 1
        faces = detect_faces(self.detector, image, self.config)
        self.expected = len(faces)
        return faces

    def __call__(self, image: np.ndarray) -> list[Face]:
        k, self.count = self.count, self.count + 1
        cfg = self.config
        if self.full_only or max(image.shape[:2]) <= cfg.video_quick_side:
            return self._full(image)
        every = max(1, cfg.video_full_every)
        if k % every == 0:
            full = self._full(image)
            quick = detect_faces(self.detector, image, cfg, max_side=cfg.video_quick_side)
            if any(max((f.box.iou(q.box) for q in quick), default=0.0) < self.match_iou for f in full):
                self.full_only = True  # the quick search misses faces in this video
            return full
        quick = detect_faces(self.detector, image, cfg, max_side=cfg.video_quick_side)
        if len(quick) < self.expected:
            return self._full(image)
        return quick


def available_detectors() -> list[tuple[str, str]]:
    """(name, description) of every registered backend, for ``deepdetector detectors``."""
    return [(e.name, e.description) for e in FACE_DETECTORS.entries()]
