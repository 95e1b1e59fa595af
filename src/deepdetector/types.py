"""Typed records passed between the stages: media -> faces -> model -> explanation -> verdict -> report.

Every stage takes and returns these small dataclasses, so a stage can be replaced or tested alone.
Images are always RGB ``uint8`` arrays of shape ``(H, W, 3)``; coordinates are pixels in the
frame they belong to (x to the right, y down).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

import numpy as np


class Verdict(str, Enum):
    """The answer for a file, a track or a face."""

    FAKE = "fake"
    REAL = "real"
    NO_FACE = "no_face"  # nothing to judge: never reported as real
    ERROR = "error"  # unreadable or rejected input; FileResult.error says why


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds on the calibrated probability of fake: one per media type, and a default.

    Videos and still images differ in what the model sees (codec blur and many frames against one
    sharp photo), so their scores do not sit on the same scale; a model card may calibrate a
    threshold for each. ``by_media`` maps ``"image"`` / ``"video"`` to a threshold; any other media
    type (and a card without them) uses ``default``.
    """

    default: float
    by_media: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, default: float, by_media: dict[str, float] | None = None) -> "Thresholds":
        return cls(float(default), tuple(sorted((str(k), float(v)) for k, v in (by_media or {}).items())))

    def for_media(self, media: str | None) -> float:
        return dict(self.by_media).get(media or "", self.default)

    def of_items(self, media: list[str | None]) -> np.ndarray:
        """The threshold of each item, given its media type."""
        return np.array([self.for_media(m) for m in media], dtype=np.float64)

    @property
    def single(self) -> bool:
        return all(v == self.default for _, v in self.by_media)

    def describe(self) -> str:
        """``0.365`` or ``image 0.758, video 0.291``."""
        if self.single:
            return f"{self.default:g}"
        return ", ".join(f"{k} {v:g}" for k, v in self.by_media)

    def to_dict(self) -> dict[str, Any]:
        return {"default": self.default, **dict(self.by_media)}


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in pixels, ``(x1, y1)`` top-left inclusive, ``(x2, y2)`` bottom-right exclusive."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def iou(self, other: "Box") -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def scaled(self, factor: float) -> "Box":
        """The box scaled about its centre by ``factor`` (coordinates are not clipped)."""
        cx, cy = self.center
        hw, hh = self.width * factor / 2.0, self.height * factor / 2.0
        return Box(cx - hw, cy - hh, cx + hw, cy + hh)

    def to_list(self) -> list[float]:
        return [round(self.x1, 1), round(self.y1, 1), round(self.x2, 1), round(self.y2, 1)]


@dataclass
class Frame:
    """One decoded picture: a still image is a single frame with index 0."""

    index: int  # frame number in the source (0 for a still image)
    timestamp: float | None  # seconds from the start (None for a still image)
    image: np.ndarray  # RGB uint8 (H, W, 3)
    sampled: bool = True  # one of the evenly spaced frames the face classifier judges
    window: int | None = None  # the dense window (0, 1, ...) it belongs to, for evidence across frames


@dataclass
class MediaInfo:
    """What the media stage learned about a file before judging it."""

    path: str
    kind: Literal["image", "video"]
    width: int
    height: int
    format: str | None = None  # e.g. "JPEG", "h264"
    duration: float | None = None  # seconds (videos)
    fps: float | None = None  # average frame rate (videos)
    frame_count: int | None = None  # frames in the stream, when known (videos)
    sampled_frames: int = 1  # frames actually decoded and analysed
    decoded_scale: float = 1.0  # decoded size / stored size: below 1 when a large photo was decoded reduced

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "duration": self.duration,
            "fps": self.fps,
            "frame_count": self.frame_count,
            "sampled_frames": self.sampled_frames,
            "decoded_scale": round(float(self.decoded_scale), 4),
        }


LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass
class Face:
    """A face found by a detector backend, in frame coordinates."""

    box: Box
    confidence: float  # detector confidence in [0, 1]
    landmarks: np.ndarray | None = (
        None  # (5, 2) float32 in LANDMARK_NAMES order (subject's left/right as seen in the image: left = smaller x), or None
    )


@dataclass
class FaceCrop:
    """A face cut out of a frame, ready for the model (the same code prepares faces for training and scanning)."""

    image: np.ndarray  # RGB uint8 (S, S, 3), S = model input size
    region: Box  # the square region of the frame the crop shows (may extend past the frame edge)
    face: Face
    frame_index: int
    timestamp: float | None = None
    track_id: int = 0


