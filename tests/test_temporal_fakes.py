"""Self-made temporal fakes: the warps on synthetic meshes, the shared finish, the plan's seeds,
the bulk maker's failure paths and resuming, and ``deepdetector synth VIDEO``."""

from __future__ import annotations

import csv
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from deepdetector.cli import app
from deepdetector.datasets.manifest import ManifestError, read_manifest
from deepdetector.landmarks import topology as mesh
from deepdetector.training import temporal_fakes as tf
from tests.media_factory import write_video

runner = CliRunner()


def synthetic_mesh(cx: float = 80.0, cy: float = 80.0, r: float = 40.0, seed: int = 0) -> np.ndarray:
    """468 points laid out like a face: the oval on an ellipse, eyes and lips on small circles, the rest inside."""
    rng = np.random.default_rng(seed)
    ang = rng.uniform(0, 2 * np.pi, mesh.MESH_POINTS)
    rad = np.sqrt(rng.uniform(0, 0.8, mesh.MESH_POINTS))
    pts = np.stack([cx + r * 0.8 * rad * np.cos(ang), cy + r * rad * np.sin(ang)], axis=1)

    def circle(idx, x, y, rx, ry):
        t = np.linspace(0, 2 * np.pi, len(idx), endpoint=False)
        pts[list(idx)] = np.stack([x + rx * np.cos(t), y + ry * np.sin(t)], axis=1)

    circle(mesh.FACE_OVAL, cx, cy, 0.8 * r, r)
    circle(mesh.RIGHT_EYE, cx - 0.35 * r, cy - 0.25 * r, 0.12 * r, 0.05 * r)
    circle(mesh.LEFT_EYE, cx + 0.35 * r, cy - 0.25 * r, 0.12 * r, 0.05 * r)
    circle(mesh.LIPS_OUTER, cx, cy + 0.5 * r, 0.3 * r, 0.12 * r)
    circle(mesh.LIPS_INNER, cx, cy + 0.5 * r, 0.2 * r, 0.01 * r)
    t = np.linspace(0, np.pi, len(mesh.LOWER_FACE))  # jaw: the lower half of the oval, closed over the nose
    pts[list(mesh.LOWER_FACE)] = np.stack([cx + 0.75 * r * np.cos(t), cy + 0.1 * r + 0.85 * r * np.sin(t)], axis=1)
    return pts


def textured(h: int = 160, w: int = 160, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (h // 8, w // 8, 3)).astype(np.uint8)
    import cv2

    return cv2.resize(base, (w, h), interpolation=cv2.INTER_LINEAR)


def test_similarity_recovers_a_known_transform():
    pts = synthetic_mesh()
    a = np.deg2rad(12)
    m = np.array([[1.3 * np.cos(a), -1.3 * np.sin(a), 5.0], [1.3 * np.sin(a), 1.3 * np.cos(a), -7.0]])
    assert np.allclose(tf.similarity(pts, tf.apply(m, pts)), m, atol=1e-9)
    assert np.allclose(tf.apply(tf.compose(tf.invert(m), m), pts), pts, atol=1e-9)


def test_triangulate_covers_a_grid():
    xs, ys = np.meshgrid(np.arange(4.0), np.arange(4.0))
    pts = np.stack([xs.ravel(), ys.ravel()], 1) * 10
    tris = tf.triangulate(pts)
    assert len(tris) == 18 and tris.min() >= 0 and tris.max() == 15
    a, b, c = pts[tris[:, 0]], pts[tris[:, 1]], pts[tris[:, 2]]
    area = np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]).sum() / 2
    assert area == pytest.approx(900.0)


