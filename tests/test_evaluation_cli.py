"""End to end: `deepdetector evaluate` and `deepdetector robustness` on a tiny generated manifest,
scanned with the tiny test model (its score rises with the brightness of the face crop)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from deepdetector.cli import app
from deepdetector.datasets.manifest import read_manifest
from deepdetector.evaluation.evaluate import run_predictions
from deepdetector.evaluation.predictions import PredictionWriter
from tests.media_factory import blank_photo, face_photo, write_image, write_video

runner = CliRunner()


def _scaled(rgb: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(rgb.astype(np.float32) * factor, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Bright faces labelled fake, dark faces labelled real (so the tiny model ranks them
    perfectly), a short face video, a picture without a face and a missing file."""
    root = tmp_path_factory.mktemp("evalset")
    (root / "media").mkdir()
    face = face_photo()[::2, ::2]  # 256 px: quicker to scan
    write_image(root / "media" / "bright1.jpg", _scaled(face, 1.25))
    write_image(root / "media" / "bright2.png", _scaled(face, 1.15))
    write_image(root / "media" / "dark1.jpg", _scaled(face, 0.7))
    write_image(root / "media" / "dark2.png", _scaled(face, 0.6))
    write_image(root / "media" / "blank.png", blank_photo(120, 160))
    write_video(root / "media" / "clip.mp4", n_frames=6, fps=6, size=(320, 240))
    rows = [
        "path,label,kind,source_dataset,group",
        "media/bright1.jpg,fake,gan-image,bright faces,",
        "media/bright2.png,fake,gan-image,bright faces,",
        "media/dark1.jpg,real,image,dark faces,",
        "media/dark2.png,real,image,dark faces,",
        "media/blank.png,real,image,no faces,",
        "media/clip.mp4,fake,faceswap-video,FF c23 Deepfakes,001_002",
        "media/missing.mp4,real,video,FF c23 original,001",
    ]
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def test_evaluate_writes_predictions_metrics_and_report(dataset, tiny_model_dir, tmp_path):
    out, report = tmp_path / "predictions.csv", tmp_path / "eval.html"
    args = ["evaluate", str(dataset / "manifest.csv"), "--output", str(out), "--report", str(report), "--model", str(tiny_model_dir), "--frames", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with out.open() as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {i.path for i in read_manifest(dataset / "manifest.csv")}
    assert {"score_swap", "score_synthetic", "frame_scores", "n_faces", "seconds"} <= set(next(iter(rows.values())))
    assert rows["media/blank.png"]["verdict"] == "no_face" and rows["media/blank.png"]["score"] == ""
    assert rows["media/missing.mp4"]["verdict"] == "error" and rows["media/missing.mp4"]["error"]
    clip = rows["media/clip.mp4"]
    frames = json.loads(clip["frame_scores"])
    assert len(frames) == 3 and all(p is not None for _, p in frames)
    assert int(clip["n_faces"]) == 3 and clip["media"] == "video"
    bright, dark = float(rows["media/bright1.jpg"]["score"]), float(rows["media/dark1.jpg"]["score"])
    assert bright > dark

    metrics = json.loads((tmp_path / "predictions.metrics.json").read_text())
    overall = next(s for s in metrics["subsets"] if s["name"] == "all items")
    assert (overall["n"], overall["n_scored"], overall["n_no_face"], overall["n_error"]) == (7, 5, 1, 1)
    images = next(s for s in metrics["subsets"] if s["name"] == "all images")
    assert images["auc"] == 1.0  # every bright (fake) face scores above every dark (real) one
    dfk = next(s for s in metrics["subsets"] if s["name"] == "FF c23 Deepfakes")
    assert dfk["vs"] == "FF c23 original" and dfk["auc"] is None  # its only real could not be read
    assert metrics["run"]["model"]["name"] == "tiny-test-model"
    assert "excluded but counted" in result.output

    page = report.read_text()
    assert page.count('<img src="data:image/png;base64,') >= 3  # ROC, histograms, calibration
    assert "Targets" in page and "media/missing.mp4" in page
    assert "http://" not in page and "https://" not in page  # self-contained


def test_part_test_evaluates_only_a_cards_test_groups(dataset, tiny_model_dir, tmp_path):
    card = tmp_path / "model_card.json"
    card.write_text(json.dumps({"training": {"split": {"validation_groups": ["001_002", "media/dark1.jpg"], "test_groups": ["001_002"]}}}))
    out = tmp_path / "p.csv"
    base = ["evaluate", str(dataset / "manifest.csv"), "--model", str(tiny_model_dir), "--frames", "2", "-q", "--split", str(card)]
    result = runner.invoke(app, [*base, "--output", str(out), "--part", "test"])
    assert result.exit_code == 0, result.output
    # the pair 001_002 and its real video 001 are one group to training (and to the split)
    assert [r["path"] for r in csv.DictReader(out.open())] == ["media/clip.mp4", "media/missing.mp4"]
    bad = runner.invoke(
        app, ["evaluate", str(dataset / "manifest.csv"), "--model", str(tiny_model_dir), "--output", str(tmp_path / "q.csv"), "--part", "test"]
    )
    assert bad.exit_code != 0 and "--split" in bad.output and "Traceback" not in bad.output


def test_existing_output_needs_resume_or_overwrite(dataset, tiny_model_dir, tmp_path):
    out = tmp_path / "p.csv"
    out.write_text("path,label\n")
    result = runner.invoke(app, ["evaluate", str(dataset / "manifest.csv"), "--output", str(out), "--model", str(tiny_model_dir), "-q"])
    assert result.exit_code == 1 and "--resume" in result.output


def test_unwritable_outputs_are_refused_before_any_scan(dataset, tiny_model_dir, tmp_path):
    """A predictions path under a file, a report path that is a folder: one line, exit 1, nothing scanned."""
    a_file = tmp_path / "taken.txt"
    a_file.write_text("x")
    manifest = str(dataset / "manifest.csv")
    cases = [
        (["evaluate", manifest, "--output", str(a_file / "p.csv")], "is a file, not a folder"),
        (["evaluate", manifest, "--output", str(tmp_path)], "it is a folder"),
        (["evaluate", manifest, "--output", str(tmp_path / "ok.csv"), "--report", str(a_file / "r.html")], "is a file, not a folder"),
        (["robustness", manifest, "--report", str(tmp_path), "--limit", "2"], "it is a folder"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, "--model", str(tiny_model_dir), "-q"])
        assert result.exit_code == 1 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "ok.csv").exists()  # refused before the first row was written
    assert not (tmp_path.parent / (tmp_path.name + "-work")).exists()  # the study's work folder was not made


