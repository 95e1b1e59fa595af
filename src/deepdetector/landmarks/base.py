"""The landmark model interface, its registry and the result record."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from deepdetector.registry import Registry
from deepdetector.types import Face

LANDMARKERS: Registry[type["Landmarker"]] = Registry("landmark model", discover="deepdetector.landmarks.backends")


@dataclass
class DenseLandmarks:
    """Dense landmarks of one face, in the coordinates of the frame they were found in.

    ``points`` is ``(N, 3)`` float32: x and y in frame pixels, z the relative depth in the same pixel
    scale (smaller is nearer the camera). ``presence`` is the model's own confidence that the region
    holds a face (0-1); a low value means the points are guesses.
    """

    points: np.ndarray
    presence: float

    @property
    def xy(self) -> np.ndarray:
        return self.points[:, :2]

    def to_list(self, decimals: int = 1) -> list[list[float]]:
        """``[[x, y], ...]`` rounded, as written into JSON."""
        return np.round(self.points[:, :2].astype(np.float64), decimals).tolist()


class Landmarker(ABC):
    """Finds dense landmarks of faces already detected. Subclasses register with ``@LANDMARKERS.register``."""

    name: str = ""
    n_points: int = 0

    @abstractmethod
    def locate(self, image: np.ndarray, faces: list[Face]) -> list[DenseLandmarks | None]:
        """One result per face of ``faces`` (found in ``image``, RGB uint8), ``None`` where the model
        could not place the mesh."""

    @abstractmethod
    def locate_many(self, items: list[tuple[np.ndarray, Face]]) -> list[DenseLandmarks | None]:
        """The same for faces of several frames at once (one model call per batch: faster)."""


def create_landmarker(name: str, **options: object) -> Landmarker:
    """Instantiate a registered landmark backend by name (``LANDMARKERS.names()`` lists them)."""
    return LANDMARKERS.create(name, **options)
