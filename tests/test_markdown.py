"""Markdown tables of evaluate / robustness JSON (docs and model cards quote them)."""

from __future__ import annotations

import json

from deepdetector.markdown import evaluation_markdown, main, robustness_markdown


def test_robustness_table_marks_the_baseline_and_gives_seconds_per_item():
    payload = {
        "run": {"model": "m v1", "model_sha256": "ab", "threshold": 0.5, "items": 4, "frames_per_video": 8, "seed": 0, "selection": []},
        "experiments": [
            {
                "name": "jpeg",
                "title": "JPEG quality",
                "description": "d",
                "levels": [
                    {
                        "level": "orig",
                        "label": "original",
                        "baseline": True,
                        "n": 4,
                        "n_scored": 4,
                        "n_no_face": 0,
                        "n_error": 0,
                        "auc": 0.75,
                        "accuracy": 0.5,
                        "tpr": 0.5,
                        "fpr": 0.5,
                        "mean_abs_change": 0.0,
                        "mean_change": 0.0,
                        "seconds": 2.0,
                    },
                    {
                        "level": "30",
                        "label": "q30",
                        "baseline": False,
                        "n": 4,
                        "n_scored": 3,
                        "n_no_face": 1,
                        "n_error": 0,
                        "auc": None,
                        "accuracy": None,
                        "tpr": None,
                        "fpr": None,
                        "mean_abs_change": 0.25,
                        "mean_change": -0.125,
                        "seconds": 6.0,
                        "auc_change": -0.12,
                        "auc_change_ci": [-0.251, -0.012],
                        "auc_change_differs": True,
                    },
                ],
            }
        ],
    }
    text = robustness_markdown(payload)
    assert "| **original** | 0.750 |  | 0.500 | 0.500 | 0.500 | 0.000 | 0.000 | 4 | 0 | 0 | 0.50 |" in text
    assert "| q30 | n/a | -0.120 (-0.25 to -0.01)* | n/a | n/a | n/a | 0.250 | -0.125 | 3 | 1 | 0 | 1.50 |" in text


def test_evaluation_tables_list_targets_and_subsets():
    payload = {
        "run": {"model": {"name": "m", "version": "1", "sha256": "c" * 64}, "manifest": "dev.csv", "predictions": "p.csv", "config": {"frames": 32}},
        "threshold": 0.4,
        "aggregations": ["mean"],
        "targets": [
            {"name": "FF++ c23 video AUC", "goal": ">= 0.97", "value": 0.8, "ci": [0.6123, 0.9456], "status": "missed", "n": 10, "n_scored": 9}
        ],
        "subsets": [
            {
                "name": "all items",
                "level": "overall",
                "n": 10,
                "n_fake": 6,
                "n_real": 4,
                "n_scored": 9,
                "n_no_face": 1,
                "n_error": 0,
                "vs": None,
                "auc": 0.8,
                "auc_ci": [0.55, 0.97],
                "frame_auc": 0.7,
                "ap": 0.9,
                "eer": 0.2,
                "accuracy": 0.75,
                "tpr": 0.8,
                "fpr": 0.25,
                "video_auc_by_aggregation": {"mean": 0.81},
            }
        ],
    }
    text = evaluation_markdown(payload)
    assert "| FF++ c23 video AUC | >= 0.97 | 0.800 | 0.61-0.95 | missed | 10 (9) |" in text
    assert "| all items | 10 (6/4) | 9 | 1 | 0 |  | 0.800 | 0.55-0.97 | 0.700 | 0.900 | 0.200 | 0.750 | 0.800 | 0.250 |" in text
    assert "deepdetector evaluate dev.csv" in text and "| all items | 0.810 |" in text


def test_command_line_refuses_unreadable_input(tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    assert main([str(bad)]) == 2 and "cannot read" in capsys.readouterr().err
    bad.write_text("[]")
    assert main([str(bad)]) == 2 and "neither" in capsys.readouterr().err
    good = tmp_path / "r.json"
    good.write_text(json.dumps({"run": {}, "experiments": []}))
    assert main([str(good)]) == 0


def test_files_written_before_intervals_still_render():
    payload = {"threshold": 0.4, "targets": [{"name": "t", "goal": ">= 0.9", "value": 0.8, "status": "missed", "n": 3, "n_scored": 3}], "subsets": []}
    assert "| t | >= 0.9 | 0.800 |  | missed | 3 (3) |" in evaluation_markdown(payload)
