"""The face cache: computed once, resumable after an interruption, keyed by its settings."""

from __future__ import annotations

import numpy as np
import pytest

import deepdetector.training.cache as cache_mod
from deepdetector.training.cache import CacheSettings, FaceCache
from deepdetector.training.datasets import MediaItem
from tests.media_factory import blank_photo, write_image, write_video


@pytest.fixture()
def items(tmp_path, face_rgb):
    img = write_image(tmp_path / "face.png", face_rgb)
    vid = write_video(tmp_path / "clip.mp4", n_frames=12, size=(480, 360))
    none = write_image(tmp_path / "none.png", blank_photo())
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    mk = lambda p, label="real": MediaItem(str(p), label, "image", "t", str(p))  # noqa: E731
    return [mk(img), mk(vid), mk(none), mk(bad)]


@pytest.fixture()
def counted(monkeypatch):
    calls = []
    real = cache_mod.extract_faces

    def spy(item, *a, **k):
        calls.append(item.path)
        return real(item, *a, **k)

    monkeypatch.setattr(cache_mod, "extract_faces", spy)
    return calls


def test_build_stores_crops_landmarks_and_records_failures(tmp_path, items, counted):
    s = CacheSettings(crop_size=96, video_frames=3)
    c = FaceCache(tmp_path / "cache", s)
    stats = c.build(items, progress=False)
    assert stats["done"] == 4 and stats["failed"] == 1 and stats["no_face"] == 1
    img = c.load(items[0])
    assert img is not None and img.crops.shape == (1, 96, 96, 3) and img.landmarks.shape == (1, 5, 2)
    # the face sits in the middle of a margin-2.0 crop: its box spans about half of it
    x1, y1, x2, y2 = img.boxes[0]
    assert 20 < x1 < 48 < x2 < 76 and (img.landmarks[0] > 0).all() and (img.landmarks[0] < 96).all()
    vid = c.load(items[1])
    assert vid is not None and len(vid) == 3 and list(vid.frames) == sorted(vid.frames)
    assert c.load(items[2]) is None and "error" in c.status(items[3])


def test_second_run_reuses_everything_and_an_interrupted_line_is_redone(tmp_path, items, counted):
    s = CacheSettings(crop_size=64, video_frames=2)
    root = tmp_path / "cache"
    FaceCache(root, s).build(items[:2], progress=False)
    assert len(counted) == 2
    again = FaceCache(root, s)  # a new process: reads the index from disk
    stats = again.build(items[:2], progress=False)
    assert stats["cached_before"] == 2 and stats["done"] == 0 and len(counted) == 2
    first = again.load(items[0])
    # simulate a crash while the last line was being written: that file is computed again
    lines = (root / "index.jsonl").read_text().splitlines()
    (root / "index.jsonl").write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])
    resumed = FaceCache(root, s)
    stats = resumed.build(items[:2], progress=False)
    assert stats["cached_before"] == 1 and stats["done"] == 1 and len(counted) == 3
    assert np.array_equal(resumed.load(items[0]).crops, first.crops)


def test_other_settings_do_not_reuse_stale_crops(tmp_path, items, counted):
    root = tmp_path / "cache"
    FaceCache(root, CacheSettings(crop_size=64)).build(items[:1], progress=False)
    other = FaceCache(root, CacheSettings(crop_size=80))
    assert not other.has(items[0])
    other.build(items[:1], progress=False)
    assert other.load(items[0]).crops.shape[1] == 80 and len(counted) == 2
