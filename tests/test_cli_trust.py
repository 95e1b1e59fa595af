"""`deepdetector scan` keeps its promises (#27): it never overwrites an input, every unreadable file
gets an error entry and exit status 3, folders say what they left out, Ctrl-C keeps what is done."""

import json
import os
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from deepdetector.cli import app
from deepdetector.report import validate_json
from tests.media_factory import blank_photo, write_image

runner = CliRunner()


@pytest.fixture
def photo(tmp_path, face_rgb) -> Path:
    return write_image(tmp_path / "photo.jpg", face_rgb)


@pytest.mark.parametrize("option", ["--json", "--csv", "--report"])
def test_an_output_that_is_an_input_is_refused_before_scanning(photo, tiny_model_dir, option):
    before = photo.read_bytes()
    result = runner.invoke(app, ["scan", str(photo), "--model", str(tiny_model_dir), option, str(photo)])
    assert result.exit_code == 1, result.output
    assert "is the input file" in result.output and "Traceback" not in result.output
    assert photo.read_bytes() == before  # the evidence is untouched


def test_an_output_that_links_to_an_input_is_refused(photo, tiny_model_dir, tmp_path):
    link = tmp_path / "report.html"
    link.symlink_to(photo)
    other = tmp_path / "sub" / ".." / "photo.jpg"  # the same file under another spelling
    before = photo.read_bytes()
    for target in (link, other):
        result = runner.invoke(app, ["scan", str(tmp_path), "--model", str(tiny_model_dir), "--report", str(target)])
        assert result.exit_code == 1 and "is the input file" in result.output, result.output
    assert photo.read_bytes() == before
    # a heatmap folder that is an input file is refused too
    result = runner.invoke(app, ["scan", str(photo), "--model", str(tiny_model_dir), "--heatmaps", str(photo)])
    assert result.exit_code == 1 and photo.read_bytes() == before


def test_an_unreadable_named_file_gets_an_error_row_and_exit_3(photo, tiny_model_dir, tmp_path, monkeypatch):
    """Typer used to refuse an unreadable argument as a usage error (exit 2, nothing scanned)."""
    locked = tmp_path / "locked.jpg"
    shutil.copy(photo, locked)
    real_access = os.access

    def access(path, mode, *args, **kwargs):  # as if locked.jpg had mode 000 (root reads everything)
        if os.fspath(path).endswith("locked.jpg") and mode & os.R_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["scan", str(locked), str(photo), "--model", str(tiny_model_dir), "--json", str(out)])
    assert result.exit_code == 3, result.output
    rows = {Path(r["path"]).name: r for r in json.loads(out.read_text())["results"]}
    assert rows["locked.jpg"]["verdict"] == "error" and "permission" in rows["locked.jpg"]["error"]
    assert rows["photo.jpg"]["verdict"] != "error"


def test_folders_list_every_media_name_and_say_what_they_skipped(photo, tiny_model_dir, tmp_path, monkeypatch):
    root = tmp_path / "archive"
    (root / "locked").mkdir(parents=True)
    (root / "sub").mkdir()
    shutil.copy(photo, root / "sub" / "phone.heic")  # named .heic, decodes by content
    write_image(root / "sub" / "room.avif.png", blank_photo())
    shutil.copy(photo, root / "locked" / "hidden.jpg")
    (root / "notes.txt").write_text("not media")
    (root / "gone.jpg").symlink_to(root / "nowhere.jpg")  # a dangling link
    (root / "elsewhere").symlink_to(tmp_path)  # a link to a folder
    real_scandir = os.scandir

    def scandir(path="."):  # as if "locked" had mode 000
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["scan", str(root), "--model", str(tiny_model_dir), "--json", str(out)])
    assert result.exit_code == 3, result.output
    doc = json.loads(out.read_text())
    validate_json(doc)
    rows = {os.path.relpath(r["path"], root): r for r in doc["results"]}
    assert set(rows) == {"gone.jpg", "locked", os.path.join("sub", "phone.heic"), os.path.join("sub", "room.avif.png")}
    assert rows[os.path.join("sub", "phone.heic")]["verdict"] in ("fake", "real")
    assert rows["locked"]["verdict"] == "error" and "cannot list this folder" in rows["locked"]["error"]
    assert rows["locked"]["threshold"] is None and rows["locked"]["explanation"].startswith("The file could not be analysed: cannot list")
    assert rows["gone.jpg"]["verdict"] == "error" and "link" in rows["gone.jpg"]["error"]
    skipped = {os.path.relpath(s["path"], root): s["reason"] for s in doc["skipped"]}
    assert set(skipped) == {"notes.txt", "elsewhere"} and doc["summary"]["skipped"] == 2
    assert "not an image or video" in skipped["notes.txt"] and "link to a folder" in skipped["elsewhere"]
    assert "skipped 2 entries" in result.output


