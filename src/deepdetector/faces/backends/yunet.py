"""YuNet-family detector from libfacedetection (``yuface`` wheel, BSD-3): weights compiled into the wheel."""

from __future__ import annotations

import numpy as np

from deepdetector.faces.base import FACE_DETECTORS, FaceDetector
from deepdetector.types import Box, Face


@FACE_DETECTORS.register("yunet", description="libfacedetection YuNet (yuface): fast, 5 landmarks, default", landmarks=True)
class YuNetDetector(FaceDetector):
    name = "yunet"

    def __init__(self, confidence: float = 0.6, **options: object) -> None:
        super().__init__(confidence, **options)
        import yuface  # imported here so that listing backends never fails on a missing wheel

        self._yuface = yuface

    def detect(self, image: np.ndarray) -> list[Face]:
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        result = self._yuface.c_detect(bgr)  # rows: conf(0-100), x, y, w, h, 10 landmark coords, ...
        faces: list[Face] = []
        for row in np.asarray(result, dtype=np.float32).reshape(-1, result.shape[-1] if result.size else 16):
            conf = float(row[0]) / 100.0
            if conf < self.confidence:
                continue
            x, y, w, h = (float(v) for v in row[1:5])
            if w <= 1 or h <= 1:
                continue
            landmarks = row[5:15].reshape(5, 2).astype(np.float32)
            faces.append(Face(box=Box(x, y, x + w, y + h), confidence=min(conf, 1.0), landmarks=landmarks))
        faces.sort(key=lambda f: f.box.area, reverse=True)
        return faces
