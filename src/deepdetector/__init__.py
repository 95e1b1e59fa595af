"""DeepDetector: offline deepfake detection for face images and videos."""

__version__ = "0.1.0"
