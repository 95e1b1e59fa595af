"""Pixel evidence for photos: each feature on synthetic fixtures, the heads' JSON, their place in the scanner."""

from __future__ import annotations

import json
import math
import shutil

import cv2
import numpy as np
import pytest

from deepdetector import Detector, ScanConfig
from deepdetector.errors import ModelError
from deepdetector.evidence import pixels as px
from deepdetector.model.stills import HEAD as STILLS_HEAD
from deepdetector.types import Box
from tests.media_factory import write_image, write_video
from tests.tiny_model import build_tiny_model


def _texture(side: int, seed: int) -> np.ndarray:
    """A colour texture with detail at every scale (smoothed noise), float32."""
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.normal(128, 40, (side, side, 3)).astype(np.float32), (0, 0), 1.0)


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(a, 0, 255).astype(np.uint8)


def _upsampled(side: int, seed: int, interpolation: int) -> np.ndarray:
    """A texture made at half size and up-sampled 2x (as a generator's last layers do), with a little sensor-like noise."""
    small = _texture(side // 2, seed)
    up = cv2.resize(small, (side, side), interpolation=interpolation)
    return _u8(up + np.random.default_rng(seed + 1).normal(0, 2, up.shape))


def _native(side: int, seed: int) -> np.ndarray:
    return _u8(_texture(side, seed) + np.random.default_rng(seed + 1).normal(0, 2, (side, side, 3)))


# --- NPR -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("interpolation", [cv2.INTER_NEAREST, cv2.INTER_LINEAR])
def test_planted_2x_upsampling_traces_score_high_on_npr_and_a_native_picture_does_not(interpolation):
    for seed in range(3):
        planted = px.region_features(_upsampled(320, seed, interpolation))
        native = px.region_features(_native(320, seed + 10))
        assert planted["npr_phase"] > 0.15 and planted["npr_shift"] > 0.08, planted
        assert native["npr_phase"] < 0.05 and abs(native["npr_shift"]) < 0.03, native
        # the signs say where the grid lies: blocks start on even pixels, as the picture's own grid
        assert planted["npr_h"] > 0 and planted["npr_v"] > 0


def test_npr_reads_the_traces_through_a_light_jpeg_and_on_the_whole_photo_patches():
    planted = _upsampled(512, 0, cv2.INTER_NEAREST)
    ok, buf = cv2.imencode(".jpg", planted, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    jpeg = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    f = px.photo_features(jpeg, Box(150, 150, 350, 350))
    g = px.photo_features(_native(512, 3), Box(150, 150, 350, 350))
    for region in ("face", "image"):
        assert f[f"{region}.npr_phase"] > 3 * g[f"{region}.npr_phase"]


def test_npr_phase_follows_a_grid_shifted_by_one_pixel():
    planted = _upsampled(322, 0, cv2.INTER_NEAREST)[1:321, 1:321]  # blocks now start on odd pixels
    f = px.npr_features(px.grey(planted))
    assert f["npr_h"] < -0.3 and f["npr_v"] < -0.3 and f["npr_phase"] > 0.6
    assert f["npr_shift"] < -0.3  # the shifted grid fits better than the aligned one


# --- spectrum --------------------------------------------------------------------------------------


def test_a_planted_period_2_pattern_peaks_at_nyquist_and_period_4_at_half_nyquist():
    base = _native(256, 0).astype(np.float32)
    y, x = np.mgrid[0:256, 0:256]
    period2 = _u8(base + 4.0 * ((-1.0) ** (x + y))[..., None])
    period4 = _u8(base + 4.0 * np.cos(np.pi * x / 2.0)[..., None] + 4.0 * np.cos(np.pi * y / 2.0)[..., None])
    plain = px.spectrum_features(px.grey(base))
    assert abs(plain["spec_peak2"]) < 0.5 and abs(plain["spec_peak4"]) < 0.5
    assert px.spectrum_features(px.grey(period2))["spec_peak2"] > 1.0
    assert px.spectrum_features(px.grey(period4))["spec_peak4"] > 1.0


def test_spectrum_shape_does_not_depend_on_contrast_but_on_blur():
    img = _native(256, 1).astype(np.float32)
    a = px.spectrum_features(px.grey(img))
    b = px.spectrum_features(px.grey(img * 0.5))
    assert all(a[f"spec_band{i}"] == pytest.approx(b[f"spec_band{i}"], abs=1e-3) for i in range(px.SPECTRUM_BANDS))
    blurred = px.spectrum_features(px.grey(cv2.GaussianBlur(img, (0, 0), 1.5)))
    assert blurred["spec_band5"] < a["spec_band5"] - 1.0


# --- noise -----------------------------------------------------------------------------------------


def test_noise_level_and_channel_correlation():
    flat = np.full((128, 128, 3), 120.0, np.float32)
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 5, (128, 128, 1))
    same_in_each_channel = px.noise_features(_u8(flat + shared))
    independent = px.noise_features(_u8(flat + rng.normal(0, 5, (128, 128, 3))))
    quiet = px.noise_features(_u8(flat + rng.normal(0, 1, (128, 128, 3))))
    assert same_in_each_channel["noise_rgb"] > 0.95 and abs(independent["noise_rgb"]) < 0.1
    assert independent["noise_level"] > quiet["noise_level"] + 1.0
    assert px.noise_features(_u8(flat[..., 0] + shared[..., 0]))["noise_rgb"] == 1.0  # grey pictures


def test_noise_evenness_sees_noise_confined_to_part_of_the_picture():
    rng = np.random.default_rng(0)
    even = 120 + rng.normal(0, 4, (128, 128))
    uneven = even.copy()
    uneven[:, :64] = 120 + rng.normal(0, 0.5, (128, 64))
    assert px.noise_features(_u8(uneven))["noise_evenness"] > px.noise_features(_u8(even))["noise_evenness"] + 1.0


# --- patches and regions ---------------------------------------------------------------------------


def test_patches_are_native_pixels_on_the_even_grid_and_bounded_in_number():
    big = np.random.default_rng(0).integers(0, 256, (2001, 3001, 3), dtype=np.uint8)
    cut = px.patches(big, 192, 2)
    assert len(cut) == 4 and all(p.shape == (192, 192, 3) for p in cut)
    assert np.array_equal(cut[0], big[:192, :192])  # corner to corner, never resized
    last = big[2000 - 192 : 2000, 3000 - 192 : 3000]  # the far corner, moved onto even coordinates
    assert np.array_equal(cut[3], last)
    small = big[:100, :151]
    assert [p.shape for p in px.patches(small, 192, 2)] == [(100, 150, 3)]  # a small region: one patch of its own size
    assert px.patches(big[:40, :300], 192, 2) == []  # too small to measure
    assert px.region_features(big[:40, :300]) is None


def test_face_region_is_centred_clipped_and_starts_on_even_pixels():
    assert px.face_region((400, 600, 3), Box(101, 101, 201, 201), 1.2) == (90, 90, 211, 211)
    x1, y1, x2, y2 = px.face_region((400, 600, 3), Box(0, 0, 100, 100), 1.2)
    assert (x1, y1) == (0, 0) and (x2, y2) == (110, 110)
    f = px.photo_features(np.zeros((300, 300, 3), np.uint8), Box(140, 140, 160, 160))
    assert f["face.npr_h"] is None and f["image.npr_h"] is not None  # a face too small to measure
    assert set(f) == set(px.FEATURE_NAMES)


# --- the heads -------------------------------------------------------------------------------------


def _model(tmp_path, classifier_sha="c", stills_sha="s", threshold=0.7, coef=5.0):
    """Heads reading one feature: gan_pixels the face's NPR phase strength, diffusion_pixels nothing (always at its cut)."""
    heads = [
        px.PixelHead(
            "gan_pixels", ["face.npr_phase"], [0.1], [0.05], [coef], 0.0, 0.0, "the picture shows the periodic traces that GAN up-sampling leaves"
        ),
        px.PixelHead("diffusion_pixels", ["image.noise_rgb"], [0.0], [1.0], [0.0], -2.0, 0.0, "diffusion words"),
    ]
    model = px.PixelModel(heads=heads, image_threshold=threshold, extra={"classifier_sha256": classifier_sha, "stills_sha256": stills_sha})
    path = tmp_path / "pixel_heads.json"
    model.save(path)
    return path


def test_heads_round_trip_and_meet_the_threshold_at_their_cut(tmp_path):
    model = px.PixelModel.load(_model(tmp_path))
    planted, native = _upsampled(320, 0, cv2.INTER_NEAREST), _native(320, 5)
    box = Box(60, 60, 260, 260)
    hi, lo = model.probabilities(planted, [box])[0], model.probabilities(native, [box])[0]
    assert hi["gan_pixels"] > 0.99 and lo["gan_pixels"] < 0.2
    # diffusion head: logit -2 at cut 0 -> two log-odds under the threshold, whatever the picture
    expected = 1 / (1 + math.exp(-(-2.0 + math.log(0.7 / 0.3))))
    assert hi["diffusion_pixels"] == pytest.approx(expected) and lo["diffusion_pixels"] == pytest.approx(expected)
    assert model.matches("c", "s") and not model.matches("c", "other") and not model.matches("x", "s")


def test_an_inconsistent_heads_file_is_refused(tmp_path):
    path = _model(tmp_path)
    raw = json.loads(path.read_text())
    raw["heads"][0]["coef"] = []
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="inconsistent"):
        px.PixelModel.load(path)
    raw["heads"][0]["coef"] = [1.0]
    raw["heads"][0]["inputs"] = ["face.no_such_feature"]
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="inconsistent"):
        px.PixelModel.load(path)
    path.write_text("{")
    with pytest.raises(ModelError, match="cannot read"):
        px.PixelModel.load(path)


