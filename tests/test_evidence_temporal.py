"""The learned temporal model: its per-frame descriptors, its chunks, training with sources left out,
the ONNX export and the checks that refuse a model that does not match its card."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from deepdetector.cli import app
from deepdetector.evidence import FaceSeries
from deepdetector.evidence import temporal as tp
from deepdetector.training import temporal as tm

pytest.importorskip("torch")


def patches_of(kind: str, n: int, rng: np.random.Generator, noise: float = 4.0) -> np.ndarray:
    """(n, 3, 32, 32) grey patches: "camera" = one scene with fresh noise every frame; "still" = one
    fixed texture (noise drawn once) dragged along, as when a single photo is animated."""
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    base = np.stack([60 + 140 * (a * xx + (1 - a) * yy) for a in rng.uniform(0, 1, 3)]).astype(np.float32)  # smooth scene
    if kind == "still":
        fixed = base + rng.normal(0, noise, base.shape)
        return np.repeat(fixed[None], n, axis=0).astype(np.float32) + rng.normal(0, 0.05, (n, 3, 32, 32)).astype(np.float32)
    return (base[None] + rng.normal(0, noise, (n, 3, 32, 32))).astype(np.float32)


def test_texture_persistence_tells_a_dragged_still_from_fresh_camera_noise():
    rng = np.random.default_rng(0)
    have = np.ones((20, 3), bool)
    camera = tp.pixel_descriptors(patches_of("camera", 20, rng), have).reshape(20, 3, 3, -1)
    still = tp.pixel_descriptors(patches_of("still", 20, rng), have).reshape(20, 3, 3, -1)
    # measure 2 is how much each cell's fine texture matches the previous frame's
    assert still[1:, :, 2].mean() > 0.9
    assert abs(camera[1:, :, 2].mean()) < 0.2
    assert np.all(camera[0] == 0) and np.all(still[0] == 0)  # the first frame has no previous one


def test_change_measures_are_relative_to_the_window_so_a_noisier_codec_is_no_cue():
    rng = np.random.default_rng(1)
    have = np.ones((30, 3), bool)
    quiet = tp.pixel_descriptors(patches_of("camera", 30, rng, noise=2.0), have).reshape(30, 3, 3, -1)
    loud = tp.pixel_descriptors(patches_of("camera", 30, rng, noise=12.0), have).reshape(30, 3, 3, -1)
    # the absolute change differs sixfold; relative to each window's median it does not
    assert abs(np.median(quiet[1:, :, 0]) - np.median(loud[1:, :, 0])) < 0.1


def test_a_missing_patch_contributes_nothing():
    rng = np.random.default_rng(2)
    have = np.ones((10, 3), bool)
    have[4, 2] = False  # the background left the frame once
    d = tp.pixel_descriptors(patches_of("camera", 10, rng), have).reshape(10, 3, 3, -1)
    assert np.all(d[4, 2] == 0) and np.all(d[5, 2] == 0)
    assert np.any(d[4, 0] != 0)


def test_landmark_motion_is_zero_for_a_still_face_and_shows_where_the_face_moves():
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 2, (468, 2))
    still = np.repeat(base[None], 12, axis=0)
    assert np.all(tp.motion_descriptors(still) == 0)
    talking = still.copy()
    lip = tp.MOTION_POINTS.index(14)  # the inner lower lip
    talking[::2, 14, 1] += 0.2
    moved = tp.motion_descriptors(talking).reshape(12, -1, 2)
    assert np.abs(moved[:, lip, 1]).min() > 0.9  # 0.1 eye distances from its median, x10
    assert np.abs(np.delete(moved, lip, axis=1)).max() == 0


def test_chunks_overlap_end_on_the_last_frame_and_pad_short_windows():
    seq = tp.Sequence(np.arange(50, dtype=np.float32)[:, None].repeat(3, 1), np.arange(50) / 15)
    c = tp.chunks(seq)
    assert c.shape == (3, tp.CHUNK, 3)  # starts 0, 16 and 18
    assert c[0, 0, 0] == 0 and c[-1, -1, 0] == 49
    short = tp.chunks(tp.Sequence(np.arange(20, dtype=np.float32)[:, None], np.arange(20) / 15))
    assert short.shape == (1, tp.CHUNK, 1) and short[0, -1, 0] == 19


def face_series(kind: str, n: int, rng: np.random.Generator) -> FaceSeries:
    """A window of a synthetic face: jittered landmarks and patches of one ``kind`` (see patches_of)."""
    s = FaceSeries(0, frame_size=(640, 480))
    base = np.c_[rng.uniform(200, 400, (468, 2)), np.zeros(468)]
    pix = np.clip(np.rint(patches_of(kind, n, rng)), 0, 255)  # whole grey levels, as the follower's patches are
    for i in range(n):
        s.append(i / 15.0, None, {name: pix[i, r] for r, name in enumerate(tp.REGIONS)})
        s.points[-1] = base + np.c_[rng.normal(0, 0.3, (468, 2)), np.zeros(468)]
    return s


def test_series_survive_the_collect_cache_and_give_the_same_descriptors(tmp_path):
    rng = np.random.default_rng(4)
    series = [face_series("camera", 24, rng)]
    series[0].points[3] = None  # the face was lost in one frame
    tm.save_series(tmp_path / "v.npz", series, {"file": "v.mp4"})
    back, meta = tm.load_series(tmp_path / "v.npz")
    assert meta == {"file": "v.mp4"} and back[0].points[3] is None and back[0].frame_size == (640, 480)
    a, b = tp.window_sequence(series[0]), tp.window_sequence(back[0])
    assert a.features.shape == (23, tp.feature_size())
    np.testing.assert_allclose(a.features, b.features, atol=1e-5)


def videos(rng: np.random.Generator, per_source: int = 6) -> list[tm.Video]:
    """Synthetic videos: fakes drag a still texture, reals have camera noise; two sources each."""
    out = []
    for source, label, kind in (("fake: A", 1, "still"), ("fake: B", 1, "still"), ("real: C", 0, "camera"), ("real: D", 0, "camera")):
        for i in range(per_source):
            seq = tp.window_sequence(face_series(kind, 40, rng))
            cues = {"rigid_jitter": float(np.exp(rng.normal(label, 1.0)))}
            out.append(
                tm.Video(f"{source}{i}", label, source, source[6:], f"{source}-{i}", "m.csv", "talking-head-video" if label else "video", [seq], cues)
            )
    return out


def test_each_source_is_scored_by_a_model_that_never_saw_it(monkeypatch):
    rng = np.random.default_rng(5)
    judged = videos(rng)
    pool = [tm.Video("made0", 1, tm.MADE_PREFIX + "animate", "self-made animate", "real: C-0", "t.csv", "video",
                     [tp.window_sequence(face_series("still", 40, rng))])]  # fmt: skip
    seen: list[set] = []
    real_fit = tm.fit_network

    def spy(train, seed, settings=None):
        seen.append({v.source for v in train} | {v.group for v in train})
        return real_fit(train, seed, tm.FitSettings(epochs=3))

    monkeypatch.setattr(tm, "fit_network", spy)
    out = tm.leave_sources_out(judged, pool, tm.Scheme("made+judged", True, True), 0, 0.1)
    assert np.isfinite(out["net"]).all() and np.isfinite(out["cues"]).all()
    assert len(seen) == 4  # one fold per source
    for trained in seen:
        assert sum(s in trained for s in ("fake: A", "fake: B", "real: C", "real: D")) == 3
    # the self-made fake made from real clip C-0 is left out with source C
    fold_c = [t for t in seen if "real: C" not in t][0]
    assert tm.MADE_PREFIX + "animate" not in fold_c


def test_a_trained_model_exports_to_onnx_scores_like_torch_and_refuses_a_changed_file(tmp_path):
    rng = np.random.default_rng(6)
    data = videos(rng)
    fitted = tm.fit_network(data, 0, tm.FitSettings(epochs=30))
    scores = fitted.video_scores(data)
    y = np.array([v.label for v in data])
    assert scores[y == 1].min() > scores[y == 0].max()  # a still texture against camera noise is learnt
    card = tm.card_for(fitted, data, tm.Scheme("judged", False, True), "deepdetector fit-temporal ...", {}, fpr=0.05)
    assert card["trained_on"] == {"fake: A": 6, "fake: B": 6, "real: C": 6, "real: D": 6}
    assert scores[y == 0].max() <= card["threshold_logit"] < scores[y == 1].min()  # 5% of separable reals: above them all
    path = tm.export(fitted, tmp_path / "temporal.onnx", card)
    model = tp.TemporalModel(path)
    prob = model.score(data[0].sequences)
    assert prob == pytest.approx(1 / (1 + np.exp(-scores[0])), abs=1e-4)
    assert model.score([]) is None
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["chunk"] == tp.CHUNK and card["features"] == tp.feature_size()
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="sha256"):
        tp.TemporalModel(path)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--schemes", "magic"], "unknown scheme"),
        (["--seeds", "a,b"], "whole numbers"),
        (["--fpr", "0.9"], "share of real videos"),
    ],
)
def test_fit_temporal_refuses_bad_settings_with_a_message(tmp_path, args, message):
    result = CliRunner().invoke(app, ["fit-temporal", "--judge", str(tmp_path / "none.csv"), "--out", str(tmp_path), *args])
    assert result.exit_code != 0 and message in result.output


def test_collect_recollects_a_damaged_cache_entry_and_skips_an_unreadable_video_without_losing_the_rest(tmp_path):
    from tests.media_factory import write_video

    good = write_video(tmp_path / "good.mp4", n_frames=40, fps=10)
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,kind,source_dataset,group\ngood.mp4,real,video,clips,a\nbroken.mp4,fake,video,gen,b\n")
    before = good.read_bytes()
    messages: list[str] = []
    first = tm.collect([manifest], tmp_path / "series", log=messages.append)
    assert [v.file for v in first] == [str(good)] and any("broken.mp4" in m for m in messages)
    assert first[0].sequences and first[0].sequences[0].features.shape[1] == tp.feature_size()
    entry = tmp_path / "series" / f"{tm.series_key(str(good))}.npz"
    entry.write_bytes(b"truncated")  # an interrupted disk, a bad copy
    messages.clear()
    again = tm.collect([manifest], tmp_path / "series", log=messages.append)
    assert any("again" in m for m in messages)
    np.testing.assert_array_equal(again[0].sequences[0].features, first[0].sequences[0].features)
    assert good.read_bytes() == before  # the evidence is never modified
