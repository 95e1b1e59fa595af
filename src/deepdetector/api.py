"""The Python API: ``Detector().scan(path)`` runs media -> faces -> model -> explanation -> verdict.

from deepdetector import Detector
result = Detector().scan("clip.mp4")
print(result.verdict, result.probability)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepdetector.config import ScanConfig
from deepdetector.errors import DeepDetectorError, MediaError
from deepdetector.evidence import WindowFollower, measure_cues
from deepdetector.evidence.cues import classifier_cues
from deepdetector.evidence.fusion import DEFAULT_PATH as FUSION_PATH
from deepdetector.evidence.fusion import FACE_INPUT as FUSED_FACE_INPUT
from deepdetector.evidence.fusion import FusionModel
from deepdetector.evidence.pixels import DEFAULT_PATH as PIXELS_PATH
from deepdetector.evidence.pixels import PixelModel, pixel_evidence
from deepdetector.explanation import heatmap_from_cam
from deepdetector.faces import crop_face
from deepdetector.faces.detect import VideoFaceFinder, detect_faces, detector_from_config
from deepdetector.faces.tracking import Tracker
from deepdetector.landmarks import create_landmarker
from deepdetector.media import open_media
from deepdetector.model import FaceClassifier, ModelCard
from deepdetector.model.stills import HEAD as STILLS_HEAD
from deepdetector.model.stills import StillsModel, stills_card_path
from deepdetector.provenance import read_provenance
from deepdetector.types import FaceCrop, FaceResult, FileResult, Frame, ProvenanceRecord, Thresholds, Verdict
from deepdetector.verdict.decide import decide_file, decide_tracks, face_probability, frame_timeline, model_reason
from deepdetector.verdict.explain import explain
from deepdetector.verdict.provenance import apply_provenance

FrameTransform = Callable[[np.ndarray], np.ndarray]
ProgressCallback = Callable[[int, int], None]


class _Timer:
    """Accumulates seconds per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


@dataclass
class _Pending:
    """Crops waiting for the next model call, with the frames they came from."""

    crops: list[FaceCrop] = field(default_factory=list)
    frames: dict[int, np.ndarray] = field(default_factory=dict)
    stills: bool = False  # also run the generated-stills model (photos)
    pixels: dict[int, dict[str, float]] = field(default_factory=dict)  # crop index -> pixel heads' probabilities (photos)