def _with_stills(main_card, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(main_card.parent, folder)
    build_tiny_model(folder / "stills", input_size=64, heads=(STILLS_HEAD,))
    raw = json.loads((folder / "stills" / "model_card.json").read_text())
    raw["kind"] = "stills"
    (folder / "stills" / "model_card.json").write_text(json.dumps(raw))
    main = json.loads((folder / "model_card.json").read_text())
    main["stills"] = "stills"
    (folder / "model_card.json").write_text(json.dumps(main))
    return folder


def test_the_scanner_uses_the_heads_for_photos_only_and_only_with_their_models(tiny_model_dir, tmp_path, monkeypatch):
    folder = _with_stills(tiny_model_dir, tmp_path)
    main_sha = json.loads((folder / "model_card.json").read_text())["sha256"]
    stills_sha = json.loads((folder / "stills" / "model_card.json").read_text())["sha256"]
    heads = _model(tmp_path, main_sha, stills_sha, threshold=0.7)
    monkeypatch.setattr("deepdetector.api.PIXELS_PATH", heads)
    det = Detector(ScanConfig(model_path=folder, heatmaps=False, landmarks=None))
    assert det.pixels is not None and det.thresholds.for_media("image") == pytest.approx(0.7)
    assert det.head_names[-2:] == ["gan_pixels", "diffusion_pixels"] and det.model_label.endswith("+ pixel-heads v1")
    # a photo up-sampled 2x everywhere (face included) with a face the detector finds
    from tests.media_factory import face_photo

    face = face_photo()
    h, w = face.shape[:2]
    up = cv2.resize(face[: h // 2 * 2 : 2, : w // 2 * 2 : 2], (w // 2 * 2, h // 2 * 2), interpolation=cv2.INTER_NEAREST)
    res = det.scan(write_image(tmp_path / "up.png", up))
    assert res.faces, res.error
    f = res.faces[0]
    assert {"gan_pixels", "diffusion_pixels"} <= set(f.scores)
    assert f.probability == pytest.approx(det.pixels.face_probability(f.scores))
    assert f.probability == pytest.approx(max(f.scores["gan_pixels"], f.scores["diffusion_pixels"]))  # no score_cuts here
    assert res.threshold == pytest.approx(0.7)
    cues = {c.name: c for c in res.evidence}
    assert cues["gan_pixels"].value == pytest.approx(f.scores["gan_pixels"])
    assert cues["gan_pixels"].words == "the picture shows the periodic traces that GAN up-sampling leaves"
    assert cues["diffusion_pixels"].words is None and cues["diffusion_pixels"].effect == pytest.approx(-2.0, abs=1e-6)
    assert f.scores["gan_pixels"] > 0.9 and res.verdict.value == "fake"  # the head alone flags it
    # videos never use them
    vres = det.scan(write_video(tmp_path / "clip.mp4", n_frames=4, fps=4))
    assert all("gan_pixels" not in x.scores for x in vres.faces)
    # switched off, or fitted with another classifier: not used, and the card's image threshold is back
    off = Detector(ScanConfig(model_path=folder, heatmaps=False, landmarks=None, pixels=False))
    assert off.pixels is None and off.thresholds.for_media("image") != pytest.approx(0.7)
    (tmp_path / "other").mkdir()
    monkeypatch.setattr("deepdetector.api.PIXELS_PATH", _model(tmp_path / "other", "another", stills_sha))
    assert Detector(ScanConfig(model_path=folder, heatmaps=False, landmarks=None)).pixels is None
    assert Detector(ScanConfig(model_path=folder, heatmaps=False, landmarks=None, stills=False)).pixels is None


def test_heads_read_feature_heads_and_the_faces_scores(tmp_path):
    feature = px.PixelHead("gan", ["face.npr_phase"], [0.1], [0.05], [2.0], 0.5, 0.0)
    head = px.PixelHead("gan_pixels", ["features:gan", "score:synthetic"], [0.0, 0.0], [1.0, 1.0], [1.0, 0.5], 0.0, 1.0, "words")
    model = px.PixelModel(heads=[head], feature_heads=[feature], image_threshold=0.8)
    path = tmp_path / "h.json"
    model.save(path)
    model = px.PixelModel.load(path)
    x = model.inputs({"face.npr_phase": 0.2}, {"synthetic": 0.9})
    assert x["features:gan"] == pytest.approx(0.5 + 2.0 * (0.2 - 0.1) / 0.05)
    assert x["score:synthetic"] == pytest.approx(math.log(9.0))
    picture = _native(320, 0)  # no traces: the feature head does not saturate the fusion
    box = Box(60, 60, 260, 260)
    p_hi = model.probabilities(picture, [box], [{"synthetic": 0.9}])[0]["gan_pixels"]
    p_lo = model.probabilities(picture, [box], [{"synthetic": 0.1}])[0]["gan_pixels"]
    assert p_hi > p_lo + 0.05  # the face classifier's score is an input
    # a feature head may not read scores or other heads; an unknown feature head is refused
    raw = json.loads(path.read_text())
    raw["feature_heads"][0]["inputs"] = ["score:synthetic"]
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="inconsistent"):
        px.PixelModel.load(path)
    raw["feature_heads"] = []
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="inconsistent"):
        px.PixelModel.load(path)


def test_the_shipped_heads_belong_to_the_shipped_models():
    from deepdetector.model import ModelCard, default_card_path
    from deepdetector.model.stills import stills_card_path

    model = px.PixelModel.load()
    card = ModelCard.load(default_card_path())
    assert model.matches(card.sha256, ModelCard.load(stills_card_path(card)).sha256)
    assert model.head_names == ["gan_pixels", "diffusion_pixels"] and 0.5 < model.image_threshold < 1.0
    assert model.patch == px.PATCH and model.grid == px.PATCHES  # measured as it was fitted


# --- fitting (training/pixels.py) ----------------------------------------------------------------------


def test_split_keys_keep_identities_and_runs_of_frames_together(tmp_path):
    from pathlib import Path

    from deepdetector.training.pixels import split_keys

    names = [f"HrithikRoshan_{i}.jpg" for i in range(3)] + [f"Avinash_{i}.jpg" for i in range(3)] + [f"x{i}.jpg" for i in range(6)]
    keys = split_keys([Path(n) for n in names])
    assert keys[Path("HrithikRoshan_0.jpg")] == keys[Path("HrithikRoshan_2.jpg")] != keys[Path("Avinash_0.jpg")]
    frames = [Path(f"clip_{i:06d}.jpg") for i in range(40)]
    keys = split_keys(frames)  # one name for the whole source: blocks of 10 consecutive frames
    assert keys[frames[0]] == keys[frames[9]] != keys[frames[10]]


def test_augment_writes_a_jpeg_and_says_what_it_did():
    from PIL import Image

    from deepdetector.training.pixels import augment

    picture = Image.fromarray(_native(200, 0))
    seen = set()
    for seed in range(30):
        data, how = augment(picture, np.random.default_rng(seed))
        assert data[:2] == b"\xff\xd8" and "jpeg" in how
        seen |= {word for word in ("resize", "blur", "sub", "web_", "maximum", "medium", "high") if word in how}
    assert {"resize", "blur", "sub"} <= seen and seen & {"web_", "maximum", "medium", "high"}  # several tables


def test_thresholds_hold_every_real_source():
    from deepdetector.training.pixels import choose_thresholds, worst_source_threshold

    rng = np.random.default_rng(0)
    easy, hard = rng.normal(0, 1, 200), rng.normal(2, 1, 100)  # a hard real source scores higher
    scores = np.concatenate([easy, hard])
    sources = ["easy"] * 200 + ["hard"] * 100
    t = worst_source_threshold(scores, sources, 0.02)
    assert (hard >= t).mean() <= 0.02 and (easy >= t).mean() <= 0.02
    assert (hard >= np.nextafter(t, -np.inf) - 0.2).mean() > 0.02  # not higher than needed
    # two parts, one budget each: every source stays at or under the target for a photo flagged by either
    reals = {"a": scores, "b": rng.normal(0, 1, 300)}
    fakes = {"a": rng.normal(3, 1, 50), "b": rng.normal(3, 1, 50)}
    ts, budget = choose_thresholds(reals, sources, fakes, ["gan"] * 50, 0.02, {"first": ["a"], "second": ["b"]})
    flagged = (reals["a"] >= ts["a"]) | (reals["b"] >= ts["b"])
    for s in ("easy", "hard"):
        assert flagged[np.array(sources) == s].mean() <= 0.02
    assert set(budget) == {"first", "second"}


def test_fit_pixels_measures_fits_and_writes_heads_the_scanner_can_load(tmp_path, face_rgb):
    pytest.importorskip("sklearn")
    from typer.testing import CliRunner

    from deepdetector.cli import app

    runner = CliRunner()
    bad = runner.invoke(app, ["fit-pixels", str(tmp_path / "m.csv"), "--fpr", "0"])
    assert bad.exit_code == 1 and "--fpr" in bad.output
    rng = np.random.default_rng(0)
    h, w = face_rgb.shape[:2]
    rows = ["path,label,kind,source_dataset,group"]
    for i, letter in enumerate("abcdefghij"):
        real = _u8(face_rgb.astype(np.float32) + rng.normal(0, 3, face_rgb.shape))
        write_image(tmp_path / f"real_{letter}.png", real)
        rows.append(f"real_{letter}.png,real,image,FFHQ,")
        small = face_rgb[::2, ::2].astype(np.float32)
        gan = _u8(cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST) + rng.normal(0, 1, face_rgb.shape))
        write_image(tmp_path / f"gan_{letter}.png", gan)
        rows.append(f"gan_{letter}.png,fake,gan-image,thispersondoesnotexist (StyleGAN2),")
        diff = _u8(cv2.GaussianBlur(face_rgb.astype(np.float32), (0, 0), 1.0) + rng.normal(0, 6, face_rgb.shape[:2])[..., None])
        write_image(tmp_path / f"sd_{letter}.png", diff)
        rows.append(f"sd_{letter}.png,fake,diffusion-image,Stable Diffusion 2.1,")
    (tmp_path / "few.csv").write_text("\n".join(rows[:3]) + "\n")  # one real photo, one GAN face
    few = runner.invoke(app, ["fit-pixels", str(tmp_path / "few.csv"), "--out", str(tmp_path / "few"), "--threads", "1"])
    assert few.exit_code == 1 and "needs at least 2" in few.output and "Traceback" not in few.output
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    res = runner.invoke(app, ["fit-pixels", str(tmp_path / "m.csv"), "--out", str(out), "--threads", "1", "--strength", "1"])
    assert res.exit_code == 0, res.output
    lines = (out / "features.jsonl").read_text().splitlines()
    assert len(lines) == 60  # 30 photos, as given and one augmented copy
    assert {json.loads(x)["split"] for x in lines} == {"fit", "test"}
    model = px.PixelModel.load(out / "pixel_heads.json")
    assert model.head_names == ["gan_pixels", "diffusion_pixels"] and [h.name for h in model.feature_heads] == ["gan", "diffusion"]
    report = (out / "report.md").read_text()
    assert "What each kind of evidence adds" in report and "| FFHQ | real |" in report
    # resumable: a second run measures nothing again
    again = runner.invoke(app, ["fit-pixels", str(tmp_path / "m.csv"), "--out", str(out), "--threads", "1", "--strength", "1"])
    assert again.exit_code == 0 and "measured 1/" not in again.output
    assert len((out / "features.jsonl").read_text().splitlines()) == 60


def test_a_photo_face_is_decided_by_the_heads_and_the_scores_given_a_cut():
    head = px.PixelHead("gan_pixels", ["face.npr_phase"], [0.0], [1.0], [0.0], 0.0, 0.0)
    model = px.PixelModel(heads=[head], image_threshold=0.6, score_cuts={"swap": math.log(0.8 / 0.2)})
    # swap flags at 0.8: rescaled, 0.8 meets the photo threshold 0.6; synthetic and generated count only through the heads
    scores = {"swap": 0.8, "synthetic": 0.99, "generated": 0.99, "gan_pixels": 0.1}
    assert model.face_probability(scores) == pytest.approx(0.6)
    assert model.face_probability({**scores, "swap": 0.5}) < 0.6
    assert model.face_probability({**scores, "swap": 0.5, "gan_pixels": 0.7}) == pytest.approx(0.7)
