"""The generated-stills model: native-resolution patches, its place in the scanner, its trainer."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from deepdetector import Detector, ScanConfig
from deepdetector.errors import ModelError
from deepdetector.faces.crop import native_region
from deepdetector.model.stills import HEAD, StillsModel, cap_region, fit_patch, fixed_patches
from deepdetector.types import Box
from tests.media_factory import write_image, write_video
from tests.tiny_model import build_tiny_model


def test_native_region_is_centred_and_clipped():
    assert native_region((400, 600, 3), Box(100, 100, 200, 200), 1.2) == (90, 90, 210, 210)
    # at the border the region is clipped, never padded
    assert native_region((400, 600, 3), Box(0, 0, 100, 100), 1.2) == (0, 0, 110, 110)
    assert native_region((400, 600, 3), Box(550, 350, 600, 400), 2.0) == (525, 325, 600, 400)


def test_fixed_patches_are_a_grid_of_native_pixels():
    region = np.random.default_rng(0).integers(0, 256, (150, 170, 3), dtype=np.uint8)
    p = fixed_patches(region, 64, grid=3)
    assert p.shape == (9, 64, 64, 3)
    # corner to corner, row by row, no resampling anywhere
    assert np.array_equal(p[0], region[:64, :64]) and np.array_equal(p[8], region[-64:, -64:])
    assert np.array_equal(p[2], region[:64, -64:]) and np.array_equal(p[6], region[-64:, :64])
    assert np.array_equal(p[4], region[43:107, 53:117])
    assert np.array_equal(fixed_patches(region, 64, grid=1)[0], region[43:107, 53:117])


def test_small_regions_are_upscaled_to_the_patch():
    small = np.zeros((40, 50, 3), np.uint8)
    assert min(fit_patch(small, 64).shape[:2]) == 64
    assert fixed_patches(small, 64).shape == (9, 64, 64, 3)


def test_regions_larger_than_the_cap_are_shrunk_keeping_their_shape():
    region = np.random.default_rng(1).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    assert cap_region(region, 150).shape == (150, 100, 3)
    assert cap_region(region, 300) is region and cap_region(region, None) is region
    # area averaging: shrinking a 2x pixel-doubled region gives back the original pixels
    doubled = np.repeat(np.repeat(region, 2, axis=0), 2, axis=1)
    assert np.array_equal(cap_region(doubled, 300), region)


def _with_stills(main_card, tmp_path, kind="stills"):
    """A copy of the tiny main model whose card names a tiny 'stills' model (its logit: brightness)."""
    folder = tmp_path / "model"
    shutil.copytree(main_card.parent, folder)
    stills_card = build_tiny_model(folder / "stills", input_size=64, heads=(HEAD,))
    raw = json.loads(stills_card.read_text())
    if kind:
        raw["kind"] = kind
    raw["heads"][0]["b"] = 3.0  # pushes the tiny stills head above the main heads
    stills_card.write_text(json.dumps(raw))
    main = json.loads((folder / "model_card.json").read_text())
    main["stills"] = "stills"
    (folder / "model_card.json").write_text(json.dumps(main))
    return folder


def test_photos_get_a_generated_score_and_videos_do_not(tiny_model_dir, tmp_path, face_rgb):
    folder = _with_stills(tiny_model_dir, tmp_path)
    photo = write_image(tmp_path / "face.jpg", face_rgb)
    det = Detector(ScanConfig(model_path=folder, heatmaps=False))
    res = det.scan(photo)
    face = res.faces[0]
    assert set(face.scores) == {"swap", "synthetic", HEAD}
    assert face.probability == pytest.approx(max(face.scores.values()))
    # the score is the stills model's own: its mean patch logit through its Platt calibration
    expected = det.stills.probabilities(face_rgb, [face.box])[0]
    assert face.scores[HEAD] == pytest.approx(float(expected), abs=2e-3)  # the JPEG round trip moves pixels a little
    assert face.scores[HEAD] > face.scores["swap"]
    # switched off, the photo is judged by the face classifier's heads only
    off = Detector(ScanConfig(model_path=folder, heatmaps=False, stills=False)).scan(photo)
    assert set(off.faces[0].scores) == {"swap", "synthetic"}
    video = write_video(tmp_path / "clip.mp4", n_frames=6, fps=6)
    vres = det.scan(video)
    assert vres.faces and all(HEAD not in f.scores for f in vres.faces)


def test_a_stills_model_with_a_bad_card_or_file_is_refused(tiny_model_dir, tmp_path):
    folder = _with_stills(tiny_model_dir, tmp_path, kind=None)
    with pytest.raises(ModelError, match="not a generated-stills model"):
        Detector(ScanConfig(model_path=folder))
    folder2 = _with_stills(tiny_model_dir, tmp_path / "b")
    (folder2 / "stills" / "tiny.onnx").write_bytes((folder2 / "stills" / "tiny.onnx").read_bytes() + b"x")
    with pytest.raises(ModelError, match="does not match its card"):
        Detector(ScanConfig(model_path=folder2))
    main = json.loads((folder2 / "model_card.json").read_text())
    main["stills"] = "missing"
    (folder2 / "model_card.json").write_text(json.dumps(main))
    with pytest.raises(ModelError, match="no model card"):
        Detector(ScanConfig(model_path=folder2))


def _set_stills_card(folder, **fields):
    path = folder / "stills" / "model_card.json"
    raw = json.loads(path.read_text())
    raw.update(fields)
    path.write_text(json.dumps(raw))


def test_a_photo_stored_larger_than_the_training_photos_scores_like_the_original(tiny_model_dir, tmp_path):
    # a face region with structure (a bright spot off its centre): the tiny stills model's logit is
    # its patches' mean brightness, so it depends on which part of the region they cover
    y, x = np.mgrid[0:200, 0:200]
    gray = (60 + 190 * ((abs(x - 75) < 15) & (abs(y - 75) < 15))).astype(np.uint8)
    image = np.repeat(gray[..., None], 3, axis=2)
    box = Box(50, 50, 150, 150)  # region 1.2x: 40..160, 120 px
    big = np.repeat(np.repeat(image, 4, axis=0), 4, axis=1)  # the same photo stored at 4x its size
    big_box = Box(200, 200, 600, 600)
    folder = _with_stills(tiny_model_dir, tmp_path)
    uncapped = StillsModel(folder / "stills")
    assert uncapped.max_region_side is None  # cards without the key behave as before
    assert abs(uncapped.logits(big, [big_box])[0] - uncapped.logits(image, [box])[0]) > 0.05
    _set_stills_card(folder, max_region_side=120)
    capped = StillsModel(folder / "stills")
    assert capped.logits(big, [big_box])[0] == pytest.approx(capped.logits(image, [box])[0], abs=1e-5)
    # and a region within the cap is not touched
    assert capped.logits(image, [box])[0] == pytest.approx(uncapped.logits(image, [box])[0], abs=1e-6)


def test_the_model_without_a_stills_model_scans_as_before(tiny_model_dir, tmp_path, face_rgb):
    det = Detector(ScanConfig(model_path=tiny_model_dir, heatmaps=False))
    assert det.stills is None
    res = det.scan(write_image(tmp_path / "face.png", face_rgb))
    assert set(res.faces[0].scores) == {"swap", "synthetic"}


def test_tiny_stills_training_run_ships_a_model_the_scanner_uses(tmp_path, face_rgb, tiny_model_dir):
    pytest.importorskip("torch")
    from deepdetector.training.stills import StillsConfig, run_stills_training

    root = tmp_path / "data"
    (root / "real").mkdir(parents=True)
    (root / "fake").mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        img = np.clip(face_rgb.astype(np.int16) + (i - 3) * 10, 0, 255).astype(np.uint8)
        write_image(root / "real" / f"r{i}.png", img)
        noisy = np.clip(img.astype(np.int16) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)  # a "generator's" texture
        write_image(root / "fake" / f"f{i}.png", noisy)
    cfg = StillsConfig(
        data=[str(root)],
        out=str(tmp_path / "stills"),
        epochs=1,
        steps_per_epoch=2,
        fakes_per_step=2,
        patch=64,
        threads=1,
        pretrained=False,
        progress=False,
    )
    card = run_stills_training(cfg, log=lambda s: None)
    raw = json.loads((tmp_path / "stills" / "model_card.json").read_text())
    assert raw == card and raw["kind"] == "stills" and raw["input_size"] == 64
    assert [h["name"] for h in raw["heads"]] == [HEAD] and 0.0 <= raw["threshold"] <= 1.0
    assert raw["training"]["onnx_parity_max_abs_diff"] < 1e-3
    assert raw["training"]["split"]["validation_groups"] and raw["metrics"]["overall"]["fake"] >= 1
    # the largest training region is recorded: the scanner shrinks larger regions to it
    assert 64 < raw["max_region_side"] <= max(face_rgb.shape[:2])  # the face region's side, not the patch size
    # the scanner loads it (sha256 verified) and scores photos with it
    stills = StillsModel(tmp_path / "stills")
    assert stills.probabilities(face_rgb, [Box(150, 80, 350, 330)]).shape == (1,)
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir.parent, folder)
    shutil.copytree(tmp_path / "stills", folder / "stills")
    main = json.loads((folder / "model_card.json").read_text())
    main["stills"] = "stills"
    (folder / "model_card.json").write_text(json.dumps(main))
    res = Detector(ScanConfig(model_path=folder, heatmaps=False)).scan(root / "fake" / "f0.png")
    assert HEAD in res.faces[0].scores


def test_rescale_augmentation_resizes_like_a_photo_stored_at_another_size():
    from deepdetector.training.stills import random_patch, rescaled

    region = np.random.default_rng(2).integers(0, 256, (100, 80, 3), dtype=np.uint8)
    assert rescaled(region, 2.0, None).shape == (200, 160, 3)
    assert rescaled(region, 2.0, 150).shape == (150, 120, 3)  # capped like the scanner caps regions
    assert rescaled(region, 0.5, None).shape == (50, 40, 3)
    # off (None or probability 0) draws nothing: the same patches as a run without the option
    a = random_patch(region, 32, np.random.default_rng(5), 0.5)
    b = random_patch(region, 32, np.random.default_rng(5), 0.5, (0.0, 0.5, 2.0), 150)
    assert np.array_equal(a, b)
    # always on, a fixed factor of 2, no JPEG: the patch is a piece (maybe mirrored) of the enlarged region
    big = rescaled(region, 2.0, None)
    windows = np.lib.stride_tricks.sliding_window_view(big, (32, 32, 3)).reshape(-1, 32, 32, 3)
    for seed in range(4):
        p = random_patch(region, 32, np.random.default_rng(seed), 0.0, (1.0, 2.0, 2.0), None)
        assert any(np.array_equal(w, p) or np.array_equal(w, p[:, ::-1]) for w in windows)


def test_train_stills_refuses_bad_rescale_options(tmp_path):
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from deepdetector.cli import app

    runner = CliRunner()
    bad = runner.invoke(app, ["train-stills", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--rescale-range", "big"])
    assert bad.exit_code != 0 and "--rescale-range" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(app, ["train-stills", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--rescale", "2"])
    assert bad.exit_code != 0 and "--rescale" in bad.output and "Traceback" not in bad.output
    # blocks Lite0 does not have: named before anything else is looked at (the data folder here is empty)
    bad = runner.invoke(app, ["train-stills", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--freeze-blocks", "17"])
    assert bad.exit_code != 0 and "--freeze-blocks 17" in bad.output and "Traceback" not in bad.output


def test_stills_training_without_generated_images_is_a_clear_error(tmp_path, face_rgb):
    pytest.importorskip("torch")
    from deepdetector.errors import ConfigError
    from deepdetector.training.stills import StillsConfig, run_stills_training

    root = tmp_path / "data"
    (root / "real").mkdir(parents=True)
    for i in range(4):
        write_image(root / "real" / f"r{i}.png", face_rgb)
    with pytest.raises(ConfigError, match="needs generated"):
        run_stills_training(StillsConfig(data=[str(root)], out=str(tmp_path / "o"), pretrained=False, progress=False), log=lambda s: None)


def test_the_model_card_document_describes_the_stills_model_and_its_command():
    from deepdetector.training.card_document import model_card_markdown, stills_command

    stills = {
        "name": "s",
        "version": "1",
        "file": "s.onnx",
        "sha256": "ab" * 32,
        "input_size": 128,
        "patch_grid": 3,
        "region_margin": 1.2,
        "heads": [{"name": HEAD, "a": 0.2, "b": -0.3}],
        "training": {
            "settings": {"data": ["d.csv"], "train_only": ["t.csv"], "out": "o", "epochs": 24, "max_per_subset": 300, "seed": 0},
            "data": {"train_files": {"GAN": {"real": 0, "fake": 5}}},
        },
        "metrics": {"overall": {"file_auc": 0.9, "real": 3, "fake": 5}, "GAN": {"auc_vs_all_reals": 0.91, "fake": 5}},
    }
    cmd = stills_command(stills["training"])
    # defaults are left out, everything else is there to rerun
    assert cmd == "deepdetector train-stills --data d.csv --train-only t.csv --out o --max-per-subset 300"
    text = model_card_markdown({"name": "m", "version": "2", "heads": [], "training": {}}, stills=stills, stills_bytes=2_000_000)
    assert "## The generated-stills model: s v1" in text and cmd in text and "| GAN | 5 | 0.910 |" in text
    assert "3 x 3 grid of 128 x 128 px" in text and "2.0 MB" in text
    assert "generated-stills" not in model_card_markdown({"name": "m", "version": "2", "heads": [], "training": {}})
    assert "shrunk" not in text  # a stills card without a cap: nothing is shrunk
    capped = model_card_markdown({"name": "m", "version": "2", "heads": [], "training": {}}, stills={**stills, "max_region_side": 512})
    assert "or larger than 512 px, the largest training region" in capped and "at most 512 px across the face region" in capped


def test_the_shipped_model_names_a_stills_model_that_loads():
    from deepdetector.model.card import WEIGHTS_DIR, ModelCard
    from deepdetector.model.stills import model_label, stills_card_path

    card = ModelCard.load(WEIGHTS_DIR)
    path = stills_card_path(card)
    assert path is not None and path.is_dir()
    stills = StillsModel(path)  # sha256 verified
    assert stills.card.input_size == 128 and stills.grid == 3
    assert model_label(card) == f"{card.label} + {stills.card.label}"


def test_info_and_scan_name_the_stills_model_and_refuse_a_broken_one(tiny_model_dir, tmp_path, face_rgb):
    from typer.testing import CliRunner

    from deepdetector.cli import app

    runner = CliRunner()
    folder = _with_stills(tiny_model_dir, tmp_path)
    res = runner.invoke(app, ["info", "--model", str(folder)])
    assert res.exit_code == 0 and "stills model (photos only): tiny-test-model v0" in res.output
    (folder / "stills" / "tiny.onnx").write_bytes(b"broken")
    photo = write_image(tmp_path / "p.png", face_rgb)
    for args in (["info", "--model", str(folder)], ["scan", str(photo), "--model", str(folder)]):
        res = runner.invoke(app, args)
        assert res.exit_code == 1 and "does not match its card" in res.output and "Traceback" not in res.output
    # --no-stills scans with the face classifier alone, even when the stills model is broken
    res = runner.invoke(app, ["scan", str(photo), "--model", str(folder), "--no-stills", "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert HEAD not in json.loads((tmp_path / "r.json").read_text())["results"][0]["faces"][0]["scores"]


def test_without_the_stills_model_the_classifier_alone_thresholds_apply(tiny_model_dir, tmp_path):
    folder = _with_stills(tiny_model_dir, tmp_path)
    main = json.loads((folder / "model_card.json").read_text())
    main["thresholds"] = {"image": 0.8, "video": 0.4}
    main["thresholds_without_stills"] = {"image": 0.6, "video": 0.4}
    (folder / "model_card.json").write_text(json.dumps(main))
    assert Detector(ScanConfig(model_path=folder)).thresholds.for_media("image") == 0.8
    assert Detector(ScanConfig(model_path=folder, stills=False)).thresholds.for_media("image") == 0.6
    assert Detector(ScanConfig(model_path=folder, stills=False, threshold=0.3)).thresholds.for_media("image") == 0.3
    main["thresholds_without_stills"] = {"image": 2.0}
    (folder / "model_card.json").write_text(json.dumps(main))
    with pytest.raises(ModelError, match="thresholds_without_stills"):
        Detector(ScanConfig(model_path=folder, stills=False))


@pytest.mark.parametrize(
    "field,value",
    [
        ("patch_grid", "three"),
        ("patch_grid", 0),
        ("region_margin", "wide"),
        ("region_margin", -1),
        ("input_size", 32),
        ("max_region_side", "large"),
        ("max_region_side", 10),
    ],
)
def test_a_stills_card_with_bad_values_is_a_clear_error(tiny_model_dir, tmp_path, field, value):
    folder = _with_stills(tiny_model_dir, tmp_path)
    raw = json.loads((folder / "stills" / "model_card.json").read_text())
    raw[field] = value
    (folder / "stills" / "model_card.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="generated-stills model"):
        Detector(ScanConfig(model_path=folder))


def test_the_heatmap_is_scaled_by_the_face_classifier_not_the_stills_head(tiny_model_dir, tmp_path, face_rgb):
    folder = _with_stills(tiny_model_dir, tmp_path)  # the tiny stills head scores above the classifier's heads
    face = Detector(ScanConfig(model_path=folder)).scan(write_image(tmp_path / "f.png", face_rgb)).faces[0]
    classifier_max = max(face.scores["swap"], face.scores["synthetic"])
    assert face.probability > classifier_max
    assert float(face.heatmap.max()) == pytest.approx(classifier_max, abs=1e-5)


def test_calibrate_refuses_predictions_of_another_or_a_damaged_stills_model(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from deepdetector.cli import app
    from deepdetector.evaluation.predictions import PredictionRow, PredictionWriter
    from deepdetector.model.card import ModelCard
    from deepdetector.model.stills import model_label

    runner = CliRunner()
    folder = _with_stills(tiny_model_dir, tmp_path)
    card = ModelCard.load(folder)
    preds = tmp_path / "p.csv"
    with PredictionWriter(preds, ["swap"]) as w:
        for i in range(12):
            w.write(PredictionRow(f"x{i}.jpg", i % 2, "image", "s", "", "image", 0.1 + 0.07 * i, "real", 1, 1, 0.1, model=model_label(card)))
    stills_sha = ModelCard.load(folder / "stills").sha256
    for recorded, ok in (({"name": "x", "sha256": "0" * 64}, False), (None, False), ({"name": "x", "sha256": stills_sha}, True)):
        (tmp_path / "p.metrics.json").write_text(json.dumps({"run": {"model": {"sha256": card.sha256, "stills": recorded}}}))
        res = runner.invoke(app, ["calibrate", str(preds), "--model", str(folder), "--out", str(tmp_path / "out"), "--overwrite"])
        assert (res.exit_code == 0) == ok, res.output
        if not ok:
            assert "another generated-stills model" in res.output
    (folder / "stills" / "tiny.onnx").write_bytes(b"damaged")
    res = runner.invoke(app, ["calibrate", str(preds), "--model", str(folder), "--out", str(tmp_path / "out2")])
    assert res.exit_code != 0 and "does not match its card" in res.output and not (tmp_path / "out2").exists()


def test_train_stills_split_seed_keeps_the_face_classifiers_split(monkeypatch, tmp_path):
    """--seed 1 --split-seed 0 holds out the groups of --seed 0 (the same collect() split as the classifier's
    --split-seed), and the card's command repeats both options and the rescale ones."""
    pytest.importorskip("torch")
    import deepdetector.training.train as train_mod
    from deepdetector.training.card_document import stills_command
    from deepdetector.training.stills import StillsConfig, run_stills_training

    seen = []

    class Stop(Exception):
        pass

    def fake_collect(cfg):
        seen.append(cfg.data_seed)
        raise Stop

    monkeypatch.setattr(train_mod, "collect", fake_collect)
    for kw in ({"seed": 1, "split_seed": 0}, {"seed": 1}, {"seed": 0}):
        with pytest.raises(Stop):
            run_stills_training(StillsConfig(data=[str(tmp_path)], progress=False, **kw), log=lambda s: None)
    assert seen == [0, 1, 0]
    cmd = stills_command({"settings": {"data": ["d.csv"], "seed": 1, "split_seed": 0, "rescale_probability": 0.3, "rescale_range": [0.5, 3.0]}})
    assert "--seed 1" in cmd and "--split-seed 0" in cmd and "--rescale 0.3" in cmd and "--rescale-range 0.5,3" in cmd
    plain = stills_command({"settings": {"data": ["d.csv"], "seed": 0, "rescale_probability": 0.0, "rescale_range": [0.5, 2.0]}})
    assert "--split-seed" not in plain and "--rescale" not in plain


