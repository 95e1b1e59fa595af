"""The web service recognises uploads from their content: real files written by Pillow and PyAV."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepdetector.web.sniff import SNIFF_BYTES, sniff
from deepdetector.web.upload import display_name
from tests.media_factory import blank_photo, write_image, write_video


@pytest.mark.parametrize(
    ("name", "mime"),
    [("a.jpg", "image/jpeg"), ("a.png", "image/png"), ("a.webp", "image/webp"), ("a.gif", "image/gif"),
     ("a.bmp", "image/bmp"), ("a.tif", "image/tiff")],
)  # fmt: skip
def test_images_written_by_pillow(tmp_path: Path, name: str, mime: str) -> None:
    path = write_image(tmp_path / name, blank_photo(48, 64))
    media = sniff(path.read_bytes()[:SNIFF_BYTES])
    assert media is not None and (media.kind, media.mime) == ("image", mime)


@pytest.mark.parametrize(
    ("name", "codec", "mime"),
    [("v.mp4", "libx264", "video/mp4"), ("v.mov", "libx264", "video/quicktime"), ("v.mkv", "libx264", "video/x-matroska"),
     ("v.webm", "libvpx", "video/webm"), ("v.avi", "mpeg4", "video/x-msvideo"), ("v.ts", "mpeg2video", "video/mp2t")],
)  # fmt: skip
def test_videos_written_by_pyav(tmp_path: Path, name: str, codec: str, mime: str) -> None:
    path = write_video(tmp_path / name, n_frames=3, size=(64, 48), codec=codec, face=False)
    media = sniff(path.read_bytes()[:SNIFF_BYTES])
    assert media is not None and (media.kind, media.mime) == ("video", mime)


@pytest.mark.parametrize(
    "head",
    [b"", b"hello world\n", b"%PDF-1.7\n", b"PK\x03\x04\x14\x00", b"\x7fELF\x02\x01\x01", b"<!doctype html><svg>",
     b"BM this is text", b"RIFF\x10\x00\x00\x00WAVEfmt ", b"{\"json\": true}", b"\x1f\x8b\x08\x00"],
)  # fmt: skip
def test_other_content_is_refused(head: bytes) -> None:
    assert sniff(head.ljust(64, b"\0") if head else head) is None


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("photo.jpg", "photo.jpg"), ("../../etc/passwd", "passwd"), ("C:\\Users\\me\\clip.mp4", "clip.mp4"),
     ("bad\x00name\n.png", "badname.png"), ("", "upload"), ("dir/", "upload"), ("é" * 300, "é" * 200)],
)  # fmt: skip
def test_client_file_names_become_display_names(raw: str, shown: str) -> None:
    assert display_name(raw) == shown
