"""Manifest reading, its errors, split files and seeded sampling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepdetector.datasets.manifest import (
    ManifestError,
    apply_split,
    filter_items,
    read_manifest,
    read_split,
    sample_items,
    select,
)
from deepdetector.errors import DeepDetectorError


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_paths_relative_to_the_manifest(tmp_path):
    sub = tmp_path / "data"
    sub.mkdir()
    m = _write(
        sub / "m.csv",
        "path,label,kind,source_dataset,origin_repo,group\n"
        "a/x.mp4,fake,faceswap-video,FF c23 Deepfakes,repo,001_002\n"
        "b/y.jpg,REAL,image,FFHQ,repo,\n"
        "\n",
    )
    items = read_manifest(m)
    assert [i.path for i in items] == ["a/x.mp4", "b/y.jpg"]
    assert items[0].file == (sub / "a" / "x.mp4").resolve()
    assert [i.label for i in items] == [1, 0]
    assert items[0].is_video and not items[1].is_video
    assert items[0].group == "001_002" and items[1].group == ""


def test_minimal_manifest_and_kind_from_extension(tmp_path):
    items = read_manifest(_write(tmp_path / "m.csv", "label,path\n1,clip.gif\n0,img.png\n"))
    assert items[0].is_video and items[0].label == 1 and items[0].kind == ""
    assert not items[1].is_video


@pytest.mark.parametrize(
    "text, message",
    [
        ("file,label\nx.jpg,fake\n", "lacks the column(s) path"),
        ("path,kind\nx.jpg,image\n", "lacks the column(s) label"),
        ("path,label\nx.jpg,maybe\n", "m.csv:2: label 'maybe'"),
        ("path,label\nx.jpg,fake\nx.jpg,real\n", "already listed on line 2"),
        ("path,label\n,fake\n", "m.csv:2: empty path"),
        ("path,label\n", "lists no files"),
    ],
)
def test_manifest_errors_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(ManifestError, match=None) as info:
        read_manifest(_write(tmp_path / "m.csv", text))
    assert message in str(info.value)
    assert isinstance(info.value, DeepDetectorError)  # the CLI prints it as one line


def test_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "none.csv")


@pytest.fixture
def manifest(tmp_path) -> Path:
    rows = ["path,label,kind,source_dataset,group"]
    for i in range(6):
        rows.append(f"ff/fake/{i}.mp4,fake,faceswap-video,FaceForensics++ c23 Deepfakes,{i}_{i + 10}")
    for i in range(4):
        rows.append(f"ff/real/{i}.mp4,real,video,FaceForensics++ c23 original,{i}")
    for i in range(10):
        rows.append(f"gan/{i}.jpg,fake,gan-image,StyleGAN2,")
    return _write(tmp_path / "dev.csv", "\n".join(rows) + "\n")


def test_filters_by_subset_and_kind(manifest):
    items = read_manifest(manifest)
    assert len(filter_items(items, subsets=["c23"])) == 10
    assert len(filter_items(items, subsets=["stylegan", "original"])) == 14
    assert len(filter_items(items, kinds=["video"])) == 10
    assert len(filter_items(items, subsets=["c23"], kinds=["faceswap"])) == 6


@pytest.mark.parametrize("suffix", [".txt", ".json", ".csv"])
def test_split_files_keep_groups_and_paths(manifest, tmp_path, suffix):
    keep = ["0_10", "1", "gan/3.jpg"]
    split = tmp_path / f"split{suffix}"
    if suffix == ".txt":
        split.write_text("# validation groups\n" + "\n".join(keep) + "\n")
    elif suffix == ".json":
        split.write_text(json.dumps({"train": ["2_12"], "validation": keep}))
    else:
        split.write_text("group,path,split\n0_10,,val\n1,,val\n,gan/3.jpg,validation\n2_12,,train\n")
    assert read_split(split) == set(keep)
    kept = apply_split(read_manifest(manifest), read_split(split), manifest)
    # ff/real/0.mp4 (group "0") is the same person as the pair 0_10: the training code merges the
    # two groups, so the real video goes to validation with its fakes
    assert sorted(i.path for i in kept) == ["ff/fake/0.mp4", "ff/real/0.mp4", "ff/real/1.mp4", "gan/3.jpg"]


def test_model_card_can_serve_as_split(manifest, tmp_path):
    card = _write(tmp_path / "model_card.json", json.dumps({"name": "m", "training": {"split": {"validation_groups": ["1_11"], "seed": 0}}}))
    assert read_split(card) == {"1_11"}
    assert [i.path for i in apply_split(read_manifest(manifest), read_split(card), manifest)] == ["ff/fake/1.mp4", "ff/real/1.mp4"]


def test_a_card_with_test_groups_splits_into_test_and_selection_parts(manifest, tmp_path):
    """`evaluate --split CARD --part test` keeps only the groups no choice of the run saw; `selection` the others."""
    split = {"validation_groups": ["1_11", "0_10", "2"], "test_groups": ["1_11"]}
    card = _write(tmp_path / "model_card.json", json.dumps({"name": "m", "training": {"split": split}}))
    assert read_split(card) == {"1_11", "0_10", "2"}  # the default keeps every validation group, as before
    assert read_split(card, "test") == {"1_11"}
    assert read_split(card, "selection") == {"0_10", "2"}
    assert [i.path for i in select(manifest, split=card, part="test").items] == ["ff/fake/1.mp4", "ff/real/1.mp4"]
    assert "part test" in " ".join(select(manifest, split=card, part="test").notes)
    old = _write(tmp_path / "old_card.json", json.dumps({"name": "m", "training": {"split": {"validation_groups": ["1_11"]}}}))
    with pytest.raises(ManifestError, match="without --test-fraction"):
        read_split(old, "test")
    with pytest.raises(ManifestError, match="needs a model card"):
        read_split(_write(tmp_path / "s.txt", "1_11\n"), "test")
    with pytest.raises(ManifestError, match="unknown split part"):
        read_split(card, "train")


def test_split_by_training_groups_never_falls_back_silently(manifest, tmp_path):
    """Training's groups come from the same reader; a manifest it cannot read is an error, not a
    quiet switch to the manifest's own groups (which would keep other files)."""
    items = read_manifest(manifest)
    with pytest.raises(ManifestError, match="does not exist"):
        apply_split(items, {"0_10"}, tmp_path / "moved.csv")
    bom = _write(tmp_path / "bom.csv", "\ufeff" + manifest.read_text())  # a byte-order mark, as spreadsheets write
    assert [i.path for i in apply_split(read_manifest(bom), {"0_10"}, bom)] == ["ff/fake/0.mp4", "ff/real/0.mp4"]