def test_piecewise_map_follows_each_triangle_and_leaves_the_rest_to_the_base():
    src = synthetic_mesh()
    tris = tf.triangulate(src)
    shift = np.array([[1.0, 0.0, 6.0], [0.0, 1.0, -3.0]])  # the mesh moved by (6, -3)
    dst = tf.apply(shift, src)
    mx, my, inside = tf.piecewise_map(src, dst, tris, 160, 160)
    ys, xs = np.nonzero(inside)
    assert len(ys) > 2000
    assert np.allclose(mx[ys, xs], xs - 6, atol=1e-3) and np.allclose(my[ys, xs], ys + 3, atol=1e-3)
    assert mx[0, 0] == 0 and my[159, 159] == 159  # outside the mesh: identity
    img = textured()
    moved = tf.remap(img, (mx, my))
    assert np.array_equal(moved[ys[0], xs[0]], img[ys[0] + 3, xs[0] - 6])


def test_drive_points_carry_expression_and_head_motion():
    still = synthetic_mesh(80, 80, 40)
    driver0 = synthetic_mesh(50, 60, 20)  # another face, half the size
    static = tf.drive_points(still, np.stack([driver0, driver0]))[0]
    assert np.allclose(static, still, atol=1e-6)
    opened = driver0.copy()
    opened[mesh.INNER_LIP_LOWER] += [0.0, 3.0]  # the driver opens its mouth 3 px (its own scale)
    target = tf.drive_points(still, np.stack([driver0, opened]))[0][1]
    assert target[mesh.INNER_LIP_LOWER] - still[mesh.INNER_LIP_LOWER] == pytest.approx([0.0, 6.0], abs=0.3)
    turned = tf.apply(np.array([[1.0, 0.0, 4.0], [0.0, 1.0, 0.0]]), driver0)  # head moves 4 px right
    targets, heads = tf.drive_points(still, np.stack([driver0, turned]))
    assert np.allclose(targets[1] - still, [8.0, 0.0], atol=1e-6)
    assert np.allclose(heads[1][:, 2], [8.0, 0.0], atol=1e-6)


def test_animate_backgrounds_still_moved_and_live():
    img = textured(seed=3)
    still = synthetic_mesh()
    driver = np.stack([still, tf.apply(np.array([[1.0, 0.0, 5.0], [0.0, 1.0, 0.0]]), still)])
    frames = tf.animate_frames(img, still, driver, "still")
    assert np.array_equal(frames[0][:10, :10], img[:10, :10]) and np.array_equal(frames[1][:10, :10], img[:10, :10])
    assert not np.array_equal(frames[1][60:100, 60:100], img[60:100, 60:100])  # the face moved
    moved = tf.animate_frames(img, still, driver, "moved")
    assert np.abs(moved[1][:10, 10:20].astype(int) - img[:10, 5:15].astype(int)).max() <= 1  # background shifted 5 px too
    others = [textured(seed=10), textured(seed=11)]
    live = tf.animate_frames(img, still, driver, "live", (others, np.stack([still, still])))
    assert np.array_equal(live[1][:8, :8], others[1][:8, :8])  # the clip's own frame behind the head
    assert np.array_equal(live[1][75:85, 75:85], frames[1][75:85, 75:85])  # the animated face in front
    with pytest.raises(tf.SynthError, match="live background"):
        tf.animate_frames(img, still, driver, "live")


def test_lipsync_changes_only_the_lower_face():
    frames = [textured(seed=s) for s in range(6)]
    points = np.stack([synthetic_mesh()] * 6)
    out = tf.lipsync_frames(frames, points, shift=2, rng=np.random.default_rng(0), span=(1, 4))
    assert len(out) == 3
    for f, fake in zip(frames[1:4], out):
        assert np.array_equal(fake[:50], f[:50])  # above the mouth: untouched
        assert np.abs(fake[100:115, 70:90].astype(int) - f[100:115, 70:90].astype(int)).mean() > 5  # the mouth: replaced


