"""`deepdetector localisation`: known-mask fakes, the heatmap measures (checked by hand) and the command end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from deepdetector.cli import app
from deepdetector.evaluation.localisation import VARIANTS, centre_prior, manipulate, score_map, summarise, truth_of, Case, MapScore
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
    return rgb, np.asarray(face.landmarks, np.float32)


@pytest.mark.parametrize("variant", VARIANTS)
def test_known_mask_fakes_change_nothing_outside_their_mask(face_and_landmarks, variant):
    rgb, lm = face_and_landmarks
    donor = (np.ascontiguousarray(rgb[:, ::-1]), lm.copy())  # a different picture of a face
    donor[1][:, 0] = rgb.shape[1] - 1 - donor[1][:, 0]
    donor = (donor[0], donor[1][[1, 0, 2, 4, 3]])
    a = manipulate(variant, rgb, lm, np.random.default_rng(1), donor)
    b = manipulate(variant, rgb, lm, np.random.default_rng(1), donor)
    assert np.array_equal(a.image, b.image)  # seeded
    outside = a.mask <= 0
    assert outside.any() and np.array_equal(a.image[outside], rgb[outside])
    truth = truth_of(a.mask)
    assert truth.any() and np.abs(a.image[truth].astype(int) - rgb[truth].astype(int)).mean() > 0.5
    if variant in ("inner", "lower"):  # part of the face: smaller than the whole-face variants
        full = manipulate("full", rgb, lm, np.random.default_rng(1)).mask
        assert truth.sum() < truth_of(full).sum()


def test_summary_reads_detection_and_localisation_per_variant():
    good = MapScore(True, 0.9, 2.0)
    bad = MapScore(False, 0.4, 0.8)
    cases = [
        Case("a", "full", 0.2, 0.9, True, True, 0.3, good, {"centre": bad, "face": good}, 0.6, 0.1, {"swap": 0.2}, {"swap": 0.9}),
        Case("b", "full", 0.3, 0.1, False, True, 0.3, bad, {"centre": bad, "face": good}, 0.1, 0.2, {"swap": 0.3}, {"swap": 0.1}),
        Case("c", "full", 0.4, None, False, False),  # the scan of this fake found no face
    ]
    row = summarise(cases, 0.5)["full"]
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
    assert data["info"]["photos"] == 2 and data["info"]["photos_skipped"] == 2  # the fake is not used; blank and broken skipped
    skipped = {s["path"]: s["reason"] for s in data["skipped"]}
    assert set(skipped) == {"blank.png", "broken.jpg"} and "no face" in skipped["blank.png"]
    # one fake per photo and variant, except the first photo's swap (no donor yet)
    assert sorted((c["path"], c["variant"]) for c in data["cases"]) == sorted(
        [(p, v) for p in ("a.png", "b.png") for v in VARIANTS if not (p == "a.png" and v == "swap")])
    assert set(data["summary"]) == set(VARIANTS)
    for row in data["summary"].values():
        assert set(row["maps"]) == {"heatmap", "centre", "face"}
    assert (out / "examples.png").is_file()
    assert "skipped broken.jpg" in res.output and "Traceback" not in res.output


def test_localisation_refuses_a_selection_without_real_photos_and_unknown_variants(photos, tiny_model_dir, tmp_path):
    res = runner.invoke(app, ["localisation", str(photos / "fakes.csv"), "--model", str(tiny_model_dir), "-o", str(tmp_path / "x")])
    assert res.exit_code == 1 and "no real photo" in res.output and not (tmp_path / "x").exists()
    res = runner.invoke(app, ["localisation", str(photos / "manifest.csv"), "--variants", "full,fog", "-o", str(tmp_path / "y")])
    assert res.exit_code == 1 and "unknown variant fog" in res.output and "Traceback" not in res.output