def test_train_stills_validation_shrinks_regions_larger_than_the_recorded_max_side(monkeypatch, tmp_path):
    """Validation scores each file as the scanner will: a region larger than the largest training region
    (the card's ``max_region_side``) is shrunk to it before its patch grid is taken; smaller ones are untouched."""
    pytest.importorskip("torch")
    import deepdetector.training.stills as stills_mod
    import deepdetector.training.train as train_mod
    from deepdetector.datasets.manifest import MediaItem

    rng = np.random.default_rng(3)

    def item(name, label):
        return MediaItem(str(tmp_path / f"{name}.png"), label, "image", "s", name, str(tmp_path))

    def pixels(h, w):
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)

    # training regions: the largest side is 80 px, so max_region_side = 80 (above the 32 px patch)
    train = {item("tf", "fake"): pixels(60, 50), item("tr", "real"): pixels(80, 70)}
    at_cap = pixels(80, 64)
    big = np.repeat(np.repeat(at_cap, 2, axis=0), 2, axis=1)  # the same face stored at 2x: 160 x 128
    small = pixels(50, 40)
    val = {item("vf", "fake"): big, item("vr", "real"): small}
    regions = {**train, **val}
    monkeypatch.setattr(train_mod, "collect", lambda cfg: train_mod.Split(train=list(train), val=list(val)))
    monkeypatch.setattr(stills_mod, "_load_regions", lambda items, cfg, log: [stills_mod.Region(it, regions[it]) for it in items])

    scored = []

    class Scored(Exception):
        pass

    def capture(model, val_regions, size, grid):
        scored.extend(val_regions)
        raise Scored  # what validation scores is all this test needs; skip calibration and the ONNX export

    monkeypatch.setattr(stills_mod, "file_logits", capture)
    cfg = stills_mod.StillsConfig(
        data=[str(tmp_path)],
        out=str(tmp_path / "o"),
        epochs=1,
        steps_per_epoch=1,
        fakes_per_step=2,
        patch=32,
        threads=1,
        pretrained=False,
        progress=False,
    )
    with pytest.raises(Scored):
        stills_mod.run_stills_training(cfg, log=lambda s: None)
    assert [r.item for r in scored] == list(val)
    # shrunk (area averaging) to the 80 px side: exactly the 1x pixels, so the same patch grid as the 1x photo
    assert scored[0].pixels.shape == (80, 64, 3) and np.array_equal(scored[0].pixels, at_cap)
    assert np.array_equal(fixed_patches(scored[0].pixels, 32, cfg.patch_grid), fixed_patches(at_cap, 32, cfg.patch_grid))
    assert scored[1].pixels is small  # within the cap: not resampled