def test_rerender_holds_the_reference_texture_inside_the_face():
    frames = [textured(seed=s) for s in range(3)]
    points = np.stack([synthetic_mesh()] * 3)
    out = tf.rerender_frames(frames, points, reference=0, rng=np.random.default_rng(0))
    assert all(np.array_equal(o[:30], f[:30]) for o, f in zip(out, frames))  # outside the hull: the real frame
    centre = (slice(70, 90), slice(70, 90))
    assert (
        np.abs(out[1][centre].astype(int) - out[2][centre].astype(int)).mean()
        < np.abs(frames[1][centre].astype(int) - frames[2][centre].astype(int)).mean() / 2
    )


def test_finish_draws_the_documented_ranges_without_knowing_the_class():
    rng = np.random.default_rng(0)
    draws = [tf.draw_finish(rng) for _ in range(300)]
    assert all(4.0 <= d.seconds <= 6.0 and 12 <= d.fps <= 30 and 18 <= d.crf <= 32 and 224 <= d.side <= 512 for d in draws)
    assert {d.fps for d in draws} >= {12, 30} and {d.crf for d in draws} >= {18, 32}
    assert any(d.blur == 0 for d in draws) and any(d.blur > 0 for d in draws)
    sources = [tf.Source(f"v{i}.mp4", f"/x/v{i}.mp4", f"g{i}") for i in range(60)]
    jobs = tf.plan_jobs(sources, tf.KINDS, 2, seed=0)
    real = [j.finish.fps for j in jobs if j.kind == "real"]
    fake = [j.finish.fps for j in jobs if j.kind != "real"]
    assert abs(np.mean(real) - np.mean(fake)) < 2.0  # one distribution for both classes


def test_finish_frames_size_rate_and_noise():
    frames = [textured(120, 200, s) for s in range(25)]  # 1 s at 25 fps
    f = tf.Finish(5.0, 300, 0.6, 12, 0.8, (1.0, 1.05, 0.95), 5.0, 1.1, 2.0, 20, 0.0)
    out = tf.finish_frames(frames, 25.0, f, np.random.default_rng(0))
    assert len(out) == 12 and out[0].shape == (180, 300, 3)
    assert tf.output_size(201, 99, 301)[0] % 2 == 0 and tf.output_size(201, 99, 301)[1] % 2 == 0
    assert tf.retime(50, 25.0, 12) == [int(i * 25 / 12) for i in range(24)]


def test_plan_is_decided_by_the_seed():
    sources = [tf.Source(f"v{i}.mp4", f"/x/v{i}.mp4", "person-a" if i < 2 else f"g{i}") for i in range(6)]
    a, b = tf.plan_jobs(sources, tf.KINDS, 1, seed=5), tf.plan_jobs(sources, tf.KINDS, 1, seed=5)
    assert a == b
    assert a != tf.plan_jobs(sources, tf.KINDS, 1, seed=6)
    animate = [j for j in a if j.kind == "animate"]
    assert {j.background for j in animate} == set(tf.BACKGROUNDS)
    assert all(j.driver is not None and j.driver.group != j.source.group for j in animate)
    assert len({j.name for j in a if j.kind == "real"}) == 6


def fake_loader(calls: list[str]):
    """Decodes the file for real (so a broken file fails) but places a synthetic mesh that drifts."""

    def load(src: tf.Source) -> tf.Clip:
        calls.append(src.path)
        frames, fps = tf.read_frames(src.file)
        h, w = frames[0].shape[:2]
        points = np.stack([synthetic_mesh(w / 2 + i * 0.3, h / 2, min(h, w) / 4) for i in range(len(frames))])
        return tf.Clip(frames, fps, points)

    return load


def write_manifest_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "kind", "source_dataset", "origin_repo", "group"])
        for p, label, kind in rows:
            w.writerow([p, label, kind, "test clips", "me/repo", "grp-" + p])
    return path


