"""Evidence across frames end to end: dense windows from the media stage, landmarks followed through
them, cues in the scan result and its JSON, and the awkward videos that must not break it."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from deepdetector import Detector, ScanConfig
from deepdetector.media import open_media
from deepdetector.media.sampling import window_indices
from tests.media_factory import face_photo, write_video


def test_windows_are_contiguous_at_a_capped_rate_and_spread_over_long_videos():
    cfg = ScanConfig()  # 4-s windows at <= 15 fps, one per 20 s, at most 3
    [w] = window_indices(12 * 30, 30.0, cfg)
    assert len(w) == 60 and np.all(np.diff(w) == 2) and w[0] == (360 - 120) // 2
    assert [len(x) for x in window_indices(2 * 25, 25.0, cfg)] == [25]  # shorter than a window: all of it, every 2nd frame
    long = window_indices(65 * 25, 25.0, cfg)
    assert len(long) == 3 and long[0][0] < long[1][0] < long[2][0] and long[2][-1] < 65 * 25
    assert window_indices(300, 30.0, cfg.with_(cues=False)) == []
    assert window_indices(300, None, cfg) == []
    assert window_indices(1, 30.0, cfg) == []


def test_the_media_stage_marks_window_frames_and_counts_only_the_even_sample(tmp_path):
    path = write_video(tmp_path / "v.mp4", n_frames=48, fps=24)
    info, frames = open_media(path, ScanConfig(frames=8), windows=True)
    frames = list(frames)
    window = [f for f in frames if f.window == 0]
    assert [f.index for f in window] == list(range(0, 48, 2))
    assert sum(f.sampled for f in frames) == 8 and info.sampled_frames == 8
    assert all(f.sampled or f.window is not None for f in frames)
    # without windows (training, evaluation tools): the even sample only, as before
    _, plain = open_media(path, ScanConfig(frames=8))
    assert [f.index for f in plain] == [f.index for f in frames if f.sampled]


def write_clip(path: Path, frames: list[np.ndarray], pts_step: list[int] | None = None, fps: int = 25) -> Path:
    """Encode RGB frames; ``pts_step`` gives each frame's timestamp step (variable frame rate)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.time_base = Fraction(1, fps * 4)
        pts = 0
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = pts
            frame.time_base = s.codec_context.time_base
            pts += 4 * (pts_step[i] if pts_step else 1)
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def talking(n: int, size: tuple[int, int] = (320, 240), face=True) -> list[np.ndarray]:
    """The test face, nodding slightly and opening its mouth area (a crude but moving face)."""
    w, h = size
    src = face_photo()
    side = int(min(w, h) * 0.9)
    base = cv2.resize(src, (side, side), interpolation=cv2.INTER_AREA)
    out = []
    for i in range(n):
        frame = np.full((h, w, 3), 90, np.uint8)
        if face(i) if callable(face) else face:
            m = cv2.getRotationMatrix2D((side / 2, side / 2), 4 * np.sin(i / 4), 1.0)
            moved = cv2.warpAffine(base, m, (side, side), borderMode=cv2.BORDER_REPLICATE)
            frame[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side] = moved
        out.append(frame)
    return out


@pytest.fixture(scope="module")
def detector(tiny_model_dir):
    return Detector(ScanConfig(model_path=tiny_model_dir, frames=8))


def values(result) -> dict:
    return {c.name: c.value for c in result.evidence}


def test_a_video_gets_every_cue_with_landmarks_on_its_faces_and_valid_json(detector, tmp_path):
    import jsonschema

    from deepdetector.evidence import CUES
    from deepdetector.report import to_json

    res = detector.scan(write_clip(tmp_path / "talk.mp4", talking(75)))
    assert res.ok and res.media.sampled_frames == 8
    got = values(res)
    assert set(CUES.names()) <= set(got)
    assert all(got[name] is not None for name in ("eye_opening_variation", "head_speed", "rigid_jitter", "expression_motion"))
    assert all(f.landmarks is not None and f.landmarks.shape == (468, 3) for f in res.faces)
    assert "cues" in res.timings and "landmarks" in res.timings
    doc = to_json([res])
    schema = json.loads((Path(__file__).resolve().parents[1] / "src/deepdetector/report/schema.json").read_text())
    jsonschema.validate(doc, schema)
    entry = doc["results"][0]
    assert len(entry["faces"][0]["landmarks"]) == 468 and {c["name"] for c in entry["evidence"]} >= set(CUES.names())


