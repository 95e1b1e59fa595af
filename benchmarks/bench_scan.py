"""End-to-end scan speed against the targets of the scanning issue (run on demand, not in tests).

    .venv/bin/python benchmarks/bench_scan.py [--ffpp ../shared/data/ffpp_c23] [--repeat 20]

Targets (2 CPU cores): a 1080p photo with one face <= 60 ms warm (decode, detect, classify,
heatmap); a 12-s 720p FaceForensics++ clip at 32 frames <= 2x `ffmpeg -i clip -f null -`; a 10-s
1080p H.264 video <= 2.0 s; >= 200 face crops/s classified; `deepdetector scan photo.jpg` as a whole
process <= 2 s. Uses the shipped model unless ``--model`` names another (e.g. a candidate in runs/).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.media_factory

from deepdetector import Detector, ScanConfig  # noqa: E402
from tests.media_factory import face_photo, write_image  # noqa: E402


def photo_1080p(folder: Path) -> Path:
    import cv2

    canvas = np.full((1080, 1920, 3), 120, np.uint8)
    face = cv2.resize(face_photo(), (700, 700), interpolation=cv2.INTER_CUBIC)
    canvas[190:890, 610:1310] = face
    return write_image(folder / "photo_1080p.jpg", canvas, quality=92)


def video_1080p(folder: Path, seconds: int = 10, fps: int = 30) -> Path:
    import av
    import cv2

    path = folder / "video_1080p.mp4"
    face = cv2.resize(face_photo(), (600, 600), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 1920, 1080, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "23"}
        for i in range(seconds * fps):
            frame = np.full((1080, 1920, 3), 100, np.uint8)
            frame += rng.integers(0, 20, frame.shape, dtype=np.uint8)  # texture, so the encoder works like on real footage
            x = 400 + int(600 * i / (seconds * fps))
            frame[240:840, x : x + 600] = face
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def timed(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def ffmpeg_decode_seconds(path: str) -> float | None:
    if not shutil.which("ffmpeg"):
        return None
    t = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "null", "-"], check=True)
    return time.perf_counter() - t


def pick_clips(paths: list[str], per_size: int) -> list[str]:
    """The first ``per_size`` clips of each frame height (FF++ holds 480p and 720p clips)."""
    import av

    by_height: dict[int, list[str]] = {}
    for p in paths:
        with av.open(p) as c:
            h = c.streams.video[0].height
        if len(by_height.setdefault(h, [])) < per_size:
            by_height[h].append(p)
    return [p for h in sorted(by_height) for p in by_height[h]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ffpp", default=str(Path(__file__).resolve().parents[2] / "shared/data/ffpp_c23"))
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--model", default=None, help="an ONNX model with its model_card.json beside it (default: the shipped one)")
    ap.add_argument("--clips-per-size", type=int, default=2, help="FF++ clips measured per frame height")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ddbench-"))
    det = Detector(ScanConfig(threads=args.threads, model_path=Path(args.model) if args.model else None))
    print(f"model: {det.model_label}, detector: {det.config.detector}, cores: {os.cpu_count()}")
    rows = []

    photo = photo_1080p(tmp)
    det.scan(photo)  # warm up
    med, best = timed(lambda: det.scan(photo), args.repeat)
    res = det.scan(photo)
    stages = ", ".join(f"{k} {v * 1000:.1f}" for k, v in res.timings.items())
    rows.append(
        ("1080p photo, 1 face, end to end (warm)", f"{med * 1000:.1f} ms median ({best * 1000:.1f} best)", "<= 60 ms", f"stages ms: {stages}")
    )

    crops = np.random.default_rng(0).integers(0, 255, (64, det.classifier.input_size, det.classifier.input_size, 3), dtype=np.uint8)
    det.classifier.predict(crops)
    med, _ = timed(lambda: det.classifier.predict(crops, with_cam=True), 5)
    rows.append(("face crops classified (batch 64, with CAM)", f"{64 / med:.0f} crops/s", ">= 200 crops/s", ""))

    video = video_1080p(tmp)
    med, _ = timed(lambda: det.scan(video), 3)
    res = det.scan(video)
    stages = ", ".join(f"{k} {v:.2f}" for k, v in res.timings.items())
    rows.append(("10-s 1080p H.264, 32 frames", f"{med:.2f} s", "<= 2.0 s", f"stages s: {stages}"))

    clips = pick_clips(sorted(glob.glob(os.path.join(args.ffpp, "**/*.mp4"), recursive=True)), args.clips_per_size)
    for clip in clips:
        ff = ffmpeg_decode_seconds(clip)
        med, _ = timed(lambda: det.scan(clip), 3)
        res = det.scan(clip)
        target = f"<= {2 * ff:.2f} s (2x ffmpeg {ff:.2f} s)" if ff else "<= 2x ffmpeg"
        stages = ", ".join(f"{k} {v:.2f}" for k, v in res.timings.items())
        rows.append(
            (
                f"FF++ clip {Path(clip).name} ({res.media.width}x{res.media.height}, {res.media.duration:.1f} s), 32 frames",
                f"{med:.2f} s",
                target,
                f"stages s: {stages}",
            )
        )

    t = time.perf_counter()
    proc = subprocess.run([str(Path(sys.executable).parent / "deepdetector"), "scan", "-q", str(photo)], capture_output=True, text=True)
    whole = time.perf_counter() - t
    rows.append(("`deepdetector scan photo.jpg` whole process", f"{whole:.2f} s (exit {proc.returncode})", "<= 2 s", ""))

    print("\n| measurement | result | target | notes |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
