"""`deepdetector heads`: AUC per head, and the cross-fitted soft OR of heads, on hand-made
prediction files whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from deepdetector.cli import app
from deepdetector.evaluation.heads import HeadsError, SoftOr, cell_weights, group_folds, study_heads
from deepdetector.evaluation.predictions import PredictionRow, PredictionWriter

runner = CliRunner()
HEADS = ["swap", "generated"]


def _write(path: Path, rows: list[dict]) -> Path:
    with PredictionWriter(path, HEADS) as w:
        for r in rows:
            heads = r["heads"]
            score = max(heads.values())
            w.write(
                PredictionRow(
                    path=r["path"],
                    label=r["label"],
                    kind=r["kind"],
                    source_dataset=r["source"],
                    group=r.get("group", ""),
                    media=r.get("media", "image"),
                    score=score,
                    verdict="fake" if score >= 0.5 else "real",
                    n_faces=r.get("n_faces", 1),
                    n_frames=8 if r.get("media") == "video" else 1,
                    seconds=0.1,
                    head_scores=heads,
                )
            )
    return path


def _csv_rows(path: Path) -> list[dict]:
    """The rows of a file written by :func:`_write`, back in its input form."""
    import csv

    out = []
    for r in csv.DictReader(path.open()):
        out.append(
            {
                "path": r["path"],
                "label": int(r["label"] == "fake"),
                "kind": r["kind"],
                "source": r["source_dataset"],
                "group": r["group"],
                "media": r["media"],
                "n_faces": int(r["n_faces"]),
                "heads": {h: float(r["score_" + h]) for h in HEADS},
            }
        )
    return out


def _study_set(tmp_path: Path, n: int = 60, seed: int = 0) -> Path:
    """Swap fakes: high swap score. GAN fakes: a generated score only a little above the reals'
    (a shallow calibration) and a low swap score. Reals: a noisy swap score that often beats the
    GAN fakes' generated score, so the plain maximum ranks GAN fakes badly and a recalibrated
    generated head ranks them well."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        g = f"g{i}"
        rows.append(
            {
                "path": f"swap{i}.png",
                "label": 1,
                "kind": "faceswap-frame",
                "source": "swaps",
                "group": g,
                "heads": {"swap": float(rng.uniform(0.8, 0.99)), "generated": float(rng.uniform(0.40, 0.46))},
            }
        )
        rows.append(
            {
                "path": f"gan{i}.png",
                "label": 1,
                "kind": "gan-image",
                "source": "GAN",
                "group": g,
                "heads": {"swap": float(rng.uniform(0.01, 0.3)), "generated": float(rng.uniform(0.52, 0.60))},
            }
        )
        rows.append(
            {
                "path": f"real{i}.png",
                "label": 0,
                "kind": "image",
                "source": "FFHQ",
                "group": f"r{i}",
                "heads": {"swap": float(rng.uniform(0.3, 0.7)), "generated": float(rng.uniform(0.40, 0.50))},
            }
        )
    return _write(tmp_path / "fit.csv", rows)


def test_head_aucs_are_the_aucs_of_each_column(tmp_path):
    rows = [
        {"path": "f1.png", "label": 1, "kind": "gan-image", "source": "GAN", "heads": {"swap": 0.1, "generated": 0.9}},
        {"path": "f2.png", "label": 1, "kind": "gan-image", "source": "GAN", "heads": {"swap": 0.2, "generated": 0.8}},
        {"path": "r1.png", "label": 0, "kind": "image", "source": "FFHQ", "heads": {"swap": 0.6, "generated": 0.7}},
        {"path": "r2.png", "label": 0, "kind": "image", "source": "FFHQ", "heads": {"swap": 0.15, "generated": 0.85}},
    ]
    study = study_heads([_write(tmp_path / "p.csv", rows)], folds=2)
    overall = next(r for r in study.rows if r.name == "all items")
    # swap: fakes .1 .2 vs reals .6 .15 -> wins: .1: 0, .2: 1 -> 1/4; generated: .9: 2, .8: 1 -> 3/4
    assert overall.head_auc["swap"] == pytest.approx(0.25) and overall.head_auc["generated"] == pytest.approx(0.75)
    # file score = max of the heads: .9 .8 vs .7 .85 -> wins 2 + 1 = 3/4
    assert overall.score_auc == pytest.approx(0.75)