def test_no_cues_and_no_landmarks_leave_the_verdict_path_as_before(tiny_model_dir, tmp_path):
    path = write_clip(tmp_path / "talk.mp4", talking(50))
    full = Detector(ScanConfig(model_path=tiny_model_dir, frames=8)).scan(path)
    plain = Detector(ScanConfig(model_path=tiny_model_dir, frames=8, cues=False, landmarks=None)).scan(path)
    assert plain.evidence == [] and all(f.landmarks is None for f in plain.faces)
    assert [f.frame_index for f in plain.faces] == [f.frame_index for f in full.faces]
    assert [f.probability for f in plain.faces] == pytest.approx([f.probability for f in full.faces])
    assert Detector(ScanConfig(model_path=tiny_model_dir, frames=8, cues=False)).scan(path).evidence == []


def test_a_still_saved_as_a_video_shows_no_motion(detector, tmp_path):
    still = talking(1)[0]
    res = detector.scan(write_clip(tmp_path / "still.mp4", [still] * 50))
    got = values(res)
    # landmark noise alone: a few degrees a second, thousandths of an eye distance (the moving clip: about 20 deg/s)
    assert got["head_speed"] < 5.0 and got["expression_motion"] < 0.005 and got["mouth_opening_variation"] < 0.006
    assert got["lip_head_coupling"] is None  # nothing moves: no correlation to speak of
    moving = values(detector.scan(write_clip(tmp_path / "moving.mp4", talking(50))))
    assert moving["head_speed"] > 3 * got["head_speed"]


def test_too_short_and_one_frame_per_second_videos_say_why(detector, tmp_path):
    short = detector.scan(write_clip(tmp_path / "short.mp4", talking(12)))  # 0.5 s
    # motion needs a window; the classifier's flicker only its 8 judged frames
    assert short.ok and all(c.value is None for c in short.evidence if c.name != "classifier_flicker")
    assert {c.name: c.value for c in short.evidence}["classifier_flicker"] is not None
    assert "too short or too few frames a second for motion evidence (6 frames over 0.4 s" in short.evidence[0].reason
    slow = detector.scan(write_clip(tmp_path / "slow.mp4", talking(6), fps=1))  # a 1-fps screen recording, 6 s
    assert slow.ok and all(c.value is None for c in slow.evidence)
    assert "judged in 6 sampled frames (needs 8)" in {c.name: c.reason for c in slow.evidence}["classifier_flicker"]
    assert "too few frames a second for motion evidence (4 frames over 3.0 s" in slow.evidence[0].reason


def test_faces_that_come_and_go_two_people_and_variable_frame_rate(detector, tmp_path):
    gone = detector.scan(write_clip(tmp_path / "gone.mp4", talking(75, face=lambda i: (i // 10) % 2 == 0)))
    assert gone.ok and values(gone)["head_speed"] is not None
    pair = [np.hstack([a, b]) for a, b in zip(talking(50, size=(240, 240)), talking(50, size=(240, 240))[::-1])]
    two = detector.scan(write_clip(tmp_path / "two.mp4", pair))
    assert two.ok and len(two.tracks) == 2 and values(two)["eye_opening_variation"] is not None
    steps = [1 if i % 3 else 3 for i in range(60)]  # gaps of 1 and 3 frame times
    vfr = detector.scan(write_clip(tmp_path / "vfr.mp4", talking(60), pts_step=steps))
    assert vfr.ok and values(vfr)["head_speed"] is not None
    nothing = detector.scan(write_clip(tmp_path / "empty.mp4", talking(40, face=False)))
    assert nothing.verdict.value == "no_face" and all(c.value is None for c in nothing.evidence)


def test_every_output_shows_the_evidence(detector, tmp_path):
    import csv

    from deepdetector import report

    res = detector.scan(write_clip(tmp_path / "talk.mp4", talking(50)))
    page = report.render_html([res])
    assert "<h3>Evidence across frames</h3>" in page and "eye opening variation" in page and "not fused" in page
    report.write_csv([res], tmp_path / "r.csv")
    row = next(csv.DictReader((tmp_path / "r.csv").open()))
    assert row["face_classifier_probability"] == ""  # the tiny test model has no fusion: its own score is the file's
    short = detector.scan(write_clip(tmp_path / "short.mp4", talking(12)))
    report.write_csv([short], tmp_path / "s.csv")
    row = next(csv.DictReader((tmp_path / "s.csv").open()))
    assert row["evidence"].startswith("no evidence across frames: too short")
    assert "No evidence across frames: too short" in short.explanation
