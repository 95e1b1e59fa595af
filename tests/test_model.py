"""Model card loading, checksum refusal, calibration and the onnxruntime classifier."""

import json
import shutil

import numpy as np
import pytest

from deepdetector.errors import ModelError
from deepdetector.model import FaceClassifier, ModelCard
from deepdetector.model.card import Head


def test_card_loads_from_folder_card_or_onnx(tiny_model_dir):
    folder = tiny_model_dir.parent
    for target in (folder, tiny_model_dir, folder / "tiny.onnx"):
        card = ModelCard.load(target)
        assert card.name == "tiny-test-model" and [h.name for h in card.heads] == ["swap", "synthetic"]
        card.verify()


def test_mismatched_weights_are_refused(tiny_model_dir, tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(tiny_model_dir.parent, copy)
    data = bytearray((copy / "tiny.onnx").read_bytes())
    data[-1] ^= 0xFF
    (copy / "tiny.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its card"):
        FaceClassifier(copy)


def test_missing_card_and_bad_card_give_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="no model card"):
        ModelCard.load(tmp_path)
    (tmp_path / "model_card.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelError, match="missing or has a bad field"):
        ModelCard.load(tmp_path)


def test_platt_calibration():
    head = Head("swap", a=2.0, b=-1.0)
    assert head.calibrate(0.5) == pytest.approx(0.5)
    assert head.calibrate(3.0) == pytest.approx(1 / (1 + np.exp(-5.0)))


def test_classifier_outputs_and_direction(tiny_model_dir):
    clf = FaceClassifier(tiny_model_dir)
    s = clf.input_size
    dark = np.full((1, s, s, 3), 20, np.uint8)
    bright = np.full((1, s, s, 3), 240, np.uint8)
    pred = clf.predict(np.concatenate([dark, bright]))
    assert pred.probabilities.shape == (2, 2) and pred.cams.shape == (2, 2, 7, 7)
    assert pred.fake_probability[1] > 0.5 > pred.fake_probability[0]  # tiny model: brightness = "fake"


def test_classifier_rejects_wrong_crop_shape(tiny_model_dir):
    clf = FaceClassifier(tiny_model_dir)
    with pytest.raises(ModelError, match="crops must be"):
        clf.predict(np.zeros((1, 10, 10, 3), np.uint8))


def test_thresholds_per_media_fall_back_to_the_default():
    from deepdetector.types import Thresholds

    th = Thresholds.of(0.4, {"video": 0.3, "image": 0.7})
    assert th.for_media("video") == 0.3 and th.for_media("image") == 0.7 and th.for_media(None) == 0.4 and th.for_media("audio") == 0.4
    assert list(th.of_items(["image", "video", None])) == [0.7, 0.3, 0.4]
    assert th.describe() == "image 0.7, video 0.3" and not th.single
    assert Thresholds.of(0.4).describe() == "0.4" and Thresholds.of(0.4, {"image": 0.4}).single


def test_card_reader_and_writer_round_trip_and_refuse_what_is_not_a_card(tmp_path):
    from deepdetector.model.card import read_card, sha256_file, write_card

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"not really onnx")
    path = write_card({"name": "t", "file": "old.onnx", "sha256": "0" * 64, "heads": []}, tmp_path, onnx=onnx)
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and list(json.loads(text)) == ["name", "file", "sha256", "heads"]  # keys keep their place
    assert read_card(tmp_path) == read_card(onnx) == {"name": "t", "file": "m.onnx", "sha256": sha256_file(onnx), "heads": []}
    (tmp_path / "model_card.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ModelError, match="not a JSON object"):
        read_card(tmp_path)
    with pytest.raises(ModelError, match="no model card"):
        read_card(tmp_path / "elsewhere")
