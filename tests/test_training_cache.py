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


def test_the_same_files_copied_elsewhere_reuse_every_crop(tmp_path, items, counted):
    """A copy of the data (new paths, new modification times) is the same content: nothing is redone."""
    import os
    import shutil

    s = CacheSettings(crop_size=64, video_frames=2)
    root = tmp_path / "cache"
    first = FaceCache(root, s)
    first.build(items[:2], progress=False)
    copy = tmp_path / "copy"
    copy.mkdir()
    moved = []
    for it in items[:2]:
        dst = copy / os.path.basename(it.path)
        shutil.copyfile(it.path, dst)  # copyfile: a fresh modification time
        os.utime(dst, ns=(1_000_000_000, 1_000_000_000))
        moved.append(MediaItem(str(dst), it.label, it.kind, it.source, str(dst)))
    again = FaceCache(root, s)
    assert all(again.has(it) for it in moved)
    assert again.build(moved, progress=False)["cached_before"] == 2 and len(counted) == 2
    assert np.array_equal(again.load(moved[0]).crops, first.load(items[0]).crops)


def test_changed_content_is_redone_even_with_the_old_size_and_time(tmp_path, face_rgb, counted):
    import os

    from tests.media_factory import write_image

    p = write_image(tmp_path / "face.png", face_rgb)
    it = MediaItem(str(p), "real", "image", "t", str(p))
    root = tmp_path / "cache"
    s = CacheSettings(crop_size=64)
    FaceCache(root, s).build([it], progress=False)
    st = os.stat(p)
    data = bytearray(p.read_bytes())
    data[-20] ^= 0xFF  # same size; then the old modification time is put back
    p.write_bytes(bytes(data))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert not FaceCache(root, s).has(it)


def test_an_unchanged_file_is_fingerprinted_once(tmp_path, items, monkeypatch):
    s = CacheSettings(crop_size=64, video_frames=2)
    root = tmp_path / "cache"
    FaceCache(root, s).build(items[:2], progress=False)
    reads = []
    real = cache_mod.content_fingerprint
    monkeypatch.setattr(cache_mod, "content_fingerprint", lambda p: reads.append(p) or real(p))
    again = FaceCache(root, s)  # a new process: the remembered fingerprints come from contents.jsonl
    assert all(again.load(it) is not None for it in items[:2]) and reads == []


def test_large_files_are_sampled_not_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "WHOLE_FILE_BYTES", 64)
    monkeypatch.setattr(cache_mod, "SAMPLE_BYTES", 8)
    p = tmp_path / "big.bin"
    base = bytes(range(200))
    p.write_bytes(base)
    fp = cache_mod.content_fingerprint(p)
    p.write_bytes(base[:50] + b"x" + base[51:])  # outside the start, middle and end samples
    assert cache_mod.content_fingerprint(p) == fp
    p.write_bytes(base[:96] + b"x" + base[97:])  # inside the middle sample
    assert cache_mod.content_fingerprint(p) != fp
    p.write_bytes(base + b"!")  # another size
    assert cache_mod.content_fingerprint(p) != fp


def test_a_file_gone_before_the_build_is_counted_and_the_others_are_cached(tmp_path, items, counted):
    import os

    gone = tmp_path / "gone.png"
    gone.write_bytes(open(items[0].path, "rb").read())
    todo = [MediaItem(str(gone), "real", "image", "t", str(gone)), items[0]]
    os.remove(gone)
    c = FaceCache(tmp_path / "cache", CacheSettings(crop_size=64))
    stats = c.build(todo, progress=False)
    assert stats["done"] == 2 and stats["failed"] == 1
    assert c.load(todo[0]) is None and "cannot read" in c.status(todo[0])["error"]
    assert c.load(items[0]) is not None


def test_dense_landmarks_are_added_on_first_use_without_changing_keys_or_crops(tmp_path, items, counted):
    c = FaceCache(tmp_path / "cache", CacheSettings(crop_size=288, video_frames=3))
    c.build(items[:2], progress=False)
    before = c.load(items[0])
    key = c.key(items[0])
    assert before.mesh is None  # not computed until asked for
    with_mesh = c.load(items[0], mesh=True)
    assert with_mesh.mesh.shape == (1, 468, 2) and np.isfinite(with_mesh.mesh).all()
    # the mesh sits on the face: the eyes' centres near the detector's eye landmarks (crop coordinates)
    from deepdetector.landmarks import topology as mesh

    eyes = np.stack([with_mesh.mesh[0, list(mesh.RIGHT_EYE)].mean(0), with_mesh.mesh[0, list(mesh.LEFT_EYE)].mean(0)])
    eye_distance = np.linalg.norm(with_mesh.landmarks[0, 1] - with_mesh.landmarks[0, 0])
    assert np.linalg.norm(eyes - with_mesh.landmarks[0, :2], axis=1).max() < 0.2 * eye_distance
    # stored: a new reader gets it from the file, the key and crops are unchanged, nothing was re-extracted
    again = FaceCache(tmp_path / "cache", CacheSettings(crop_size=288, video_frames=3))
    reread = again.load(items[0])
    assert again.key(items[0]) == key and np.array_equal(reread.crops, before.crops)
    assert reread.mesh is not None and np.allclose(reread.mesh, with_mesh.mesh)
    assert counted.count(str(items[0].path)) == 1
