"""DeepDetector: offline deepfake detection for face images and videos.

from deepdetector import Detector
result = Detector().scan("photo.jpg")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deepdetector.config import ScanConfig
from deepdetector.types import Box, FaceResult, FileResult, FrameResult, MediaInfo, TrackResult, Verdict

__version__ = "0.1.0"

if TYPE_CHECKING:
    from deepdetector.api import Detector

__all__ = ["Detector", "ScanConfig", "FileResult", "FaceResult", "FrameResult", "TrackResult", "MediaInfo", "Box", "Verdict", "__version__"]


def __getattr__(name: str) -> Any:
    # Detector pulls in OpenCV and onnxruntime: import it on first use so the CLI starts fast.
    if name == "Detector":
        from deepdetector.api import Detector

        return Detector
    raise AttributeError(f"module 'deepdetector' has no attribute {name!r}")