def test_bad_manifest_is_one_line_error(tmp_path, tiny_model_dir):
    bad = tmp_path / "m.csv"
    bad.write_text("file,label\nx.jpg,fake\n")
    result = runner.invoke(app, ["evaluate", str(bad), "--output", str(tmp_path / "p.csv"), "--model", str(tiny_model_dir)])
    assert result.exit_code == 1 and "lacks the column(s) path" in result.output
    assert "Traceback" not in result.output


def test_resume_scans_only_missing_rows(dataset, tiny_model_dir, tmp_path):
    from deepdetector import Detector, ScanConfig

    det = Detector(ScanConfig(model_path=tiny_model_dir, frames=2, heatmaps=False))
    scanned: list[str] = []
    original = det.scan

    def spy(path, **kwargs):
        scanned.append(Path(path).name)
        return original(path, **kwargs)

    det.scan = spy  # type: ignore[method-assign]
    items = read_manifest(dataset / "manifest.csv")[:4]
    out = tmp_path / "p.csv"
    with PredictionWriter(out, ["swap", "synthetic"]) as w:
        run_predictions(det, items[:2], w)
    assert scanned == ["bright1.jpg", "bright2.png"]
    scanned.clear()
    with PredictionWriter(out, ["swap", "synthetic"], resume=True) as w:
        rows = run_predictions(det, items, w)
    assert scanned == ["dark1.jpg", "dark2.png"]
    assert [r.path for r in rows] == [i.path for i in items]
    with out.open() as fh:
        assert len(list(csv.DictReader(fh))) == 4  # no duplicates


def test_robustness_two_levels_cached_and_resumable(dataset, tiny_model_dir, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,label\n"
        f"{dataset / 'media/bright1.jpg'},fake\n{dataset / 'media/bright2.png'},fake\n"
        f"{dataset / 'media/dark1.jpg'},real\n{dataset / 'media/dark2.png'},real\n"
    )
    report = tmp_path / "rob.html"
    args = [
        "robustness",
        str(manifest),
        "--report",
        str(report),
        "--model",
        str(tiny_model_dir),
        "--experiments",
        "brightness",
        "--levels",
        "0.5,1",
        "--frames",
        "2",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(report.with_suffix(".json").read_text())
    assert data["run"]["scans_this_run"] == 8  # 4 baseline + 4 at x0.5; x1 reuses the baseline
    (exp,) = data["experiments"]
    dark, base = exp["levels"]
    assert (dark["label"], base["label"], base["baseline"]) == ("x0.5", "x1", True)
    assert base["mean_abs_change"] == 0.0 and base["auc"] == 1.0
    # the tiny model's score follows brightness: halving it must lower every score
    assert dark["mean_change"] < 0 and dark["mean_abs_change"] == pytest.approx(-dark["mean_change"])
    assert dark["n_paired"] == dark["n_scored"] == 4
    assert '<img src="data:image/png;base64,' in report.read_text()
    lines = (tmp_path / "rob-work" / "brightness.jsonl").read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["level"] == "0.5"

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert json.loads(report.with_suffix(".json").read_text())["run"]["scans_this_run"] == 0


def test_robustness_rejects_unknown_experiment(dataset, tiny_model_dir, tmp_path):
    result = runner.invoke(
        app,
        ["robustness", str(dataset / "manifest.csv"), "--report", str(tmp_path / "r.html"), "--model", str(tiny_model_dir), "--experiments", "fog"],
    )
    assert result.exit_code == 1 and "unknown experiment" in result.output


def test_resume_with_other_scan_settings_is_refused(dataset, tiny_model_dir, tmp_path):
    """The kept rows and the new ones would be scanned two ways under the new run's settings."""
    out = tmp_path / "p.csv"
    base = ["evaluate", str(dataset / "manifest.csv"), "--output", str(out), "--model", str(tiny_model_dir), "-q", "--limit", "2"]
    first = runner.invoke(app, [*base, "--frames", "2"])
    assert first.exit_code == 0, first.output
    rows_before = out.read_text()
    res = runner.invoke(app, [*base, "--frames", "4", "--resume"])
    assert res.exit_code == 1 and "frames 2 -> 4" in res.output and "--overwrite" in res.output, res.output
    assert out.read_text() == rows_before
    same = runner.invoke(app, [*base, "--frames", "2", "--resume", "--threshold", "0.4"])  # thresholds do not change scores
    assert same.exit_code == 0, same.output
