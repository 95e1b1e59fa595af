"""`deepdetector compare`: paired AUC differences of two evaluate outputs, checked on hand-made
prediction files whose AUCs are known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from deepdetector.cli import app
from deepdetector.evaluation.compare import compare_predictions
from deepdetector.evaluation.predictions import PredictionRow, PredictionWriter
from deepdetector.markdown import main as markdown_main

runner = CliRunner()


def _write(path: Path, rows: list[tuple[str, int, str, str, str, float | None]]) -> Path:
    with PredictionWriter(path, ["swap"]) as w:
        for p, label, kind, source, media, score in rows:
            verdict = "no_face" if score is None else ("fake" if score >= 0.5 else "real")
            w.write(
                PredictionRow(
                    path=p,
                    label=label,
                    kind=kind,
                    source_dataset=source,
                    group="",
                    media=media,
                    score=score,
                    verdict=verdict,
                    n_faces=0 if score is None else 1,
                    n_frames=1,
                    seconds=0.1,
                )
            )
    return path


def _pair(tmp_path: Path, n: int = 40):
    """Images: A ranks them perfectly, B at chance. Videos: A and B rank them the same."""
    rng = np.random.default_rng(0)
    rows_a, rows_b = [], []
    for i in range(n):
        label = i % 2
        rows_a.append((f"img{i}.jpg", label, "gan-image" if label else "image", "GAN" if label else "FFHQ", "image", 0.2 + 0.6 * label))
        rows_b.append((f"img{i}.jpg", label, "gan-image" if label else "image", "GAN" if label else "FFHQ", "image", float(rng.random())))
    for i in range(20):
        label = int(i < 10)
        s = float(rng.random())
        kind, src = ("faceswap-video", "FF c23 Deepfakes") if label else ("video", "FF c23 original")
        rows_a.append((f"vid{i}.mp4", label, kind, src, "video", s))
        rows_b.append((f"vid{i}.mp4", label, kind, src, "video", s))
    rows_a.append(("noface.jpg", 0, "image", "FFHQ", "image", None))  # unscored in A: left out of both
    rows_b.append(("noface.jpg", 0, "image", "FFHQ", "image", 0.3))
    return _write(tmp_path / "a.csv", rows_a), _write(tmp_path / "b.csv", rows_b)


def test_a_real_gap_differs_and_identical_scores_do_not(tmp_path):
    a, b = _pair(tmp_path)
    res = compare_predictions(a, b)
    assert res.n_common == 60 and res.only_a == 0 and res.only_b == 1
    rows = {r.name: r.to_dict() for r in res.rows}
    gan = rows["GAN-face AUC"]
    assert gan["auc_a"] == 1.0 and gan["n_fake"] == 20 and gan["n_real"] == 20 and gan["differs"] and gan["ci"][0] > 0
    vids = rows["all videos"]
    assert vids["delta"] == 0 and vids["ci"] == [0.0, 0.0] and not vids["differs"]
    assert rows["FF c23 Deepfakes"]["vs"] == "FF c23 original"


def test_command_prints_the_table_and_writes_json_that_renders_as_markdown(tmp_path, capsys):
    a, b = _pair(tmp_path)
    out = tmp_path / "cmp.json"
    res = runner.invoke(app, ["compare", str(a), str(b), "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert "GAN-face AUC" in res.output and "differs" in res.output
    payload = json.loads(out.read_text())
    assert payload["comparison"]["n_common"] == 60
    assert markdown_main([str(out)]) == 0
    text = capsys.readouterr().out
    assert "| GAN-face AUC | 20/20 | 1.000 |" in text and "| all videos | 10/10 |" in text


def test_files_that_cannot_be_compared_are_clear_errors(tmp_path):
    a, _ = _pair(tmp_path)
    res = runner.invoke(app, ["compare", str(a), str(tmp_path / "nope.csv")])
    assert res.exit_code == 1 and "does not exist" in res.output and "Traceback" not in res.output
    other = _write(tmp_path / "other.csv", [("img0.jpg", 1, "image", "FFHQ", "image", 0.5)])  # img0 is real in a.csv
    res = runner.invoke(app, ["compare", str(a), str(other)])
    assert res.exit_code == 1 and "different labels" in res.output
    disjoint = _write(tmp_path / "disjoint.csv", [("zzz.jpg", 1, "image", "FFHQ", "image", 0.5)])
    res = runner.invoke(app, ["compare", str(a), str(disjoint)])
    assert res.exit_code == 1 and "share no scored item" in res.output
    (tmp_path / "junk.csv").write_text("a,b\n1,2\n")
    res = runner.invoke(app, ["compare", str(a), str(tmp_path / "junk.csv")])
    assert res.exit_code == 1 and "not a predictions file" in res.output and "Traceback" not in res.output


def test_scores_that_are_not_probabilities_are_refused(tmp_path):
    a, b = _pair(tmp_path)
    text = b.read_text().splitlines()
    cells = text[1].split(",")
    cells[6] = "inf"
    text[1] = ",".join(cells)
    b.write_text("\n".join(text) + "\n")
    res = runner.invoke(app, ["compare", str(a), str(b)])
    assert res.exit_code == 1 and "not probabilities" in res.output and "Traceback" not in res.output


def test_a_file_scored_twice_is_refused_not_counted_twice(tmp_path):
    """compare used to keep the last of two conflicting rows; calibrate and heads counted both."""
    a, _ = _pair(tmp_path)
    doubled = tmp_path / "doubled.csv"
    lines = a.read_text().splitlines()
    doubled.write_text("\n".join(lines + lines[1:3]) + "\n")
    for args in (["compare", str(a), str(doubled)], ["calibrate", str(doubled), "-o", str(tmp_path / "cal")], ["heads", str(a), str(a)]):
        res = runner.invoke(app, args)
        assert res.exit_code == 1 and "appears 2 times" in res.output and "Traceback" not in res.output, (args, res.output)
    assert not (tmp_path / "cal").exists()