def test_soft_or_learns_to_trust_a_shallow_head_and_beats_the_maximum_cross_fitted(tmp_path):
    study = study_heads([_study_set(tmp_path)], folds=5)
    gan = next(r for r in study.rows if r.name == "GAN")
    assert gan.vs == "all real images"
    assert gan.head_auc["swap"] < 0.2 and gan.score_auc < 0.8  # the swap head drags the maximum down
    assert gan.combined.auc_a > 0.95 and gan.combined.differs and gan.combined.delta > 0
    swaps = next(r for r in study.rows if r.name == "swaps")
    assert swaps.combined.auc_a > 0.95  # the swap head still decides swaps
    fitted = dict(zip(study.combination.heads, study.combination.a))
    assert fitted["generated"] > 2 * fitted["swap"] > 2  # both steeper than the maximum's 1, the shallow head most


def test_judge_files_are_never_fitted_on(tmp_path):
    fit = _study_set(tmp_path)
    judge = _write(
        tmp_path / "judge.csv",
        [
            {"path": f"web{i}.png", "label": 0, "kind": "image", "source": "web crops", "group": f"w{i}", "heads": {"swap": 0.99, "generated": 0.99}}
            for i in range(10)
        ],
    )
    alone = study_heads([fit], folds=5)
    with_judge = study_heads([fit], [judge], folds=5)
    assert with_judge.n_judge == 10 and alone.combination == with_judge.combination  # the judged reals changed nothing fitted
    web = next(r for r in with_judge.rows if r.name == "web crops")
    assert web.role == "judge" and web.caught_combined == 1.0 and web.caught_max == 1.0  # reals that look fake are called fake, by both


def test_groups_stay_in_one_fold_and_cells_weigh_alike():
    groups = ["a", "a", "b", "c", "c", "c", "d"]
    folds = group_folds(groups, 2, seed=0)
    for g in set(groups):
        assert len({f for f, h in zip(folds, groups) if h == g}) == 1
    assert set(folds) == {0, 1}
    w = cell_weights(np.array([1, 1, 1, 0, 0]), ["gan", "gan", "swap", "image", "frame"])
    assert w.tolist() == pytest.approx([0.125, 0.125, 0.25, 0.25, 0.25])


def test_soft_or_at_its_start_is_a_smooth_maximum():
    z = np.array([[3.0, -3.0], [0.0, 0.0]])
    s = SoftOr(("a", "b"), (1.0, 1.0), (0.0, 0.0)).logits(z)
    assert s[0] == pytest.approx(3.0 + np.log1p(np.exp(-6.0))) and s[1] == pytest.approx(np.log(2.0))


def test_files_with_several_faces_or_no_score_are_left_out_and_counted(tmp_path):
    base = _study_set(tmp_path, n=20)
    text = base.read_text().splitlines()
    extra = _write(
        tmp_path / "extra.csv",
        [{"path": "group.png", "label": 0, "kind": "image", "source": "FFHQ", "n_faces": 3, "heads": {"swap": 0.2, "generated": 0.2}}],
    )
    study = study_heads([base, extra], folds=5)
    assert study.left_out == {"more than one face (per frame)": 1} and study.n_fit == len(text) - 1
    fewer = study_heads([base, extra], folds=5, exclude=["SWAPS"])  # by source, any case
    assert fewer.left_out["excluded (--exclude)"] == 20 and not any(r.name == "swaps" for r in fewer.rows)


