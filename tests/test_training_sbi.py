"""Self-blended pseudo-fakes and paired augmentation (deepdetector.datasets.sbi / augment)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deepdetector.datasets.sbi import MASK_VARIANTS, face_mask, flip_landmarks, self_blend, side_by_side
from deepdetector.faces import create_detector
from deepdetector.faces.crop import crop_region, crop_square, to_crop_coords
from deepdetector.training.augment import AugmentConfig, augment_pair, h264, jpeg


@pytest.fixture(scope="module")
def face_crop(face_rgb):
    face = create_detector("yunet").detect(face_rgb)[0]
    region = crop_region(face.box, 2.0)
    return crop_square(face_rgb, region, 160), to_crop_coords(face.landmarks, region, 160)


@pytest.mark.parametrize("seed", range(6))
def test_fake_differs_from_real_only_inside_the_mask(face_crop, seed):
    crop, lm = face_crop
    b = self_blend(crop, lm, np.random.default_rng(seed))
    assert b.real.shape == b.fake.shape == crop.shape and b.real.dtype == b.fake.dtype == np.uint8
    outside = b.mask <= 0
    assert outside.any() and (~outside).any()
    assert np.array_equal(b.fake[outside], b.real[outside])
    inside = b.mask >= 0.9 * b.mask.max()  # the blend ratio may cap the mask at 0.25
    assert np.abs(b.fake[inside].astype(int) - b.real[inside].astype(int)).mean() > 0.2


def test_seeded_runs_repeat_and_seeds_differ(face_crop):
    crop, lm = face_crop
    a = self_blend(crop, lm, np.random.default_rng(3))
    b = self_blend(crop, lm, np.random.default_rng(3))
    c = self_blend(crop, lm, np.random.default_rng(4))
    assert np.array_equal(a.fake, b.fake) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.fake, c.fake)


@pytest.mark.parametrize("variant", sorted(MASK_VARIANTS))
def test_mask_variants_cover_the_face_centre(face_crop, variant):
    crop, lm = face_crop
    m = face_mask(crop.shape[:2], lm, variant)
    assert 0.01 < m.mean() < 0.6
    cx, cy = lm[[2, 3, 4]].mean(axis=0)  # between nose and mouth: inside every variant
    assert m[int(cy), int(cx)] == 1
    assert m[0, 0] == 0 and m[-1, -1] == 0


def test_no_black_padding_leaks_into_the_fake(face_crop):
    crop, lm = face_crop
    for seed in range(8):
        b = self_blend(crop, lm, np.random.default_rng(seed))
        # the source is shifted with reflected borders: the fake never gets darker pixels than exist in the crop
        assert b.fake.min() >= min(int(crop.min()), int(b.real.min())) - 1


def test_flip_landmarks_keeps_left_right_order():
    lm = np.array([[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]], np.float32)
    f = flip_landmarks(lm, 100)
    assert f[0, 0] < f[1, 0] and f[3, 0] < f[4, 0]
    assert np.allclose(sorted(f[:, 0]), sorted(99 - lm[:, 0]))


def test_side_by_side_is_real_mask_fake(face_crop):
    crop, lm = face_crop
    b = self_blend(crop, lm, np.random.default_rng(0))
    pic = side_by_side(b)
    w = crop.shape[1]
    assert pic.shape == (crop.shape[0], 3 * w, 3)
    assert np.array_equal(pic[:, :w], b.real) and np.array_equal(pic[:, 2 * w :], b.fake)


def test_pair_augmentation_is_identical_for_identical_inputs(face_crop):
    crop, lm = face_crop
    cfg = AugmentConfig(p_colour=1, p_blur=1, p_downscale=1, p_cutout=1, p_part_dropout=1)
    a, b = augment_pair([crop, crop.copy()], lm, np.random.default_rng(1), cfg)
    assert np.array_equal(a, b) and not np.array_equal(a, crop)


def test_compression_degrades_but_keeps_shape(face_crop):
    crop, _ = face_crop
    hi, lo = jpeg(crop, 95), jpeg(crop, 30)
    err = lambda x: np.abs(x.astype(int) - crop.astype(int)).mean()  # noqa: E731
    assert err(lo) > err(hi) > 0
    h_hi, h_lo = h264([crop], 18)[0], h264([crop], 40)[0]
    assert h_lo.shape == crop.shape and err(h_lo) > err(h_hi) > 0


def test_smoothing_variant_stays_inside_the_mask_and_off_keeps_the_published_stream(face_crop):
    from deepdetector.datasets.sbi import SBIConfig, _smooth

    crop, lm = face_crop
    for seed in range(4):
        b = self_blend(crop, lm, np.random.default_rng(seed), SBIConfig(smooth=1.0))
        outside = b.mask <= 0
        assert np.array_equal(b.fake[outside], b.real[outside])
        # smooth=0 draws nothing extra: identical to the default recipe
        assert np.array_equal(
            self_blend(crop, lm, np.random.default_rng(seed), SBIConfig(smooth=0.0)).fake, self_blend(crop, lm, np.random.default_rng(seed)).fake
        )
    # the smoothing removes fine detail: less high-frequency energy than the input
    noisy = np.clip(crop.astype(int) + np.random.default_rng(0).integers(-12, 13, crop.shape), 0, 255).astype(np.uint8)
    sm = _smooth(noisy, np.random.default_rng(0))
    lap = lambda im: float(np.abs(cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_32F)).mean())
    assert lap(sm) < 0.7 * lap(noisy)


def test_blend_masks_are_never_empty_and_peak_at_their_blend_ratio(face_crop):
    """The published recipe scales the blurred mask to a peak of 1 before thresholding it at 1; without that
    (``normalise=False``, how models before 2026-12-02 were trained) a float blur peaking a hair under 1
    emptied the whole mask: a "fake" with no blended pixel."""
    from deepdetector.datasets.sbi import SBIConfig

    crop, lm = face_crop
    big = cv2.resize(crop, (288, 288), interpolation=cv2.INTER_CUBIC)
    lm_big = lm * (288 / crop.shape[0])
    cfg = SBIConfig()
    legacy_empty = 0
    for seed in range(60):
        b = self_blend(big, lm_big, np.random.default_rng(seed), cfg)
        assert b.mask.max() > 0 and (b.fake != b.real).any()
        assert min(abs(float(b.mask.max()) - r) for r in cfg.blend_ratios) < 1e-6
        old = self_blend(big, lm_big, np.random.default_rng(seed), SBIConfig(normalise=False))
        legacy_empty += int(old.mask.max() == 0)
    assert legacy_empty > 0  # the defect the default mends (about one seed in six at this size)


def test_legacy_masks_draw_the_same_random_numbers(face_crop):
    """Only the mask's scaling differs: both modes consume the generator alike, so a legacy run
    (``deepdetector train --sbi-mask legacy``) still reproduces an old model's batches."""
    from deepdetector.datasets.sbi import SBIConfig

    crop, lm = face_crop
    for seed in range(5):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        self_blend(crop, lm, a, SBIConfig(normalise=True))
        self_blend(crop, lm, b, SBIConfig(normalise=False))
        assert a.random() == b.random()


