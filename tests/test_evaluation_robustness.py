"""Robustness building blocks: frame transforms, experiment levels, per-level metrics, the cache."""

from __future__ import annotations

import numpy as np
import pytest

from deepdetector.errors import ConfigError
from deepdetector.evaluation.robustness import Record, ResultCache, build_experiments, choose, level_result
from deepdetector.media import perturb

IMG = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)


def test_brightness_saturates():
    out = perturb.Brightness(2.0)(np.array([[[10, 100, 200]]], np.uint8))
    assert out.tolist() == [[[20, 200, 255]]]
    np.testing.assert_array_equal(perturb.Brightness(1.0)(IMG), IMG)


def test_resolution_keeps_size_and_loses_detail():
    out = perturb.Resolution(0.25)(IMG)
    assert out.shape == IMG.shape and out.dtype == np.uint8
    assert out.astype(float).std() < IMG.astype(float).std() * 0.7  # noise averaged away


def test_rotation_keeps_size_and_blackens_corners():
    out = perturb.Rotation(30)(IMG)
    assert out.shape == IMG.shape
    assert out[0, 0].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(perturb.Rotation(0)(IMG), IMG)


def test_scale_shrinks_into_canvas_or_zooms():
    small = perturb.Scale(0.5)(IMG)
    assert small.shape == IMG.shape
    assert small[:10].max() == 0 and small[:, :15].max() == 0  # black canvas around
    assert small[15:45, 20:60].any()
    flat = np.zeros((40, 40, 3), np.uint8)
    flat[10:30, 10:30] = 255  # a 20 px square in the middle
    zoom = perturb.Scale(2.0)(flat)
    assert zoom.shape == flat.shape and zoom.min() == 255  # the square now fills the frame


