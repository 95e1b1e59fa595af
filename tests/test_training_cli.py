"""The training front end's commands: synth, and clear errors instead of tracebacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from deepdetector.cli import app
from tests.media_factory import blank_photo, write_image

runner = CliRunner()


def test_commands_are_registered():
    out = runner.invoke(app, ["--help"]).output
    for cmd in ("train", "soup", "synth", "export"):
        assert cmd in out


def test_synth_writes_real_mask_fake_side_by_side(tmp_path, face_rgb):
    src = write_image(tmp_path / "face.jpg", face_rgb)
    out = tmp_path / "out.png"
    res = runner.invoke(app, ["synth", str(src), "-o", str(out), "--size", "128", "--seed", "2"])
    assert res.exit_code == 0, res.output
    pic = np.asarray(Image.open(out))
    assert pic.shape == (128, 384, 3)
    real, mask, fake = pic[:, :128], pic[:, 128:256], pic[:, 256:]
    assert mask.max() > 0 and mask[0, 0].max() == 0
    assert np.array_equal(fake[mask[..., 0] == 0], real[mask[..., 0] == 0])
    again = tmp_path / "again.png"
    runner.invoke(app, ["synth", str(src), "-o", str(again), "--size", "128", "--seed", "2"])
    assert np.array_equal(np.asarray(Image.open(again)), pic)


def test_synth_blends_in_another_frame_of_the_face(tmp_path, face_rgb):
    """``--other``: the fake takes its face from another picture (here the photo mirrored), aligned on the
    landmarks; outside the mask it is still the real."""
    import cv2

    src = write_image(tmp_path / "face.jpg", face_rgb)
    other = write_image(
        tmp_path / "other.jpg", cv2.warpAffine(np.ascontiguousarray(face_rgb[:, ::-1]), cv2.getRotationMatrix2D((256, 256), 8, 0.9), (512, 512))
    )
    args = ["-o", "OUT", "--size", "128", "--seed", "2", "--variant", "full"]
    pics = {}
    for name, extra in (("plain", []), ("cross", ["--other", str(other)])):
        out = tmp_path / f"{name}.png"
        res = runner.invoke(app, ["synth", str(src), *[str(out) if a == "OUT" else a for a in args], *extra])
        assert res.exit_code == 0, res.output
        pics[name] = np.asarray(Image.open(out))
    plain, cross = pics["plain"], pics["cross"]
    assert np.array_equal(plain[:, :256], cross[:, :256])  # same real, same mask
    inside = cross[:, 128:256, 0] >= 0.9 * cross[:, 128:256, 0].max()
    assert np.abs(cross[:, 256:][inside].astype(int) - plain[:, 256:][inside].astype(int)).mean() > 3
    outside = cross[:, 128:256, 0] == 0
    assert np.array_equal(cross[:, 256:][outside], cross[:, :128][outside])
    res = runner.invoke(app, ["synth", str(src), "-o", str(tmp_path / "x.png"), "--other", str(write_image(tmp_path / "none.png", blank_photo()))])
    assert res.exit_code == 1 and "no face" in res.output and "none.png" in res.output and "Traceback" not in res.output


def test_synth_without_a_face_is_a_clear_error(tmp_path):
    src = write_image(tmp_path / "none.png", blank_photo())
    res = runner.invoke(app, ["synth", str(src), "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 1 and "no face" in res.output and "Traceback" not in res.output


def test_train_without_data_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["train", "--out", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "c"), "--run-dir", str(tmp_path / "r")])
    assert res.exit_code == 1 and "no training data" in res.output


def _captured_config(monkeypatch, argv):
    """Run ``deepdetector train ARGV`` with the training itself replaced; return its TrainConfig."""
    import deepdetector.training.train as train_mod

    seen = {}

    def fake_run(cfg, log=print):
        seen["cfg"] = cfg
        return {"threshold": 0.5, "metrics": {}}

    monkeypatch.setattr(train_mod, "run_training", fake_run)
    res = runner.invoke(app, argv)
    assert res.exit_code == 0, res.output
    return seen["cfg"]


def test_card_command_line_reproduces_the_recorded_settings(monkeypatch, tmp_path):
    import shlex
    from dataclasses import asdict

    from deepdetector.training.card_document import train_command
    from deepdetector.training.train import TrainConfig

    cfg = TrainConfig(
        data=["a.csv", "b dir"],
        train_only=["reals.csv"],
        seed=3,
        epochs=40,
        steps_per_epoch=7,
        pairs=5,
        synthetic=2,
        supervised=1,
        input_size=160,
        margin=1.8,
        lr=1e-3,
        freeze_blocks=2,
        max_per_subset=9,
        patience=3,
        taps=(4, 7),
        max_minutes=70.0,
        method="finetune",
        name="m",
        version="9",
    )
    recorded = {k: v for k, v in asdict(cfg).items() if k != "progress"}
    recorded["taps"] = list(recorded["taps"])  # as JSON stores it
    cmd = train_command({"settings": recorded, "epochs_run": 12})
    argv = shlex.split(cmd)
    assert argv[:2] == ["deepdetector", "train"] and "--max-minutes" not in argv and "--out" not in argv
    got = asdict(_captured_config(monkeypatch, argv[1:] + ["--no-progress"]))
    want = asdict(cfg)
    # the time budget becomes the epochs it allowed; output folders are the defaults
    want.update(epochs=12, max_minutes=None, out=TrainConfig.out, run_dir=TrainConfig.run_dir, cache_dir=TrainConfig.cache_dir, progress=False)
    assert got == want


def test_card_command_of_a_card_without_taps_trains_without_taps(monkeypatch):
    import shlex

    from deepdetector.training.card_document import train_command

    cmd = train_command({"settings": {"data": ["d.csv"], "method": "probe", "probe_chunks": 400, "max_minutes": 5.0}, "probe_chunks_used": 37})
    cfg = _captured_config(monkeypatch, shlex.split(cmd)[1:])
    assert cfg.taps == () and cfg.probe_chunks == 37 and cfg.max_minutes is None


def test_card_renders_the_shipped_model_card(tmp_path):
    out = tmp_path / "card.md"
    res = runner.invoke(app, ["card", "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    from deepdetector.model.card import WEIGHTS_DIR, ModelCard

    card = ModelCard.load(WEIGHTS_DIR)
    assert card.sha256 in text and "deepdetector train" in text and f"**{card.threshold}**" in text
    assert "| **total** |" in text and "## Licence" in text and "; ;" not in text


def test_card_refuses_an_evaluation_of_another_model(tmp_path):
    import json

    ev = tmp_path / "p.metrics.json"
    ev.write_text(json.dumps({"run": {"model": {"sha256": "0" * 64}}, "targets": [], "subsets": []}))
    res = runner.invoke(app, ["card", "--evaluation", str(ev)])
    assert res.exit_code == 1 and "another model" in res.output and "Traceback" not in res.output
    ev.write_text("[1, 2]")
    res = runner.invoke(app, ["card", "--evaluation", str(ev)])
    assert res.exit_code == 1 and "not a predictions.metrics.json" in res.output and "Traceback" not in res.output


def test_card_tabulates_false_alarms_per_real_source(tmp_path):
    import json

    from deepdetector.model.card import WEIGHTS_DIR, ModelCard

    sha = ModelCard.load(WEIGHTS_DIR).sha256
    ev = tmp_path / "p.metrics.json"
    ev.write_text(
        json.dumps(
            {
                "run": {"model": {"sha256": sha}, "manifest": "dev.csv unseen.csv", "splits": ["card.json", "unseen.csv"], "predictions": "p.csv"},
                "targets": [],
                "subsets": [
                    {"name": "web crops", "level": "source_dataset", "n_fake": 0, "n_scored": 98, "counts": {"tp": 0, "fp": 8, "tn": 90, "fn": 0}},
                    {"name": "GAN", "level": "source_dataset", "n_fake": 50, "n_scored": 50, "counts": {"tp": 40, "fp": 0, "tn": 0, "fn": 10}},
                    {"name": "LFW", "level": "source_dataset", "n_fake": 0, "n_scored": 2, "counts": {"tp": 0, "fp": 0, "tn": 2, "fn": 0}},
                    {"name": "all images", "level": "media", "n_fake": 0, "n_scored": 100, "counts": {"fp": 8, "tn": 92}},
                ],
            }
        )
    )
    res = runner.invoke(app, ["card", "--real-files", str(ev)])
    assert res.exit_code == 0, res.output
    # 8 of 98: 8.2%, Wilson 4.2% .. 15.3%; LFW 0 of 2; all real files 8 of 100 (the media row is not counted twice)
    assert "| web crops | 98 | 8.2% (8) | 4.2%-15.3% |" in res.output
    assert "| LFW | 2 | 0.0% (0) |" in res.output and "| GAN |" not in res.output
    assert "| all real files | 100 | 8.0% (8) |" in res.output
    assert "deepdetector evaluate dev.csv unseen.csv --split card.json --split unseen.csv --output p.csv" in res.output


def test_card_command_of_an_older_finetune_card_trains_without_the_newer_options(monkeypatch):
    import shlex

    from deepdetector.training.card_document import train_command

    cmd = train_command({"settings": {"data": ["d.csv"], "method": "finetune", "epochs": 5}, "epochs_run": 5})
    cfg = _captured_config(monkeypatch, shlex.split(cmd)[1:])
    assert cfg.ema == 0.0 and cfg.taps == () and cfg.synthetic_reals == "same-source" and cfg.epochs == 5


def test_export_of_a_checkpoint_with_other_taps_is_a_clear_error(tmp_path):
    import torch

    from deepdetector.training.model import HEADS, build_model

    ck = tmp_path / "best.pt"
    torch.save(build_model(HEADS, pretrained=False, taps=()).state_dict(), ck)
    res = runner.invoke(app, ["export", str(ck), "--out", str(tmp_path / "m")])  # default --taps differs
    assert res.exit_code == 1 and "does not fit" in res.output and "Traceback" not in res.output
    ok = runner.invoke(app, ["export", str(ck), "--out", str(tmp_path / "m"), "--taps", "", "--input-size", "64"])
    assert ok.exit_code == 0, ok.output


def test_cosine_schedule_warms_up_then_decays_to_the_floor_and_constant_stays_flat():
    from deepdetector.training.train import LR_FLOOR, TrainConfig, lr_factor

    cos = lr_factor(TrainConfig(lr_schedule="cosine", epochs=10, steps_per_epoch=10, warmup_steps=10))
    flat = lr_factor(TrainConfig(epochs=10, steps_per_epoch=10, warmup_steps=10))
    assert cos(0) == flat(0) == 0.1 and cos(9) == flat(9) == 1.0
    assert cos(10) == 1.0 and abs(cos(55) - (LR_FLOOR + (1 - LR_FLOOR) * 0.5)) < 1e-9 and abs(cos(100) - LR_FLOOR) < 1e-9
    assert all(cos(s) > cos(s + 1) for s in range(10, 99)) and all(flat(s) == 1.0 for s in range(10, 200))


def test_cosine_runs_depend_on_their_planned_length_constant_ones_do_not():
    from deepdetector.training.train import TrainConfig

    assert TrainConfig(epochs=5).fingerprint() == TrainConfig(epochs=9).fingerprint()
    assert TrainConfig(epochs=5, lr_schedule="cosine").fingerprint() != TrainConfig(epochs=9, lr_schedule="cosine").fingerprint()
    assert TrainConfig(lr_schedule="cosine").fingerprint() != TrainConfig().fingerprint()


def test_unknown_schedule_is_a_clear_error():
    import pytest

    from deepdetector.errors import ConfigError
    from deepdetector.training.train import TrainConfig, lr_factor

    with pytest.raises(ConfigError, match="cosine"):
        lr_factor(TrainConfig(lr_schedule="step"))


def test_card_command_of_a_cosine_run_keeps_its_planned_epochs(monkeypatch):
    import shlex

    from deepdetector.training.card_document import train_command

    cmd = train_command({"settings": {"data": ["d.csv"], "method": "finetune", "epochs": 20, "lr_schedule": "cosine"}, "epochs_run": 14})
    cfg = _captured_config(monkeypatch, shlex.split(cmd)[1:])
    assert cfg.lr_schedule == "cosine" and cfg.epochs == 20


def test_images_and_videos_get_their_own_balanced_threshold():
    import numpy as np

    from deepdetector.datasets.manifest import MediaItem
    from deepdetector.training.train import media_thresholds

    def item(i, label, ext):
        return MediaItem(f"/d/{label}{i}.{ext}", label, "x", "s", f"g{i}")

    # images: reals 0.5-0.6, fakes 0.8-0.9; videos: reals 0.1-0.2, fakes 0.3-0.4 (one scale would not fit both)
    items = [item(i, "real", "jpg") for i in range(5)] + [item(i, "fake", "jpg") for i in range(5)]
    items += [item(i, "real", "mp4") for i in range(5)] + [item(i, "fake", "mp4") for i in range(5)]
    p = np.concatenate([np.linspace(0.5, 0.6, 5), np.linspace(0.8, 0.9, 5), np.linspace(0.1, 0.2, 5), np.linspace(0.3, 0.4, 5)])
    y = np.array([it.y for it in items])
    th = media_thresholds(items, y, p, default=0.45)
    assert th["image"] == 0.7 and th["video"] == 0.25
    # fewer than 5 files of a class of one media type: that type keeps the default
    th = media_thresholds(items[:19], y[:19], p[:19], default=0.45)
    assert th == {"image": 0.7, "video": 0.45}


def test_checkpoints_of_earlier_versions_still_resume():
    import hashlib
    import json
    from dataclasses import asdict

    from deepdetector.training.train import TrainConfig

    cfg = TrainConfig(data=["d.csv"], seed=2)
    # a version that knew --ema but not --lr-schedule / --sbi-smooth hashed ema=0.0 with the rest
    skip = {
        "out",
        "run_dir",
        "progress",
        "max_minutes",
        "workers",
        "threads",
        "epochs",
        "patience",
        "probe_chunks",
        "lr_schedule",
        "sbi_smooth",
        "backbone",
        "sbi_cross_frame",
        "test_fraction",
        "device",
        "packed",
    }
    old = hashlib.sha1(json.dumps({k: v for k, v in asdict(cfg).items() if k not in skip}, sort_keys=True).encode()).hexdigest()[:12]
    assert old != cfg.fingerprint() and old in cfg.fingerprints()
    assert TrainConfig(data=["d.csv"], seed=3).fingerprint() not in cfg.fingerprints()


def test_cards_trained_before_the_mask_fix_reproduce_with_legacy_masks(monkeypatch):
    """A card without ``sbi_mask`` (deepdetector-lite0 v2) was trained with the old blend masks: its command
    says ``--sbi-mask legacy``, and such a run hashes like the old version, so its checkpoints still resume."""
    import shlex

    from deepdetector.training.card_document import train_command
    from deepdetector.training.train import TrainConfig

    cmd = train_command({"settings": {"data": ["d.csv"], "method": "finetune", "epochs": 5}, "epochs_run": 5})
    assert "--sbi-mask legacy" in cmd
    assert _captured_config(monkeypatch, shlex.split(cmd)[1:] + ["--no-progress"]).sbi_mask == "legacy"
    assert "--sbi-mask normalised" in train_command({"settings": {"data": ["d.csv"], "sbi_mask": "normalised"}})
    assert TrainConfig().sbi_mask == "normalised"  # the published recipe is the default
    legacy = TrainConfig(data=["d.csv"], sbi_mask="legacy")
    assert legacy.fingerprint() == TrainConfig(data=["d.csv"], sbi_mask="legacy").fingerprint() != TrainConfig(data=["d.csv"]).fingerprint()
    # a version without the option hashed every other setting alone: the legacy run has that fingerprint
    import hashlib
    import json
    from dataclasses import asdict

    skip = {
        "out",
        "run_dir",
        "progress",
        "max_minutes",
        "workers",
        "threads",
        "epochs",
        "patience",
        "probe_chunks",
        "ema",
        "lr_schedule",
        "sbi_smooth",
        "split_seed",
        "sbi_mask",
        "backbone",
        "sbi_cross_frame",
        "h264",
        "test_fraction",
        "device",
        "packed",
    }
    old = hashlib.sha1(json.dumps({k: v for k, v in asdict(legacy).items() if k not in skip}, sort_keys=True).encode()).hexdigest()[:12]
    assert legacy.fingerprint() == old


@pytest.mark.parametrize(
    "option",
    [
        ["--lr-schedule", "step"],
        ["--sbi-smooth", "1.5"],
        ["--synthetic-reals", "all"],
        ["--sbi-mask", "raw"],
        ["--sbi-cross-frame", "1.5"],
        ["--h264", "1.5"],
        ["--backbone", "resnet50"],
        ["--taps", "2,16"],
        ["--freeze-blocks", "17"],
    ],
)
def test_bad_training_options_stop_before_any_work(tmp_path, option):
    (tmp_path / "real").mkdir()
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(tmp_path),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--run-dir",
            str(tmp_path / "run"),
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
            *option,
        ],
    )
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert option[0].lstrip("-").replace("-", "_") in res.output or option[0] in res.output  # the message names the setting
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


def test_cache_follows_the_input_size_and_a_cache_too_small_for_it_is_refused(monkeypatch, tmp_path):
    from deepdetector.training.train import TrainConfig, cache_size_for, region_pixels

    # 288 px at 2x holds 230 px of the 1.6x region: enough for 192 and 224, not for 288
    assert cache_size_for(192, 1.6) == cache_size_for(224, 1.6) == 288
    assert cache_size_for(288, 1.6) == 360 and region_pixels(TrainConfig(input_size=288, cache_size=360)) >= 288
    assert _captured_config(monkeypatch, ["train", "--data", "d.csv", "--input-size", "288"]).cache_size == 360
    assert _captured_config(monkeypatch, ["train", "--data", "d.csv"]).cache_size == 288
    monkeypatch.undo()

    (tmp_path / "real").mkdir()
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(tmp_path),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--run-dir",
            str(tmp_path / "run"),
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
            "--input-size",
            "288",
            "--cache-size",
            "288",
        ],
    )
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "up-sampled" in res.output and "--cache-size 360" in res.output
    assert not (tmp_path / "cache").exists()


def test_unseen_lists_the_training_only_files_the_cap_left_out(tiny_model_copy, tmp_path):
    import csv
    import json

    from deepdetector.datasets.manifest import read_source
    from deepdetector.training.train import cap_per_subset

    rows = ["path,label,kind,source_dataset,group"]
    rows += [f"web/{i}.jpg,real,image,web crops," for i in range(8)]
    rows += [f"vox/{i}.jpg,real,image,VoxCeleb2 frames,seq{i % 2}" for i in range(6)]  # two sequences of 3 frames
    rows += [f"small/{i}.jpg,real,image,few photos," for i in range(2)]
    (tmp_path / "data").mkdir()
    manifest = tmp_path / "data" / "reals.csv"
    manifest.write_text("\n".join(rows) + "\n")
    model = tiny_model_copy
    card = json.loads((model / "model_card.json").read_text())
    card["training"] = {"settings": {"train_only": [str(manifest)], "max_per_subset": 3, "seed": 4}}
    (model / "model_card.json").write_text(json.dumps(card))

    out = tmp_path / "out" / "unseen.csv"
    res = runner.invoke(app, ["unseen", "--model", str(model), "--output", str(out)])
    assert res.exit_code == 0, res.output
    got = list(csv.DictReader(out.open()))
    used = {it.path for it in cap_per_subset(read_source(manifest), 3, 4)}
    files = {str((out.parent / r["path"]).resolve()) for r in got}
    # 5 web photos the cap left out; no frame of a VoxCeleb sequence the training used; nothing of the small subset
    assert len([r for r in got if r["source_dataset"] == "web crops"]) == 5
    assert not files & used and not [r for r in got if r["source_dataset"] == "few photos"]
    vox = [it for it in read_source(manifest) if it.subset == "VoxCeleb2 frames"]
    used_seqs = {it.group for it in vox if it.path in used}
    want_vox = sorted(it.path for it in vox if it.group not in used_seqs)
    assert sorted(f for f in files if "/vox/" in f) == want_vox
    assert f"{5 + len(want_vox)} files never used" in res.output
    assert f"{sum(1 for it in vox if it.path not in used) - len(want_vox)} more left out for sharing a group" in res.output
    (tmp_path / "a-file").write_text("x")
    res = runner.invoke(app, ["unseen", "--model", str(model), "--output", str(tmp_path / "a-file" / "u.csv")])
    assert res.exit_code != 0 and "cannot write" in res.output and "Traceback" not in res.output
    # run elsewhere, a relative source path does not resolve: said plainly
    card["training"]["settings"]["train_only"] = ["no/such/reals.csv"]
    (model / "model_card.json").write_text(json.dumps(card))
    res = runner.invoke(app, ["unseen", "--model", str(model), "--output", str(tmp_path / "y.csv")])
    assert res.exit_code != 0 and "is not here" in res.output and "Traceback" not in res.output
    card["training"]["settings"]["train_only"] = [str(manifest)]
    # a card without a cap trained on everything: a clear error, no file
    card["training"]["settings"]["max_per_subset"] = None
    (model / "model_card.json").write_text(json.dumps(card))
    res = runner.invoke(app, ["unseen", "--model", str(model), "--output", str(tmp_path / "x.csv")])
    assert res.exit_code != 0 and "no --max-per-subset" in res.output and not (tmp_path / "x.csv").exists()


def test_unseen_caps_each_training_source_as_the_trainer_did(tiny_model_copy, tmp_path):
    import csv
    import json

    from deepdetector.datasets.manifest import read_source
    from deepdetector.training.train import TrainConfig, collect

    (tmp_path / "data").mkdir()
    sources = []
    for name in ("a", "b"):
        m = tmp_path / "data" / f"{name}.csv"
        m.write_text("path,label,kind,source_dataset,group\n" + "".join(f"{name}{i}.jpg,real,image,photos {name},\n" for i in range(7)))
        sources.append(str(m))
    model = tiny_model_copy
    card = json.loads((model / "model_card.json").read_text())
    card["training"] = {"settings": {"train_only": sources, "max_per_subset": 3, "seed": 0}}
    (model / "model_card.json").write_text(json.dumps(card))
    out = tmp_path / "unseen.csv"
    res = runner.invoke(app, ["unseen", "--model", str(model), "--output", str(out)])
    assert res.exit_code == 0, res.output
    listed = {str((out.parent / r["path"]).resolve()) for r in csv.DictReader(out.open())}
    trained = {it.path for it in collect(TrainConfig(train_only=sources, max_per_subset=3, seed=0)).train}
    every = {it.path for s in sources for it in read_source(s)}
    assert listed == every - trained and len(listed) == 8  # 4 of each source, none the trainer used
    again = runner.invoke(app, ["unseen", "--model", str(model), "--output", str(out)])
    assert again.exit_code != 0 and "--overwrite" in again.output
    assert runner.invoke(app, ["unseen", "--model", str(model), "--output", str(out), "--overwrite"]).exit_code == 0


def test_split_seed_keeps_the_split_of_another_training_seed(tiny_model_copy, tmp_path):
    """--seed 1 --split-seed 0 trains on the files --seed 0 trained on (same validation groups, same
    capped training-only files), so two seeds can be compared on one validation set; `unseen` follows."""
    import csv
    import json

    from deepdetector.training.card_document import train_command
    from deepdetector.training.train import TrainConfig, collect

    (tmp_path / "data").mkdir()
    dev = tmp_path / "data" / "dev.csv"
    dev.write_text(
        "path,label,kind,source_dataset,group\n" + "".join(f"v{i}.jpg,{'fake' if i % 2 else 'real'},image,photos,g{i}\n" for i in range(40))
    )
    only = tmp_path / "data" / "only.csv"
    only.write_text("path,label,kind,source_dataset,group\n" + "".join(f"o{i}.jpg,real,image,web,\n" for i in range(20)))

    def split(**kw):
        s = collect(TrainConfig(data=[str(dev)], train_only=[str(only)], max_per_subset=5, **kw))
        return sorted(it.path for it in s.train), sorted(it.path for it in s.val)

    assert split(seed=1, split_seed=0) == split(seed=0)
    assert split(seed=1) != split(seed=0)  # without it, the seed moves the split
    base = TrainConfig(data=[str(dev)], seed=0)
    assert base.fingerprint() == TrainConfig(data=[str(dev)], seed=0, split_seed=None).fingerprint()  # old runs still resume
    assert TrainConfig(data=[str(dev)], seed=1, split_seed=0).fingerprint() != TrainConfig(data=[str(dev)], seed=1).fingerprint()
    assert "--split-seed 0" in train_command({"settings": {"data": [str(dev)], "seed": 1, "split_seed": 0}})
    assert "--split-seed" not in train_command({"settings": {"data": [str(dev)], "seed": 0}})

    model = tiny_model_copy
    card = json.loads((model / "model_card.json").read_text())
    card["training"] = {"settings": {"train_only": [str(only)], "max_per_subset": 5, "seed": 1, "split_seed": 0}}
    (model / "model_card.json").write_text(json.dumps(card))
    out = tmp_path / "unseen.csv"
    assert runner.invoke(app, ["unseen", "--model", str(model), "--output", str(out)]).exit_code == 0
    listed = {str((out.parent / r["path"]).resolve()) for r in csv.DictReader(out.open())}
    used = {it.path for it in collect(TrainConfig(train_only=[str(only)], max_per_subset=5, seed=0)).train}
    assert len(listed) == 15 and not listed & used


def test_cross_frame_blends_are_in_the_card_command_and_off_for_older_cards(monkeypatch):
    """The card's command names ``--sbi-cross-frame`` so a run with it reproduces; a card written before the
    option existed says 0.0 (what it was trained with)."""
    import shlex

    from deepdetector.training.card_document import train_command
    from deepdetector.training.train import TrainConfig

    assert "--sbi-cross-frame 0.0" in train_command({"settings": {"data": ["d.csv"], "method": "finetune"}})
    cmd = train_command({"settings": {"data": ["d.csv"], "method": "finetune", "sbi_cross_frame": 0.5}})
    assert "--sbi-cross-frame 0.5" in cmd
    assert _captured_config(monkeypatch, shlex.split(cmd)[1:] + ["--no-progress"]).sbi_cross_frame == 0.5
    # off, a run hashes as before the option (the skip sets of the two tests above); on, it is another run
    assert TrainConfig(data=["d.csv"], sbi_cross_frame=0.5).fingerprint() not in TrainConfig(data=["d.csv"]).fingerprints()


@pytest.mark.parametrize(
    "extra, named",
    [(["--epochs", "0"], "--epochs"), (["--patience", "0"], "--patience"), (["--max-minutes", "0"], "--max-minutes"),
     (["--steps-per-epoch", "0"], "--steps-per-epoch"), (["--pairs", "0", "--synthetic", "0", "--supervised", "0"], "--pairs"),
     (["--input-size", "0"], "--input-size"), (["--margin", "0"], "--margin"), (["--lr", "-1"], "--lr"), (["--lr", "0"], "--lr"),
     (["--workers", "-1"], "--workers"), (["--seed", "-1"], "--seed"), (["--ema", "1"], "--ema"), (["--max-per-subset", "-1"], "--max-per-subset"),
     (["--method", "probe", "--probe-chunks", "0"], "--probe-chunks"), (["--real-video-frames", "-1"], "--real-video-frames")],
)  # fmt: skip
def test_train_refuses_numbers_that_cannot_mean_anything_before_any_work(tmp_path, extra, named):
    """Each used to crash minutes later (0 epochs: no best.pt; margin 0: ZeroDivisionError) or to ship
    a model trained on nothing (0 steps); now one line naming the option, and no folder is made."""
    src = tmp_path / "data"
    (src / "real").mkdir(parents=True)
    args = ["train", "-d", str(src), "--out", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "c"), "--run-dir", str(tmp_path / "r"), *extra]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and f"error: {named}" in res.output and "not possible" in res.output, res.output
    assert not (tmp_path / "c").exists() and not (tmp_path / "r").exists()


def test_train_refuses_output_folders_that_cannot_be_made_before_training(tmp_path):
    a_file = tmp_path / "taken.txt"
    a_file.write_text("x")
    base = ["train", "-d", str(tmp_path), "--out", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "c"), "--run-dir", str(tmp_path / "r")]
    for option, what in (("--out", "model"), ("--run-dir", "run folder"), ("--cache-dir", "face cache")):
        args = list(base)
        args[args.index(option) + 1] = str(a_file / "sub") if option == "--cache-dir" else str(a_file)
        res = runner.invoke(app, args)
        assert res.exit_code == 1 and f"cannot write the {what}" in res.output and "not a folder" in res.output, res.output
        assert "Traceback" not in res.output


def test_an_unreadable_checkpoint_in_the_run_folder_is_a_clear_error(tmp_path, monkeypatch):
    """A truncated last.pt used to end the run with an UnpicklingError traceback."""
    from deepdetector.errors import ConfigError
    from deepdetector.training import train as train_mod

    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "last.pt").write_bytes(b"not a checkpoint")

    cfg = train_mod.TrainConfig(data=["x"], out=str(tmp_path / "m"), cache_dir=str(tmp_path / "c"), run_dir=str(run_dir),
                                pretrained=False, input_size=64, cache_size=80, progress=False)  # fmt: skip
    # no data is needed to reach the checkpoint: the steps before it are stubbed
    monkeypatch.setattr(train_mod, "prepare", lambda cfg, log: (None, {}, [], [], None))
    monkeypatch.setattr(train_mod, "eval_crops", lambda faces, cfg, n: ([], []))
    monkeypatch.setattr(train_mod, "_subsample", lambda faces, n, seed: faces)
    with pytest.raises(ConfigError, match="cannot be read as this trainer's checkpoint"):
        train_mod.run_training(cfg, log=lambda m: None)


def test_export_refuses_a_card_for_another_input_size_and_a_folder_as_checkpoint(tmp_path):
    """Exporting at 96 px into a folder whose card says 64 px left a model every scan failed on."""
    import json

    import torch

    from deepdetector.training.model import HEADS, build_model

    ck = tmp_path / "best.pt"
    torch.save(build_model(HEADS, pretrained=False, taps=()).state_dict(), ck)
    out = tmp_path / "m"
    ok = runner.invoke(app, ["export", str(ck), "--out", str(out), "--taps", "", "--input-size", "64"])
    assert ok.exit_code == 0, ok.output
    before = (out / "deepdetector.onnx").read_bytes()
    res = runner.invoke(app, ["export", str(ck), "--out", str(out), "--taps", "", "--input-size", "96"])
    assert res.exit_code == 1 and "64 px" in res.output and "--input-size 64" in res.output, res.output
    assert (out / "deepdetector.onnx").read_bytes() == before and json.loads((out / "model_card.json").read_text())["input_size"] == 64
    res = runner.invoke(app, ["export", str(tmp_path), "--out", str(tmp_path / "m2")])
    assert res.exit_code == 1 and "is a folder" in res.output
    res = runner.invoke(app, ["export", str(ck), "--out", str(tmp_path / "m3"), "--input-size", "0"])
    assert res.exit_code == 1 and "--input-size 0" in res.output


def test_synth_refuses_bad_outputs_and_settings(tmp_path, face_rgb):
    src = write_image(tmp_path / "face.jpg", face_rgb)
    a_file = tmp_path / "taken.txt"
    a_file.write_text("x")
    cases = [
        (["-o", str(tmp_path / "out")], "must end in one of"),
        (["-o", str(tmp_path / "out.txt")], "must end in one of"),
        (["-o", str(a_file / "x.png")], "not a folder"),
        (["-o", str(tmp_path / "x.png"), "--seed", "-1"], "--seed -1"),
        (["-o", str(tmp_path / "x.png"), "--size", "100000"], "--size 100000"),
        (["-o", str(tmp_path / "x.png"), "--detector", "nope"], "unknown face detector 'nope'"),
    ]
    for extra, message in cases:
        res = runner.invoke(app, ["synth", str(src), *extra])
        assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output, (extra, res.output)
    assert not (tmp_path / "x.png").exists()


def test_card_document_path_that_cannot_be_written_is_a_clear_error(tmp_path):
    a_file = tmp_path / "taken.txt"
    a_file.write_text("x")
    for target in (a_file / "card.md", tmp_path):
        res = runner.invoke(app, ["card", "-o", str(target)])
        assert res.exit_code == 1 and "cannot write the model card document" in res.output, res.output


def test_a_file_listed_twice_in_the_training_data_is_refused(tmp_path, face_rgb):
    """In one manifest it would count twice; in two (real in one, fake in the other, or in --data and
    --train-only) it could be real and fake at once, or in training and validation at once."""
    from deepdetector.errors import ConfigError
    from deepdetector.training.train import TrainConfig, collect

    write_image(tmp_path / "a.jpg", face_rgb)
    (tmp_path / "m1.csv").write_text("path,label\na.jpg,real\na.jpg,real\n")
    (tmp_path / "m2.csv").write_text("path,label\na.jpg,fake\n")
    (tmp_path / "m3.csv").write_text("path,label\na.jpg,real\n")
    with pytest.raises(ConfigError, match="listed twice in"):
        collect(TrainConfig(data=[str(tmp_path / "m1.csv")]))
    with pytest.raises(ConfigError, match="m3.csv and in .*m2.csv"):
        collect(TrainConfig(data=[str(tmp_path / "m2.csv")], train_only=[str(tmp_path / "m3.csv")]))
    assert len(collect(TrainConfig(data=[str(tmp_path / "m3.csv")])).val + collect(TrainConfig(data=[str(tmp_path / "m3.csv")])).train) == 1


def test_card_document_names_its_own_command_and_the_models_file(tiny_model_dir, tmp_path):
    """The comment at the top reruns as written; a model other than the shipped one is named by its own path."""
    out = tmp_path / "card.md"
    res = runner.invoke(app, ["card", "--model", str(tiny_model_dir), "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert f"`deepdetector card --model {tiny_model_dir} -o {out}`" in text
    folder = Path(tiny_model_dir).parent if Path(tiny_model_dir).is_file() else Path(tiny_model_dir)  # the fixture names the card
    file_line = next(line for line in text.splitlines() if line.startswith("- File:"))
    assert f"`{folder}/" in file_line and "src/deepdetector/model/weights" not in file_line


def test_h264_option_sets_the_augmentation_and_its_default_is_todays():
    """--h264 P re-encodes P of the pairs with H.264; JPEG keeps its 0.45 share of the rest while it fits.
    The default is the augmentation every earlier run used, so their fingerprints and batches stand."""
    from deepdetector.training.augment import AugmentConfig
    from deepdetector.training.train import TrainConfig, sample_config

    default = sample_config(TrainConfig()).augment
    assert default == AugmentConfig()
    strong = sample_config(TrainConfig(h264=0.7)).augment
    assert strong.p_h264 == 0.7 and abs(strong.p_jpeg - 0.3) < 1e-12
    assert TrainConfig(h264=0.35).fingerprint() == TrainConfig().fingerprint() != TrainConfig(h264=0.7).fingerprint()


def test_test_fraction_takes_test_groups_from_validation_only_and_leaves_training_alone():
    """--test-fraction splits the VALIDATION groups; the training files (hence the batches) stay those of
    a run without it, and the default (0) trains with the same fingerprint as before the option existed."""
    import tempfile

    from deepdetector.training.train import TrainConfig, check_settings, collect

    with tempfile.TemporaryDirectory() as tmp:
        dev = Path(tmp) / "dev.csv"
        dev.write_text(
            "path,label,kind,source_dataset,group\n" + "".join(f"v{i}.jpg,{'fake' if i % 2 else 'real'},image,photos,g{i // 2}\n" for i in range(80))
        )
        base = collect(TrainConfig(data=[str(dev)], seed=0))
        part = collect(TrainConfig(data=[str(dev)], seed=0, test_fraction=0.5))
        assert not base.test
        assert [it.path for it in part.train] == [it.path for it in base.train]
        groups = lambda items: {it.group for it in items}  # noqa: E731
        assert groups(part.val) | groups(part.test) == groups(base.val)
        assert part.test and part.val and not groups(part.val) & groups(part.test)
        assert 0.3 < len(groups(part.test)) / len(groups(base.val)) < 0.7
        again = collect(TrainConfig(data=[str(dev)], seed=5, split_seed=0, test_fraction=0.5))
        assert groups(again.test) == groups(part.test)  # the split seed fixes the test groups too
        assert TrainConfig(data=[str(dev)]).fingerprint() == TrainConfig(data=[str(dev)], test_fraction=0.0).fingerprint()
        assert TrainConfig(data=[str(dev)], test_fraction=0.5).fingerprint() != TrainConfig(data=[str(dev)]).fingerprint()
        with pytest.raises(Exception, match="test-fraction"):
            check_settings(TrainConfig(data=[str(dev)], test_fraction=1.0, out=tmp + "/m", run_dir=tmp + "/r", cache_dir=tmp + "/c"))
