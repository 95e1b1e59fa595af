"""Self-blend masks from dense (468-point FaceMesh) landmarks: ``SBIConfig.dense``, ``train --sbi-mask dense``.

The meshes here are synthetic: a face-shaped cloud of 468 points whose named groups (eyes, brows,
nose, lips, chin) sit where a face has them, optionally rolled, so every expectation is known.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepdetector.datasets.sbi import BROWS, LOWER_NOSE, SBIConfig, dense_mask, face_axis, has_mesh, self_blend
from deepdetector.landmarks import topology as T

SIZE = 200
CENTRE = np.array([100.0, 104.0], np.float32)


def synthetic_mesh(roll_deg: float = 0.0, seed: int = 0) -> np.ndarray:
    """468 points: an elliptic face (half-width 45, half-height 60 px) with named groups in place,
    rotated by ``roll_deg`` about the face centre. Face coordinates: +y is down the face."""
    rng = np.random.default_rng(seed)
    r = np.sqrt(rng.uniform(0, 1, T.MESH_POINTS))
    a = rng.uniform(0, 2 * np.pi, T.MESH_POINTS)
    pts = np.stack([45 * r * np.cos(a), 60 * r * np.sin(a)], 1)
    oval = np.linspace(0, 2 * np.pi, len(T.FACE_OVAL), endpoint=False)
    pts[list(T.FACE_OVAL)] = np.stack([45 * np.sin(oval), -60 * np.cos(oval)], 1)  # clockwise from the forehead
    pts[T.CHIN] = (0, 60)
    pts[T.FOREHEAD] = (0, -60)
    for eye, x in ((T.RIGHT_EYE, -18), (T.LEFT_EYE, 18)):
        pts[list(eye)] = np.stack(
            [x + 7 * np.cos(np.linspace(0, 2 * np.pi, 6, endpoint=False)), -15 + 3 * np.sin(np.linspace(0, 2 * np.pi, 6, endpoint=False))], 1
        )
    pts[list(BROWS)] = np.stack([np.linspace(-28, 28, len(BROWS)), np.full(len(BROWS), -26.0)], 1)
    pts[T.NOSE_TIP] = (0, 8)
    pts[list(LOWER_NOSE)] = np.stack([np.linspace(-8, 8, len(LOWER_NOSE)), np.full(len(LOWER_NOSE), 14.0)], 1)
    lip = np.linspace(0, 2 * np.pi, len(T.LIPS_OUTER), endpoint=False)
    pts[list(T.LIPS_OUTER)] = np.stack([16 * np.cos(lip), 32 + 6 * np.sin(lip)], 1)
    t = np.deg2rad(roll_deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return (pts @ rot.T + CENTRE).astype(np.float32)


def along_axis(mask: np.ndarray, mesh: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Signed distance of every masked pixel below ``point`` along the face's axis (eyes -> chin)."""
    ys, xs = np.nonzero(mask)
    return (np.stack([xs, ys], 1) - point) @ face_axis(mesh)


def test_the_hull_mask_covers_every_point_and_the_face_area():
    mesh = synthetic_mesh()
    mask = dense_mask((SIZE, SIZE), mesh, "hull", np.random.default_rng(0), SBIConfig(dense_no_forehead=0.0))
    xy = np.round(mesh).astype(int)
    assert mask[xy[:, 1], xy[:, 0]].all()  # every point inside
    ellipse = np.pi * 45 * 60
    assert 0.9 * ellipse < mask.sum() < 1.1 * ellipse  # the hull of an elliptic face is that ellipse, no more


def test_a_hull_without_forehead_stops_at_the_brows():
    mesh = synthetic_mesh()
    cut = dense_mask((SIZE, SIZE), mesh, "hull", np.random.default_rng(0), SBIConfig(dense_no_forehead=1.0))
    full = dense_mask((SIZE, SIZE), mesh, "hull", np.random.default_rng(0), SBIConfig(dense_no_forehead=0.0))
    assert cut.sum() < full.sum() and not (cut & ~full.astype(bool)).any()
    assert along_axis(cut, mesh, CENTRE + np.array([0, -26.0])).min() >= -1  # nothing above the brows


@pytest.mark.parametrize("roll", [0.0, 25.0, -40.0])
@pytest.mark.parametrize("seed", range(4))
def test_lower_face_and_mouth_masks_lie_below_the_nose(roll, seed):
    mesh = synthetic_mesh(roll, seed)
    nose = mesh[T.NOSE_TIP]
    for variant in ("lower", "mouth"):
        mask = dense_mask((SIZE, SIZE), mesh, variant, np.random.default_rng(seed))
        assert mask.sum() > 100, variant
        assert along_axis(mask, mesh, nose).min() >= -1.0, variant  # no pixel above the nose tip, whatever the roll
    lower = dense_mask((SIZE, SIZE), mesh, "lower", np.random.default_rng(seed))
    mouth = dense_mask((SIZE, SIZE), mesh, "mouth", np.random.default_rng(seed))
    chin_above = np.round(mesh[T.CHIN] + 4 * (mesh[T.NOSE_TIP] - mesh[T.CHIN]) / 52).astype(int)
    lips = np.round(mesh[list(T.LIPS_OUTER)].mean(0)).astype(int)
    assert lower[chin_above[1], chin_above[0]] and lower[lips[1], lips[0]]  # jaw and mouth are in the lower face
    assert mouth[lips[1], lips[0]] and not mouth[chin_above[1], chin_above[0]]  # the mouth mask keeps to the mouth
    assert mouth.sum() < lower.sum()


