"""YuNet-family detector from libfacedetection (``yuface`` wheel, BSD-3): weights compiled into the wheel.

libfacedetection runs on OpenMP. By default idle OpenMP threads spin for a while after each layer,
which steals the CPU from onnxruntime (the classifier) and from anything else running: on the
2-core machine, with other work running, one 1080p detection took 490 ms (median) that way and
70 ms with ``OMP_WAIT_POLICY=PASSIVE`` (``benchmarks/bench_detectors.py`` and the faces doc). So
the wheel's OpenMP runtime is started in passive mode, unless the user chose a policy.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from deepdetector.faces.base import FACE_DETECTORS, FaceDetector
from deepdetector.types import Box, Face


def _import_yuface():  # type: ignore[no-untyped-def]
    """Import ``yuface`` (here, so that listing backends never fails on a missing wheel) with
    OpenMP in passive wait mode. OpenMP reads the variable once, when the library loads; it is
    removed again afterwards so that other libraries loaded later keep their own defaults."""
    if "yuface" in sys.modules:
        return sys.modules["yuface"]
    added = "OMP_WAIT_POLICY" not in os.environ
    if added:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import yuface
    finally:
        if added:
            os.environ.pop("OMP_WAIT_POLICY", None)
    return yuface


@FACE_DETECTORS.register("yunet", description="libfacedetection YuNet (yuface): fast, 5 landmarks, default", landmarks=True)
class YuNetDetector(FaceDetector):
    name = "yunet"

    def __init__(self, confidence: float = 0.6, **options: object) -> None:
        super().__init__(confidence, **options)
        self._yuface = _import_yuface()

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