def test_errors_are_one_line_messages(tmp_path):
    one_head = tmp_path / "one.csv"
    with PredictionWriter(one_head, ["swap"]) as w:
        for i, label in enumerate((0, 1, 0, 1)):
            w.write(PredictionRow(f"x{i}.png", label, "image", "s", "", "image", 0.5, "fake", 1, 1, 0.1, head_scores={"swap": 0.5}))
    with pytest.raises(HeadsError, match="two or more"):
        study_heads([one_head])
    reals = _write(
        tmp_path / "reals.csv",
        [{"path": f"r{i}.png", "label": 0, "kind": "image", "source": "FFHQ", "heads": {"swap": 0.1, "generated": 0.1}} for i in range(6)],
    )
    with pytest.raises(HeadsError, match="one class"):
        study_heads([reals])
    result = runner.invoke(app, ["heads", str(reals)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit) and result.output.startswith("error:") and "one class" in result.output
    one_group = _write(
        tmp_path / "onegroup.csv",
        [
            {"path": f"o{i}.png", "label": i % 2, "kind": "image", "source": "s", "group": "g", "heads": {"swap": 0.1 * (i + 1), "generated": 0.5}}
            for i in range(6)
        ],
    )
    for args in (["--media", "photo"], []):
        target = reals if args else one_group
        bad = runner.invoke(app, ["heads", str(target), *args])
        assert bad.exit_code == 1 and isinstance(bad.exception, SystemExit) and bad.output.startswith("error:"), bad.output
    assert "single group" in runner.invoke(app, ["heads", str(one_group)]).output
    missing = runner.invoke(app, ["heads", str(tmp_path / "missing.csv")])
    assert missing.exit_code == 1 and isinstance(missing.exception, SystemExit)


def test_every_file_is_scored_by_a_fit_that_never_saw_its_group(tmp_path):
    """Flip the labels of one group's files: a cross-fitted score of those files must not move
    (no fit that scores them saw them), while the fits that did see them score others differently."""
    rows = [r for r in _csv_rows(_study_set(tmp_path, n=30))]
    before = study_heads([_write(tmp_path / "a.csv", rows)], folds=5)
    flipped = [dict(r, label=1 - r["label"]) if r["group"] == "g3" else r for r in rows]
    after = study_heads([_write(tmp_path / "b.csv", flipped)], folds=5)
    g3 = [r["path"] for r in rows if r["group"] == "g3"]
    assert g3 and all(before.scores[p] == after.scores[p] for p in g3)
    assert any(before.scores[p] != after.scores[p] for p in before.scores if p not in g3)


def test_judge_files_of_a_fitted_group_are_left_out(tmp_path):
    fit = _study_set(tmp_path, n=20)
    judge = _write(
        tmp_path / "judge.csv",
        [
            {"path": "same-video-still.png", "label": 0, "kind": "image", "source": "web", "group": "g1", "heads": {"swap": 0.2, "generated": 0.2}},
            {"path": "swap1.png", "label": 1, "kind": "faceswap-frame", "source": "swaps", "group": "zz", "heads": {"swap": 0.9, "generated": 0.4}},
            {"path": "other.png", "label": 0, "kind": "image", "source": "web", "group": "w9", "heads": {"swap": 0.2, "generated": 0.2}},
        ],
    )
    study = study_heads([fit], [judge], folds=5)
    assert study.n_judge == 1 and study.left_out == {"judge file in a fitted group": 1, "judge file also fitted on": 1}


def test_a_video_with_one_face_per_frame_is_studied_and_the_role_is_in_the_json(tmp_path):
    rows = _csv_rows(_study_set(tmp_path, n=20))
    vids = [
        {
            "path": f"v{i}.mp4",
            "label": i % 2,
            "kind": "faceswap-video" if i % 2 else "video",
            "source": "vids",
            "group": f"v{i}",
            "media": "video",
            "n_faces": 8,
            "heads": {"swap": 0.3 + 0.4 * (i % 2), "generated": 0.5},
        }
        for i in range(10)
    ]
    crowd = {
        "path": "crowd.mp4",
        "label": 0,
        "kind": "video",
        "source": "vids",
        "group": "c",
        "media": "video",
        "n_faces": 20,
        "heads": {"swap": 0.5, "generated": 0.5},
    }
    study = study_heads([_write(tmp_path / "mix.csv", rows + vids + [crowd])], media=None, folds=5)
    assert study.n_fit == len(rows) + 10 and study.left_out == {"more than one face (per frame)": 1}
    assert {r.to_dict()["role"] for r in study.rows} == {"fit"}


def test_command_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "heads.json"
    result = runner.invoke(app, ["heads", str(_study_set(tmp_path, n=30)), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "soft OR fitted on every fitting file" in result.output and "GAN" in result.output
    payload = json.loads(out.read_text())
    assert payload["study"]["heads"] == HEADS and payload["study"]["combination_fitted_on_all"]["rule"] == "soft-or"
    gan = next(r for r in payload["rows"] if r["name"] == "GAN")
    assert gan["auc_combined"] > gan["auc_score"] and gan["differs"] is True
