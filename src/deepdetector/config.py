"""All settings of a scan in one place, with their documented defaults.

The CLI, the Python API, the web service and the batch runner all build a :class:`ScanConfig`;
nothing else reads settings from globals or the environment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

MARGIN_RANGE = (1.0, 4.0)
"""Crop margins a scan accepts: below 1x the crop cuts the face off, above 4x the face is a small
part of a 224-pixel crop."""


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
    max_image_pixels: int = 300_000_000
    """Images (or video frames) with more pixels than this (their stored size, read from the header
    before anything is decoded) are refused as possible decompression bombs. 300 MP lets through
    the 108 and 200 MP photos of phone cameras; ``scan --max-pixels`` (in megapixels) changes it."""
    max_decode_pixels: int = 50_000_000
    """Photos with more pixels than this are decoded reduced to at most this many: JPEGs by 1/2,
    1/4 or 1/8 inside the decoder (fast, little memory), other formats downscaled by a whole factor
    after decoding. ``media.decoded_scale`` in the result says by how much; every model, the
    native-resolution generated-stills model too, then sees the reduced picture."""
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
    pixels: bool = True
    """Photos: also read the pixel heads (``gan_pixels``, ``diffusion_pixels``: up-sampling traces,
    spectrum and noise at the photo's own resolution, fused with the face's scores; evidence/pixels.py),
    used only with the face classifier and stills model they were fitted with; a photo face's
    probability is then the highest of the two heads and ``swap`` (docs/evidence.md, "Pixel evidence
    (photos)"). False, or ``stills=False``, leaves them out."""

    # --- provenance ------------------------------------------------------------------------
    provenance: bool = True
    """Read what the file says about its own origin (C2PA Content Credentials, IPTC/XMP
    DigitalSourceType, EXIF, PNG generator text, the Stable Diffusion watermark, video container
    tags; docs/provenance.md). A *verified* declaration of generation makes the verdict ``fake``
    with that reason; metadata claims are shown and move nothing. False skips the stage."""

    # --- verdict ---------------------------------------------------------------------------
    aggregation: str = "confident"
    """How face scores of a track become one score (``deepdetector aggregations`` lists them)."""
    threshold: float | None = None
    """Decision threshold on the calibrated probability; ``None`` uses the model card's."""

    # --- landmarks and evidence across frames ----------------------------------------------
    landmarks: str | None = "facemesh"
    """Dense landmark model for each judged face (``deepdetector landmarks`` lists them; 468
    FaceMesh points, about 4 ms a face); ``None`` skips them (and the cues that need them)."""
    cues: bool = True
    """Videos: follow the main face through dense windows of consecutive frames and measure
    evidence across frames (eye and mouth motion, head pose, landmark jitter); see docs/evidence.md."""
    window_seconds: float = 4.0
    """Length of a dense window, in seconds (1 to 30); a shorter video is one window over all of it."""
    window_fps: float = 15.0
    """Frames per second taken inside a window (every k-th frame of the native rate; 2 to 60)."""
    window_spacing: float = 20.0
    """Long videos get one window per this many seconds (5 to 3600) ..."""
    max_windows: int = 3
    """... and at most this many (1 to 10)."""

    # --- explanation -----------------------------------------------------------------------
    heatmaps: bool = True
    """Compute a class-activation heatmap per face."""

    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form options for plugins (passed to the detector backend as keyword arguments)."""

    def validate(self) -> "ScanConfig":
        """Refuse settings that cannot mean anything (a zero-size crop, a threshold outside 0-1, a
        negative frame rate), with one sentence naming the setting, instead of scanning with them.
        Every front end (CLI, Python API, web, batch) goes through :class:`deepdetector.Detector`,
        which calls this. Returns the config itself."""
        from deepdetector.errors import ConfigError
        from deepdetector.faces.crop import DEFAULT_MARGIN

        def bad(name: str, value: Any, rule: str) -> ConfigError:
            return ConfigError(f"{name} {value!r} is not possible: {rule}")

        def whole(value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        for name, low in (
            ("frames", 1),
            ("max_frames", 1),
            ("max_image_pixels", 1),
            ("max_decode_pixels", 1),
            ("max_file_bytes", 1),
            ("detect_max_side", 32),
            ("video_full_every", 1),
            ("min_face_size", 0),
            ("max_faces", 1),
            ("threads", 0),
            ("batch_size", 1),
            ("video_quick_side", 0),
        ):
            value = getattr(self, name)
            if not whole(value) or value < low:
                raise bad(name, value, f"it must be a whole number of at least {low}")
        if self.fps is not None and not (isinstance(self.fps, (int, float)) and self.fps > 0):
            raise bad("fps", self.fps, "it must be more than 0 frames per second (or unset to use frames)")
        if self.margin is not None and not (isinstance(self.margin, (int, float)) and MARGIN_RANGE[0] <= self.margin <= MARGIN_RANGE[1]):
            raise bad(
                "margin",
                self.margin,
                f"the crop side is {MARGIN_RANGE[0]:g} to {MARGIN_RANGE[1]:g} times the face box "
                f"(smaller cuts the face off; the model was trained at its card's margin, {DEFAULT_MARGIN:g} for the shipped one)",
            )
        if self.threshold is not None and not (isinstance(self.threshold, (int, float)) and 0.0 <= self.threshold <= 1.0):
            raise bad("threshold", self.threshold, "it is a probability of fake, from 0 to 1")
        if not isinstance(self.provenance, bool):
            raise bad("provenance", self.provenance, "it is on or off (True or False)")
        for name, low, high in (("window_seconds", 1.0, 30.0), ("window_fps", 2.0, 60.0), ("window_spacing", 5.0, 3600.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and low <= value <= high):
                raise bad(name, value, f"it must be from {low:g} to {high:g}")
        if not whole(self.max_windows) or not 1 <= self.max_windows <= 10:
            raise bad("max_windows", self.max_windows, "it must be a whole number from 1 to 10")
        from deepdetector.faces import FACE_DETECTORS
        from deepdetector.verdict import AGGREGATIONS

        if self.detector not in FACE_DETECTORS:
            raise ConfigError(f"unknown face detector {self.detector!r}; available: {', '.join(FACE_DETECTORS.names())} (`deepdetector detectors`)")
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(f"unknown aggregation {self.aggregation!r}; available: {', '.join(AGGREGATIONS.names())}")
        if self.landmarks is not None:
            from deepdetector.landmarks import LANDMARKERS

            if self.landmarks not in LANDMARKERS:
                raise bad("landmarks", self.landmarks, f"the landmark models are {', '.join(LANDMARKERS.names())} (or none)")
        for name in ("detector_confidence", "track_iou"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise bad(name, value, "it must be from 0 to 1")
        return self

    def with_(self, **changes: Any) -> "ScanConfig":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model_path"] = None if self.model_path is None else str(self.model_path)
        return d
