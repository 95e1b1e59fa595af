"""Metric tables from prediction rows: subsets, borrowed references, unscored items, targets, CSV round trip."""

from __future__ import annotations

import pytest

from deepdetector.datasets.manifest import ManifestError
from deepdetector.evaluation.predictions import PredictionRow, PredictionWriter, read_predictions
from deepdetector.evaluation.summary import compute_metrics, find_reference


def row(path, label, source, kind, media, score, frames=None, verdict=None):
    if verdict is None:
        verdict = "no_face" if score is None else ("fake" if score >= 0.5 else "real")
    if frames is None:
        frames = [] if score is None else [(0, score)]
    return PredictionRow(path, label, kind, source, "", media, score, verdict, len(frames), max(len(frames), 1), 0.5, frame_scores=frames)


@pytest.fixture
def rows():
    return [
        row("f1.mp4", 1, "FaceForensics++ c23 Deepfakes", "faceswap-video", "video", 0.8, [(0, 0.7), (5, 0.9)]),
        row("f2.mp4", 1, "FaceForensics++ c23 Deepfakes", "faceswap-video", "video", 0.3, [(0, 0.2), (5, 0.4)]),
        row("r1.mp4", 0, "FaceForensics++ c23 original", "video", "video", 0.4, [(0, 0.4), (5, None)]),
        row("r2.mp4", 0, "FaceForensics++ c23 original", "video", "video", None, [(0, None)]),
        row("r3.mp4", 0, "FaceForensics++ c40 youtube", "video", "video", 0.1, [(0, 0.1), (5, 0.1)]),
        row("bad.mp4", 1, "FaceForensics++ c40 Deepfakes", "faceswap-video", "video", None, [], verdict="error"),
        row("g1.jpg", 1, "StyleGAN2", "gan-image", "image", 0.9),
        row("h1.jpg", 0, "FFHQ", "image", "image", 0.2),
    ]


def by_name(metrics, name, level=None):
    return next(s for s in metrics.subsets if s.name == name and (level is None or s.level == level))


def test_overall_counts_unscored_items_and_ranks_only_scored(rows):
    m = compute_metrics(rows, 0.5, aggregations=["mean", "max"])
    overall = by_name(m, "all items")
    assert (overall.n, overall.n_scored, overall.n_no_face, overall.n_error) == (8, 6, 1, 1)
    # scored fakes 0.8, 0.3, 0.9 vs reals 0.4, 0.1, 0.2: 8 of 9 pairs won
    assert overall.auc.value == pytest.approx(8 / 9)
    # frames: fakes .7 .9 .2 .4 .9 vs reals .4 .1 .1 .2 -> wins: .7:4 .9:4 .2:1.5 (.2 vs .1,.1 and tie .2) .4:3.5 .9:4
    assert overall.n_frame_scores == 9
    assert overall.frame_auc.value == pytest.approx((4 + 4 + 2.5 + 3.5 + 4) / 20)
    # threshold 0.5 on own scored items: TP 2 (0.8, 0.9), FN 1, TN 3
    t = overall.at_threshold
    assert (t.counts.tp, t.counts.fn, t.counts.tn, t.counts.fp) == (2, 1, 3, 0)


def test_one_class_source_is_ranked_against_its_family(rows):
    m = compute_metrics(rows, 0.5, aggregations=["mean"])
    dfk = by_name(m, "FaceForensics++ c23 Deepfakes", "source_dataset")
    assert dfk.reference == "FaceForensics++ c23 original" and dfk.n_reference == 2
    # fakes 0.8, 0.3 vs the one scored c23 real 0.4 -> 1 of 2
    assert dfk.auc.value == pytest.approx(0.5)
    # threshold metrics use the subset's own items only
    assert dfk.at_threshold.tpr == pytest.approx(0.5) and dfk.at_threshold.fpr is None
    # aggregation of frame scores: mean 0.8, 0.3 vs 0.4
    assert dfk.aggregations["mean"].value == pytest.approx(0.5)
    gan = by_name(m, "StyleGAN2")
    assert gan.reference == "all real images" and gan.auc.value == 1.0


def test_find_reference_falls_back_to_same_media(rows):
    ref, name = find_reference([rows[6]], rows)
    assert name == "all real images" and [r.path for r in ref] == ["h1.jpg"]
    ref, name = find_reference(rows[:2], rows)
    assert name == "FaceForensics++ c23 original"
    assert find_reference(rows, rows) == ([], None)  # both classes: nothing borrowed


def test_targets_met_missed_and_not_applicable(rows):
    m = compute_metrics(rows, 0.5, aggregations=[])
    t = {x.target.name: x for x in m.targets}
    assert t["FF++ c23 video AUC"].status == "missed" and t["FF++ c23 video AUC"].value == pytest.approx(0.5)
    assert t["GAN-face AUC"].status == "met"
    assert t["diffusion-face AUC"].status == "n/a"  # real images only
    assert t["FPR, all videos"].status == "met" and t["FPR, all videos"].value == 0.0
    # videos: scored fakes 0.8 (hit) 0.3 (miss); reals 0.4, 0.1 -> accuracy 3/4
    assert t["accuracy, all videos"].value == pytest.approx(0.75)
    d = m.to_dict()
    assert d["targets"][0]["goal"] == ">= 0.97"


