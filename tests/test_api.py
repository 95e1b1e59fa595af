"""The Python API end to end (media -> faces -> model -> explanation -> verdict) on the tiny test model."""

import numpy as np
import pytest

from deepdetector import Detector, ScanConfig, Verdict
from deepdetector.errors import ConfigError, ModelError
from tests.media_factory import blank_photo, write_image, write_video


@pytest.fixture(scope="module")
def detector(tiny_model_dir):
    return Detector(ScanConfig(model_path=tiny_model_dir, frames=8))


def test_image_with_one_face(detector, face_rgb, tmp_path):
    res = detector.scan(write_image(tmp_path / "face.jpg", face_rgb))
    assert res.verdict in (Verdict.FAKE, Verdict.REAL)
    assert 0.0 <= res.probability <= 1.0
    assert len(res.faces) == 1 and len(res.tracks) == 1
    face = res.faces[0]
    assert face.box.width > 50 and set(face.scores) == {"swap", "synthetic"}
    assert face.heatmap is not None and face.heatmap.min() >= 0 and face.heatmap.max() <= 1
    assert face.region.width == pytest.approx(1.6 * max(face.box.width, face.box.height))  # margin from the card
    assert res.keyframes and next(iter(res.keyframes.values())).shape == face_rgb.shape
    assert res.media.kind == "image" and res.threshold == 0.5 and res.model == "tiny-test-model v0"
    d = res.to_dict()
    assert d["verdict"] == res.verdict.value and d["faces"][0]["box"] == face.box.to_list()
    assert {"decode", "detect", "classify", "total"} <= set(res.timings)


def test_verdict_follows_the_threshold(tiny_model_dir, face_rgb, tmp_path):
    path = write_image(tmp_path / "face.png", face_rgb)
    assert Detector(model_path=tiny_model_dir, threshold=0.0).scan(path).verdict is Verdict.FAKE
    assert Detector(model_path=tiny_model_dir, threshold=1.0).scan(path).verdict is Verdict.REAL


def test_no_face_is_not_real(detector, tmp_path):
    res = detector.scan(write_image(tmp_path / "blank.png", blank_photo()))
    assert res.verdict is Verdict.NO_FACE and res.probability is None and res.faces == []


def test_two_faces_are_two_people(detector, two_faces_rgb, tmp_path):
    res = detector.scan(write_image(tmp_path / "two.jpg", two_faces_rgb))
    assert len(res.faces) == 2 and len({f.track_id for f in res.faces}) == 2 and len(res.tracks) == 2


def test_video_timeline_and_tracking(detector, tmp_path):
    res = detector.scan(write_video(tmp_path / "clip.mp4", n_frames=48, fps=24))
    assert res.media.kind == "video" and res.media.sampled_frames == 8
    assert len(res.frames) == 8 and all(f.n_faces == 1 for f in res.frames)
    ts = [f.timestamp for f in res.frames]
    assert ts == sorted(ts) and ts[-1] > 1.0
    assert len(res.tracks) == 1 and res.tracks[0].n_faces == 8  # one person followed through the clip
    assert len(res.keyframes) == 1


def test_frame_transform_is_applied(detector, face_rgb, tmp_path):
    path = write_image(tmp_path / "face.jpg", face_rgb)
    res = detector.scan(path, frame_transform=lambda img: np.zeros_like(img))
    assert res.verdict is Verdict.NO_FACE


def test_bad_inputs_give_error_entries_and_the_rest_goes_on(detector, face_rgb, tmp_path):
    good = write_image(tmp_path / "good.jpg", face_rgb)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(good.read_bytes()[:300])
    paths = [tmp_path / "missing.png", empty, text, truncated, good]
    results = list(detector.scan_many(paths))
    assert [r.verdict for r in results[:4]] == [Verdict.ERROR] * 4
    assert all(r.error and "Traceback" not in r.error for r in results[:4])
    assert results[4].verdict in (Verdict.FAKE, Verdict.REAL)


