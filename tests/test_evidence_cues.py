"""Cues over landmark series: each signal measured on synthetic faces animated in a known way.

The template is the mesh FaceMesh places on the test photo; the series move it exactly as a test
says (blinks, mouth, head turns, tremble), so each test fails when its cue stops measuring that.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepdetector.evidence import CUES, FaceSeries, measure_cues
from deepdetector.evidence.cues import SeriesView
from deepdetector.faces import create_detector
from deepdetector.landmarks import create_landmarker
from deepdetector.landmarks import topology as mesh

FPS = 15.0


@pytest.fixture(scope="module")
def template(face_rgb) -> np.ndarray:
    faces = create_detector("yunet").detect(face_rgb)
    [found] = create_landmarker("facemesh").locate(face_rgb, faces[:1])
    return found.points.astype(np.float64)


def series_of(frames: list[np.ndarray | None], fps: float = FPS) -> FaceSeries:
    s = FaceSeries(window=0, frame_size=(512, 512))
    for i, p in enumerate(frames):
        s.timestamps.append(i / fps)
        s.points.append(None if p is None else np.asarray(p, np.float32))
    return s


def cue(frames, name: str, fps: float = FPS) -> float | None:
    return {c.name: c.value for c in measure_cues([series_of(frames, fps)])}[name]


def close_eyes(points: np.ndarray, amount: float) -> np.ndarray:
    """Move the upper-lid points of both eyes down towards the lower lid (amount 1 = shut)."""
    out = points.copy()
    for eye in (mesh.RIGHT_EYE, mesh.LEFT_EYE):
        upper, lower = (eye[1], eye[2]), (eye[5], eye[4])
        for u, lo in zip(upper, lower):
            out[u, :2] += amount * (out[lo, :2] - out[u, :2])
    return out


def open_mouth(points: np.ndarray, amount: float) -> np.ndarray:
    """Drop the lower lip and chin by ``amount`` eye distances."""
    out = points.copy()
    eye_distance = np.linalg.norm(points[list(mesh.LEFT_EYE), :2].mean(0) - points[list(mesh.RIGHT_EYE), :2].mean(0))
    lower = [mesh.INNER_LIP_LOWER, 17, 84, 314, 87, 317, 178, 402, mesh.CHIN, 148, 377]
    out[lower, 1] += amount * eye_distance
    return out


def turn_head(points: np.ndarray, yaw_deg: float, pitch_deg: float = 0.0) -> np.ndarray:
    """Rotate the mesh in 3-D about its centre (yaw about the vertical axis, pitch about the horizontal)."""
    c = points.mean(axis=0)
    a, b = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return (points - c) @ (rx @ ry).T + c


def test_the_classifier_flicker_is_the_median_jump_of_the_main_faces_log_odds():
    from deepdetector.evidence.cues import classifier_cues
    from deepdetector.types import Box, FaceResult

    def face(i: int, p: float, track: int = 0) -> FaceResult:
        return FaceResult(i, i / 4, track, Box(0, 0, 10, 10), Box(0, 0, 16, 16), 0.9, p)

    steady = [face(i, 0.5) for i in range(10)]
    jumpy = [face(i, 0.9 if i % 2 else 0.1) for i in range(10)]
    assert classifier_cues(steady)[0].value == pytest.approx(0.0)
    assert classifier_cues(jumpy)[0].value == pytest.approx(2 * np.log(9))
    # the person seen in the most frames counts; a passer-by does not
    assert classifier_cues(steady + [face(i, 0.9 if i % 2 else 0.1, track=1) for i in range(3)])[0].value == pytest.approx(0.0)
    assert classifier_cues(steady[:5])[0].value is None


def test_every_cue_is_registered_with_words_for_both_directions():
    assert len(CUES.names()) >= 8
    for entry in CUES.entries():
        assert entry.description and entry.meta.get("low") and entry.meta.get("high"), entry.name


def test_blinks_are_counted_per_minute(template):
    frames = [template] * 60  # 4 s at 15 fps
    still = cue(frames, "blinks_per_minute")
    blinking = [close_eyes(template, 0.8) if i % 20 in (5, 6) else template for i in range(60)]  # 3 blinks in 4 s
    assert still == 0.0
    assert cue(blinking, "blinks_per_minute") == pytest.approx(3 * 60 / (59 / FPS), rel=0.01)
    assert cue(blinking, "eye_opening_variation") > 5 * cue(frames, "eye_opening_variation") + 0.01


def test_mouth_opening_variation_grows_with_speech_like_motion(template):
    speaking = [open_mouth(template, 0.25 * (1 + np.sin(i / 2.0))) for i in range(60)]
    murmuring = [open_mouth(template, 0.02 * (1 + np.sin(i / 2.0))) for i in range(60)]
    assert cue(speaking, "mouth_opening_variation") > 5 * cue(murmuring, "mouth_opening_variation")
    assert cue([template] * 60, "mouth_opening_variation") == pytest.approx(0.0, abs=1e-9)


def test_head_turns_are_measured_in_degrees_and_separated_from_expression(template):
    yaw = [turn_head(template, 10 * np.sin(i / 5.0)) for i in range(60)]
    nod = [turn_head(template, 0, 8 * np.sin(i / 5.0)) for i in range(60)]
    expected = float(np.std([10 * np.sin(i / 5.0) for i in range(60)]))
    assert cue(yaw, "head_yaw_variation") == pytest.approx(expected, rel=0.15)
    assert cue(yaw, "head_pitch_variation") < 0.2 * expected
    assert cue(nod, "head_pitch_variation") > 3 * cue(nod, "head_yaw_variation")
    assert cue(yaw, "head_speed") > 5.0
    # in-plane motion (shift, scale, roll) is head motion, not expression
    moved = []
    for i in range(60):
        a = np.radians(5 * np.sin(i / 4.0))
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * (1 + 0.05 * np.sin(i / 3.0))
        p = template.copy()
        p[:, :2] = (template[:, :2] - 256) @ r.T + 256 + [3 * i, 0]
        moved.append(p)
    speaking = [open_mouth(template, 0.25 * (1 + np.sin(i / 2.0))) for i in range(60)]
    assert cue(moved, "expression_motion") < 0.1 * cue(speaking, "expression_motion")


def test_frame_to_frame_tremble_is_jitter_smooth_motion_is_not(template):
    rng = np.random.default_rng(1)
    eye_distance = np.linalg.norm(template[33, :2] - template[263, :2])
    smooth = [template + [2.0 * i, 0, 0] for i in range(60)]
    trembling = [
        p + np.concatenate([rng.normal(0, 0.02 * eye_distance, (mesh.MESH_POINTS, 2)), np.zeros((mesh.MESH_POINTS, 1))], axis=1) for p in smooth
    ]
    assert cue(smooth, "rigid_jitter") < 1e-6
    assert cue(trembling, "rigid_jitter") > 0.01
    assert cue(trembling, "mouth_jitter") > 0.01


def test_lips_driven_by_the_head_are_coupled(template):
    driven = [open_mouth(turn_head(template, 12 * np.sin(i / 3.0)), 0.2 * abs(np.cos(i / 3.0))) for i in range(60)]
    rng = np.random.default_rng(2)
    independent = [open_mouth(turn_head(template, 12 * np.sin(i / 3.0)), 0.2 * rng.random()) for i in range(60)]
    assert cue(driven, "lip_head_coupling") > cue(independent, "lip_head_coupling") + 0.2


def test_rates_do_not_depend_on_the_frame_rate(template):
    def clip(fps: float) -> list[np.ndarray]:
        n = int(4 * fps)
        return [turn_head(template, 10 * np.sin(2 * np.pi * 0.5 * i / fps)) for i in range(n)]

    assert cue(clip(10), "head_speed", fps=10) == pytest.approx(cue(clip(30), "head_speed", fps=30), rel=0.1)


def test_too_short_or_faceless_windows_say_why_instead_of_a_number(template):
    short = measure_cues([series_of([template] * 5)])
    assert all(c.value is None and "for motion evidence (5 frames" in c.reason for c in short)
    brief = measure_cues([series_of([template] * 10, fps=30)])  # 0.3 s
    assert all(c.value is None and "for motion evidence (10 frames over 0.3 s" in c.reason for c in brief)
    lost = measure_cues([series_of([None] * 40)])
    assert all(c.value is None and "found in only 0 of 40 frames" in c.reason for c in lost)
    assert all(c.value is None and "no dense window" in c.reason for c in measure_cues([]))
    # a face that comes and goes: the frames with it still count
    flicker = [template if i % 3 else None for i in range(60)]
    no_pixels = {"lip_head_coupling", "mouth_texture_flicker", "background_change"}  # these series carry no patches
    assert all(c.value is not None for c in measure_cues([series_of(flicker)]) if c.name not in no_pixels)


def test_series_view_skips_frames_without_a_face(template):
    view = SeriesView(series_of([template, None, template, None]))
    assert view.n == 2 and view.seconds == pytest.approx(2 / FPS)


def with_pixels(frames: list[np.ndarray], mouth, face, background=None, fps: float = FPS) -> FaceSeries:
    """A series whose frames also carry grey patches made by the given functions of the frame number."""
    s = series_of(frames, fps)
    s.pixels = [{k: f(i) for k, f in (("mouth", mouth), ("face", face), ("background", background)) if f is not None} for i in range(len(frames))]
    return s


def test_a_mouth_whose_texture_is_redrawn_every_frame_flickers_a_steady_one_does_not(template):
    rng = np.random.default_rng(3)
    steady_texture = rng.normal(128, 20, (32, 32)).astype(np.float32)
    noise = lambda i: steady_texture + rng.normal(0, 2, (32, 32)).astype(np.float32)  # camera noise only  # noqa: E731
    redrawn = lambda i: rng.normal(128, 20, (32, 32)).astype(np.float32)  # a new mouth texture every frame  # noqa: E731

    def flicker(mouth) -> float:
        return {c.name: c.value for c in measure_cues([with_pixels([template] * 30, mouth, noise)])}["mouth_texture_flicker"]

    assert flicker(redrawn) > 3 * flicker(noise)
    assert flicker(noise) == pytest.approx(1.0, rel=0.3)  # the same noise in mouth and face: a ratio near 1


def test_a_still_background_behind_a_moving_face_is_measured(template):
    rng = np.random.default_rng(4)
    still = rng.normal(100, 10, (32, 32)).astype(np.float32)
    moving_face = lambda i: rng.normal(128, 20, (32, 32)).astype(np.float32)  # noqa: E731

    def change(background) -> float | None:
        cues = measure_cues([with_pixels([template] * 30, moving_face, moving_face, background)])
        return {c.name: c.value for c in cues}["background_change"]

    assert change(lambda i: still) == pytest.approx(0.0, abs=1e-6)
    assert change(lambda i: still + rng.normal(0, 8, (32, 32)).astype(np.float32)) > 0.2
    assert change(None) is None  # no room for background beside the face: nothing to say