def test_ctrl_c_writes_what_is_done_and_exits_130(photo, tiny_model_dir, tmp_path, monkeypatch):
    from deepdetector.api import Detector

    for name in ("b.jpg", "c.jpg"):
        shutil.copy(photo, tmp_path / name)
    real_scan = Detector.scan
    calls = []

    def scan(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_scan(self, path, *args, **kwargs)

    monkeypatch.setattr(Detector, "scan", scan)
    out_json, out_csv, out_html = tmp_path / "o.json", tmp_path / "o.csv", tmp_path / "o.html"
    result = runner.invoke(app, ["scan", str(tmp_path / "b.jpg"), str(tmp_path / "c.jpg"), str(photo), "--model", str(tiny_model_dir),
                                 "--json", str(out_json), "--csv", str(out_csv), "--report", str(out_html)])  # fmt: skip
    assert result.exit_code == 130, result.output
    assert "interrupted after 1 of 3 files; outputs hold those 1" in result.output
    assert [Path(r["path"]).name for r in json.loads(out_json.read_text())["results"]] == ["b.jpg"]
    assert len(out_csv.read_text().strip().splitlines()) == 2  # header + b.jpg
    assert "b.jpg" in out_html.read_text()


def test_file_names_do_not_wrap_in_an_80_column_table():
    from deepdetector.report import print_table
    from deepdetector.types import FileResult, MediaInfo, Verdict

    long = "archive/2024/holidays/family/" + "very_long_file_name_" * 3 + "0001.mp4"
    results = [FileResult(path=long, verdict=Verdict.REAL, probability=0.2, threshold=0.5,
                          media=MediaInfo(path=long, kind="video", width=64, height=64, duration=60.0, sampled_frames=32))]  # fmt: skip
    console = Console(width=80, record=True, force_terminal=False)
    print_table(results, console)
    lines = console.export_text().splitlines()
    body = [line for line in lines if "0001.mp4" in line]
    assert len(body) == 1 and "real" in body[0]  # the name kept its end (extension) on the verdict's line
    assert all(len(line) <= 80 for line in lines)


def test_max_pixels_option_sets_the_limit_for_hostile_files(tiny_model_dir, tmp_path):
    from PIL import Image

    path = tmp_path / "wide.jpg"
    Image.new("RGB", (3000, 2000), (90, 90, 90)).save(path)
    out = tmp_path / "o.json"
    refused = runner.invoke(app, ["scan", str(path), "--model", str(tiny_model_dir), "--max-pixels", "5", "--json", str(out)])
    assert refused.exit_code == 3, refused.output
    row = json.loads(out.read_text())["results"][0]
    assert row["verdict"] == "error" and "6 megapixels" in row["error"] and "--max-pixels" in row["error"]
    allowed = runner.invoke(app, ["scan", str(path), "--model", str(tiny_model_dir), "--max-pixels", "7", "--json", str(out)])
    assert allowed.exit_code == 0 and json.loads(out.read_text())["results"][0]["verdict"] == "no_face"
