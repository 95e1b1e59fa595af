"""A tiny end-to-end training run on generated faces: cache -> train -> ONNX -> card -> scanner."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from deepdetector import Detector, ScanConfig  # noqa: E402
from deepdetector.model.card import ModelCard  # noqa: E402
from deepdetector.training.train import TrainConfig, run_training  # noqa: E402
from deepdetector.types import Verdict  # noqa: E402
from tests.media_factory import write_labelled_faces  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory, face_rgb):
    """real/ : the face photo under brightness changes and flips; fake/ : self-blended versions of it."""
    return write_labelled_faces(tmp_path_factory.mktemp("faces"), face_rgb)


@pytest.mark.parametrize("method", ["finetune", "probe"])
def test_tiny_training_run_ships_a_model_the_scanner_accepts(tmp_path, folder, method):
    cfg = TrainConfig(
        data=[str(folder)],
        out=str(tmp_path / "model"),
        cache_dir=str(tmp_path / "cache"),
        run_dir=str(tmp_path / "run"),
        input_size=64,
        cache_size=80,
        epochs=2,
        steps_per_epoch=2,
        pairs=1,
        synthetic=1,
        supervised=1,
        workers=0 if method == "finetune" else 1,
        threads=1,
        pretrained=False,
        progress=False,
        method=method,
        probe_chunks=2,
        freeze_blocks=2,
        ema=0.99 if method == "finetune" else 0.0,
    )
    card = run_training(cfg, log=lambda s: None)
    raw = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert raw == card
    assert raw["input_size"] == 64 and [h["name"] for h in raw["heads"]] == ["swap", "synthetic"]
    assert 0.0 <= raw["threshold"] <= 1.0
    # too few validation files of each media type for thresholds of their own: the default for both
    assert raw["thresholds"] == {"image": raw["threshold"], "video": raw["threshold"]}
    assert raw["training"]["data"]["validation_files"] and raw["training"]["data"]["train_files"]
    assert raw["metrics"]["overall"]["n_files"] >= 2 and "licence" in raw
    # the card names its validation groups, and `evaluate --split model_card.json` reads them
    from deepdetector.datasets.manifest import read_split

    groups = raw["training"]["split"]["validation_groups"]
    assert groups and set(read_split(tmp_path / "model" / "model_card.json")) == set(groups)
    n_val = sum(v["real"] + v["fake"] for v in raw["training"]["data"]["validation_files"].values())
    assert 1 <= len(groups) <= n_val
    loaded = ModelCard.load(tmp_path / "model")
    loaded.verify()
    res = Detector(ScanConfig(model_path=tmp_path / "model")).scan(folder / "real" / "r0.png")
    assert res.verdict in (Verdict.FAKE, Verdict.REAL) and res.probability is not None
    if method == "finetune":
        hist = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
        assert len(hist) == 2  # two epochs, each checkpointed
        # a second invocation resumes from the last checkpoint instead of training again
        run_training(cfg, log=lambda s: None)
        assert len((tmp_path / "run" / "history.jsonl").read_text().splitlines()) == 2