@dataclass
class FaceResult:
    """The model's judgement of one face in one frame."""

    frame_index: int
    timestamp: float | None
    track_id: int
    box: Box  # detected face box
    region: Box  # crop region the model saw (the heatmap covers this)
    detection_confidence: float
    probability: float  # calibrated probability that the face is fake
    scores: dict[str, float] = field(default_factory=dict)  # per model head, e.g. {"swap": .., "synthetic": ..}
    heatmap: np.ndarray | None = None  # float32 (h, w) in [0, 1] over `region`; not serialised
    heatmap_file: str | None = None  # set by the report stage when a PNG was written
    landmarks: np.ndarray | None = None  # (N, 3) dense landmarks in frame pixels (x, y, depth), when computed

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame_index": self.frame_index,
            "timestamp": self.timestamp,
            "track_id": self.track_id,
            "box": self.box.to_list(),
            "region": self.region.to_list(),
            "detection_confidence": round(float(self.detection_confidence), 4),
            "probability": round(float(self.probability), 4),
            "scores": {k: round(float(v), 4) for k, v in self.scores.items()},
            "heatmap_file": self.heatmap_file,
            "landmarks": None if self.landmarks is None else np.round(self.landmarks[:, :2].astype(np.float64), 1).tolist(),
        }


@dataclass
class FrameResult:
    """Per-frame summary (the timeline of a video)."""

    index: int
    timestamp: float | None
    n_faces: int
    probability: float | None  # max over the faces in the frame; None when no face

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "timestamp": self.timestamp,
            "n_faces": self.n_faces,
            "probability": None if self.probability is None else round(float(self.probability), 4),
        }


@dataclass
class TrackResult:
    """One person followed across frames, judged as a whole."""

    track_id: int
    probability: float
    verdict: Verdict
    n_faces: int
    first_frame: int
    last_frame: int
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "probability": round(float(self.probability), 4),
            "verdict": self.verdict.value,
            "n_faces": self.n_faces,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "scores": {k: round(float(v), 4) for k, v in self.scores.items()},
        }


TRUST_LEVELS = ("verified", "claimed")
"""How much a provenance finding can be believed: ``verified`` (a signature or an embedded
watermark was checked here, offline) or ``claimed`` (metadata anyone can write or strip)."""

DECLARATIONS = ("generated", "captured", "edited")
"""What a provenance finding says about the file's origin, when it says anything."""


@dataclass
class Finding:
    """One fact read from a file's provenance data (see docs/provenance.md).

    ``source`` names the reader (``c2pa``, ``xmp``, ``exif``, ``png-text``, ``sd-watermark``,
    ``video-tags``), ``key`` the field inside it (e.g. ``digitalSourceType``, ``Software``),
    ``value`` its text (shortened to a few hundred characters), ``trust`` one of
    :data:`TRUST_LEVELS`, ``meaning`` one sentence for a reader, and ``declares`` one of
    :data:`DECLARATIONS` when the finding states the file's origin, else None. ``generator`` names
    the tool a ``generated`` declaration names, when it does.
    """

    source: str
    key: str
    value: str
    trust: Literal["verified", "claimed"]
    meaning: str = ""
    declares: Literal["generated", "captured", "edited"] | None = None
    generator: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "key": self.key,
            "value": self.value,
            "trust": self.trust,
            "meaning": self.meaning,
            "declares": self.declares,
            "generator": self.generator,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        return cls(**{k: d.get(k) for k in ("source", "key", "value", "trust", "meaning", "declares", "generator")})