def test_dense_self_blends_are_deterministic_per_seed_and_use_the_mesh():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    mesh = synthetic_mesh()
    lm5 = mesh[[T.RIGHT_EYE[0], T.LEFT_EYE[0], T.NOSE_TIP, *T.MOUTH_CORNERS]]
    cfg = SBIConfig(dense=True)
    a = self_blend(img, lm5, np.random.default_rng(7), cfg, mesh=mesh)
    b = self_blend(img, lm5, np.random.default_rng(7), cfg, mesh=mesh)
    c = self_blend(img, lm5, np.random.default_rng(8), cfg, mesh=mesh)
    assert np.array_equal(a.fake, b.fake) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)
    # a mouth blend's weight lies below the nose (its blurred edge aside): the mask came from the mesh, not the 5 points
    still = dict(elastic=0.0, shift_x=0.0, shift_y=0.0, scale=(1.0, 1.0))
    for seed in range(5):
        m = self_blend(img, lm5, np.random.default_rng(seed), SBIConfig(dense=True, **still), "mouth", mesh=mesh).mask
        above = along_axis(np.ones_like(m), mesh, mesh[T.NOSE_TIP]) < 0
        assert m.sum() > 0 and m.ravel()[above].sum() < 0.2 * m.sum()
        five = self_blend(img, lm5, np.random.default_rng(seed), SBIConfig(**still), "full", mesh=mesh).mask
        assert five.ravel()[above].sum() > 0.4 * five.sum()  # the 5-point face mask reaches well above the nose


def test_a_face_without_a_mesh_gets_the_five_point_masks_and_the_default_ignores_meshes():
    img = np.random.default_rng(2).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    mesh = synthetic_mesh()
    lm5 = mesh[[T.RIGHT_EYE[0], T.LEFT_EYE[0], T.NOSE_TIP, *T.MOUTH_CORNERS]]
    five = self_blend(img, lm5, np.random.default_rng(5), SBIConfig())
    nan_mesh = np.full_like(mesh, np.nan)
    assert not has_mesh(nan_mesh) and not has_mesh(None) and has_mesh(mesh)
    for m in (None, nan_mesh):  # fallback: the very same blend as the 5-point recipe
        fb = self_blend(img, lm5, np.random.default_rng(5), SBIConfig(dense=True), mesh=m)
        assert np.array_equal(fb.fake, five.fake) and np.array_equal(fb.mask, five.mask)
    # without --sbi-mask dense a mesh changes nothing (v2's batches stay the same)
    same = self_blend(img, lm5, np.random.default_rng(5), SBIConfig(), mesh=mesh)
    assert np.array_equal(same.fake, five.fake)


def test_unknown_dense_variant_is_refused():
    with pytest.raises(ValueError, match="unknown dense mask variant"):
        dense_mask((SIZE, SIZE), synthetic_mesh(), "ears", np.random.default_rng(0))


def test_training_batches_draw_dense_masks_from_cached_meshes_and_count_the_fallback():
    """make_batch hands the cached mesh (mirrored with the crop) to the blend; mesh_coverage counts faces without one."""
    from deepdetector.datasets.manifest import MediaItem
    from deepdetector.training.cache import CachedFaces
    from deepdetector.training.data import BatchSpec, FacePool, Pools, SampleConfig, make_batch
    from deepdetector.training.train import mesh_coverage

    rng = np.random.default_rng(0)
    mesh = synthetic_mesh()
    crops = rng.integers(0, 255, (2, SIZE, SIZE, 3), dtype=np.uint8)
    lm5 = np.stack([mesh[[T.RIGHT_EYE[0], T.LEFT_EYE[0], T.NOSE_TIP, *T.MOUTH_CORNERS]]] * 2)
    boxes = np.tile(np.array([55, 44, 145, 164], np.float32), (2, 1))
    item = MediaItem(path="/x.jpg", label="real", kind="image", subset="s", group="g")
    faces = CachedFaces(item, crops, lm5, boxes, np.arange(2, dtype=np.int32), np.stack([mesh, np.full_like(mesh, np.nan)]))
    empty = FacePool.build([])
    pools = Pools(FacePool.build([faces]), empty, empty, empty, empty)
    assert mesh_coverage(pools.sbi_reals) == {"faces": 2, "with_mesh": 1, "five_point_fallback": 1}
    spec = BatchSpec(pairs=8, synthetic=0, supervised=0)
    dense = SampleConfig(input_size=64, sbi=SBIConfig(dense=True))
    a, _ = make_batch(pools, spec, dense, np.random.default_rng(3))
    b, _ = make_batch(pools, spec, dense, np.random.default_rng(3))
    plain, _ = make_batch(pools, spec, SampleConfig(input_size=64), np.random.default_rng(3))
    assert np.array_equal(a, b) and not np.array_equal(a, plain)
    faces.mesh = None  # no meshes cached: dense falls back to exactly the 5-point batches
    fallback, _ = make_batch(pools, spec, dense, np.random.default_rng(3))
    assert np.array_equal(fallback, plain)