def test_size_stores_the_same_picture_with_more_or_fewer_pixels():
    assert perturb.Size(2.0)(IMG).shape == (IMG.shape[0] * 2, IMG.shape[1] * 2, 3)
    half = perturb.Size(0.5)(IMG)
    assert half.shape == (IMG.shape[0] // 2, IMG.shape[1] // 2, 3)
    # the same picture: a smooth one, halved and doubled again, is close to the original
    y, x = np.mgrid[0:60, 0:80]
    smooth = np.repeat((x * 3 + y)[..., None], 3, axis=2).astype(np.uint8)
    back = perturb.Size(2.0)(perturb.Size(0.5)(smooth))
    assert back.shape == smooth.shape and np.abs(back.astype(int) - smooth.astype(int)).mean() < 3
    assert perturb.Size(1.0)(IMG) is IMG


def test_jpeg_changes_pixels_but_stays_close():
    smooth = np.tile(np.linspace(0, 255, 80, dtype=np.uint8)[None, :, None], (60, 1, 3))
    q30 = perturb.JpegQuality(30)(smooth)
    assert q30.shape == smooth.shape
    diff = np.abs(q30.astype(int) - smooth.astype(int))
    assert 0 < diff.mean() < 10


def test_levels_parse_and_mark_the_baseline():
    exps = build_experiments("yunet", 1.6, ["haar", "yunet"])
    res = exps["resolution"].levels(["1", "1/4"])
    assert [lv.is_baseline for lv in res] == [True, False]
    assert res[1].transform == perturb.Resolution(0.25) and res[1].label == "1/4"
    assert [lv.is_baseline for lv in exps["margin"].levels()] == [False, False, True, False, False]
    det = exps["detector"].levels()
    assert [(lv.key, lv.overrides, lv.is_baseline) for lv in det] == [
        ("haar", (("detector", "haar"),), False),
        ("yunet", (("detector", "yunet"),), True),
    ]
    assert exps["jpeg"].levels(["original", "30"])[1].transform == perturb.JpegQuality(30)
    with pytest.raises(ConfigError, match="not a level of the jpeg"):
        exps["jpeg"].levels(["300"])
    with pytest.raises(ConfigError, match="not a level of the detector"):
        exps["detector"].levels(["mtcnn"])


def test_choose_validates_names_and_levels():
    exps = build_experiments("yunet", 1.6, ["yunet"])
    assert [e.name for e, _ in choose(exps, None, None)] == ["brightness", "detector", "margin", "resolution", "size", "rotation", "scale", "jpeg"]
    with pytest.raises(ConfigError, match="exactly one"):
        choose(exps, ["brightness", "jpeg"], ["0.5"])
    with pytest.raises(ConfigError, match="unknown experiment"):
        choose(exps, ["fog"], None)


def rec(path, label, score, verdict=None):
    return Record(path, label, "image", score, verdict or ("no_face" if score is None else "real"), 0 if score is None else 1, 0.1)


def test_level_result_by_hand():
    baseline = {r.path: r for r in [rec("a", 1, 0.9), rec("b", 1, 0.6), rec("c", 0, 0.2), rec("d", 0, 0.3)]}
    level = build_experiments("yunet", 1.6, ["yunet"])["brightness"].levels(["0.5"])[0]
    records = [rec("a", 1, 0.7), rec("b", 1, None), rec("c", 0, 0.4), rec("d", 0, 0.1)]
    lv = level_result(level, records, baseline, threshold=0.5)
    assert (lv.n, lv.n_scored, lv.n_no_face, lv.n_paired) == (4, 3, 1, 3)
    # changes: a -0.2, c +0.2, d -0.2
    assert lv.mean_abs_change == pytest.approx(0.2)
    assert lv.mean_change == pytest.approx(-0.2 / 3)
    assert lv.auc.value == 1.0  # 0.7 vs 0.4 and 0.1
    assert lv.at_threshold.tpr == 1.0 and lv.at_threshold.fpr == 0.0
    # paired on a, c, d: level 0.7 vs 0.4, 0.1 -> 1.0; baseline 0.9 vs 0.2, 0.3 -> 1.0; too few for an interval
    assert lv.auc_change.delta == 0.0 and lv.auc_change.interval.to_list() is None and lv.auc_change_text == "+0.000"


def test_level_auc_change_is_paired_and_flags_a_real_drop():
    rng = np.random.default_rng(0)
    base, lvl = [], []
    for i in range(60):
        label = i % 2
        b = float(np.clip(0.5 + (0.3 if label else -0.3) + rng.normal(0, 0.1), 0, 1))
        base.append(rec(f"x{i}", label, b))
        lvl.append(rec(f"x{i}", label, float(rng.random())))  # the perturbation destroys the ranking
    level = build_experiments("yunet", 1.6, ["yunet"])["brightness"].levels(["0.5"])[0]
    lv = level_result(level, lvl, {r.path: r for r in base}, threshold=0.5)
    d = lv.auc_change
    assert d.delta < -0.3 and d.differs and lv.auc_change_text.endswith("*")
    assert lv.to_dict()["auc_change_differs"] is True and lv.to_dict()["auc_change_ci"][1] < 0


def test_cache_ignores_other_fingerprints_and_torn_lines(tmp_path):
    cache = ResultCache(tmp_path, "fp1")
    cache.add("jpeg", "30", rec("a", 1, 0.5))
    with (tmp_path / "jpeg.jsonl").open("a") as fh:
        fh.write('{"fp": "fp1", "level": "30", "pa')  # cut short by an interruption
    other = ResultCache(tmp_path, "fp2")
    assert other.load("jpeg") == {} and other.ignored == 1
    resumed = ResultCache(tmp_path, "fp1")
    assert list(resumed.load("jpeg")) == [("30", "a")] and resumed.load("jpeg")[("30", "a")].score == 0.5
    resumed.add("jpeg", "30", rec("b", 0, 0.25))  # written on a line of its own after the torn one
    assert sorted(ResultCache(tmp_path, "fp1").load("jpeg")) == [("30", "a"), ("30", "b")]
