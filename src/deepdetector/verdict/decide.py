"""Turns per-face results into per-frame, per-track and per-file verdicts."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from deepdetector.types import FaceResult, FrameResult, TrackResult, Verdict
from deepdetector.verdict.aggregation import aggregate


def face_probability(scores: dict[str, float]) -> float:
    """A face is as suspicious as its most suspicious head (``swap``, ``synthetic``, ``generated``, ...):
    each head looks for one kind of manipulation, and one is enough."""
    return float(max(scores.values()))


def frame_timeline(faces: list[FaceResult], frames: list[tuple[int, float | None]]) -> list[FrameResult]:
    """One FrameResult per analysed frame (``frames`` = (index, timestamp) in order), max over its faces."""
    by_frame: dict[int, list[float]] = defaultdict(list)
    for f in faces:
        by_frame[f.frame_index].append(f.probability)
    return [
        FrameResult(index=i, timestamp=ts, n_faces=len(by_frame.get(i, [])), probability=max(by_frame[i]) if by_frame.get(i) else None)
        for i, ts in frames
    ]


def decide_tracks(faces: list[FaceResult], strategy: str, threshold: float) -> list[TrackResult]:
    """Aggregate each track's face probabilities (and per-head scores) with ``strategy``."""
    groups: dict[int, list[FaceResult]] = defaultdict(list)
    for f in faces:
        groups[f.track_id].append(f)
    tracks = []
    for track_id in sorted(groups):
        members = sorted(groups[track_id], key=lambda f: f.frame_index)
        prob = aggregate(strategy, [f.probability for f in members])
        heads = {name: aggregate(strategy, [f.scores[name] for f in members]) for name in members[0].scores}
        tracks.append(
            TrackResult(
                track_id=track_id,
                probability=prob,
                verdict=Verdict.FAKE if prob >= threshold else Verdict.REAL,
                n_faces=len(members),
                first_frame=members[0].frame_index,
                last_frame=members[-1].frame_index,
                scores=heads,
            )
        )
    return tracks


def decide_file(tracks: list[TrackResult], threshold: float, min_track_faces: int = 1) -> tuple[Verdict, float | None, dict[str, float]]:
    """A file is as suspicious as its most suspicious person.

    Tracks seen in fewer than ``min_track_faces`` frames (fleeting false detections) are ignored
    unless nothing else is left. No track at all gives ``no_face``, never ``real``.
    """
    if not tracks:
        return Verdict.NO_FACE, None, {}
    kept = [t for t in tracks if t.n_faces >= min_track_faces] or tracks
    worst = max(kept, key=lambda t: t.probability)
    heads: dict[str, float] = {}
    for t in kept:
        for name, value in t.scores.items():
            heads[name] = max(heads.get(name, 0.0), value)
    verdict = Verdict.FAKE if worst.probability >= threshold else Verdict.REAL
    return verdict, float(np.clip(worst.probability, 0.0, 1.0)), heads


def model_reason(verdict: Verdict, probability: float | None, threshold: float | None, fused: bool = False) -> str:
    """One sentence saying why the models' verdict is what it is (``fused``: a video's probability
    is the fusion of the face classifier's score with the cues across frames)."""
    if verdict is Verdict.NO_FACE or probability is None:
        return "face model: no face found, nothing was judged"
    where = "at or above" if verdict is Verdict.FAKE else "below"
    if fused:
        return f"video fusion of the face model and the cues: probability of fake {probability:.2f}, {where} its threshold {threshold if threshold is not None else float('nan'):.2f}"
    return f"face model: probability of fake {probability:.2f}, {where} the threshold {threshold if threshold is not None else float('nan'):.2f}"
