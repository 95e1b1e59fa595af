"""Dense landmarks: the shipped FaceMesh model places its points on the face, follows it, and fails cleanly."""

from __future__ import annotations

import numpy as np
import pytest

from deepdetector.errors import ConfigError
from deepdetector.faces import create_detector
from deepdetector.landmarks import LANDMARKERS, create_landmarker
from deepdetector.landmarks import topology as mesh
from deepdetector.types import Box, Face


@pytest.fixture(scope="module")
def facemesh():
    return create_landmarker("facemesh")


@pytest.fixture(scope="module")
def detected(face_rgb):
    return create_detector("yunet").detect(face_rgb)


def test_points_fall_on_the_face_parts_the_detector_found(facemesh, face_rgb, detected):
    face = detected[0]
    [result] = facemesh.locate(face_rgb, [face])
    assert result is not None and result.presence > 0.9
    assert result.points.shape == (mesh.MESH_POINTS, 3)
    eye_distance = float(np.linalg.norm(face.landmarks[1] - face.landmarks[0]))
    # the detector's 5 points (image-left eye, image-right eye, nose) against the mesh's own
    right_eye = result.xy[list(mesh.RIGHT_EYE)].mean(axis=0)
    left_eye = result.xy[list(mesh.LEFT_EYE)].mean(axis=0)
    assert np.linalg.norm(right_eye - face.landmarks[0]) < 0.15 * eye_distance
    assert np.linalg.norm(left_eye - face.landmarks[1]) < 0.15 * eye_distance
    assert np.linalg.norm(result.xy[mesh.NOSE_TIP] - face.landmarks[2]) < 0.25 * eye_distance
    # chin below the mouth below the nose below the forehead
    ys = [result.xy[i, 1] for i in (mesh.FOREHEAD, mesh.NOSE_TIP, mesh.INNER_LIP_UPPER, mesh.CHIN)]
    assert ys == sorted(ys)


def test_points_follow_the_face_when_the_picture_moves_or_turns(facemesh, face_rgb, detected):
    import cv2

    [base] = facemesh.locate(face_rgb, detected[:1])
    shifted = np.ascontiguousarray(np.roll(face_rgb, (9, -6), axis=(0, 1)))
    moved_face = Face(Box(detected[0].box.x1 - 6, detected[0].box.y1 + 9, detected[0].box.x2 - 6, detected[0].box.y2 + 9),
                      1.0, detected[0].landmarks + np.array([-6, 9], np.float32))  # fmt: skip
    [moved] = facemesh.locate(shifted, [moved_face])
    assert np.abs(moved.xy - base.xy - np.array([-6, 9])).mean() < 1.0
    # turned 20 degrees about the nose: the points turn with it (the square is turned by the eye line)
    cx, cy = base.xy[mesh.NOSE_TIP]
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), 20, 1.0)
    turned = cv2.warpAffine(face_rgb, m, face_rgb.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    faces = create_detector("yunet").detect(turned)
    [rot] = facemesh.locate(turned, faces[:1])
    expected = base.xy @ m[:, :2].T + m[:, 2]
    eye_distance = float(np.linalg.norm(base.xy[33] - base.xy[263]))
    assert np.median(np.linalg.norm(rot.xy - expected, axis=1)) < 0.08 * eye_distance


def test_a_region_without_a_face_gives_none(facemesh):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    flat = np.full((240, 320, 3), 128, np.uint8)
    box = Face(Box(100, 60, 200, 180), 1.0, None)
    assert facemesh.locate(noise, [box]) == [None]
    assert facemesh.locate(flat, [box]) == [None]
    assert facemesh.locate(flat, []) == []


def test_batched_and_single_calls_agree(facemesh, face_rgb, detected):
    [one] = facemesh.locate(face_rgb, detected[:1])
    many = facemesh.locate_many([(face_rgb, detected[0])] * 3)
    for other in many:
        assert np.allclose(other.points, one.points, atol=1e-3)


def test_scan_config_refuses_an_unknown_landmark_model():
    from deepdetector.config import ScanConfig

    assert "facemesh" in LANDMARKERS
    with pytest.raises(ConfigError, match="landmark models are facemesh"):
        ScanConfig(landmarks="dlib").validate()
    ScanConfig(landmarks=None).validate()
