"""`deepdetector calibrate`: thresholds fitted to a user's own labelled files, written into a copy
of the model (same weights, same sha256)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from deepdetector.cli import app
from deepdetector.evaluation.calibrate import CalibrateError, fpr_threshold
from deepdetector.evaluation.predictions import PredictionRow, PredictionWriter, read_predictions
from deepdetector.model.card import ModelCard

runner = CliRunner()


def test_fpr_threshold_calls_at_most_the_allowed_share_of_reals_fake():
    reals = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    # 10% of 10 reals: one may be called fake -> the threshold sits between 0.8 and 0.9
    assert fpr_threshold(reals, 0.10) == pytest.approx(0.85)
    assert fpr_threshold(reals, 0.0) == pytest.approx(np.nextafter(0.9, 1))  # none: just above the top real
    assert fpr_threshold(reals, 0.25) == pytest.approx(0.75)  # floor(2.5) = 2 reals allowed
    tied = np.array([0.2, 0.7, 0.7, 0.7])
    assert (tied >= fpr_threshold(tied, 0.5)).mean() <= 0.5  # ties cannot sneak past the rate
    with pytest.raises(CalibrateError):
        fpr_threshold(reals, 1.5)


def _predictions(path: Path, label: str, n_real: int = 40, n_fake: int = 10) -> Path:
    rng = np.random.default_rng(0)
    with PredictionWriter(path, ["swap"]) as w:
        for i in range(n_real):
            s = float(rng.uniform(0.0, 0.6))
            w.write(PredictionRow(f"real{i}.jpg", 0, "image", "mine", "", "image", s, "real", 1, 1, 0.1, model=label))
        for i in range(n_fake):
            s = float(rng.uniform(0.5, 1.0))
            w.write(PredictionRow(f"fake{i}.jpg", 1, "gan-image", "gen", "", "image", s, "fake", 1, 1, 0.1, model=label))
    return path


def test_calibrated_copy_keeps_the_weights_and_holds_the_fitted_thresholds(tiny_model_copy, tmp_path):
    model = tiny_model_copy
    card = ModelCard.load(model)
    preds = _predictions(tmp_path / "p.csv", card.label)
    out = tmp_path / "mine"
    res = runner.invoke(app, ["calibrate", str(preds), "--model", str(model), "--fpr", "0.05", "--out", str(out)])
    assert res.exit_code == 0, res.output
    new = ModelCard.load(out)
    new.verify()  # the same ONNX bytes
    assert new.sha256 == card.sha256
    real_scores = np.array([r.score for r in read_predictions(preds) if r.label == 0])
    t = new.thresholds.for_media("image")
    assert t == pytest.approx(fpr_threshold(real_scores, 0.05), abs=1e-6) and (real_scores >= t).mean() <= 0.05
    assert new.thresholds.for_media("video") == card.thresholds.for_media("video")  # no videos: kept
    assert "kept" in res.output and "FPR 5.0%" in res.output
    text = (out / "model_card.json").read_text()
    assert text.endswith("}\n")  # a text file: ends with a newline like every card the trainer writes
    raw = json.loads(text)
    assert raw["calibrations"][-1]["rule"] == "fpr <= 0.05"
    # scanning with the calibrated copy works
    scan = runner.invoke(app, ["info", "--model", str(out)])
    assert scan.exit_code == 0 and "verified" in scan.output


def test_calibrate_refuses_what_it_cannot_do(tiny_model_copy, tmp_path):
    model = tiny_model_copy
    card = ModelCard.load(model)
    preds = _predictions(tmp_path / "p.csv", card.label)
    cases = [
        (["--fpr", "0.05", "--balanced", "--out", str(tmp_path / "a")], "not both"),
        (["--out", str(model)], "own folder"),
        (["--fpr", "2", "--out", str(tmp_path / "b")], "is a rate"),
    ]
    for extra, message in cases:
        res = runner.invoke(app, ["calibrate", str(preds), "--model", str(model), *extra])
        assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output, res.output
    other = _predictions(tmp_path / "o.csv", "someone-else v9")
    res = runner.invoke(app, ["calibrate", str(other), "--model", str(model), "--out", str(tmp_path / "c")])
    assert res.exit_code == 1 and "scored by someone-else v9" in res.output
    res = runner.invoke(app, ["calibrate", str(tmp_path / "none.csv"), "--model", str(model), "--out", str(tmp_path / "d")])
    assert res.exit_code == 1 and "does not exist" in res.output
    ok = runner.invoke(app, ["calibrate", str(preds), "--model", str(model), "--out", str(tmp_path / "e")])
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(app, ["calibrate", str(preds), "--model", str(model), "--out", str(tmp_path / "e")])
    assert again.exit_code == 1 and "--overwrite" in again.output
    (tmp_path / "a-file").write_text("x")
    blocked = runner.invoke(app, ["calibrate", str(preds), "--model", str(model), "--out", str(tmp_path / "a-file" / "m")])
    assert blocked.exit_code == 1 and "cannot write" in blocked.output and "Traceback" not in blocked.output


def test_calibrate_says_what_is_wrong_with_the_input(tiny_model_copy, tmp_path):
    model = tiny_model_copy
    card = ModelCard.load(model)
    run = lambda p, *extra: runner.invoke(app, ["calibrate", str(p), "--model", str(model), "--out", str(tmp_path / "o"), *extra])
    res = run(tmp_path)
    assert res.exit_code == 1 and "is not a file" in res.output
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 4)
    res = run(tmp_path / "bin.csv")
    assert res.exit_code == 1 and "Traceback" not in res.output and "cannot read" in res.output
    (tmp_path / "empty.csv").write_text("")
    res = run(tmp_path / "empty.csv")
    assert res.exit_code == 1 and "--output" not in res.output and "Traceback" not in res.output
    inf = _predictions(tmp_path / "inf.csv", card.label)
    inf.write_text(inf.read_text().replace(inf.read_text().splitlines()[1].split(",")[6], "inf", 1))
    res = run(inf)
    assert res.exit_code == 1 and "not probabilities" in res.output
    # too few files for either media type: nothing to fit, nothing written
    few = _predictions(tmp_path / "few.csv", card.label, n_real=3, n_fake=2)
    res = run(few)
    assert res.exit_code == 1 and "nothing to calibrate" in res.output and not (tmp_path / "o").exists()
    # a copied CSV without its metrics JSON: accepted by name, with a warning that the build was not checked
    res = run(_predictions(tmp_path / "copy.csv", card.label))
    assert res.exit_code == 0 and "warning" in res.output and "sha256" in res.output


def test_calibrate_media_refits_one_type_and_carries_the_stills_model(tiny_model_copy, tmp_path):
    from deepdetector.model.stills import HEAD, model_label
    from tests.tiny_model import build_tiny_model

    model = tiny_model_copy
    stills = build_tiny_model(model / "stills", heads=(HEAD,))
    raw = json.loads(stills.read_text())
    raw["kind"] = "stills"
    stills.write_text(json.dumps(raw))
    main = json.loads((model / "model_card.json").read_text())
    main["stills"] = "stills"
    main["thresholds"] = {"image": 0.5, "video": 0.4}
    (model / "model_card.json").write_text(json.dumps(main))
    card = ModelCard.load(model)
    label = model_label(card)
    assert label == f"{card.label} + tiny-test-model v0"
    # predictions made by the classifier alone are another model's: refused
    res = runner.invoke(
        app, ["calibrate", str(_predictions(tmp_path / "alone.csv", card.label)), "--model", str(model), "--out", str(tmp_path / "x")]
    )
    assert res.exit_code != 0 and "evaluate with this model first" in res.output
    preds = _predictions(tmp_path / "p.csv", label)
    with PredictionWriter(tmp_path / "v.csv", ["swap"]) as w:  # the same rows plus videos
        for r in read_predictions(preds):
            w.write(r)
        for i in range(12):
            w.write(PredictionRow(f"v{i}.mp4", i % 2, "video", "clips", "", "video", 0.3 + 0.05 * i, "real", 1, 8, 0.1, model=label))
    out = tmp_path / "cal"
    res = runner.invoke(app, ["calibrate", str(tmp_path / "v.csv"), "--model", str(model), "--balanced", "--media", "image", "--out", str(out)])
    assert res.exit_code == 0, res.output
    new = ModelCard.load(out)
    from deepdetector.metrics import balanced_threshold

    images = [r for r in read_predictions(preds)]
    expected = balanced_threshold(np.array([r.label for r in images]), np.array([r.score for r in images]))
    assert new.thresholds.for_media("video") == 0.4  # not asked for: kept, though 12 videos could be fitted
    assert new.thresholds.for_media("image") == pytest.approx(expected, abs=1e-6) and expected != 0.5
    assert "not asked for" in res.output
    # the stills model travels with the copy and still verifies
    from deepdetector.model.stills import StillsModel, stills_card_path

    StillsModel(stills_card_path(new))
    assert model_label(new) == label
    res = runner.invoke(app, ["calibrate", str(preds), "--model", str(model), "--media", "audio", "--out", str(tmp_path / "y")])
    assert res.exit_code != 0 and "--media takes image or video" in res.output