def test_bad_settings_are_clear_errors(tiny_model_dir, tmp_path):
    with pytest.raises(ConfigError, match="available"):
        Detector(model_path=tiny_model_dir, detector="nope")
    with pytest.raises(ConfigError, match="aggregation"):
        Detector(model_path=tiny_model_dir, aggregation="nope")
    with pytest.raises(ModelError):
        Detector(model_path=tmp_path)


def _card_with_media_thresholds(src, dst, thresholds):
    import json
    import shutil

    src = src if src.is_dir() else src.parent
    shutil.copytree(src, dst)
    card = json.loads((dst / "model_card.json").read_text())
    card["thresholds"] = thresholds
    (dst / "model_card.json").write_text(json.dumps(card))
    return dst


def test_images_and_videos_are_judged_at_their_own_card_thresholds(tiny_model_dir, face_rgb, tmp_path):
    model = _card_with_media_thresholds(tiny_model_dir, tmp_path / "m", {"image": 0.0, "video": 1.0})
    det = Detector(model_path=model, frames=4)
    photo = det.scan(write_image(tmp_path / "face.png", face_rgb))
    clip = det.scan(write_video(tmp_path / "clip.mp4", n_frames=12, fps=12))
    assert photo.verdict is Verdict.FAKE and photo.threshold == 0.0
    assert clip.verdict is Verdict.REAL and clip.threshold == 1.0 and clip.probability is not None and clip.probability < 1.0
    unreadable = tmp_path / "broken.mp4"
    unreadable.write_bytes(b"not a video")
    assert det.scan(unreadable).threshold is None  # no verdict used a threshold (#27)
    # an explicit threshold applies to every media type
    both = Detector(model_path=model, frames=4, threshold=0.3)
    assert both.scan(tmp_path / "face.png").threshold == 0.3 and both.scan(tmp_path / "clip.mp4").threshold == 0.3


def test_a_card_with_bad_media_thresholds_is_refused(tiny_model_dir, tmp_path):
    for i, bad in enumerate(({"image": "high"}, [0.3, 0.7], {"video": 1.5}, {"image": float("nan")})):
        model = _card_with_media_thresholds(tiny_model_dir, tmp_path / f"m{i}", bad)
        with pytest.raises(ModelError, match="thresholds"):
            Detector(model_path=model)


def test_the_api_refuses_settings_out_of_range(tiny_model_dir):
    """ScanConfig.validate runs in Detector(): the Python API (and the web service and batch runner,
    which build a Detector) refuse what the CLI refuses."""
    from deepdetector import Detector, ScanConfig
    from deepdetector.errors import ConfigError

    for changes in ({"margin": 0.0}, {"margin": 5.0}, {"threshold": 1.5}, {"fps": -1.0}, {"frames": 0},
                    {"threads": -1}, {"detector_confidence": 2.0}, {"max_faces": 0}):  # fmt: skip
        with pytest.raises(ConfigError, match=next(iter(changes))):
            Detector(ScanConfig(model_path=tiny_model_dir, **changes))
    assert ScanConfig(margin=1.0, threshold=0.0, fps=0.5).validate().margin == 1.0  # the limits themselves are fine


def test_every_result_explains_its_verdict_with_the_strategy_it_used(tiny_model_dir, face_rgb, tmp_path):
    """#27: the explanation is made once, by the scanner, and travels in the JSON record."""
    det = Detector(model_path=tiny_model_dir, frames=4, aggregation="median")
    clip = det.scan(write_video(tmp_path / "clip.mp4", n_frames=12, fps=12))
    assert clip.tracks and "'median' rule" in clip.explanation and "of 4 analysed frames" in clip.explanation
    assert clip.to_dict()["explanation"] == clip.explanation
    photo = det.scan(write_image(tmp_path / "face.png", face_rgb))
    assert photo.explanation.startswith(("Likely manipulated", "No manipulation found")) and "image threshold" in photo.explanation
    empty = det.scan(write_image(tmp_path / "blank.png", blank_photo()))
    assert "not a statement that the file is genuine" in empty.explanation
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"nothing")
    assert det.scan(broken).explanation.startswith("The file could not be analysed:")
