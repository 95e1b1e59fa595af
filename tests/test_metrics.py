"""Evaluation metrics against values computed by hand on small fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepdetector import metrics as M

# The classic 4-item example: fakes score 0.35 and 0.8, reals 0.1 and 0.4.
Y4 = [0, 0, 1, 1]
S4 = [0.1, 0.4, 0.35, 0.8]


def test_auc_counts_pairs():
    # pairs (fake, real): (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) -> 3 of 4
    assert M.roc_auc(Y4, S4).value == pytest.approx(0.75)


def test_auc_ties_count_half():
    # fakes {0.5, 0.5, 0.9}, real {0.5}: two ties (0.5 each) and one win -> 2/3
    assert M.roc_auc([0, 1, 1, 1], [0.5, 0.5, 0.5, 0.9]).value == pytest.approx(2 / 3)
    # everything tied: chance
    assert M.roc_auc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]).value == pytest.approx(0.5)
    # perfectly inverted ranking
    assert M.roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]).value == pytest.approx(0.0)


def test_auc_matches_brute_force_pair_count_with_many_ties():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300), 1)  # 11 distinct values: lots of ties
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert M.roc_auc(y, s).value == pytest.approx(wins / (len(pos) * len(neg)))


def test_rankdata_averages_ties():
    np.testing.assert_allclose(M.rankdata(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1.0, 3.5, 2.0])


def test_one_class_is_undefined_not_a_crash():
    auc = M.roc_auc([1, 1], [0.2, 0.9])
    assert auc.value is None and "only fake" in auc.reason
    assert math.isnan(float(auc))
    assert M.average_precision([0, 0], [0.1, 0.2]).reason.startswith("only real")
    eer = M.equal_error_rate([], [])
    assert eer.value is None and eer.reason == "no scored items"
    assert M.roc_curve([1], [0.3]).fpr.size == 0
    t = M.threshold_metrics([1, 1, 1], [0.9, 0.2, 0.7], 0.5)
    assert t.tpr == pytest.approx(2 / 3) and t.fpr is None and "fpr" in t.reasons


def test_roc_curve_points():
    c = M.roc_curve(Y4, S4)
    np.testing.assert_allclose(c.fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(c.tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(c.thresholds[1:], [0.8, 0.4, 0.35, 0.1])
    # tied scores make a single (diagonal) step
    c2 = M.roc_curve([0, 1, 1], [0.5, 0.5, 0.9])
    np.testing.assert_allclose(c2.fpr, [0, 0, 1])
    np.testing.assert_allclose(c2.tpr, [0, 0.5, 1])


def test_eer_exact_and_interpolated():
    # ROC of Y4: at threshold 0.4 FPR = FNR = 0.5
    e = M.equal_error_rate(Y4, S4)
    assert e.value == pytest.approx(0.5) and e.threshold == pytest.approx(0.4)
    # fakes 0.6, 0.9; reals 0.2, 0.7, 0.8 -> ROC (0,0) (0,.5)@.9 (1/3,.5)@.8 (2/3,.5)@.7 (2/3,1)@.6 (1,1)@.2
    # FNR-FPR: 1, .5, 1/6, -1/6 -> crossing halfway between (1/3, .5) and (2/3, .5): EER = 0.5
    e2 = M.equal_error_rate([1, 1, 0, 0, 0], [0.6, 0.9, 0.2, 0.7, 0.8])
    assert e2.value == pytest.approx(0.5) and e2.threshold == pytest.approx(0.7)
    # perfect separation
    assert M.equal_error_rate([0, 1], [0.1, 0.9]).value == pytest.approx(0.0)


def test_average_precision_by_hand():
    # ranking 0.8(F) 0.4(R) 0.35(F) 0.1(R): recall steps at P=1 and P=2/3 -> 0.5*1 + 0.5*2/3
    assert M.average_precision(Y4, S4).value == pytest.approx(0.5 + 0.5 * 2 / 3)
    # a tie between a fake and a real at the top: one step with precision 1/2
    assert M.average_precision([1, 0], [0.5, 0.5]).value == pytest.approx(0.5)


def test_log_loss_by_hand_and_clipping():
    expected = -(math.log(0.9) + math.log(1 - 0.2)) / 2
    assert M.log_loss([1, 0], [0.9, 0.2]).value == pytest.approx(expected)
    # a certain mistake is clipped at eps instead of infinity
    assert M.log_loss([1], [0.0]).value == pytest.approx(-math.log(M.LOG_LOSS_EPS))
    assert M.log_loss([1], [0.0], eps=1e-3).value == pytest.approx(-math.log(1e-3))


def test_threshold_metrics_by_hand():
    # threshold 0.4 (>=): called fake 0.4(R), 0.8(F); 0.35(F) missed
    t = M.threshold_metrics(Y4, S4, 0.4)
    assert (t.counts.tp, t.counts.fp, t.counts.tn, t.counts.fn) == (1, 1, 1, 1)
    assert t.accuracy == pytest.approx(0.5) and t.tpr == pytest.approx(0.5) and t.fpr == pytest.approx(0.5)
    assert t.precision == pytest.approx(0.5)
    t2 = M.threshold_metrics(Y4, S4, 0.3)
    assert t2.tpr == 1.0 and t2.fpr == pytest.approx(0.5) and t2.accuracy == pytest.approx(0.75)
    nothing = M.threshold_metrics(Y4, S4, 0.99)
    assert nothing.precision is None and nothing.tnr == 1.0


def test_calibration_bins_and_ece():
    c = M.calibration_bins(Y4, S4, n_bins=4)
    np.testing.assert_array_equal(c.count, [1, 2, 0, 1])
    np.testing.assert_allclose(c.fraction_fake[[0, 1, 3]], [0, 0.5, 1])
    assert math.isnan(c.mean_score[2])
    # |0-0.1|*1 + |0.5-0.375|*2 + |1-0.8|*1, over 4
    assert c.ece == pytest.approx((0.1 + 0.25 + 0.2) / 4)
    # a score of exactly 1.0 lands in the last bin
    assert M.calibration_bins([1], [1.0], n_bins=4).count[-1] == 1


def test_binary_metrics_dict_is_json_ready():
    d = M.binary_metrics([1, 1], [0.9, 0.3], 0.5).to_dict()
    assert d["auc"] is None and d["reasons"]["auc"].startswith("only fake")
    assert d["tpr"] == 0.5 and d["counts"] == {"tp": 1, "fp": 0, "tn": 0, "fn": 1}


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        M.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        M.roc_auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError):
        M.roc_auc([0, 1, 1], [0.1, 0.2])


def test_aggregate_frame_scores_skips_faceless_frames():
    assert M.aggregate_frame_scores([0.2, None, 0.4], "mean") == pytest.approx(0.3)
    assert M.aggregate_frame_scores([0.2, None, 0.4], "max") == pytest.approx(0.4)
    assert M.aggregate_frame_scores([None, None], "mean") is None


# --- bootstrap intervals ---------------------------------------------------------------------


def _binormal(n_fake: int, n_real: int, d: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_fake), np.zeros(n_real)].astype(int)
    return y, rng.normal(size=y.size) + d * y


def _hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    return math.sqrt((auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg))


def test_auc_interval_brackets_the_auc_with_the_textbook_width():
    y, s = _binormal(200, 150, 1.2, seed=3)
    auc = M.roc_auc(y, s).value
    iv = M.auc_interval(y, s)
    assert iv.low < auc < iv.high
    # Hanley & McNeil (1982): 95% half-width ~ 1.96 SE
    assert (iv.high - iv.low) / 2 == pytest.approx(1.96 * _hanley_mcneil_se(auc, 200, 150), rel=0.2)
    assert M.auc_interval(y, s) == iv  # seeded
    # the same data, ten times fewer items: a wider interval
    y10, s10 = _binormal(20, 15, 1.2, seed=3)
    iv10 = M.auc_interval(y10, s10)
    assert iv10.high - iv10.low > 2.5 * (iv.high - iv.low)


def test_auc_interval_of_separated_and_one_class_sets():
    y = [0] * 5 + [1] * 5
    assert M.auc_interval(y, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]).to_list() == [1.0, 1.0]
    few = M.auc_interval([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])  # AUC 1.0, but 2 + 2 items say little
    assert few.to_list() is None and "too few" in few.reason
    one = M.auc_interval([1, 1, 1], [0.2, 0.5, 0.9])
    assert one.low is None and one.to_list() is None and one.reason


def test_weighted_auc_equals_the_auc_of_the_repeated_items():
    rng = np.random.default_rng(11)
    pos = np.round(rng.random(7), 1)  # rounded: ties between and within classes
    neg = np.round(rng.random(9), 1)
    w_pos = rng.integers(0, 4, size=(5, 7)).astype(float)
    w_neg = rng.integers(0, 4, size=(5, 9)).astype(float)
    w_pos[:, 0] += 1
    w_neg[:, 0] += 1  # every row keeps both classes
    got = M.weighted_auc(pos, neg, w_pos, w_neg)
    for b in range(5):
        s = np.r_[np.repeat(pos, w_pos[b].astype(int)), np.repeat(neg, w_neg[b].astype(int))]
        y = np.r_[np.ones(int(w_pos[b].sum())), np.zeros(int(w_neg[b].sum()))].astype(int)
        assert got[b] == pytest.approx(M.roc_auc(y, s).value)


def test_interval_of_a_large_set_is_narrow_and_computed_in_chunks(monkeypatch):
    y, s = _binormal(20_000, 30_000, 1.0, seed=2)
    monkeypatch.setattr(M, "_BOOTSTRAP_CHUNK_CELLS", 1_000_000)  # 20 resamples at a time
    iv = M.auc_interval(y, s, n_boot=200)
    auc = M.roc_auc(y, s).value
    assert iv.low < auc < iv.high and iv.high - iv.low < 0.02


def test_paired_auc_difference_tells_noise_from_a_real_gap():
    y, s = _binormal(150, 150, 1.0, seed=7)
    same = M.auc_difference(y, s, s)
    assert same.delta == 0 and same.interval.to_list() == [0.0, 0.0] and not same.differs and same.p_value == 1.0
    # B = A plus heavy noise: clearly worse ranking on 300 items
    worse = s + np.random.default_rng(8).normal(scale=3.0, size=s.size)
    gap = M.auc_difference(y, s, worse)
    assert gap.delta == pytest.approx(M.roc_auc(y, s).value - M.roc_auc(y, worse).value)
    assert gap.differs and gap.interval.low > 0 and gap.p_value < 0.01
    # the 4-item example against a slightly different ranking: 0.75 vs 0.5, far from evidence
    small = M.auc_difference(Y4, S4, [0.1, 0.4, 0.3, 0.35])
    assert small.auc_a == pytest.approx(0.75) and small.auc_b == pytest.approx(0.5) and small.delta == pytest.approx(0.25)
    assert not small.differs and small.interval.to_list() is None and "too few" in small.reason
    # one fake against 21 reals: an AUC is its rank, and resampling it says nothing
    one = M.auc_difference([1] + [0] * 21, [0.9] + [0.5] * 21, [0.1] + [0.5] * 21)
    assert one.delta == pytest.approx(1.0) and not one.differs
    assert M.auc_difference([1, 1], [0.1, 0.2], [0.3, 0.4]).reason
    with pytest.raises(ValueError):
        M.auc_difference(Y4, S4, S4[:3])


def test_rate_interval_is_wilsons():
    # Wilson 95% for 8 of 10: 0.4902 .. 0.9433 (textbook value)
    iv = M.rate_interval(8, 10)
    assert iv.low == pytest.approx(0.4902, abs=1e-4) and iv.high == pytest.approx(0.9433, abs=1e-4)
    assert M.rate_interval(0, 20).low == 0.0 and M.rate_interval(20, 20).high == 1.0
    assert M.rate_interval(0, 0).to_list() is None
    with pytest.raises(ValueError):
        M.rate_interval(5, 3)
