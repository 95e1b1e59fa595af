"""Aggregation strategies and the face -> track -> file decision."""

import numpy as np
import pytest

from deepdetector.types import Box, FaceResult, Verdict
from deepdetector.verdict import AGGREGATIONS, aggregate
from deepdetector.verdict.decide import decide_file, decide_tracks, frame_timeline


def test_registry_lists_required_strategies():
    assert {"mean", "confident", "max", "median"} <= set(AGGREGATIONS.names())


def test_mean_and_max():
    assert aggregate("mean", [0.2, 0.4, 0.9]) == pytest.approx(0.5)
    assert aggregate("max", [0.2, 0.4, 0.9]) == pytest.approx(0.9)


def test_confident_averages_confident_fakes_when_enough():
    # 32 frames, 14 confidently fake (> 32/2.5 = 12.8 and > 11): mean of those 14 only
    p = np.array([0.9] * 14 + [0.3] * 18)
    assert aggregate("confident", p) == pytest.approx(0.9)
    assert aggregate("mean", p) == pytest.approx((0.9 * 14 + 0.3 * 18) / 32)


def test_confident_falls_back_to_mean_with_few_fakes():
    p = np.array([0.95] * 5 + [0.3] * 27)
    assert aggregate("confident", p) == pytest.approx(p.mean())


def test_confident_averages_confident_reals():
    p = np.array([0.1] * 30 + [0.7] * 2)  # 93.75% below 0.2
    assert aggregate("confident", p) == pytest.approx(0.1)


def test_unknown_strategy_and_empty_input_are_errors():
    with pytest.raises(KeyError, match="available"):
        aggregate("nope", [0.1])
    with pytest.raises(ValueError):
        aggregate("mean", [])


def _face(frame, track, p):
    b = Box(0, 0, 10, 10)
    return FaceResult(
        frame_index=frame, timestamp=frame / 10, track_id=track, box=b, region=b, detection_confidence=0.9, probability=p, scores={"swap": p}
    )


def test_file_is_as_suspicious_as_its_most_suspicious_person():
    faces = [_face(i, 0, 0.1) for i in range(4)] + [_face(i, 1, 0.8) for i in range(4)]
    tracks = decide_tracks(faces, "mean", threshold=0.5)
    assert [t.verdict for t in tracks] == [Verdict.REAL, Verdict.FAKE]
    verdict, prob, heads = decide_file(tracks, 0.5)
    assert verdict is Verdict.FAKE and prob == pytest.approx(0.8) and heads["swap"] == pytest.approx(0.8)


def test_no_face_is_never_real():
    verdict, prob, _ = decide_file([], 0.5)
    assert verdict is Verdict.NO_FACE and prob is None


def test_fleeting_tracks_are_ignored_when_others_exist():
    faces = [_face(i, 0, 0.1) for i in range(6)] + [_face(3, 1, 0.99)]
    tracks = decide_tracks(faces, "mean", 0.5)
    verdict, prob, _ = decide_file(tracks, 0.5, min_track_faces=2)
    assert verdict is Verdict.REAL and prob == pytest.approx(0.1)


def test_timeline_has_every_analysed_frame():
    faces = [_face(0, 0, 0.2), _face(0, 1, 0.7), _face(2, 0, 0.4)]
    tl = frame_timeline(faces, [(0, 0.0), (1, 0.1), (2, 0.2)])
    assert [f.n_faces for f in tl] == [2, 0, 1]
    assert tl[0].probability == pytest.approx(0.7) and tl[1].probability is None


def test_a_face_is_as_suspicious_as_its_most_suspicious_head():
    from deepdetector.verdict.decide import face_probability

    assert face_probability({"swap": 0.2, "synthetic": 0.7, "generated": 0.4}) == 0.7
    assert face_probability({"swap": 0.9}) == 0.9