def test_split_errors(tmp_path):
    with pytest.raises(ManifestError, match="lists no groups"):
        read_split(_write(tmp_path / "s.txt", "# nothing\n"))
    with pytest.raises(ManifestError, match="validation"):
        read_split(_write(tmp_path / "s.json", json.dumps({"train": 3})))
    with pytest.raises(ManifestError, match="'group' or 'path'"):
        read_split(_write(tmp_path / "s.csv", "name\nx\n"))


def test_select_reports_each_step_and_refuses_empty_results(manifest, tmp_path):
    split = _write(tmp_path / "s.txt", "0_10\n1_11\n2\n3\n")
    sel = select(manifest, subsets=["c23"], split=split, limit=2, seed=0)
    assert len(sel.items) == 2 and sel.total == 20
    assert {i.label for i in sel.items} == {0, 1}  # balanced sample
    assert len(sel.notes) == 3
    with pytest.raises(ManifestError, match="no item"):
        select(manifest, subsets=["celeb-df"])
    with pytest.raises(ManifestError, match="split file"):
        select(manifest, split=_write(tmp_path / "t.txt", "nobody\n"))


def test_sampling_is_seeded_balanced_and_in_manifest_order(manifest):
    items = read_manifest(manifest)
    a = sample_items(items, 6, seed=1)
    assert a == sample_items(items, 6, seed=1)
    assert a != sample_items(items, 6, seed=2)
    assert sum(i.label for i in a) == 3
    order = [items.index(i) for i in a]
    assert order == sorted(order)
    # fewer reals than half: the rest are fakes
    b = sample_items(items, 12, seed=0)
    assert len(b) == 12 and sum(1 for i in b if i.label == 0) == 4
    assert sample_items(items, None) == items


def test_several_manifests_are_one_set_and_several_splits_keep_what_any_names(manifest, tmp_path):
    other_dir = tmp_path / "held"
    other_dir.mkdir()
    held = _write(other_dir / "held.csv", "path,label,kind,source_dataset,group\n" + "".join(f"r{i}.jpg,real,image,web crops,\n" for i in range(5)))
    split = _write(tmp_path / "val.txt", "0_10\n")
    sel = select([manifest, held], split=[split, held])  # the CSV names its own paths
    assert sorted(i.path for i in sel.items) == ["ff/fake/0.mp4", "ff/real/0.mp4", *(f"r{i}.jpg" for i in range(5))]
    assert sel.items[-1].file == (other_dir / "r4.jpg").resolve()  # each path relative to its own manifest
    assert sel.total == 25 and sel.manifests == [manifest, held] and sel.splits == [str(split), str(held)]
    assert sel.manifest_text == f"{manifest} {held}"
    # one file in two manifests (here the same relative path from the same folder, then by absolute path): refused
    clash = _write(tmp_path / "clash.csv", "path,label\ngan/0.jpg,real\n")
    with pytest.raises(ManifestError, match="listed twice"):
        select([manifest, clash])
    by_abs = _write(other_dir / "abs.csv", f"path,label\n{tmp_path / 'gan' / '0.jpg'},fake\n")
    with pytest.raises(ManifestError, match="listed twice"):
        select([manifest, by_abs])
    # one path text naming two different files (two folders): predictions are keyed by it, so refused too
    same_text = _write(other_dir / "same.csv", "path,label\ngan/0.jpg,fake\n")
    with pytest.raises(ManifestError, match="names two files"):
        select([manifest, same_text])
    # nothing left anywhere is still an error
    with pytest.raises(ManifestError, match="no item"):
        select([manifest, held], split=_write(tmp_path / "none.txt", "nobody\n"))
