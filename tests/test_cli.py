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


def test_unwritable_outputs_are_refused_before_the_scan(media_dir, tiny_model_dir, tmp_path):
    """A mistyped output path stops the command at once with one line, not a traceback after the scan."""
    a_file = tmp_path / "taken.jpg"
    a_file.write_bytes(b"x")
    cases = {
        ("--json", str(a_file / "out.json")): "is a file, not a folder",
        ("--csv", str(a_file / "sub" / "out.csv")): "is a file, not a folder",
        ("--report", str(tmp_path)): "it is a folder",
        ("--heatmaps", str(a_file)): "it is a file, not a folder",
    }
    for option, message in cases.items():
        result = runner.invoke(app, ["scan", str(media_dir / "face.jpg"), "--model", str(tiny_model_dir), *option])
        assert result.exit_code == 1, (option, result.output)
        assert message in result.output and "Traceback" not in result.output, (option, result.output)
        assert "face.jpg" not in result.output  # refused before scanning: no table


def test_an_output_failing_after_the_scan_keeps_the_others(media_dir, tiny_model_dir, tmp_path, monkeypatch):
    """A write that fails only when it happens (disk full) is reported; the table and the other outputs are kept."""
    from deepdetector import report as rep

    def full_disk(results, path):
        raise rep.ReportError(f"cannot write the CSV report {path}: No space left on device")

    monkeypatch.setattr(rep, "write_csv", full_disk)
    out_json = tmp_path / "r.json"
    result = runner.invoke(app, ["scan", str(media_dir / "face.jpg"), "--model", str(tiny_model_dir),
                                 "--csv", str(tmp_path / "r.csv"), "--json", str(out_json)])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.output and "Traceback" not in result.output
    assert "1 file: " in result.output  # the table and its summary were printed
    assert json.loads(out_json.read_text())["results"][0]["path"].endswith("face.jpg")


def test_csv_to_stdout(media_dir, tiny_model_dir):
    result = runner.invoke(app, ["scan", str(media_dir / "face.jpg"), "--model", str(tiny_model_dir), "--csv", "-", "-q"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert len(rows) == 1 and rows[0]["path"].endswith("face.jpg")
    both = runner.invoke(app, ["scan", str(media_dir / "face.jpg"), "--model", str(tiny_model_dir), "--csv", "-", "--json", "-"])
    assert both.exit_code == 1 and "only one of" in both.output


@pytest.mark.parametrize(
    "option, value, named",
    [("--margin", "0", "margin"), ("--margin", "-1", "margin"), ("--threshold", "-0.5", "threshold"),
     ("--threshold", "2", "threshold"), ("--fps", "0", "fps"), ("--threads", "-2", "threads"), ("--frames", "0", "frames")],
)  # fmt: skip
def test_settings_out_of_range_are_refused(media_dir, tiny_model_dir, option, value, named):
    result = runner.invoke(app, ["scan", str(media_dir / "face.jpg"), "--model", str(tiny_model_dir), option, value])
    assert result.exit_code == 1, result.output
    assert f"error: {named} " in result.output and "not possible" in result.output, result.output


def test_version():
    from deepdetector import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"deepdetector {__version__}"
