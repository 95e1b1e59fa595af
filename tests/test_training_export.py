"""ONNX export of the CAM network: the model contract and torch/onnxruntime parity."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from deepdetector.model.card import (  # noqa: E402
    ModelCard,  # noqa: E402
    sha256_file,
    write_card,
)
from deepdetector.training.export import check_parity, export_onnx  # noqa: E402
from deepdetector.training.model import HEADS, build_model  # noqa: E402

SIZE = 64


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(HEADS, pretrained=False).eval()
    with torch.no_grad():  # a non-trivial head so the parity check compares real numbers
        model.head.weight.normal_(0, 0.1)
        model.head.bias.fill_(0.3)
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "m.onnx", SIZE)
    return model, path


def test_contract_inputs_and_outputs(exported):
    _, path = exported
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == "image" and inp.type == "tensor(uint8)" and inp.shape[1:] == [SIZE, SIZE, 3]
    assert [o.name for o in sess.get_outputs()] == ["logits", "cam"]
    for batch in (1, 3):  # dynamic batch axis
        logits, cam = sess.run(None, {"image": np.zeros((batch, SIZE, SIZE, 3), np.uint8)})
        assert logits.shape == (batch, len(HEADS)) and cam.shape[:2] == (batch, len(HEADS)) and cam.ndim == 4


def test_torch_and_onnxruntime_agree(exported):
    model, path = exported
    images = np.random.default_rng(0).integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    assert check_parity(model, path, images) < 1e-3
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, cam = sess.run(None, {"image": images})
    assert np.allclose(logits, cam.mean(axis=(2, 3)), atol=1e-5)  # the logit IS the mean of the CAM
    assert np.abs(logits).max() > 1e-3


def test_card_is_accepted_by_the_scanner_and_checks_sha256(exported, tmp_path):
    _, path = exported
    onnx = tmp_path / "deepdetector.onnx"
    onnx.write_bytes(path.read_bytes())
    card_path = write_card(
        {"name": "t", "version": "0", "input_size": SIZE, "margin": 1.6, "heads": [{"name": h, "a": 1.0, "b": 0.0} for h in HEADS], "threshold": 0.5},
        tmp_path,
        onnx=onnx,
    )
    raw = json.loads(card_path.read_text())
    assert raw["file"] == "deepdetector.onnx" and raw["sha256"] == sha256_file(onnx)
    card = ModelCard.load(card_path)
    card.verify()
    assert [h.name for h in card.heads] == list(HEADS) and card.input_size == SIZE


def test_weight_average_follows_the_weights_slowly_and_copies_batch_norm_statistics():
    import torch

    from deepdetector.training.train import WeightAverage

    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    avg = WeightAverage(net, decay=0.9)
    start = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
        net[1].running_mean.fill_(3.0)
    for _ in range(200):
        avg.update(net)
    w = avg.model[0].weight
    assert torch.allclose(w, start + 1.0, atol=1e-3)  # converged to the (fixed) current weights
    assert torch.equal(avg.model[1].running_mean, torch.full((2,), 3.0))
    fresh = WeightAverage(net, decay=0.9)
    with torch.no_grad():
        net[0].weight.add_(10.0)
    fresh.update(net)  # first step: decay (1+1)/(10+1) = 0.18, so the average moves most of the way
    moved = (fresh.model[0].weight - (start + 1.0)).mean().item()
    assert 7.5 < moved < 8.5
    state = fresh.state_dict()
    again = WeightAverage(net, decay=0.9)
    again.load_state_dict(state)
    assert again.steps == 1 and torch.equal(again.model[0].weight, fresh.model[0].weight)
