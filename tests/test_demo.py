"""The quick-start demo: its fake differs from the real photo only on the face, and its exit
status says whether the shipped model flagged the fake and passed the real."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from deepdetector.cli import app
from deepdetector.demo import demo_photo, make_demo_fake


def test_demo_fake_changes_only_the_face_and_is_deterministic():
    real = demo_photo()
    fake, mask = make_demo_fake(real)
    assert fake.shape == real.shape and fake.dtype == np.uint8
    outside = mask == 0
    assert outside.mean() > 0.8  # the face hull is a small part of the picture
    assert np.array_equal(fake[outside], real[outside])
    inside = mask > 0.9
    assert inside.sum() > 2000 and np.abs(fake[inside].astype(int) - real[inside].astype(int)).mean() > 3
    again, _ = make_demo_fake(real)
    assert np.array_equal(again, fake)


def test_demo_command_writes_its_report_and_exit_status_matches_the_verdicts(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path)])
    assert "Traceback" not in res.output
    for name in ("real.png", "fake.png", "mask.png", "report.html", "results.json"):
        assert (tmp_path / name).is_file(), name
    results = {r["path"].rsplit("/", 1)[-1]: r["verdict"] for r in json.loads((tmp_path / "results.json").read_text())["results"]}
    passed = results["fake.png"] == "fake" and results["real.png"] == "real"
    assert (res.exit_code == 0) == passed
    assert ("demo passed" in res.output) == passed
