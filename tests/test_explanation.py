"""Heatmaps: upsampling a CAM onto its frame, overlays, face panels."""

import numpy as np
import pytest

from deepdetector.explanation import heatmap_on_frame
from deepdetector.explanation.heatmap import heat_patch
from deepdetector.faces.crop import crop_region
from deepdetector.report.drawing import FAKE_RGB, REAL_RGB, colorize, face_panel, overlay_heatmaps
from deepdetector.types import Box, FaceResult


def make_face(box: Box, heatmap: np.ndarray | None, probability: float = 0.9, frame_index: int = 0) -> FaceResult:
    return FaceResult(
        frame_index=frame_index,
        timestamp=None,
        track_id=0,
        box=box,
        region=crop_region(box, 1.6),
        detection_confidence=0.95,
        probability=probability,
        scores={"swap": probability},
        heatmap=heatmap,
    )


def hot_cell(row: int, col: int, size: int = 7) -> np.ndarray:
    hm = np.zeros((size, size), np.float32)
    hm[row, col] = 1.0
    return hm


def test_heatmap_lands_on_its_region_and_nowhere_else():
    region = Box(100.0, 50.0, 240.0, 190.0)  # 140 px square, 20 px per cell of a 7x7 map
    up = heatmap_on_frame(hot_cell(1, 5), region, (300, 400, 3))
    assert up.shape == (300, 400) and up.dtype == np.float32
    assert up.min() >= 0.0 and up.max() <= 1.0
    # cell (row 1, col 5) covers x in [200, 220), y in [70, 90): the peak is at its centre
    y, x = np.unravel_index(np.argmax(up), up.shape)
    assert abs(x - 210) <= 3 and abs(y - 80) <= 3
    assert up[y, x] > 0.8
    outside = np.ones_like(up, dtype=bool)
    outside[50:190, 100:240] = False
    assert up[outside].max() == 0.0
    # smooth: no jump bigger than a fraction of the peak between neighbouring pixels
    assert np.abs(np.diff(up, axis=1)).max() < 0.25


def test_region_past_the_frame_edge_is_clipped():
    region = Box(-70.0, -70.0, 70.0, 70.0)  # only the bottom-right quarter is in the frame
    hm = np.ones((7, 7), np.float32)
    up = heatmap_on_frame(hm, region, (100, 100))
    assert up[:70, :70].min() == pytest.approx(1.0, abs=1e-3)
    assert up[70:, :].max() == 0.0 and up[:, 70:].max() == 0.0
    assert heat_patch(hm, Box(200.0, 200.0, 300.0, 300.0), (100, 100)) is None  # entirely outside


def test_bad_heatmap_is_refused():
    with pytest.raises(ValueError):
        heatmap_on_frame(np.zeros((2, 3, 4), np.float32), Box(0, 0, 10, 10), (20, 20))


@pytest.mark.parametrize("box", [Box(170.0, 40.0, 280.0, 170.0), Box(300.0, 300.0, 324.0, 330.0), Box(0.0, 0.0, 60.0, 50.0)])
def test_overlay_changes_pixels_only_around_the_face(face_rgb, box):
    face = make_face(box, hot_cell(3, 3))
    out = overlay_heatmaps(face_rgb, [face])
    assert out.shape == face_rgb.shape and out.dtype == np.uint8
    assert out is not face_rgb and not np.shares_memory(out, face_rgb)
    changed = np.any(out != face_rgb, axis=2)
    assert changed.any()
    r = face.region
    inside = np.zeros_like(changed)
    inside[max(0, int(r.y1)) : int(np.ceil(r.y2)), max(0, int(r.x1)) : int(np.ceil(r.x2))] = True
    assert not changed[~inside].any()
    # the heat (centre cell) is coloured: the pixel at the region centre moved towards the colour of hot
    heat_only = overlay_heatmaps(face_rgb, [face], draw_boxes=False)
    cy, cx = (int(v) for v in (r.center[1], r.center[0]))
    hot = colorize(np.array([[1.0]], np.float32))[0, 0].astype(int)
    before = np.abs(face_rgb[cy, cx].astype(int) - hot).sum()
    after = np.abs(heat_only[cy, cx].astype(int) - hot).sum()
    assert after < before * 0.7


def test_cold_heatmap_draws_only_the_box(face_rgb):
    box = Box(170.0, 40.0, 280.0, 170.0)
    cold = make_face(box, np.full((7, 7), 0.05, np.float32), probability=0.1)
    out = overlay_heatmaps(face_rgb, [cold])
    changed = np.any(out != face_rgb, axis=2)
    # the inside of the box (away from its border and the label) is untouched
    assert not changed[60:160, 180:270].any()
    # the box is green for a face under the threshold, red over it
    left_edge = out[100, 170]
    assert tuple(int(v) for v in left_edge) == pytest.approx(REAL_RGB, abs=40)
    hot = overlay_heatmaps(face_rgb, [make_face(box, None, probability=0.9)])
    assert tuple(int(v) for v in hot[100, 170]) == pytest.approx(FAKE_RGB, abs=40)
    assert np.array_equal(overlay_heatmaps(face_rgb, []), face_rgb)


def test_overlapping_faces_and_no_boxes(two_faces_rgb):
    faces = [make_face(Box(170.0, 40.0, 280.0, 170.0), hot_cell(3, 3)), make_face(Box(744.0, 40.0, 854.0, 170.0), hot_cell(3, 3))]
    out = overlay_heatmaps(two_faces_rgb, faces, draw_boxes=False)
    changed = np.any(out != two_faces_rgb, axis=2)
    assert changed[:, :512].any() and changed[:, 512:].any()
    assert not changed[300:, :].any()  # below both regions


def test_face_panel_shows_crop_and_heatmap(face_rgb):
    face = make_face(Box(170.0, 40.0, 280.0, 170.0), hot_cell(3, 3))
    panel = face_panel(face_rgb, face, size=96, gap=4)
    assert panel.shape == (96, 196, 3) and panel.dtype == np.uint8
    left, right = panel[:, :96], panel[:, 100:]
    assert np.array_equal(panel[:, 96:100], np.full((96, 4, 3), 255, np.uint8))
    diff = np.any(left != right, axis=2)
    assert diff[40:56, 40:56].all()  # the hot centre is coloured on the right
    assert not diff[:10, :10].any()  # the cold corner is the same crop on both sides
    no_heat = face_panel(face_rgb, make_face(face.box, None), size=64)
    assert np.array_equal(no_heat[:, :64], no_heat[:, 68:])


def test_heatmaps_keep_positive_evidence_scaled_by_the_faces_probability():
    from deepdetector.explanation import heatmap_from_cam

    cam = np.array([[-2.0, 0.0], [1.0, 4.0]], np.float32)
    assert np.allclose(heatmap_from_cam(cam, 0.5), [[0.0, 0.0], [0.125, 0.5]])
    assert not heatmap_from_cam(-np.ones((3, 3), np.float32), 0.9).any()
