"""`deepdetector localisation`: known-mask fakes, the heatmap measures (checked by hand) and the command end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from deepdetector.cli import app
from deepdetector.evaluation.localisation import VARIANTS, Case, MapScore, centre_prior, manipulate, score_map, summarise, truth_of
from deepdetector.faces import create_detector
from tests.media_factory import blank_photo, face_photo, write_image

runner = CliRunner()


def test_a_map_equal_to_the_truth_scores_perfectly_and_its_inverse_scores_nothing():
    truth = np.zeros((10, 10), bool)
    truth[:, :5] = True  # half the region
    perfect = score_map(truth.astype(np.float32), truth, tolerance=0.0)
    assert perfect.hit and perfect.pixel_auc == 1.0 and perfect.mass_ratio == pytest.approx(2.0)  # all heat on half the area
    inverse = score_map((~truth).astype(np.float32), truth, tolerance=0.0)
    assert not inverse.hit and inverse.pixel_auc == 0.0 and inverse.mass_ratio == 0.0
    uniform = score_map(np.ones((10, 10), np.float32), truth, tolerance=0.0)
    assert uniform.pixel_auc == 0.5 and uniform.mass_ratio == pytest.approx(1.0)  # no better than no map
    cold = score_map(np.zeros((10, 10), np.float32), truth)
    assert not cold.hit and cold.mass_ratio is None  # no heat: no hit, no mass to share


def test_pointing_game_tolerance_is_a_disc_around_the_hottest_pixel():
    truth = np.zeros((50, 50), bool)
    truth[20:30, 20:30] = True
    heat = np.zeros((50, 50), np.float32)
    heat[25, 32] = 1.0  # 3 px right of the truth's edge (column 29)
    assert not score_map(heat, truth, tolerance=0.04).hit  # radius 2 px
    assert score_map(heat, truth, tolerance=0.06).hit  # radius 3 px
    corner = np.zeros((50, 50), np.float32)
    corner[32, 32] = 1.0  # 3 px off diagonally: 4.2 px away, outside a 3 px disc though inside its square
    assert not score_map(corner, truth, tolerance=0.06).hit


def test_pixel_measures_on_a_grid_match_full_resolution_for_block_maps():
    truth = np.zeros((256, 256), bool)
    truth[64:192, 64:192] = True
    heat = truth.astype(np.float32) * 0.7 + 0.1
    a, b = score_map(heat, truth), score_map(heat, truth, grid=None)
    assert a.pixel_auc == b.pixel_auc == 1.0 and a.mass_ratio == pytest.approx(b.mass_ratio, rel=1e-5)
    assert a.mass_ratio == pytest.approx((0.8 * 0.25) / (0.8 * 0.25 + 0.1 * 0.75) / 0.25, rel=1e-5)


def test_centre_prior_and_truth_threshold():
    c = centre_prior((21, 21))
    assert c[10, 10] == pytest.approx(1.0) and c[0, 0] < c[10, 5] < 1.0 and np.allclose(c, c.T)
    mask = np.array([[0.0, 0.2, 0.5], [0.1, 0.8, 1.0 / 3]], np.float32)
    assert truth_of(mask).tolist() == [[False, False, True], [False, True, False]]  # at least half the peak (0.4)
    assert not truth_of(np.zeros((3, 3), np.float32)).any()


@pytest.fixture(scope="module")
def face_and_landmarks():
    rgb = face_photo()[::2, ::2].copy()
    face = create_detector("yunet").detect(rgb)[0]
    return rgb, face.box, np.asarray(face.landmarks, np.float32)


@pytest.mark.parametrize("variant", VARIANTS)
def test_known_mask_fakes_change_nothing_outside_their_mask(face_and_landmarks, variant):
    rgb, box, lm = face_and_landmarks
    donor = (np.ascontiguousarray(rgb[:, ::-1]), lm.copy())  # a different picture of a face
    donor[1][:, 0] = rgb.shape[1] - 1 - donor[1][:, 0]
    donor = (donor[0], donor[1][[1, 0, 2, 4, 3]])
    a = manipulate(variant, rgb, box, lm, np.random.default_rng(1), donor)
    b = manipulate(variant, rgb, box, lm, np.random.default_rng(1), donor)
    assert np.array_equal(a.image, b.image)  # seeded
    outside = a.mask <= 0
    assert outside.any() and np.array_equal(a.image[outside], rgb[outside])
    truth = truth_of(a.mask)
    assert truth.any() and np.abs(a.image[truth].astype(int) - rgb[truth].astype(int)).mean() > 0.5
    if variant in ("inner", "lower"):  # part of the face: smaller than the whole-face variants
        full = manipulate("full", rgb, box, lm, np.random.default_rng(1)).mask
        assert truth.sum() < truth_of(full).sum()


def test_self_blends_follow_the_face_not_the_photo_size(face_and_landmarks):
    """A small face in a large photo gets the same blend as the face alone: the recipe runs on the
    2x square around the face, so its blur and shift do not grow with the photo."""
    from deepdetector.types import Box

    rgb, box, lm = face_and_landmarks
    canvas = np.full((1024, 1024, 3), 90, np.uint8)
    canvas[600:856, 100:356] = rgb
    off = np.array([100, 600], np.float32)
    big_box = Box(box.x1 + 100, box.y1 + 600, box.x2 + 100, box.y2 + 600)
    for seed in range(4):
        alone = truth_of(manipulate("full", rgb, box, lm, np.random.default_rng(seed)).mask)
        placed = manipulate("full", canvas, big_box, lm + off, np.random.default_rng(seed))
        t = truth_of(placed.mask)
        assert 0.85 < t.sum() / alone.sum() < 1.15  # the same blend up to resampling of the placed square
        assert not t[:500].any() and not t[:, 500:].any()  # nowhere near the rest of the photo
        assert np.array_equal(placed.image[placed.mask <= 0], canvas[placed.mask <= 0])


def test_summary_reads_detection_and_localisation_per_variant():
    good = MapScore(True, 0.9, 2.0)
    bad = MapScore(False, 0.4, 0.8)
    cases = [
        Case("a", "full", 0.2, 0.9, True, True, 0.3, good, {"centre": bad, "face": good}, 0.6, 0.1, {"swap": 0.2}, {"swap": 0.9}),
        Case("b", "full", 0.3, 0.1, False, True, 0.3, bad, {"centre": bad, "face": good}, 0.1, 0.2, {"swap": 0.3}, {"swap": 0.1}),
        Case("c", "full", 0.4, None, False, False),  # the scan of this fake found no face
    ]
    row = summarise(cases)["full"]
    assert row["fakes"] == 3 and row["faces_found"] == 2
    # fakes 0.9 and 0.1 against reals 0.2, 0.3, 0.4 (the fake without a face has no score): 3 of 6 pairs
    assert row["detection_auc"]["value"] == pytest.approx(0.5) and row["detection_auc"]["n_fake"] == 2
    assert row["flagged"]["k"] == 1 and row["flagged"]["n"] == 3
    assert row["maps"]["heatmap"]["pointing"]["value"] == 0.5 and row["maps"]["heatmap"]["pixel_auc"] == pytest.approx(0.65)
    assert row["maps"]["face"]["pointing"]["value"] == 1.0 and row["maps"]["centre"]["mass_ratio"] == pytest.approx(0.8)
    # fake heat 0.6, 0.1 against real heat 0.1, 0.2: 0.6 wins twice, 0.1 ties once (half) and loses once: 2.5 of 4
    assert row["heat_on_truth_auc"]["value"] == pytest.approx(0.625)
    assert row["head_auc"]["swap"]["n_fake"] == 2


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("locset")
    face = face_photo()[::2, ::2]
    write_image(root / "a.png", face)
    write_image(root / "b.png", np.ascontiguousarray(face[:, ::-1]))
    write_image(root / "fake.png", face)
    write_image(root / "blank.png", blank_photo(120, 160))
    (root / "broken.jpg").write_bytes(b"not an image")
    with open(root / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "kind"])
        for name, label in [("a.png", "real"), ("b.png", "real"), ("fake.png", "fake"), ("blank.png", "real"), ("broken.jpg", "real")]:
            w.writerow([name, label, "image"])
    with open(root / "fakes.csv", "w", newline="") as fh:
        fh.write("path,label\nfake.png,fake\n")
    return root


def test_localisation_command_measures_every_variant_and_lists_what_it_skipped(photos, tiny_model_dir, tmp_path):
    out = tmp_path / "loc"
    res = runner.invoke(app, ["localisation", str(photos / "manifest.csv"), "--model", str(tiny_model_dir), "-o", str(out), "--examples", "1"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "localisation.json").read_text())
    assert data["info"]["photos"] == 2  # the fake is not used; blank and broken skipped
    skipped = {s["path"]: s["reason"] for s in data["skipped"]}
    assert set(skipped) == {"blank.png", "broken.jpg", "a.png"} and "no face" in skipped["blank.png"]
    # one fake per photo and variant, except the first photo's swap (no donor yet)
    assert sorted((c["path"], c["variant"]) for c in data["cases"]) == sorted(
        [(p, v) for p in ("a.png", "b.png") for v in VARIANTS if not (p == "a.png" and v == "swap")]
    )
    assert data["info"]["skipped"] == 3 and "no earlier photo" in skipped["a.png"]
    assert set(data["summary"]) == set(VARIANTS)
    for row in data["summary"].values():
        assert set(row["maps"]) == {"heatmap", "original", "centre", "face"}
        assert row["faces_found"] == row["fakes"]  # every fake's face was found and measured
        assert row["maps"]["heatmap"]["pointing"]["n"] == row["fakes"] and row["maps"]["heatmap"]["pixel_auc"] is not None
    assert (out / "examples.png").is_file()
    assert "skipped broken.jpg" in res.output and res.exception is None


def test_localisation_refuses_a_selection_without_real_photos_and_unknown_variants(photos, tiny_model_dir, tmp_path):
    res = runner.invoke(app, ["localisation", str(photos / "fakes.csv"), "--model", str(tiny_model_dir), "-o", str(tmp_path / "x")])
    assert res.exit_code == 1 and "no real photo" in res.output and not (tmp_path / "x").exists()
    res = runner.invoke(app, ["localisation", str(photos / "manifest.csv"), "--variants", "full,fog", "-o", str(tmp_path / "y")])
    assert res.exit_code == 1 and "unknown variant fog" in res.output and isinstance(res.exception, SystemExit)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--variants", ","], "unknown variant"),
        (["--limit", "-1"], "--limit"),
        (["--examples", "-1"], "--examples"),
        (["--seed", "-1"], "--seed"),
        (["--detector", "haar"], "gives no landmarks"),
        (["--detector", "nope"], "nope"),
    ],
)
def test_localisation_bad_options_give_one_clear_error(photos, tiny_model_dir, tmp_path, args, message):
    res = runner.invoke(app, ["localisation", str(photos / "manifest.csv"), "--model", str(tiny_model_dir), "-o", str(tmp_path / "o"), *args])
    assert res.exit_code != 0 and message in res.output and isinstance(res.exception, SystemExit)
    assert not (tmp_path / "o").exists()


def test_localisation_refuses_an_output_that_is_a_file_before_scanning(photos, tiny_model_dir, tmp_path):
    (tmp_path / "taken").write_text("x")
    res = runner.invoke(app, ["localisation", str(photos / "manifest.csv"), "--model", str(tiny_model_dir), "-o", str(tmp_path / "taken")])
    assert res.exit_code == 1 and "is a file" in res.output


def test_two_face_photos_are_judged_by_the_manipulated_face_and_failed_fake_scans_are_skipped(tiny_model_dir, tmp_path, monkeypatch):
    """A second, untouched face must not lend its score to the real or the fake; a fake whose scan
    fails is listed as skipped, not counted as a missed fake."""
    import cv2

    from deepdetector.api import Detector
    from deepdetector.config import ScanConfig
    from deepdetector.datasets.manifest import ManifestItem
    from deepdetector.evaluation import localisation as L
    from deepdetector.types import FileResult, Verdict

    face = face_photo()
    small = cv2.resize(np.clip(face.astype(np.float32) * 1.35, 0, 255).astype(np.uint8), (300, 300))  # brighter: the tiny model scores it higher
    pic = np.zeros((512, 900, 3), np.uint8)
    pic[:, :512] = face
    pic[100:400, 560:860] = small
    path = write_image(tmp_path / "two.png", pic)
    det = Detector(L.study_config(ScanConfig(model_path=tiny_model_dir)))
    whole = det.scan(path)
    assert len(whole.faces) == 2
    item = ManifestItem("two.png", Path(path), 0, "image")
    cases, skipped, _ = L.run_study(det, [item], ["full", "lower"])
    large = max(whole.faces, key=lambda f: f.box.width)
    assert all(c.real_score == pytest.approx(large.probability) for c in cases)
    assert whole.probability > large.probability  # the file's score is the brighter small face's, not used here

    calls = {"n": 0}
    real_scan = Detector.scan

    def flaky(self, p, frame_transform=None, on_progress=None):
        if isinstance(frame_transform, L._Capture) and frame_transform.replacement is not None:
            calls["n"] += 1
            if calls["n"] == 1:
                return FileResult(path=str(p), verdict=Verdict.ERROR, error="decoder hiccup")
        return real_scan(self, p, frame_transform, on_progress)

    monkeypatch.setattr(Detector, "scan", flaky)
    cases, skipped, _ = L.run_study(det, [item], ["full", "lower"])
    assert [c.variant for c in cases] == ["lower"] and [s.reason for s in skipped] == ["full fake: decoder hiccup"]


def test_a_photos_self_blends_do_not_depend_on_the_rest_of_the_sample(photos, tiny_model_dir):
    from deepdetector.api import Detector
    from deepdetector.config import ScanConfig
    from deepdetector.datasets.manifest import read_manifest
    from deepdetector.evaluation import localisation as L

    det = Detector(L.study_config(ScanConfig(model_path=tiny_model_dir)))
    items = {it.path: it for it in read_manifest(photos / "manifest.csv")}
    alone, _, _ = L.run_study(det, [items["b.png"]], ["inner"])
    after, _, _ = L.run_study(det, [items["a.png"], items["b.png"]], ["lower", "inner"])
    got = [c for c in after if c.path == "b.png" and c.variant == "inner"][0]
    assert got.fake_score == alone[0].fake_score and got.truth_share == alone[0].truth_share


def test_when_nothing_can_be_measured_the_error_says_why(photos, tiny_model_dir, tmp_path):
    one = tmp_path / "one.csv"
    one.write_text(f"path,label\n{photos / 'a.png'},real\n{photos / 'blank.png'},real\n")
    res = runner.invoke(app, ["localisation", str(one), "--model", str(tiny_model_dir), "--variants", "swap", "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)
    # one photo with a face cannot donate to itself, the other has none: both reasons are named
    assert "no earlier photo of another group" in res.output and "no face" in res.output
    assert not (tmp_path / "o").exists()


def test_photos_over_the_pixel_limit_are_studied_shrunk_originals_and_fakes_alike(photos, tiny_model_dir, monkeypatch):
    """A huge photo must not cost a gigabyte per fake: over ``max_pixels`` the frame is shrunk before
    any fake is made, and the scanner sees the shrunk original and fakes (never a mix of sizes)."""
    from deepdetector.api import Detector
    from deepdetector.config import ScanConfig
    from deepdetector.datasets.manifest import read_manifest
    from deepdetector.evaluation import localisation as L

    big = np.zeros((300, 500, 3), np.uint8)
    assert L.shrink_to(big, 10**6) is big  # small enough: untouched
    small = L.shrink_to(big, 60_000)
    assert small.shape[0] * small.shape[1] <= 60_000 and abs(small.shape[1] / small.shape[0] - 5 / 3) < 0.02

    det = Detector(L.study_config(ScanConfig(model_path=tiny_model_dir)))
    item = {it.path: it for it in read_manifest(photos / "manifest.csv")}["a.png"]  # 256 x 256
    seen = []
    real_scan = Detector.scan

    def spy(self, p, frame_transform=None, on_progress=None):
        def t(img):
            out = frame_transform(img)
            seen.append(out.shape[:2])
            return out

        return real_scan(self, p, t if frame_transform is not None else None, on_progress)

    monkeypatch.setattr(Detector, "scan", spy)
    cases, skipped, _ = L.run_study(det, [item], ["full", "lower"], max_pixels=200 * 200)
    assert len(seen) == 3 and len(set(seen)) == 1 and seen[0][0] * seen[0][1] <= 200 * 200  # the original, then two fakes
    assert [c.variant for c in cases] == ["full", "lower"] and all(c.face_found for c in cases), skipped
    seen.clear()
    L.run_study(det, [item], ["full"])  # the default limit (16 MP) leaves it as decoded
    assert seen == [(256, 256), (256, 256)]


def test_a_swap_whose_donor_cannot_be_aligned_is_an_error_the_study_skips(face_and_landmarks):
    from deepdetector.evaluation import localisation as L

    image, box, lm = face_and_landmarks
    with pytest.raises(L.LocalisationError, match="aligned"):
        L.face_swap(image, lm, image, np.full((5, 2), 10, np.float32))
    ok = L.face_swap(image, lm, image[:, ::-1].copy(), np.asarray(lm, np.float32))
    assert ok.image.shape == image.shape and ok.mask.max() > 0


def test_a_fake_that_cannot_be_made_is_skipped_and_the_others_measured(photos, tiny_model_dir, monkeypatch):
    from deepdetector.api import Detector
    from deepdetector.config import ScanConfig
    from deepdetector.datasets.manifest import read_manifest
    from deepdetector.evaluation import localisation as L

    det = Detector(L.study_config(ScanConfig(model_path=tiny_model_dir)))
    items = {it.path: it for it in read_manifest(photos / "manifest.csv")}
    real_manipulate = L.manipulate

    def fails_for_swaps(variant, *args, **kwargs):
        if variant == "swap":
            raise L.LocalisationError("the donor's landmarks cannot be aligned onto this face")
        return real_manipulate(variant, *args, **kwargs)

    monkeypatch.setattr(L, "manipulate", fails_for_swaps)
    cases, skipped, _ = L.run_study(det, [items["a.png"], items["b.png"]], ["lower", "swap"])
    assert [(c.path, c.variant) for c in cases] == [("a.png", "lower"), ("b.png", "lower")]
    assert any(s.path == "b.png" and s.reason == "swap fake: the donor's landmarks cannot be aligned onto this face" for s in skipped)