@dataclass
class ProvenanceRecord:
    """What a file says about its own origin: every reader's findings and warnings, and a summary.

    ``c2pa`` is the state of the file's Content Credentials: ``None`` (none found), ``"valid"``
    (signature and hashes check; signer not looked up in any trust list), ``"trusted"`` (valid and
    the signer chains to a configured trust anchor), ``"invalid"`` (broken or tampered: a warning,
    never a declaration), ``"unreadable"`` (manifest data present but could not be parsed) or
    ``"not_checked"`` (manifest data present, C2PA library not installed).
    """

    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # readers that ran
    skipped: dict[str, str] = field(default_factory=dict)  # reader -> why it did not run on this file
    c2pa: str | None = None

    @property
    def generated(self) -> Literal["verified", "claimed"] | None:
        """``verified`` when a verified finding declares the file generated, ``claimed`` when only
        metadata does, else None."""
        levels = {f.trust for f in self.findings if f.declares == "generated"}
        return "verified" if "verified" in levels else ("claimed" if levels else None)

    @property
    def generator(self) -> str | None:
        """The tool the strongest ``generated`` declaration names (verified ones first)."""
        for trust in TRUST_LEVELS:
            for f in self.findings:
                if f.declares == "generated" and f.trust == trust and f.generator:
                    return f.generator
        return None

    @property
    def verified_generated(self) -> list[Finding]:
        """The verified findings that declare the file generated (what the verdict policy acts on)."""
        return [f for f in self.findings if f.declares == "generated" and f.trust == "verified"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated": self.generated,
            "generator": self.generator,
            "c2pa": self.c2pa,
            "findings": [f.to_dict() for f in self.findings],
            "warnings": list(self.warnings),
            "checked": list(self.checked),
            "skipped": dict(self.skipped),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ProvenanceRecord":
        return cls(
            findings=[Finding.from_dict(f) for f in d.get("findings") or []],
            warnings=list(d.get("warnings") or []),
            checked=list(d.get("checked") or []),
            skipped=dict(d.get("skipped") or {}),
            c2pa=d.get("c2pa"),
        )


@dataclass
class Cue:
    """One piece of evidence measured across the frames of a video (``deepdetector.evidence``),
    or the face classifier's own video score when the file's probability fuses the two."""

    name: str
    value: float | None  # None: could not be measured (``reason`` says why)
    description: str
    unit: str = ""
    reason: str | None = None
    real_range: tuple[float, float] | None = None  # 5th-95th percentile over real training videos
    effect: float | None = None  # how far it moved the fused score (log-odds), when fused
    words: str | None = None  # a sentence for people, when it moved the score or stands out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": None if self.value is None else round(float(self.value), 4),
            "unit": self.unit,
            "description": self.description,
            "real_range": None if self.real_range is None else [round(float(v), 4) for v in self.real_range],
            "effect": None if self.effect is None else round(float(self.effect), 4),
            "words": self.words,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Cue":
        rng = d.get("real_range")
        return cls(name=d["name"], value=d.get("value"), description=d.get("description", ""), unit=d.get("unit", ""),
                   reason=d.get("reason"), real_range=None if rng is None else (float(rng[0]), float(rng[1])),
                   effect=d.get("effect"), words=d.get("words"))  # fmt: skip


@dataclass
class FileResult:
    """Everything known about one scanned file. ``to_dict`` gives the documented JSON schema."""

    path: str
    verdict: Verdict
    probability: float | None = None  # calibrated probability of fake for the file; None for no_face/error
    threshold: float | None = None  # decision threshold the verdict used; None for an error (no verdict used one)
    face_threshold: float | None = (
        None  # the threshold of the face classifier's own scores (faces, frames, tracks); differs from threshold when a video's probability is fused with cues
    )
    media: MediaInfo | None = None
    faces: list[FaceResult] = field(default_factory=list)
    frames: list[FrameResult] = field(default_factory=list)
    tracks: list[TrackResult] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)  # per model head, file level
    error: str | None = None
    model: str | None = None  # model name and version
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: decode, detect, classify, ...
    explanation: str | None = None  # how the verdict was reached, in sentences (deepdetector.verdict.explain)
    keyframes: dict[int, np.ndarray] = field(default_factory=dict, repr=False)  # frame index -> RGB frame kept for rendering; not serialised
    reasons: list[str] = field(default_factory=list)  # why the verdict is what it is, one sentence each (model, provenance)
    provenance: ProvenanceRecord | None = None  # None when the provenance stage was off (ScanConfig.provenance=False)
    evidence: list[Cue] = field(default_factory=list)  # videos: evidence measured across frames (deepdetector.evidence)

    @property
    def ok(self) -> bool:
        return self.verdict is not Verdict.ERROR

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "verdict": self.verdict.value,
            "probability": None if self.probability is None else round(float(self.probability), 4),
            "threshold": self.threshold,
            "face_threshold": self.face_threshold,
            "scores": {k: round(float(v), 4) for k, v in self.scores.items()},
            "error": self.error,
            "explanation": self.explanation,
            "model": self.model,
            "media": None if self.media is None else self.media.to_dict(),
            "tracks": [t.to_dict() for t in self.tracks],
            "faces": [f.to_dict() for f in self.faces],
            "frames": [f.to_dict() for f in self.frames],
            "evidence": [c.to_dict() for c in self.evidence],
            "timings": {k: round(float(v), 4) for k, v in self.timings.items()},
            "reasons": list(self.reasons),
            "provenance": None if self.provenance is None else self.provenance.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FileResult":
        """Rebuild a result from its :meth:`to_dict` record (a batch store, a saved JSON report).
        Heatmaps and key frames, which records do not carry, stay empty; landmarks come back as
        (N, 2) points, the depth the record leaves out being lost."""
        media = d.get("media")

        def box(values: list[float]) -> Box:
            return Box(*[float(v) for v in values])

        faces = [
            FaceResult(
                frame_index=f["frame_index"], timestamp=f.get("timestamp"), track_id=f.get("track_id", 0), box=box(f["box"]),
                region=box(f["region"]), detection_confidence=f.get("detection_confidence", 0.0), probability=f["probability"],
                scores=dict(f.get("scores") or {}), heatmap_file=f.get("heatmap_file"),
                landmarks=None if f.get("landmarks") is None else np.asarray(f["landmarks"], dtype=np.float32),
            )
            for f in d.get("faces") or []
        ]  # fmt: skip
        return cls(
            path=d["path"],
            verdict=Verdict(d["verdict"]),
            probability=d.get("probability"),
            threshold=d.get("threshold"),
            face_threshold=d.get("face_threshold"),
            media=None if media is None else MediaInfo(path=d["path"], **media),
            faces=faces,
            frames=[FrameResult(**f) for f in d.get("frames") or []],
            tracks=[TrackResult(**{**t, "verdict": Verdict(t["verdict"])}) for t in d.get("tracks") or []],
            scores=dict(d.get("scores") or {}),
            error=d.get("error"),
            explanation=d.get("explanation"),
            model=d.get("model"),
            timings=dict(d.get("timings") or {}),
            evidence=[Cue.from_dict(c) for c in d.get("evidence") or []],
            reasons=list(d.get("reasons") or []),
            provenance=None if d.get("provenance") is None else ProvenanceRecord.from_dict(d["provenance"]),
        )