def test_predictions_round_trip_and_resume_guard(rows, tmp_path):
    out = tmp_path / "p.csv"
    rows[0].head_scores = {"swap": 0.8, "synthetic": 0.1}
    with PredictionWriter(out, ["swap", "synthetic"]) as w:
        for r in rows:
            w.write(r)
    back = read_predictions(out)
    assert [r.path for r in back] == [r.path for r in rows]
    assert back[0].head_scores == {"swap": 0.8, "synthetic": 0.1}
    assert back[2].frame_scores == [(0, 0.4), (5, None)]
    assert back[3].score is None and back[3].verdict == "no_face"
    assert back[0].score == pytest.approx(0.8)
    with pytest.raises(ManifestError, match="--resume"):
        PredictionWriter(out, ["swap", "synthetic"])
    with pytest.raises(ManifestError, match="another model"):
        PredictionWriter(out, ["swap"], resume=True)
    with out.open("a") as fh:
        fh.write('half.mp4,fake,faceswap-video,X,,video,0.5,fake,1,1,0.1,,m,,,"[[0,0.')  # killed mid-row
    w = PredictionWriter(out, ["swap", "synthetic"], resume=True)
    assert [r.path for r in w.done] == [r.path for r in rows]  # the torn row is dropped, to be scanned again
    w.write(rows[0])
    w.close()
    assert [r.path for r in read_predictions(out)][-2:] == ["h1.jpg", "f1.mp4"]


def test_report_without_matplotlib_still_has_every_table(rows, tmp_path, monkeypatch):
    from deepdetector.evaluation import plots
    from deepdetector.evaluation.evaluate import RunInfo, write_report

    monkeypatch.setattr(plots, "matplotlib_available", lambda: False)
    metrics = compute_metrics(rows, 0.5, aggregations=["mean"])
    info = RunInfo("dev.csv", "p.csv", {"name": "m", "version": "1", "sha256": "ab" * 32}, {"threshold": 0.5}, [], 8, 8, 8, 1.0)
    page = write_report(tmp_path / "r.html", rows, metrics, info).read_text()
    assert "<img" not in page and "pip install" in page
    for heading in ("Targets", "Overall", "By kind", "By source dataset", "Items without a score (2)"):
        assert heading in page
    assert "FaceForensics++ c23 original (2)" in page  # the borrowed reference is named


def test_per_media_thresholds_judge_each_item_by_its_media_type(rows):
    from deepdetector.types import Thresholds

    th = Thresholds.of(0.5, {"video": 0.25, "image": 0.95})
    m = compute_metrics(rows, th, aggregations=[])
    # videos at 0.25: fakes 0.8, 0.3 called fake; reals 0.4 fake (false alarm), 0.1 real
    # images at 0.95: the GAN face 0.9 is missed, FFHQ 0.2 real
    t = by_name(m, "all items").at_threshold
    assert (t.counts.tp, t.counts.fn, t.counts.tn, t.counts.fp) == (2, 1, 2, 1) and t.threshold is None
    v = by_name(m, "all videos").at_threshold
    assert (v.tpr, v.fpr, v.threshold) == (1.0, 0.5, 0.25)
    assert by_name(m, "all images").at_threshold.tpr == 0.0
    assert m.to_dict()["thresholds"] == {"default": 0.5, "image": 0.95, "video": 0.25}
    # ranking metrics do not depend on thresholds
    assert by_name(m, "all items").auc.value == pytest.approx(8 / 9)
    # a single float is the same as Thresholds without media entries
    assert compute_metrics(rows, 0.5, aggregations=[]).to_dict() == compute_metrics(rows, Thresholds.of(0.5), aggregations=[]).to_dict()


def test_targets_carry_intervals_where_there_are_enough_items():
    # 10 fake and 10 real videos of FF++ c23: fakes 0.55..1.0, reals 0.0..0.40 and one real at 0.925
    rows = [row(f"f{i}.mp4", 1, "FaceForensics++ c23 Deepfakes", "faceswap-video", "video", 0.55 + 0.05 * i) for i in range(10)]
    rows += [row(f"r{i}.mp4", 0, "FaceForensics++ c23 original", "video", "video", 0.05 * i) for i in range(9)]
    rows.append(row("r9.mp4", 0, "FaceForensics++ c23 original", "video", "video", 0.925))
    m = compute_metrics(rows, 0.5, aggregations=[])
    t = {x.target.name: x for x in m.targets}
    c23 = t["FF++ c23 video AUC"]
    assert c23.value == pytest.approx(0.92)  # the 0.925 real outscores 8 of 10 fakes: 92 of 100 pairs won
    lo, hi = c23.to_dict()["ci"]
    assert lo < 0.92 < hi and hi <= 1.0
    # FPR 1 of 10 -> Wilson 0.018 .. 0.404
    assert t["FPR, all videos"].value == pytest.approx(0.1)
    assert t["FPR, all videos"].to_dict()["ci"] == pytest.approx([0.0179, 0.4042], abs=1e-4)
    assert t["GAN-face AUC"].to_dict()["ci"] is None  # no such items


def test_video_targets_ignore_stills_of_the_same_source(rows):
    """Frames saved as photos (`deepdetector frames`) keep their source's name; they must not count
    as FF++ videos in the video targets."""
    stills = [
        row("f1_0.png", 1, "frames of FaceForensics++ c23 Deepfakes", "faceswap-frame", "image", 0.05),
        row("r1_0.png", 0, "frames of FaceForensics++ c23 original", "frame", "image", 0.95),
    ]
    t = {x.target.name: x for x in compute_metrics(rows + stills, 0.5, aggregations=[]).targets}
    assert t["FF++ c23 video AUC"].value == pytest.approx(0.5)  # as without the stills (counted, they would pull it to 1/6)
