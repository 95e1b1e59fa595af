"""Heatmap PNGs (``deepdetector scan --heatmaps DIR``): one overlay per kept frame, one panel per face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from deepdetector.report._common import ReportError, safe_stem
from deepdetector.report.drawing import face_panel, overlay_heatmaps
from deepdetector.types import FaceResult, FileResult, Verdict
from deepdetector.verdict.explain import fused_face_score

DEFAULT_THRESHOLD = 0.5


def encode_image(rgb: np.ndarray, fmt: str = ".png", quality: int = 85) -> bytes:
    """Encode an RGB uint8 picture as PNG or JPEG bytes."""
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt in (".jpg", ".jpeg") else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(fmt, np.ascontiguousarray(rgb[:, :, ::-1]), params)
    if not ok:  # pragma: no cover - OpenCV fails only on invalid arrays
        raise ReportError(f"could not encode a {fmt} picture of shape {rgb.shape}")
    return buf.tobytes()


def faces_by_frame(result: FileResult) -> dict[int, list[FaceResult]]:
    """The result's faces grouped by frame index."""
    groups: dict[int, list[FaceResult]] = {}
    for face in result.faces:
        groups.setdefault(face.frame_index, []).append(face)
    return groups


def keyframe_overlay(result: FileResult, frame_index: int, alpha: float = 0.45) -> np.ndarray:
    """The kept frame ``frame_index`` with its faces' heatmaps, boxes and labels drawn.

    An image's faces are labelled ``fake 87%`` / ``real 12%``. A video's frame is one of many a
    person's verdict combines: its faces are labelled ``frame 44%`` and coloured by their person's
    (track's) verdict, so a frame over the threshold in a video judged real does not read "fake"
    (by the file's verdict when the file's probability fuses the classifier's score with cues)."""
    threshold = result.threshold if result.threshold is not None else DEFAULT_THRESHOLD
    faces = [f for f in result.faces if f.frame_index == frame_index]
    if result.media is not None and result.media.kind == "video":
        if fused_face_score(result) is not None:  # the fused file verdict is the only one: every person gets its colour
            fake_tracks = {t.track_id for t in result.tracks} if result.verdict is Verdict.FAKE else set()
        else:
            fake_tracks = {t.track_id for t in result.tracks if t.verdict is Verdict.FAKE}
        return overlay_heatmaps(result.keyframes[frame_index], faces, alpha=alpha, threshold=threshold, word="frame", fake_tracks=fake_tracks)
    return overlay_heatmaps(result.keyframes[frame_index], faces, alpha=alpha, threshold=threshold)


def write_heatmaps(result: FileResult, folder: str | Path, panel_size: int = 224) -> list[Path]:
    """Write heatmap PNGs for one result into ``folder`` and return their paths.

    For each frame kept in ``result.keyframes`` (an image's only frame; a video's most suspicious
    frame of each person) this writes ``<name>-<hash>_f<frame>.png``, the whole frame with heatmaps,
    boxes and labels, and per face in that frame ``<name>-<hash>_f<frame>_face<k>.png``, the face
    crop beside its heatmap. Each such face's ``heatmap_file`` is set to its panel's path, so the
    JSON report points at it. ``<name>`` is the input's file name made safe, ``<hash>`` tells apart
    inputs with the same name. Error and no-face results write nothing.
    """
    folder = Path(folder)
    if not result.keyframes:
        return []
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create the heatmap folder {folder}: {exc.strerror or exc}") from exc
    stem = safe_stem(result.path)
    groups = faces_by_frame(result)
    written: list[Path] = []
    for index in sorted(result.keyframes):
        frame = result.keyframes[index]
        target = folder / f"{stem}_f{index}.png"
        _write(target, encode_image(keyframe_overlay(result, index)))
        written.append(target)
        for k, face in enumerate(groups.get(index, [])):
            panel_path = folder / f"{stem}_f{index}_face{k}.png"
            _write(panel_path, encode_image(face_panel(frame, face, size=panel_size)))
            face.heatmap_file = str(panel_path)
            written.append(panel_path)
    return written


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ReportError(f"cannot write the heatmap {path}: {exc.strerror or exc}") from exc
