"""The video fusion: how it is applied at scan time, fitted with sources left out, and refused when broken."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from deepdetector.errors import ModelError
from deepdetector.evidence.cues import CUES, Cue
from deepdetector.evidence.fusion import FACE_INPUT, FusionModel
from deepdetector.training import fusion as fu


def model(**changes) -> FusionModel:
    base = dict(inputs=[FACE_INPUT, "expression_motion", "head_speed"], mean=[0.0, -4.0, 15.0], scale=[1.0, 0.5, 5.0],
                coef=[1.0, -2.0, 0.5], intercept=-0.5, threshold=0.6,
                real_ranges={"expression_motion": [0.01, 0.04], "head_speed": [8.0, 36.0]}, log_inputs=["expression_motion"])  # fmt: skip
    base.update(changes)
    return FusionModel(**base)


def cues(**values) -> list[Cue]:
    return [Cue(name, values.get(name), "", "") for name in CUES.names()]


def test_the_fused_probability_is_the_sum_of_the_effects_and_missing_cues_count_nothing():
    m = model()
    p, evidence = m.apply(0.7, cues(expression_motion=0.005, head_speed=None))
    by = {c.name: c for c in evidence}
    assert evidence[0].name == FACE_INPUT and evidence[0].value == 0.7
    logit = math.log(0.7 / 0.3)
    expr = -2.0 * (math.log(0.005 + 1e-4) + 4.0) / 0.5
    assert by[FACE_INPUT].effect == pytest.approx(logit)
    assert by["expression_motion"].effect == pytest.approx(expr)
    assert by["head_speed"].effect is None  # not measured: it moved nothing, and no zero is shown
    assert p == pytest.approx(1 / (1 + math.exp(-(-0.5 + logit + expr))))
    # the expression hardly moves (below real videos) and pushes toward fake: words with the reading
    assert by["expression_motion"].words.startswith("the expression changes less than in real footage, as when")
    assert by["expression_motion"].real_range == (0.01, 0.04)
    assert by["head_speed"].words is None and by["blinks_per_minute"].effect is None


def test_a_cue_pushing_toward_real_gets_no_suggestion_of_fake():
    _, evidence = model().apply(0.5, cues(expression_motion=0.2))
    words = {c.name: c.words for c in evidence}["expression_motion"]
    assert words == "the face changes shape more than in most real videos"


def test_saved_models_load_and_broken_ones_are_clear_errors(tmp_path):
    m = model(extra={"classifier_sha256": "abc"})
    m.save(tmp_path / "f.json")
    again = FusionModel.load(tmp_path / "f.json")
    assert again.coef == m.coef and again.log_inputs == ["expression_motion"] and again.extra["classifier_sha256"] == "abc"
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot read the video fusion model"):
        FusionModel.load(tmp_path / "bad.json")
    raw = json.loads((tmp_path / "f.json").read_text())
    raw["coef"] = [1.0]
    (tmp_path / "short.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="inconsistent"):
        FusionModel.load(tmp_path / "short.json")


def test_the_shipped_fusion_names_the_shipped_classifier_and_only_judges_with_it(tiny_model_dir):
    from deepdetector import Detector, ScanConfig
    from deepdetector.evidence.fusion import DEFAULT_PATH
    from deepdetector.model import ModelCard, default_card_path

    shipped = FusionModel.load(DEFAULT_PATH)
    assert shipped.extra["classifier_sha256"] == ModelCard.load(default_card_path()).sha256
    assert set(shipped.inputs) <= {FACE_INPUT, *CUES.names()} and 0 < shipped.threshold < 1
    assert Detector(ScanConfig(model_path=tiny_model_dir)).fusion is None  # another classifier: cues reported, not fused
    assert Detector(ScanConfig(cues=False)).fusion is None


def test_a_matching_fusion_decides_the_video_and_names_itself(tiny_model_dir, tmp_path, monkeypatch):
    import deepdetector.api as api
    from deepdetector import Detector, ScanConfig
    from deepdetector.model import ModelCard
    from tests.test_evidence_video import talking, write_clip

    sha = ModelCard.load(tiny_model_dir).sha256
    path = tmp_path / "fusion.json"
    model(extra={"classifier_sha256": sha}, threshold=0.0).save(path)
    monkeypatch.setattr(api, "FUSION_PATH", path)
    det = Detector(ScanConfig(model_path=tiny_model_dir, frames=8))
    res = det.scan(write_clip(tmp_path / "talk.mp4", talking(50)))
    assert res.evidence[0].name == FACE_INPUT and res.model.endswith("video-fusion v1")
    assert res.threshold == 0.0 and res.verdict.value == "fake" and res.face_threshold == det.thresholds.for_media("video")
    assert det.verdict_thresholds.for_media("video") == 0.0 and det.verdict_thresholds.for_media("image") == det.thresholds.for_media("image")
    model(extra={"classifier_sha256": sha}, threshold=1.0).save(path)  # the fusion's own threshold decides, not the card's
    strict = Detector(ScanConfig(model_path=tiny_model_dir, frames=8)).scan(write_clip(tmp_path / "talk2.mp4", talking(50)))
    assert strict.threshold == 1.0 and strict.verdict.value == "real"
    assert any(r.startswith("video fusion of the face model and the cues") for r in strict.reasons)
    expected = FusionModel.load(path).apply(res.evidence[0].value, [Cue(c.name, c.value, "") for c in res.evidence[1:]])[0]
    assert res.probability == pytest.approx(expected)


def test_thresholds_hold_the_false_alarm_rate_with_every_source_weighted_alike():
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.05])
    w = np.ones(10)
    t = fu.threshold_for_fpr(scores, w, 0.2)  # at most 2 of 10 flagged
    assert (scores >= t).sum() == 2
    assert (scores >= fu.threshold_for_fpr(scores, w, 0.0)).sum() == 0
    # one source of 8 videos and one of 2: the small source weighs half
    w2 = np.array([1 / 16] * 8 + [1 / 4] * 2)
    t2 = fu.threshold_for_fpr(np.array([0.1] * 8 + [0.9, 0.8]), w2, 0.3)
    assert t2 > 0.8  # flagging either video of the small source would cost 25%


def test_sources_merge_compressions_and_generator_variants():
    assert fu.source_of("FaceForensics++ c23 Deepfakes", "fake") == fu.source_of("FaceForensics++ c40 Deepfakes", "fake")
    assert fu.source_of("SadTalker-Video-Lip-Sync + DAIN 50fps", "fake") == "fake: SadTalker"
    assert fu.source_of("Wav2Lip lip-sync + GFPGAN face restoration", "fake") == "fake: Wav2Lip"
    assert fu.source_of("FaceForensics++ c23 original", "real") == fu.source_of("FaceForensics++ c40 youtube", "real")
    assert fu.source_of("FaceForensics++ c40 actors", "real") != fu.source_of("FaceForensics++ c40 youtube", "real")


def synthetic_features(folder: Path, rng: np.random.Generator) -> list[Path]:
    """Manifests of 3 fake and 3 real sources (files need not exist: the features are already collected),
    where expression motion separates the classes and the face score does a little."""
    rows, manifests = [], []
    for k, (label, source) in enumerate([("fake", "GenA"), ("fake", "GenB"), ("fake", "GenC"), ("real", "CamA"), ("real", "CamB"), ("real", "CamC")]):
        man = folder / f"m{k}.csv"
        lines = ["path,label,kind,source_dataset,group"]
        for i in range(12):
            rel = f"{source}/{i}.mp4"
            lines.append(f"{rel},{label},video,{source},{source}{i}")
            cues = {name: None for name in CUES.names()}
            cues["expression_motion"] = float(np.exp(rng.normal(-4.5 if label == "fake" else -3.5, 0.3)))
            rows.append({"manifest": man.name, "file": str((folder / rel).resolve()), "path": rel, "label": label, "kind": "video",
                         "source_dataset": source, "group": f"{source}{i}", "probability": float(rng.uniform(0.2, 0.6 if label == "real" else 0.8)),
                         "media": {"height": 480, "fps": 25.0}, "cues": cues})  # fmt: skip
        man.write_text("\n".join(lines) + "\n")
        manifests.append(man)
    out = folder / "out"
    out.mkdir()
    (out / "features.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifests


def test_fuse_measures_each_source_left_out_and_writes_a_model_the_scanner_reads(tmp_path):
    from deepdetector.cli import app

    manifests = synthetic_features(tmp_path, np.random.default_rng(0))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["fuse", *map(str, manifests), "--out", str(out), "--fpr", "0.1"])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "| fake: GenA | 12 |" in report and "| real: CamC | 12 |" in report
    fitted = FusionModel.load(out / "video_fusion.json")
    assert fitted.coef[fitted.inputs.index("expression_motion")] < 0  # less motion, more fake
    lines = [line for line in report.splitlines() if line.startswith("| all videos")]
    auc_face, auc_fusion = (float(cell.split()[0]) for cell in lines[0].split("|")[3:5])
    assert auc_fusion > 0.95 > auc_face
    bad = CliRunner().invoke(app, ["fuse", *map(str, manifests), "--out", str(out), "--fpr", "0.9"])
    assert bad.exit_code == 1 and "--fpr 0.9 is not possible" in bad.output


def test_the_explanation_says_what_the_cues_said_or_why_there_are_none():
    from deepdetector.types import FileResult, MediaInfo, TrackResult, Verdict
    from deepdetector.verdict.explain import explain

    media = MediaInfo(path="v.mp4", kind="video", width=640, height=480, duration=8.0, fps=25.0, frame_count=200, sampled_frames=32)
    p, evidence = model().apply(0.7, cues(expression_motion=0.005, head_speed=12.0))
    track = TrackResult(track_id=0, probability=0.7, verdict=Verdict.FAKE, n_faces=32, first_frame=0, last_frame=199)
    fused = FileResult(path="v.mp4", verdict=Verdict.FAKE, probability=p, threshold=0.6, face_threshold=0.34, media=media,
                       tracks=[track], evidence=evidence)  # fmt: skip
    text = explain(fused, "confident")
    assert "fuses the face classifier's score for the video, 70.0%, with 2 cues" in text
    assert "Evidence across frames: The expression changes less than in real footage, as when" in text
    short = [
        Cue(name, None, "", reason="too short or too few frames a second for motion evidence (6 frames over 0.4 s; ...)") for name in CUES.names()
    ]
    plain = FileResult(path="v.mp4", verdict=Verdict.REAL, probability=0.2, threshold=0.34, media=media, evidence=short)
    assert "No evidence across frames: too short or too few frames a second for motion evidence" in explain(plain, "confident")


def test_changed_copies_are_the_same_for_every_run_and_change_size_compression_and_rate():
    a, b = fu.variants_of("/data/x.mp4", 3), fu.variants_of("/data/x.mp4", 3)
    assert a == b and a != fu.variants_of("/data/y.mp4", 3)
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    for v in a:
        out = v.transform(image)
        assert out.shape[0] == round(120 * v.scale) and out.dtype == np.uint8
        assert 0.35 <= v.scale <= 0.9 and v.window_fps in (8.0, 10.0, 12.0, 15.0)
    assert np.array_equal(fu.Variant(1.0, None, 15.0).transform(image), image)  # no change asked: none made


def test_a_photos_pixel_evidence_is_not_called_evidence_across_frames():
    from deepdetector import report
    from deepdetector.types import FileResult, MediaInfo, Verdict

    media = MediaInfo(path="p.jpg", kind="image", width=512, height=512)
    photo = FileResult(path="p.jpg", verdict=Verdict.REAL, probability=0.2, threshold=0.7, media=media,
                       evidence=[Cue("gan_pixels", 0.2, "GAN head", "probability", effect=-0.4)])  # fmt: skip
    page = report.render_html([photo])
    assert "<h3>Pixel evidence</h3>" in page and "real photos (5-95%)" in page and "Evidence across frames</h3>" not in page
