"""The `deepdetector` command as users run it: outputs, exit codes, and bad input without tracebacks."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from deepdetector.cli import app
from tests.media_factory import blank_photo, write_image, write_video

runner = CliRunner()


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory, face_rgb):
    d = tmp_path_factory.mktemp("media")
    write_image(d / "face.jpg", face_rgb)
    write_image(d / "blank.png", blank_photo())
    write_video(d / "clip.mp4", n_frames=24)
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (d / "readme.txt").write_text("ignored: not media")
    return d


def test_scan_folder_writes_every_output(media_dir, tiny_model_dir, tmp_path):
    out_json, out_csv, report, heat = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.html", tmp_path / "heat"
    result = runner.invoke(
        app,
        ["scan", str(media_dir), "--model", str(tiny_model_dir), "--frames", "4", "--json", str(out_json),
         "--csv", str(out_csv), "--report", str(report), "--heatmaps", str(heat)],
    )  # fmt: skip
    assert result.exit_code == 3, result.output  # broken.jpg could not be read
    data = json.loads(out_json.read_text())
    schema = json.loads((Path(__import__("deepdetector.report", fromlist=["x"]).__file__).parent / "schema.json").read_text())
    jsonschema.validate(data, schema)
    by_name = {Path(r["path"]).name: r for r in data["results"]}
    assert set(by_name) == {"face.jpg", "blank.png", "clip.mp4", "broken.jpg"}  # readme.txt is not media
    assert by_name["blank.png"]["verdict"] == "no_face"
    assert by_name["broken.jpg"]["verdict"] == "error" and by_name["broken.jpg"]["error"]
    assert by_name["clip.mp4"]["media"]["sampled_frames"] == 4
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 4
    assert report.read_text().count("<svg") >= 1
    assert list(heat.glob("*.png"))


def test_scan_json_to_stdout_is_clean_json(media_dir, tiny_model_dir):
    result = runner.invoke(app, ["scan", str(media_dir / "face.jpg"), "--model", str(tiny_model_dir), "--json", "-", "-q"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["results"][0]["verdict"] in ("fake", "real")


def test_bad_option_and_missing_model_fail_without_traceback(media_dir, tmp_path):
    cmd = [sys.executable, "-m", "deepdetector.cli", "scan", str(media_dir / "face.jpg")]
    for extra in (["--model", str(tmp_path)], ["--detector", "nope", "--model", str(tmp_path)]):
        proc = subprocess.run(cmd + extra, capture_output=True, text=True)
        assert proc.returncode == 1
        assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_detector_is_reported(media_dir, tiny_model_dir):
    result = runner.invoke(app, ["scan", str(media_dir / "face.jpg"), "--model", str(tiny_model_dir), "--detector", "nope"])
    assert result.exit_code == 1 and "available" in result.output


def test_listing_commands():
    result = runner.invoke(app, ["detectors"])
    assert result.exit_code == 0 and "yunet" in result.output
    result = runner.invoke(app, ["aggregations"])
    assert result.exit_code == 0 and "confident (default)" in result.output


def test_info_verifies_the_card(tiny_model_dir):
    result = runner.invoke(app, ["info", "--model", str(tiny_model_dir)])
    assert result.exit_code == 0 and "verified" in result.output
