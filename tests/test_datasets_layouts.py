"""Training samples from manifests and every supported dataset layout, group resolution and the group-wise split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepdetector.datasets.manifest import (
    detect_layout,
    read_celebdf,
    read_dfdc,
    read_faceforensics,
    read_labelled_folder,
    read_source,
    resolve_groups,
    split_by_group,
)
from deepdetector.errors import ConfigError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_manifest_paths_groups_and_subject_split(tmp_path):
    touch(tmp_path / "data/a.jpg")
    touch(tmp_path / "data/v.mp4")
    touch(tmp_path / "data/sdfd_sd21__x_allImages_anB-7_3.jpg")
    touch(tmp_path / "data/sdfd_sd21__x_allImages_anB-7_4.jpg")
    m = tmp_path / "data/m.csv"
    m.write_text(
        "path,label,kind,source_dataset,origin_repo,group\n"
        "a.jpg,real,image,FFHQ,r,\n"
        "v.mp4,fake,faceswap-video,FaceForensics++ c23 Deepfakes,r,033_097\n"
        "sdfd_sd21__x_allImages_anB-7_3.jpg,fake,diffusion-image,SD,r,sdfd_sd21\n"
        "sdfd_sd21__x_allImages_anB-7_4.jpg,fake,diffusion-image,SD,r,sdfd_sd21\n"
    )
    items = read_source(m)
    assert [it.label for it in items] == ["real", "fake", "fake", "fake"]
    assert items[0].path == str((tmp_path / "data/a.jpg").resolve())
    assert items[0].group == items[0].path  # empty group: the file is its own group
    assert items[1].group == "033_097" and items[1].is_video and not items[0].is_video
    assert items[2].group == items[3].group == "sdfd_sd21:anB-7"  # one subject, one group


def test_the_manifest_kind_decides_image_or_video(tmp_path):
    """A GIF listed as an image is a still; a row without a kind is judged by its extension."""
    m = tmp_path / "m.csv"
    m.write_text("path,label,kind\nstill.gif,real,image\nanim.gif,fake,\nclip.mp4,fake,gan-image\n")
    still, anim, clip = read_source(m)
    assert not still.is_video and still.kind == "image"
    assert anim.is_video and anim.kind == "video"  # an empty kind is filled from the extension
    assert not clip.is_video


def test_manifest_errors_are_user_facing(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_source(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\na.jpg,maybe\n")
    with pytest.raises(ConfigError, match="neither 'real' nor 'fake'"):
        read_source(bad)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("file,y\na.jpg,1\n")
    with pytest.raises(ConfigError, match="lacks the column"):
        read_source(nocol)


def test_labelled_folder(tmp_path):
    touch(tmp_path / "ds/real/x/1.png")
    touch(tmp_path / "ds/fake/2.mp4")
    touch(tmp_path / "ds/fake/notes.txt")
    items = read_labelled_folder(tmp_path / "ds")
    assert sorted((Path(i.path).name, i.label) for i in items) == [("1.png", "real"), ("2.mp4", "fake")]
    assert detect_layout(tmp_path / "ds") == "folder"
    with pytest.raises(ConfigError):
        read_labelled_folder(tmp_path / "empty_dir_that_is_missing")


def test_faceforensics_layout_and_identity_groups(tmp_path):
    root = tmp_path / "ff"
    touch(root / "original_sequences/youtube/c23/videos/033.mp4")
    touch(root / "original_sequences/youtube/c23/videos/097.mp4")
    touch(root / "original_sequences/youtube/c23/videos/500.mp4")
    touch(root / "manipulated_sequences/Deepfakes/c23/videos/033_097.mp4")
    touch(root / "manipulated_sequences/Face2Face/c40/videos/097_033.mp4")
    items = read_faceforensics(root)
    assert detect_layout(root) == "faceforensics"
    by_name = {Path(i.path).stem + i.subset: i for i in items}
    assert sum(i.label == "fake" for i in items) == 2 and sum(i.label == "real" for i in items) == 3
    assert any("c40 Face2Face" in i.subset for i in items)
    groups = {Path(i.path).stem: i.group for i in resolve_groups(items)}
    assert groups["033"] == groups["097"] == groups["033_097"] == groups["097_033"] != groups["500"]
    assert by_name  # readable subsets


def test_celebdf_layout(tmp_path):
    root = tmp_path / "cdf"
    touch(root / "Celeb-real/id0_0000.mp4")
    touch(root / "Celeb-synthesis/id0_id16_0000.mp4")
    touch(root / "Celeb-real/id16_0003.mp4")
    touch(root / "YouTube-real/00001.mp4")
    items = read_celebdf(root)
    assert detect_layout(root) == "celebdf"
    groups = {Path(i.path).stem: i.group for i in resolve_groups(items)}
    assert groups["id0_0000"] == groups["id0_id16_0000"] == groups["id16_0003"]
    assert groups["00001"] != groups["id0_0000"]
    assert {i.label for i in items if "synthesis" in i.path} == {"fake"}


def test_dfdc_layout(tmp_path):
    root = tmp_path / "dfdc"
    part = root / "dfdc_train_part_0"
    touch(part / "orig.mp4")
    touch(part / "fake1.mp4")
    (part / "metadata.json").write_text(
        json.dumps(
            {
                "orig.mp4": {"label": "REAL", "split": "train"},
                "fake1.mp4": {"label": "FAKE", "split": "train", "original": "orig.mp4"},
                "gone.mp4": {"label": "FAKE", "original": "orig.mp4"},
            }
        )
    )
    items = read_dfdc(root)
    assert detect_layout(root) == "dfdc"
    assert sorted((Path(i.path).name, i.label) for i in items) == [("fake1.mp4", "fake"), ("orig.mp4", "real")]
    assert len({i.group for i in items}) == 1  # a fake stays with its original


def test_unknown_layout_is_a_clear_error(tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ConfigError, match="unknown dataset layout"):
        read_source(tmp_path / "nothing")


def _ff_items(tmp_path, n_pairs=8):
    root = tmp_path / "ff"
    for k in range(n_pairs):
        a, b = f"{100 + 2 * k}", f"{101 + 2 * k}"
        touch(root / f"original_sequences/youtube/c23/videos/{a}.mp4")
        touch(root / f"manipulated_sequences/Deepfakes/c23/videos/{a}_{b}.mp4")
        touch(root / f"manipulated_sequences/FaceSwap/c23/videos/{b}_{a}.mp4")
    return read_faceforensics(root)


def test_split_keeps_groups_on_one_side_and_is_seeded(tmp_path):
    items = _ff_items(tmp_path)
    train, val = split_by_group(items, 0.5, seed=0)
    assert len(train) + len(val) == len(items) and val and train
    assert not ({i.group for i in train} & {i.group for i in val})
    assert any(i.label == "fake" for i in val) and any(i.label == "real" for i in val)
    again, _ = split_by_group(items, 0.5, seed=0)
    assert [i.path for i in again] == [i.path for i in train]
    other = [split_by_group(items, 0.5, seed=s)[1] for s in range(1, 6)]
    assert any({i.path for i in o} != {i.path for i in val} for o in other)


def test_forced_training_groups_never_reach_validation(tmp_path):
    items = _ff_items(tmp_path)
    groups = sorted({i.group for i in resolve_groups(items)})
    _, val = split_by_group(items, 0.9, seed=0, force_train_groups={groups[0]})
    assert groups[0] not in {i.group for i in val}
    with pytest.raises(ConfigError):
        split_by_group(items, 1.0, seed=0)


def _faces(n: int, label: str, kind: str, source: str, ext: str = ".jpg"):
    import numpy as np

    from deepdetector.datasets.manifest import MediaItem
    from deepdetector.training.cache import CachedFaces

    z = np.zeros((1, 8, 8, 3), np.uint8)
    return [
        CachedFaces(
            MediaItem(f"/{source}/{label}{i}{ext}", label, kind, source, f"{source}{i}", source),
            z,
            np.zeros((1, 5, 2), np.float32),
            np.zeros((1, 4), np.float32),
            np.zeros(1, np.int32),
        )
        for i in range(n)
    ]


def test_synthetic_head_reals_same_source_or_mixed():
    import pytest

    from deepdetector.errors import ConfigError
    from deepdetector.training.train import build_pools

    dev_fakes = _faces(4, "fake", "gan-image", "dev.csv")
    dev_reals = _faces(3, "real", "image", "dev.csv")
    pool_reals = _faces(10, "real", "image", "reals.csv")
    videos = _faces(2, "real", "video", "reals.csv", ".mp4")
    faces = dev_fakes + dev_reals + pool_reals + videos
    same = build_pools(faces, "same-source").synthetic_reals.faces
    assert {f.item.path for f in same} == {f.item.path for f in dev_reals}
    mixed = build_pools(faces, "mixed", seed=1).synthetic_reals.faces
    assert len(mixed) == 6 and sum(f.item.source == "reals.csv" for f in mixed) == 3
    assert all(not f.item.is_video for f in mixed)
    assert [f.item.path for f in build_pools(faces, "mixed", seed=1).synthetic_reals.faces] == [f.item.path for f in mixed]
    with pytest.raises(ConfigError):
        build_pools(faces, "everything")
