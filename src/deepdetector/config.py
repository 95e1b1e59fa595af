"""All settings of a scan in one place, with their documented defaults.

The CLI, the Python API, the web service and the batch runner all build a :class:`ScanConfig`;
nothing else reads settings from globals or the environment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass
class ScanConfig:
    """Settings for :class:`deepdetector.Detector`. Every field has a safe default."""

    # --- media -----------------------------------------------------------------------------
    frames: int = 32
    """Frames sampled per video, evenly spaced over its duration (ignored when ``fps`` is set)."""
    fps: float | None = None
    """Sample this many frames per second instead of a fixed count (capped by ``max_frames``)."""
    max_frames: int = 300
    """Upper bound on frames analysed per video, whatever ``frames``/``fps`` ask for."""
    max_image_pixels: int = 80_000_000
    """Images (or video frames) larger than this are refused as possible decompression bombs."""
    max_file_bytes: int = 4 * 1024**3
    """Files larger than this are refused before decoding."""

    # --- faces -----------------------------------------------------------------------------
    detector: str = "yunet"
    """Face detector backend (``deepdetector detectors`` lists them). YuNet had the best recall
    per millisecond of the offline backends; MTCNN-style detectors are not the default."""
    detector_confidence: float = 0.6
    """Minimum detector confidence for a face."""
    detect_max_side: int = 640
    """Frames are downscaled so that the longer side is at most this before detection."""
    video_quick_side: int = 320
    """Video frames after the first are searched at this size first (4x fewer pixels than 640); the
    full ``detect_max_side`` search still runs on the first frame, every ``video_full_every``-th
    frame and whenever the quick pass finds fewer faces than the last full one, and a video whose
    faces the quick pass misses is searched at full size throughout. 0 turns the quick pass off."""
    video_full_every: int = 8
    """With ``video_quick_side``: a full-size search every this many sampled frames (new or small faces)."""
    min_face_size: int = 32
    """Faces smaller than this (shorter box side, in source pixels) are ignored."""
    max_faces: int = 8
    """At most this many faces (the largest) are judged per frame."""
    margin: float | None = None
    """Crop side as a multiple of the detected box's longer side. ``None`` uses the margin the
    model was trained with (model card); the reference study found crops under 1.6x hurt."""
    track_iou: float = 0.3
    """Minimum box overlap to link a face to a track in the previous sampled frame."""

    # --- model -----------------------------------------------------------------------------
    model_path: Path | None = None
    """An ONNX model with its ``model_card.json`` beside it; ``None`` uses the shipped model."""
    threads: int = 0
    """onnxruntime intra-op threads; 0 lets onnxruntime use every core."""
    batch_size: int = 32
    """Face crops classified per model call."""
    flip_tta: bool = False
    """Also classify the mirrored crop and average (slower, sometimes steadier)."""
    stills: bool = True
    """Photos: also run the generated-stills model the model card names (native-resolution face
    patches, head ``generated``); False judges photos with the face classifier's heads only."""

    # --- verdict ---------------------------------------------------------------------------
    aggregation: str = "confident"
    """How face scores of a track become one score (``deepdetector aggregations`` lists them)."""
    threshold: float | None = None
    """Decision threshold on the calibrated probability; ``None`` uses the model card's."""

    # --- explanation -----------------------------------------------------------------------
    heatmaps: bool = True
    """Compute a class-activation heatmap per face."""

    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form options for plugins (passed to the detector backend as keyword arguments)."""

    def with_(self, **changes: Any) -> "ScanConfig":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model_path"] = None if self.model_path is None else str(self.model_path)
        return d
