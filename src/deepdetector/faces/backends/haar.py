"""OpenCV's Viola-Jones Haar cascade (frontal faces): the XML ships in the OpenCV 4.x wheel.

A fallback that needs nothing beyond OpenCV: fast on small frames, no landmarks, more false
positives and misses on turned faces than the neural backends. Its confidence is derived from the
number of overlapping raw detections, ``n / (n + 5)``: the default threshold 0.6 asks for 8
neighbours, which on ``benchmarks/bench_detectors.py`` kept 89% of photo faces (93% with 3) and cut
false detections on face-free pictures from 16 to 2.
"""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np

from deepdetector.errors import ConfigError
from deepdetector.faces.base import FACE_DETECTORS, FaceDetector
from deepdetector.types import Box, Face

CASCADE = "haarcascade_frontalface_default.xml"
NEIGHBOUR_K = 5.0  # confidence = neighbours / (neighbours + K)
PAD = 0.25  # border added around the picture, as a fraction of its longer side


@FACE_DETECTORS.register("haar", description="OpenCV Haar cascade (frontal only, no landmarks)", landmarks=False)
class HaarDetector(FaceDetector):
    """Options: ``cascade`` (an XML file name in ``cv2.data.haarcascades`` or a path), ``scale_factor``."""

    name = "haar"

    def __init__(self, confidence: float = 0.6, **options: Any) -> None:
        super().__init__(confidence, **options)
        cascade = str(options.get("cascade", CASCADE))
        folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
        path = cascade if os.path.isfile(cascade) else os.path.join(folder, cascade)
        if not hasattr(cv2, "CascadeClassifier") or not os.path.isfile(path):
            raise ConfigError(
                "the 'haar' face detector needs OpenCV 4.x with its cascade files (OpenCV 5 dropped them): pip install 'opencv-python-headless<5'"
            )
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise ConfigError(f"could not load the Haar cascade {path}")
        self._scale_factor = float(options.get("scale_factor", 1.1))
        # the fewest neighbours whose derived confidence n / (n + K) reaches the threshold
        c = min(max(confidence, 0.0), 0.95)
        self._min_neighbors = max(1, int(np.ceil(NEIGHBOUR_K * c / (1 - c) - 1e-9)))

    def detect(self, image: np.ndarray) -> list[Face]:
        grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        # The cascade needs some context around a face: tight face crops (a face filling the
        # picture) were found 12% of the time without this border, 75% with it.
        pad = int(round(max(grey.shape) * PAD))
        grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        min_side = max(20, int(min(image.shape[:2]) * 0.04))
        boxes, neighbours = self._cascade.detectMultiScale2(
            grey, scaleFactor=self._scale_factor, minNeighbors=self._min_neighbors, minSize=(min_side, min_side)
        )
        faces = []
        for (x, y, w, h), n in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(neighbours).reshape(-1)):
            conf = float(n) / (float(n) + NEIGHBOUR_K)
            if conf >= self.confidence:
                x, y = float(x - pad), float(y - pad)
                faces.append(Face(box=Box(x, y, x + float(w), y + float(h)), confidence=conf, landmarks=None))
        faces.sort(key=lambda f: f.box.area, reverse=True)
        return faces