class Detector:
    """Scans images and videos for manipulated faces.

    Args:
        config: all settings (see :class:`deepdetector.config.ScanConfig`); defaults are safe.
        **overrides: any ScanConfig field, e.g. ``Detector(detector="haar", frames=16)``.

    Raises:
        ModelError: no model is installed, or its file does not match its card.
        ConfigError: an unknown detector backend or aggregation strategy, or a setting out of its
            range (see :meth:`ScanConfig.validate`).
    """

    def __init__(self, config: ScanConfig | None = None, **overrides: Any) -> None:
        config = config or ScanConfig()
        if overrides:
            config = config.with_(**overrides)
        self.config = config.validate()
        self.classifier = FaceClassifier(config.model_path, threads=config.threads)
        stills_path = stills_card_path(self.classifier.card) if config.stills else None
        self.stills = StillsModel(stills_path, threads=config.threads) if stills_path is not None else None
        self.face_detector = detector_from_config(config)
        self.landmarker = create_landmarker(config.landmarks, threads=config.threads) if config.landmarks else None
        # videos: the face classifier's score and the cues fused into the file's probability (evidence/fusion.py)
        self.fusion = FusionModel.load(FUSION_PATH) if config.cues and self.landmarker is not None and FUSION_PATH.is_file() else None
        if self.fusion is not None and self.fusion.extra.get("classifier_sha256") != self.card.sha256:
            self.fusion = None  # fitted on another face classifier's scores: the cues are reported, not fused
        # photos: the pixel heads, only with the face classifier and stills model they were fitted with (evidence/pixels.py)
        self.pixels = None
        if config.pixels and self.stills is not None and PIXELS_PATH.is_file():
            pixels = PixelModel.load(PIXELS_PATH)
            self.pixels = pixels if pixels.matches(self.card.sha256, self.stills.card.sha256) else None
        self.margin = config.margin if config.margin is not None else self.classifier.card.margin
        # --threshold applies to every media type; otherwise the card's per-media thresholds
        # (a card naming a stills model may keep the thresholds fitted for the classifier alone, used with stills=False)
        if config.threshold is not None:
            self.thresholds = Thresholds.of(config.threshold)
        else:
            self.thresholds = self.classifier.card.thresholds_for(stills=self.stills is not None)
            if self.pixels is not None:  # photos: the threshold fitted with the pixel heads, for false alarms held per real source
                self.thresholds = Thresholds.of(self.thresholds.default, {**dict(self.thresholds.by_media), "image": self.pixels.image_threshold})
        self.threshold = self.thresholds.default

    @property
    def verdict_thresholds(self) -> Thresholds:
        """The thresholds the verdicts use, per media type: the card's (or ``--threshold``), except
        that videos judged by the video fusion use the fusion's threshold. Compare a file's
        probability with these; faces, frames and tracks keep :attr:`thresholds` (``face_threshold``)."""
        if self.fusion is None or self.config.threshold is not None:
            return self.thresholds
        by_media = dict(self.thresholds.by_media)
        by_media["video"] = self.fusion.threshold
        return Thresholds.of(self.thresholds.default, by_media)

    @property
    def card(self) -> ModelCard:
        return self.classifier.card

    @property
    def model_label(self) -> str:
        """The models that judged: the face classifier, plus the stills model when it is in use."""
        return (
            self.card.label
            + (f" + {self.stills.card.label}" if self.stills is not None else "")
            + (f" + {self.pixels.label}" if self.pixels is not None else "")
        )

    @property
    def head_names(self) -> list[str]:
        """Every score a face gets: the face classifier's heads, then ``generated`` when the stills model is in use."""
        return (
            self.classifier.head_names
            + ([STILLS_HEAD] if self.stills is not None else [])
            + (self.pixels.head_names if self.pixels is not None else [])
        )

    # ------------------------------------------------------------------------------------------
    def scan(self, path: str | Path, frame_transform: FrameTransform | None = None, on_progress: ProgressCallback | None = None) -> FileResult:
        """Judge one image or video. Never raises for bad input: returns a result with verdict ``error``."""
        path_str = str(path)
        started = time.perf_counter()
        timer = _Timer()
        provenance: list[ProvenanceRecord] = []  # filled by _scan as soon as the stage has run
        try:
            result = self._scan(path_str, timer, frame_transform, on_progress, provenance)
        except (MediaError, DeepDetectorError) as exc:
            result = FileResult(path=path_str, verdict=Verdict.ERROR, error=str(exc))
        except MemoryError:
            result = FileResult(path=path_str, verdict=Verdict.ERROR, error="out of memory while decoding this file")
        except Exception as exc:  # a broken file must never stop a batch; report it as an error entry
            result = FileResult(path=path_str, verdict=Verdict.ERROR, error=f"could not analyse this file ({type(exc).__name__}: {exc})")
        result.model = self.model_label
        if self.fusion is not None and result.evidence and result.evidence[0].name == FUSED_FACE_INPUT:
            result.model += f" + {self.fusion.label}"
        # an unreadable file keeps threshold None: no verdict used one
        if result.ok:
            fused = bool(result.evidence) and result.evidence[0].name == FUSED_FACE_INPUT
            result.reasons.append(model_reason(result.verdict, result.probability, result.threshold, fused=fused))
        if self.config.provenance:
            if not provenance:  # the file failed before the stage ran: read it for what it says anyway
                with timer.stage("provenance"):
                    provenance.append(self._provenance(path_str, None, None))
            result.provenance = provenance[0]
            verdict, why = apply_provenance(result.verdict, result.provenance)
            if why is not None:
                result.verdict = verdict
                result.reasons.insert(0, why)
        result.explanation = explain(result, self.config.aggregation)
        timer.seconds["total"] = time.perf_counter() - started
        result.timings = timer.seconds
        return result

    def scan_many(self, paths: Iterable[str | Path]) -> Iterator[FileResult]:
        """Scan each path in turn; every path yields exactly one result."""
        for path in paths:
            yield self.scan(path)

    def _provenance(self, path: str, kind: str | None, photo: np.ndarray | None) -> ProvenanceRecord:
        """The file's provenance record (never raises: a failure is a warning in the record)."""
        try:
            return read_provenance(path, kind=kind, image=photo, max_image_pixels=self.config.max_image_pixels)
        except Exception as exc:  # read_provenance already contains each reader's failure; this is a last guard
            return ProvenanceRecord(warnings=[f"provenance not read ({type(exc).__name__}: {exc})"])

    # ------------------------------------------------------------------------------------------
    def _scan(
        self,
        path: str,
        timer: _Timer,
        frame_transform: FrameTransform | None,
        on_progress: ProgressCallback | None,
        provenance: list[ProvenanceRecord] | None = None,
    ) -> FileResult:
        cfg = self.config
        with timer.stage("decode"):
            info, frames = open_media(path, cfg, windows=cfg.cues and self.landmarker is not None)
        # provenance runs before any model call (onnxruntime's threads keep the cores busy for a while after one)
        wants_provenance = cfg.provenance and provenance is not None
        if wants_provenance and info.kind == "video":
            with timer.stage("provenance"):
                provenance.append(self._provenance(path, "video", None))  # type: ignore[union-attr]
        tracker = Tracker(iou_threshold=cfg.track_iou)
        find_faces = VideoFaceFinder(self.face_detector, cfg) if info.kind == "video" else (lambda im: detect_faces(self.face_detector, im, cfg))
        pending = _Pending(stills=self.stills is not None and info.kind == "image")
        faces: list[FaceResult] = []
        analysed: list[tuple[int, float | None]] = []
        best: dict[int, tuple[float, int]] = {}  # track -> (probability, frame index) of its most suspicious face
        keyframes: dict[int, np.ndarray] = {}
        total = info.sampled_frames
        follower = None
        if info.kind == "video" and cfg.cues and self.landmarker is not None:
            follower = WindowFollower(self.landmarker, lambda im: detect_faces(self.face_detector, im, cfg), cfg.min_face_size)

        iterator = iter(frames)
        while True:
            with timer.stage("decode"):
                frame: Frame | None = next(iterator, None)
            if frame is None:
                break
            image = frame.image
            if wants_provenance and not provenance:  # a photo: its pixels as decoded, before any transform
                with timer.stage("provenance"):
                    provenance.append(self._provenance(path, info.kind, image))  # type: ignore[union-attr]
            if frame_transform is not None:
                with timer.stage("transform"):
                    image = np.ascontiguousarray(frame_transform(image))
            if follower is not None and frame.window is not None:
                with timer.stage("cues"):
                    follower.add(frame.window, frame.timestamp, image)
            if not frame.sampled:
                continue  # a frame of a dense window only: evidence across frames, not judged by the classifier
            analysed.append((frame.index, frame.timestamp))
            with timer.stage("detect"):
                found = find_faces(image)
            if found:
                track_ids = tracker.update(found)
                with timer.stage("crop"):
                    for face, track_id in zip(found, track_ids):
                        crop = crop_face(image, face, self.classifier.input_size, self.margin, frame.index, frame.timestamp)
                        crop.track_id = track_id
                        pending.crops.append(crop)
                pending.frames[frame.index] = image
            if len(pending.crops) >= cfg.batch_size:
                self._flush(pending, faces, best, keyframes, timer)
            if on_progress is not None:
                on_progress(len(analysed), max(total, len(analysed)))
        self._flush(pending, faces, best, keyframes, timer)
        info.sampled_frames = len(analysed)
        if not analysed:
            raise MediaError("no frame could be decoded from this file")

        evidence = []
        if self.pixels is not None and info.kind == "image" and faces:
            evidence = pixel_evidence(self.pixels, faces)
        if follower is not None:
            with timer.stage("cues"):
                evidence = measure_cues(follower.windows()) + classifier_cues(faces)
        with timer.stage("verdict"):
            timeline = frame_timeline(faces, analysed)
            threshold = face_threshold = self.thresholds.for_media(info.kind)
            tracks = decide_tracks(faces, cfg.aggregation, threshold)
            verdict, probability, head_scores = decide_file(tracks, threshold, min_track_faces=2 if len(analysed) >= 4 else 1)
            if follower is not None and self.fusion is not None and probability is not None:
                # the file's probability becomes the fusion of the face classifier's score and the cues
                probability, evidence = self.fusion.apply(probability, evidence)
                threshold = cfg.threshold if cfg.threshold is not None else self.fusion.threshold
                verdict = Verdict.FAKE if probability >= threshold else Verdict.REAL
        return FileResult(
            path=path,
            verdict=verdict,
            probability=probability,
            media=info,
            faces=faces,
            frames=timeline,
            tracks=tracks,
            scores=head_scores,
            keyframes=keyframes,
            threshold=threshold,
            face_threshold=face_threshold,
            evidence=evidence,
        )

    def _flush(
        self, pending: _Pending, faces: list[FaceResult], best: dict[int, tuple[float, int]], keyframes: dict[int, np.ndarray], timer: _Timer
    ) -> None:
        """Classify the waiting crops, record their results and keep each track's most suspicious frame."""
        if not pending.crops:
            pending.frames.clear()
            return
        with timer.stage("classify"):
            batch = np.stack([c.image for c in pending.crops])
            pred = self.classifier.predict(batch, with_cam=self.config.heatmaps, flip_tta=self.config.flip_tta)
            generated = None
            if pending.stills and self.stills is not None:
                generated = np.zeros(len(pending.crops), np.float32)
                by_frame: dict[int, list[int]] = {}
                for i, crop in enumerate(pending.crops):
                    by_frame.setdefault(crop.frame_index, []).append(i)
                for idx, members in by_frame.items():
                    generated[members] = self.stills.probabilities(pending.frames[idx], [pending.crops[i].face.box for i in members])
        if pending.stills and self.pixels is not None:
            with timer.stage("pixels"):
                by_frame = {}
                for i, crop in enumerate(pending.crops):
                    by_frame.setdefault(crop.frame_index, []).append(i)
                names = self.classifier.head_names
                for idx, members in by_frame.items():
                    scores = [{**{n: float(pred.probabilities[i][k]) for k, n in enumerate(names)},
                               **({STILLS_HEAD: float(generated[i])} if generated is not None else {})} for i in members]  # fmt: skip
                    found = self.pixels.probabilities(pending.frames[idx], [pending.crops[i].face.box for i in members], scores)
                    for i, probs in zip(members, found):
                        pending.pixels[i] = probs
        meshes = [None] * len(pending.crops)
        if self.landmarker is not None:
            with timer.stage("landmarks"):
                meshes = self.landmarker.locate_many([(pending.frames[c.frame_index], c.face) for c in pending.crops])
        heads = self.classifier.head_names
        with timer.stage("explain"):
            for i, crop in enumerate(pending.crops):
                probs = pred.probabilities[i]
                scores = {name: float(probs[k]) for k, name in enumerate(heads)}
                if generated is not None:  # the stills model is one more head; its map is not kept (see model/stills.py)
                    scores[STILLS_HEAD] = float(generated[i])
                p = face_probability(scores)
                if i in pending.pixels and self.pixels is not None:  # photos: the pixel heads decide (evidence/pixels.py)
                    scores.update({name: float(v) for name, v in pending.pixels[i].items()})
                    p = self.pixels.face_probability(scores)
                heatmap = None
                if pred.cams is not None:  # the face classifier's map, scaled by its own judgement
                    heatmap = heatmap_from_cam(pred.cams[i, int(probs.argmax())], float(probs.max()))
                faces.append(
                    FaceResult(
                        frame_index=crop.frame_index,
                        timestamp=crop.timestamp,
                        track_id=crop.track_id,
                        box=crop.face.box,
                        region=crop.region,
                        detection_confidence=crop.face.confidence,
                        probability=p,
                        scores=scores,
                        heatmap=heatmap,
                        landmarks=None if meshes[i] is None else meshes[i].points,
                    )
                )
                previous = best.get(crop.track_id)
                if previous is None or p > previous[0]:
                    best[crop.track_id] = (p, crop.frame_index)
        # keep only the frames that are some track's most suspicious one (memory stays bounded)
        wanted = {idx for _, idx in best.values()}
        for idx in wanted:
            if idx not in keyframes and idx in pending.frames:
                keyframes[idx] = pending.frames[idx]
        for idx in list(keyframes):
            if idx not in wanted:
                del keyframes[idx]
        pending.crops.clear()
        pending.frames.clear()
        pending.pixels.clear()
