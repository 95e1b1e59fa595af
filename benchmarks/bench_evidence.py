"""Dense landmarks and evidence across frames: speed and steadiness (run on demand, not in tests).

    .venv/bin/python benchmarks/bench_evidence.py [--ffpp ../shared/data/ffpp_c23] [--repeat 5]

Measures, on 2 CPU cores:
1. FaceMesh (ONNX) per face, one at a time and in batches of 32;
2. jitter on a still face: the same photo encoded as a 4-s H.264 clip with fresh sensor-like noise
   in every frame; the spread of each landmark over time, in eye distances (what noise alone gives);
3. targets of the video-evidence issue: a 12-s 720p clip scanned with all evidence in <= 1.5x the
   time without it (the synthetic clip, and FaceForensics++ clips when --ffpp is given), and a
   60-s 1080p video in <= 2x the time `ffmpeg -i video -f null -` needs to decode it.
"""

from __future__ import annotations

import argparse
import glob
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
from deepdetector.faces import create_detector  # noqa: E402
from deepdetector.landmarks import create_landmarker  # noqa: E402
from deepdetector.landmarks import topology as mesh  # noqa: E402
from tests.media_factory import face_photo  # noqa: E402


def clip(path: Path, seconds: float, size: tuple[int, int], fps: int = 30, still: bool = False, noise: int = 12) -> Path:
    """The test face on a textured background, moving slowly (or still), H.264."""
    import av
    import cv2

    width, height = size
    side = int(height * 0.55)
    face = cv2.resize(face_photo(), (side, side), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    n = int(seconds * fps)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "23"}
        for i in range(n):
            frame = np.full((height, width, 3), 100, np.uint8)
            x = (width - side) // 2 if still else int((width - side) * (0.25 + 0.5 * i / n))
            frame[(height - side) // 2 : (height - side) // 2 + side, x : x + side] = face
            frame = np.clip(frame.astype(np.int16) + rng.integers(-noise, noise + 1, frame.shape), 0, 255).astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def landmark_speed(repeat: int) -> None:
    image = face_photo()
    faces = create_detector("yunet").detect(image)[:1]
    for threads in (1, 2):
        model = create_landmarker("facemesh", threads=threads)
        model.locate(image, faces)
        one, batch = [], []
        for _ in range(repeat):
            t = time.perf_counter()
            for _ in range(32):
                model.locate(image, faces)
            one.append((time.perf_counter() - t) / 32 * 1000)
            t = time.perf_counter()
            model.locate_many([(image, faces[0])] * 32)
            batch.append((time.perf_counter() - t) / 32 * 1000)
        print(
            f"FaceMesh, {threads} thread(s): {statistics.median(one):.2f} ms a face one at a time, {statistics.median(batch):.2f} ms in batches of 32"
        )


def still_jitter(folder: Path) -> None:
    from deepdetector.evidence import WindowFollower
    from deepdetector.faces.detect import detect_faces
    from deepdetector.media import open_media

    path = clip(folder / "still.mp4", 4, (1280, 720), still=True)
    cfg = ScanConfig(window_seconds=4.0, window_fps=30.0)
    info, frames = open_media(path, cfg, windows=True)
    detector = create_detector("yunet")
    follower = WindowFollower(create_landmarker("facemesh"), lambda im: detect_faces(detector, im, cfg))
    for f in frames:
        if f.window is not None:
            follower.add(f.window, f.timestamp, f.image)
    [series] = follower.windows()
    pts = series.as_array()[:, :, :2]
    eye = np.linalg.norm(pts[:, list(mesh.RIGHT_EYE)].mean(1) - pts[:, list(mesh.LEFT_EYE)].mean(1), axis=1).mean()
    spread = np.sqrt(((pts - pts.mean(0)) ** 2).sum(-1)).mean(0) / eye  # per point, over time
    print(
        f"still face, 720p H.264 with noise, {series.found}/{len(series.points)} frames: landmark spread over time "
        f"median {np.median(spread):.4f}, 95th percentile {np.percentile(spread, 95):.4f} eye distances "
        f"({np.median(spread) * eye:.2f} px at an eye distance of {eye:.0f} px)"
    )


def scan_time(path: Path, cues: bool, repeat: int) -> float:
    detector = Detector(ScanConfig(cues=cues, landmarks="facemesh" if cues else None))
    detector.scan(path)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        detector.scan(path)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def decode_seconds(path: Path, repeat: int) -> tuple[float, str]:
    """Seconds to decode every frame: `ffmpeg -f null` when the program is installed, else the same
    FFmpeg decoder through PyAV (frame threads, no conversion)."""
    import av

    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        if shutil.which("ffmpeg"):
            subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], check=True)
        else:
            with av.open(str(path)) as c:
                stream = c.streams.video[0]
                stream.thread_type = "AUTO"
                for _frame in c.decode(stream):
                    pass
        times.append(time.perf_counter() - t)
    return statistics.median(times), "ffmpeg -f null" if shutil.which("ffmpeg") else "a full PyAV decode"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ffpp", default=None, help="a folder of FaceForensics++ clips (searched recursively)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-60s", action="store_true", help="skip the 60-s 1080p video (its encoding takes about a minute)")
    args = parser.parse_args()
    landmark_speed(args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        still_jitter(folder)
        clips = [clip(folder / "moving_720p.mp4", 12, (1280, 720))]
        if args.ffpp:
            clips += sorted(Path(p) for p in glob.glob(f"{args.ffpp}/**/*.mp4", recursive=True))[:3]
        for path in clips:
            base, full = scan_time(path, False, args.repeat), scan_time(path, True, args.repeat)
            print(f"{path.name}: {base:.2f} s without evidence, {full:.2f} s with it: x{full / base:.2f} (target <= 1.5)")
        if not args.skip_60s:
            long = clip(folder / "long_1080p.mp4", 60, (1920, 1080))
            full = scan_time(long, True, max(1, args.repeat // 2))
            dec, how = decode_seconds(long, max(1, args.repeat // 2))
            print(f"60-s 1080p video: scan with evidence {full:.2f} s, {how} {dec:.2f} s: x{full / dec:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
