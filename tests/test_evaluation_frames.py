"""`deepdetector frames`: a manifest's videos as PNG stills with a manifest of their own."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from deepdetector.cli import app
from deepdetector.datasets.manifest import read_manifest
from tests.media_factory import face_photo, write_image, write_video

runner = CliRunner()


def _dataset(root: Path) -> Path:
    (root / "media").mkdir(parents=True)
    write_video(root / "media" / "fake.mp4", n_frames=12, fps=6)
    write_video(root / "media" / "real.mp4", n_frames=12, fps=6)
    write_image(root / "media" / "photo.jpg", face_photo()[::4, ::4])
    (root / "media" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    rows = [
        "path,label,kind,source_dataset,group",
        "media/fake.mp4,fake,faceswap-video,FF c23 Deepfakes,001_002",
        "media/real.mp4,real,video,FF c23 original,001",
        "media/photo.jpg,real,image,FFHQ,p1",
        "media/broken.mp4,fake,faceswap-video,FF c23 Deepfakes,003_004",
    ]
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def test_stills_keep_label_and_group_and_are_photos(tmp_path):
    manifest = _dataset(tmp_path / "data")
    out = tmp_path / "stills"
    result = runner.invoke(app, ["frames", str(manifest), "-o", str(out), "--per-video", "3", "-q"])
    assert result.exit_code == 0, result.output
    assert "6 stills of 2 videos (1 could not be decoded)" in result.output and "skipped media/broken.mp4" in result.output
    rows = list(csv.DictReader((out / "frames.csv").open()))
    assert len(rows) == 6 and all((out / r["path"]).is_file() for r in rows)
    fake = [r for r in rows if r["label"] == "fake"]
    assert len(fake) == 3 and {r["kind"] for r in fake} == {"faceswap-frame"} and {r["group"] for r in fake} == {"001_002"}
    assert {r["source_dataset"] for r in fake} == {"frames of FF c23 Deepfakes"}
    assert {r["kind"] for r in rows if r["label"] == "real"} == {"frame"}
    items = read_manifest(out / "frames.csv")  # a manifest evaluate reads, of photos
    assert len(items) == 6 and not any(it.is_video for it in items)
    # first and last frame of a 12-frame video are among the three
    assert sorted(r["path"].rsplit("_f", 1)[1] for r in fake) == ["000000.png", "000006.png", "000011.png"]


def test_existing_output_needs_overwrite_and_bad_options_fail_cleanly(tmp_path):
    manifest = _dataset(tmp_path / "data")
    out = tmp_path / "stills"
    assert runner.invoke(app, ["frames", str(manifest), "-o", str(out), "-q"]).exit_code == 0
    again = runner.invoke(app, ["frames", str(manifest), "-o", str(out), "-q"])
    assert again.exit_code == 1 and "--overwrite" in again.output and "Traceback" not in again.output
    first = sorted(p.name for p in out.glob("*.png"))
    (out / "notes.txt").write_text("mine")  # a file the tool did not write
    assert runner.invoke(app, ["frames", str(manifest), "-o", str(out), "-q", "--overwrite", "--per-video", "2"]).exit_code == 0
    # the earlier run's stills went with its manifest: the folder holds what the new manifest lists
    listed = sorted(r["path"] for r in csv.DictReader((out / "frames.csv").open()))
    assert sorted(p.name for p in out.glob("*.png")) == listed and len(listed) < len(first)
    assert (out / "notes.txt").read_text() == "mine"
    # an overwrite that writes nothing (only a broken video) leaves the earlier manifest and its stills
    broken = tmp_path / "data" / "broken.csv"
    broken.write_text("path,label,kind\nmedia/broken.mp4,fake,faceswap-video\n")
    failed = runner.invoke(app, ["frames", str(broken), "-o", str(out), "-q", "--overwrite"])
    assert failed.exit_code == 1 and "Traceback" not in failed.output
    assert sorted(r["path"] for r in csv.DictReader((out / "frames.csv").open())) == listed
    assert sorted(p.name for p in out.glob("*.png")) == listed
    zero = runner.invoke(app, ["frames", str(manifest), "-o", str(tmp_path / "z"), "--per-video", "0", "-q"])
    assert zero.exit_code == 1 and "--per-video" in zero.output
    huge = runner.invoke(app, ["frames", str(manifest), "-o", str(tmp_path / "h"), "--per-video", "100000", "-q"])
    assert huge.exit_code == 1 and "between 1 and" in huge.output  # not silently capped
    photos = tmp_path / "photos.csv"
    photos.write_text("path,label\ndata/media/photo.jpg,real\n")
    none = runner.invoke(app, ["frames", str(photos), "-o", str(tmp_path / "p"), "-q"])
    assert none.exit_code == 1 and "no video" in none.output