def test_the_training_option_chooses_the_mask_recipe():
    from deepdetector.training.train import TrainConfig, sample_config

    assert sample_config(TrainConfig()).sbi.normalise is True
    assert sample_config(TrainConfig(sbi_mask="legacy")).sbi.normalise is False


def test_normalised_masks_keep_most_of_the_face(face_crop):
    """Thresholding the peak-scaled blur at exactly 1 keeps the blur's flat interior: the final mask
    (at half its peak) still covers most of the face hull, never a speck."""
    crop, lm = face_crop
    hull = face_mask(crop.shape[:2], lm, "full").astype(bool)
    for seed in range(30):
        b = self_blend(crop, lm, np.random.default_rng(seed), variant="full")
        assert b.mask.max() > 0
        half = b.mask >= 0.5 * b.mask.max()
        assert (half & hull).sum() > 0.4 * hull.sum()


# --- cross-frame blends: another frame of the same video as the source ------------------------------


def _moved(crop: np.ndarray, lm: np.ndarray, angle: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The crop rotated and scaled about its centre (another 'frame'), with its landmarks moved alike."""
    h, w = crop.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    frame = cv2.warpAffine(crop, m, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    return frame, (lm @ m[:, :2].T + m[:, 2]).astype(np.float32)


def test_align_to_lays_another_frame_onto_this_one(face_crop):
    from deepdetector.datasets.sbi import align_to

    crop, lm = face_crop
    frame, lm_frame = _moved(crop, lm, 12.0, 1.1)
    back = align_to(frame, lm_frame, lm, crop.shape[:2])
    face = face_mask(crop.shape[:2], lm, "inner").astype(bool)
    err = lambda im: float(np.abs(im[face].astype(int) - crop[face].astype(int)).mean())
    assert back.shape == crop.shape
    assert err(back) < 4.0 < err(frame)  # the face lands where it is in this frame (only resampling blur is left)


def test_cross_frame_source_is_blended_only_inside_the_mask(face_crop):
    from deepdetector.datasets.sbi import align_to

    crop, lm = face_crop
    frame, lm_frame = _moved(crop, lm, 0.0, 1.0)
    frame = np.ascontiguousarray(frame[::-1])  # a different picture under the face (upside down): easy to tell apart
    for seed in range(4):
        plain = self_blend(crop, lm, np.random.default_rng(seed))
        cross = self_blend(crop, lm, np.random.default_rng(seed), source=frame)
        outside = cross.mask <= 0
        assert np.array_equal(cross.fake[outside], cross.real[outside])
        assert np.array_equal(cross.mask, plain.mask) and np.array_equal(cross.real, plain.real)  # same draws, same mask
        inside = cross.mask >= 0.9 * cross.mask.max()
        assert np.abs(cross.fake[inside].astype(int) - plain.fake[inside].astype(int)).mean() > 5
    with pytest.raises(ValueError, match="shape"):
        self_blend(crop, lm, np.random.default_rng(0), source=crop[:-1])
    assert align_to(frame, lm_frame, lm, crop.shape[:2]).shape == crop.shape


def _faces(crop, lm, path: str, n: int):
    from deepdetector.datasets.manifest import MediaItem
    from deepdetector.training.cache import CachedFaces

    frames = [_moved(crop, lm, 4.0 * k, 1.0 + 0.03 * k) for k in range(n)]
    box = np.array([lm[:, 0].min() - 20, lm[:, 1].min() - 25, lm[:, 0].max() + 20, lm[:, 1].max() + 20], np.float32)
    item = MediaItem(path=path, label="real", kind="video" if n > 1 else "image", subset="s", group=path)
    return CachedFaces(item, np.stack([f for f, _ in frames]), np.stack([l for _, l in frames]), np.stack([box] * n), np.arange(n, dtype=np.int32))


def _batches(pool_faces, cross_frame: float, seed: int = 5):
    from deepdetector.datasets.sbi import SBIConfig
    from deepdetector.training.data import BatchSpec, FacePool, Pools, SampleConfig, make_batch

    empty = FacePool.build([])
    pools = Pools(FacePool.build(pool_faces), empty, empty, empty, empty)
    cfg = SampleConfig(input_size=64, sbi=SBIConfig(cross_frame=cross_frame))
    return make_batch(pools, BatchSpec(pairs=6), cfg, np.random.default_rng(seed))[0], pools, cfg


def test_cross_frame_off_keeps_the_published_batches(face_crop):
    """``cross_frame=0`` draws no extra random number: the batches are those of the plain recipe
    (one face picked, then one self-blended pair per step), so older runs still reproduce."""
    from deepdetector.training.data import make_pair

    crop, lm = face_crop
    faces = [_faces(crop, lm, "/x/a.png", 1), _faces(crop, lm, "/x/b.mp4", 3)]
    got, pools, cfg = _batches(faces, 0.0)
    rng = np.random.default_rng(5)
    want = []
    for _ in range(6):
        want += list(make_pair(*pools.sbi_reals.pick(rng), cfg, rng))
    assert np.array_equal(got, np.stack(want))
    # stills have no other frame: switched on, a pool of stills still gives the plain batches
    assert np.array_equal(_batches(faces[:1], 1.0)[0], _batches(faces[:1], 0.0)[0])


def test_cross_frame_on_blends_the_other_frame_in(face_crop):
    """Switched on, each video pair is made from the drawn frame with another frame as its source."""
    from deepdetector.training.data import make_pair, other_frame

    crop, lm = face_crop
    faces = [_faces(crop, lm, "/x/b.mp4", 3)]
    got, pools, cfg = _batches(faces, 1.0)
    rng = np.random.default_rng(5)
    want, used = [], 0
    for _ in range(6):
        f, j = pools.sbi_reals.pick_entry(rng)
        source = other_frame(f, j, 1.0, rng)
        used += source is not None
        want += list(make_pair(f.crops[j], f.landmarks[j], f.boxes[j], cfg, rng, source=source))
    assert used == 6 and np.array_equal(got, np.stack(want))
    plain = _batches(faces, 0.0)[0]
    assert not np.array_equal(got[1::2], plain[1::2])


@pytest.mark.parametrize("p_flip", [0.0, 1.0])
def test_a_cross_frame_source_is_flipped_with_its_frame(face_crop, p_flip):
    """Blending in the frame itself as the source must give the plain pair, flipped or not (the crop is
    not symmetric, so a source left unflipped would show)."""
    from deepdetector.training.augment import AugmentConfig
    from deepdetector.training.data import SampleConfig, make_pair

    crop, lm = face_crop
    faces = _faces(crop, lm, "/x/b.mp4", 1)
    cfg = SampleConfig(input_size=64, augment=AugmentConfig(p_flip=p_flip))
    args = (faces.crops[0], faces.landmarks[0], faces.boxes[0], cfg)
    for seed in range(3):
        plain = make_pair(*args, np.random.default_rng(seed))
        same = make_pair(*args, np.random.default_rng(seed), source=faces.crops[0].copy())
        assert all(np.array_equal(a, b) for a, b in zip(plain, same))
    other = make_pair(*args, np.random.default_rng(0), source=np.ascontiguousarray(faces.crops[0][::-1]))
    assert not np.array_equal(other[1], make_pair(*args, np.random.default_rng(0))[1])


def test_other_frame_is_any_frame_but_this_one(face_crop, monkeypatch):
    import deepdetector.training.data as D

    crop, lm = face_crop
    faces = _faces(crop, lm, "/x/b.mp4", 4)
    monkeypatch.setattr(
        D, "align_to", lambda image, lm_from, lm_to, shape, max_residual=None: int(np.flatnonzero([np.array_equal(image, c) for c in faces.crops])[0])
    )  # which frame was drawn
    for j in range(4):
        drawn = {D.other_frame(faces, j, 1.0, np.random.default_rng(seed)) for seed in range(40)}
        assert drawn == set(range(4)) - {j}
    assert D.other_frame(faces, 0, 0.0, np.random.default_rng(0)) is None
    assert D.other_frame(_faces(crop, lm, "/x/a.png", 1), 0, 1.0, np.random.default_rng(0)) is None


def test_frames_whose_landmarks_do_not_fit_are_not_blended_in(face_crop):
    from deepdetector.datasets.sbi import MAX_ALIGN_RESIDUAL, align_to
    from deepdetector.training.data import other_frame

    crop, lm = face_crop
    faces = _faces(crop, lm, "/x/b.mp4", 2)
    assert other_frame(faces, 0, 1.0, np.random.default_rng(0)) is not None  # a rotated, scaled frame fits
    turned = faces.landmarks.copy()
    turned[1, 2, 0] += 0.5 * np.linalg.norm(lm[1] - lm[0])  # the nose half an eye distance aside: a turned head
    faces.landmarks[:] = turned
    assert other_frame(faces, 0, 1.0, np.random.default_rng(0)) is None
    assert align_to(crop, turned[1], lm, crop.shape[:2]) is not None  # without the bound it would be used
    assert align_to(crop, np.full((5, 2), 10, np.float32), lm, crop.shape[:2], MAX_ALIGN_RESIDUAL) is None  # degenerate


def test_the_training_option_sets_cross_frame_blends():
    from deepdetector.training.train import TrainConfig, sample_config

    assert sample_config(TrainConfig()).sbi.cross_frame == 0.0  # off by default: the published recipe
    assert sample_config(TrainConfig(sbi_cross_frame=0.5)).sbi.cross_frame == 0.5


def test_legacy_blends_are_the_bytes_v2_was_trained_on(face_crop):
    """``--sbi-mask legacy`` must keep making the blends deepdetector-lite0 v2 learnt from. The digest was
    computed with the code before the mask fix (commit 9e03e50~1, where the legacy masks were the only ones):
    12 seeds of ``self_blend`` on this fixture (the astronaut test photo's face found by YuNet), fake and
    real bytes. The bytes depend on OpenCV (detection, warps, blurs) and numpy's generator, which
    pyproject.toml does not pin exactly: under other versions the test says so and skips; recompute the
    digest by running this test's loop with the old commit's ``src`` on the path."""
    import hashlib

    import cv2

    from deepdetector.datasets.sbi import SBIConfig

    if (cv2.__version__, np.__version__.split(".")[0]) != ("4.14.0", "2"):
        pytest.skip(f"digest recorded with OpenCV 4.14.0 / numpy 2.x; this is OpenCV {cv2.__version__} / numpy {np.__version__}")
    crop, lm = face_crop
    assert crop.shape == (160, 160, 3)
    h = hashlib.sha256()
    for seed in range(12):
        b = self_blend(crop, lm, np.random.default_rng(seed), SBIConfig(normalise=False))
        h.update(b.fake.tobytes())
        h.update(b.real.tobytes())
    assert h.hexdigest()[:16] == "bae513ec33a5e762"
