"""Tracking: one id per person across sampled frames."""

from __future__ import annotations

from deepdetector.config import ScanConfig
from deepdetector.faces.detect import detect_faces, detector_from_config
from deepdetector.faces.tracking import Tracker
from deepdetector.media import open_media
from deepdetector.types import Box, Face
from tests.media_factory import write_video


def _face(x: float, y: float, side: float = 100) -> Face:
    return Face(Box(x, y, x + side, y + side), 0.9)


def test_moving_face_keeps_its_id():
    tracker = Tracker()
    ids = [tracker.update([_face(10 + 20 * i, 50)]) for i in range(6)]
    assert ids == [[0]] * 6


def test_fast_motion_over_sparse_sampling_keeps_its_id():
    """The face moves more than its own width between samples: no overlap, centre fallback links it."""
    tracker = Tracker()
    assert tracker.update([_face(0, 50)]) == [0]
    assert tracker.update([_face(120, 60)]) == [0]
    assert tracker.update([_face(240, 40)]) == [0]


def test_two_faces_keep_separate_ids_in_any_order():
    tracker = Tracker()
    left, right = _face(0, 0), _face(500, 0)
    assert tracker.update([left, right]) == [0, 1]
    assert tracker.update([_face(510, 5), _face(10, 5)]) == [1, 0]  # detector order changed
    assert tracker.update([_face(20, 10)]) == [0]  # right one hidden for a frame
    assert tracker.update([_face(520, 10), _face(30, 10)]) == [1, 0]  # and back


def test_different_people_are_not_merged():
    tracker = Tracker()
    assert tracker.update([_face(0, 0, 100)]) == [0]
    assert tracker.update([_face(600, 400, 100)]) == [1]  # far away: a new person
    assert tracker.update([_face(0, 0, 300)]) == [2]  # same place, 3x bigger, no overlap criterion met


def test_track_closes_after_gap():
    tracker = Tracker(max_gap=1)
    assert tracker.update([_face(0, 0)]) == [0]
    tracker.update([])
    tracker.update([])
    assert tracker.update([_face(0, 0)]) == [1]


def test_tracks_a_real_video(tmp_path, face_rgb):
    """End to end on a generated clip: the drifting face is one track in every sampled frame."""
    path = write_video(tmp_path / "v.mp4", n_frames=24, size=(320, 240))
    config = ScanConfig(frames=6)
    detector = detector_from_config(config)
    tracker = Tracker(iou_threshold=config.track_iou)
    _, frames = open_media(path, config)
    ids = []
    for frame in frames:
        faces = detect_faces(detector, frame.image, config)
        assert len(faces) == 1
        ids += tracker.update(faces)
    assert ids == [0] * 6
