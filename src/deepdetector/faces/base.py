"""The face detector interface and its registry. A backend is one file in ``faces/backends/``."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from deepdetector.registry import Registry
from deepdetector.types import Face

FACE_DETECTORS: Registry[type["FaceDetector"]] = Registry("face detector", discover="deepdetector.faces.backends")


class FaceDetector(ABC):
    """Finds faces in an RGB uint8 image. Subclasses register themselves with ``@FACE_DETECTORS.register``.

    ``detect`` returns faces in the coordinates of the image it was given, sorted by box area,
    largest first. Backends that cannot give landmarks set ``Face.landmarks`` to ``None``.
    """

    name: str = ""

    def __init__(self, confidence: float = 0.6, **options: object) -> None:
        self.confidence = confidence
        self.options = options

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in ``image`` (RGB uint8, HxWx3)."""


def create_detector(name: str, confidence: float = 0.6, **options: object) -> FaceDetector:
    """Instantiate a registered backend by name (``FACE_DETECTORS.names()`` lists them)."""
    return FACE_DETECTORS.create(name, confidence=confidence, **options)
