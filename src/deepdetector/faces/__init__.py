"""Faces stage: detector backends (registry), cropping shared by training and scanning, tracking."""

from deepdetector.faces.base import FACE_DETECTORS, FaceDetector, create_detector
from deepdetector.faces.crop import DEFAULT_MARGIN, crop_face, crop_region, crop_square

__all__ = ["FACE_DETECTORS", "FaceDetector", "create_detector", "DEFAULT_MARGIN", "crop_face", "crop_region", "crop_square"]
