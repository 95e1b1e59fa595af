"""The training front end's commands: synth, and clear errors instead of tracebacks."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from deepdetector.cli import app
from tests.media_factory import blank_photo, write_image

runner = CliRunner()


def test_commands_are_registered():
    out = runner.invoke(app, ["--help"]).output
    for cmd in ("train", "synth", "export"):
        assert cmd in out


def test_synth_writes_real_mask_fake_side_by_side(tmp_path, face_rgb):
    src = write_image(tmp_path / "face.jpg", face_rgb)
    out = tmp_path / "out.png"
    res = runner.invoke(app, ["synth", str(src), "-o", str(out), "--size", "128", "--seed", "2"])
    assert res.exit_code == 0, res.output
    pic = np.asarray(Image.open(out))
    assert pic.shape == (128, 384, 3)
    real, mask, fake = pic[:, :128], pic[:, 128:256], pic[:, 256:]
    assert mask.max() > 0 and mask[0, 0].max() == 0
    assert np.array_equal(fake[mask[..., 0] == 0], real[mask[..., 0] == 0])
    again = tmp_path / "again.png"
    runner.invoke(app, ["synth", str(src), "-o", str(again), "--size", "128", "--seed", "2"])
    assert np.array_equal(np.asarray(Image.open(again)), pic)


def test_synth_without_a_face_is_a_clear_error(tmp_path):
    src = write_image(tmp_path / "none.png", blank_photo())
    res = runner.invoke(app, ["synth", str(src), "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "no face" in res.output and "Traceback" not in res.output


def test_train_without_data_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["train", "--out", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "c"), "--run-dir", str(tmp_path / "r")])
    assert res.exit_code == 2 and "no training data" in res.output