def test_make_set_warns_on_a_broken_clip_makes_the_rest_and_resumes(tmp_path):
    write_video(tmp_path / "a.mp4", n_frames=30, fps=15)
    write_video(tmp_path / "b.mp4", n_frames=30, fps=15)
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    before = (tmp_path / "a.mp4").read_bytes()
    manifest = write_manifest_csv(
        tmp_path / "m.csv", [("a.mp4", "real", "video"), ("broken.mp4", "real", "video"), ("b.mp4", "real", "video"), ("f.mp4", "fake", "video")]
    )
    out = tmp_path / "set"
    with pytest.warns(UserWarning, match="broken.mp4"):
        summary = tf.make_set([manifest], out, per_clip=1, seed=0, load=fake_loader([]), progress=lambda s: None)
    assert summary.made == 8 and len(summary.failed) == 4  # real + 3 kinds for a and b (drivers: the readable one); all of broken
    items = read_manifest(out / "manifest.csv")
    assert len(items) == 8 and {i.label_name for i in items} == {"real", "fake"}
    assert all(i.file.is_file() and i.group in ("grp-a.mp4", "grp-b.mp4") and i.origin_repo == "me/repo" for i in items)
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    animate = [r for r in rows if "animate" in r["source_dataset"]]
    assert animate and all(r["driver"] in ("a.mp4", "b.mp4") and r["driver"] != r["source_clip"] for r in animate)
    with av.open(str(next((out / "clips" / "real").glob("*.mp4")))) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    assert (tmp_path / "a.mp4").read_bytes() == before  # inputs never modified
    calls: list[str] = []
    with pytest.warns(UserWarning):
        again = tf.make_set([manifest], out, per_clip=1, seed=0, load=fake_loader(calls), progress=lambda s: None)
    assert again.made == 0 and again.skipped == 8 and "a.mp4" not in calls


def test_make_set_without_video_rows_is_a_clear_error(tmp_path):
    manifest = write_manifest_csv(tmp_path / "m.csv", [("x.jpg", "real", "image"), ("v.mp4", "fake", "video")])
    with pytest.raises(ManifestError, match="no real video rows"):
        tf.make_set([manifest], tmp_path / "out", load=fake_loader([]))
    res = runner.invoke(app, ["temporal-fakes", str(manifest), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1 and "no real video rows" in res.output
    res = runner.invoke(app, ["temporal-fakes", str(manifest), "--out", str(tmp_path / "out"), "--kinds", "animate,dance"])
    assert res.exit_code == 1 and "dance" in res.output


def test_synth_video_writes_real_beside_fake(tmp_path):
    video = write_video(tmp_path / "face.mp4", n_frames=24, fps=12, size=(320, 240))
    out = tmp_path / "pair.mp4"
    res = runner.invoke(app, ["synth", str(video), "--kind", "rerender", "-o", str(out), "--seed", "1"])
    assert res.exit_code == 0, res.output
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    h, w = frames[0].shape[:2]
    assert w > 1.8 * h and len(frames) >= 10  # two 4:3 panels side by side
    left, right = frames[5][:, : w // 2].astype(int), frames[5][:, w // 2 :].astype(int)
    assert np.abs(left - right).mean() > 0.5  # the face differs
    res = runner.invoke(app, ["synth", str(video), "--kind", "bogus", "-o", str(out)])
    assert res.exit_code == 1 and "bogus" in res.output


def test_write_manifest_round_trips_and_refuses_a_bad_label(tmp_path):
    from deepdetector.datasets.manifest import write_manifest

    rows = [{"path": "a.mp4", "label": "real", "kind": "video", "origin_repo": "o/r", "group": "g", "driver": "b.mp4"}]
    path = write_manifest(tmp_path / "m.csv", rows, extra=("driver",))
    (item,) = read_manifest(path)
    assert (item.path, item.label, item.origin_repo, item.group) == ("a.mp4", 0, "o/r", "g")
    assert next(csv.DictReader(path.open()))["driver"] == "b.mp4"
    with pytest.raises(ManifestError, match="neither"):
        write_manifest(tmp_path / "bad.csv", [{"path": "x.mp4", "label": "maybe"}])
