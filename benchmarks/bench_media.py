"""How fast are video frames sampled? Our one-pass sampler against seeking and full decoding.

    .venv/bin/python benchmarks/bench_media.py                 # FF++ c23 clips + generated 1080p clips
    .venv/bin/python benchmarks/bench_media.py --frames 32 --repeat 3 --clips 6

For each video it prints the best of ``--repeat`` runs, in milliseconds, of:

- ``ours``: ``open_media`` + converting the sampled frames (what a scan does),
- ``seek``: one ``container.seek`` per sampled frame, then decode up to it,
- ``seq``: decode every frame in order, convert only the sampled ones to RGB,
- ``decode-all``: decode every frame, convert none (the floor of a sequential pass, like
  ``ffmpeg -i clip -f null -``).

Generated clips (10 s, 1080p, H.264, moving face photo with mild noise) are cached in
``--cache`` (default: a temp folder); one with x264's default keyframe spacing (250 frames), one
with a keyframe every second (like phone videos).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deepdetector.config import ScanConfig  # noqa: E402
from deepdetector.media import open_media  # noqa: E402
from deepdetector.media.video import VideoSampler, _to_rgb  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_1080p(path: Path, gop: int | None, seconds: int = 10, fps: int = 30) -> Path:
    """A 10-s 1080p H.264 clip: the scikit-image astronaut drifting over a textured background."""
    if path.exists():
        return path
    from skimage import data

    w, h = 1920, 1080
    face = cv2.resize(np.ascontiguousarray(data.astronaut()), (720, 720), interpolation=cv2.INTER_LINEAR)
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    n = seconds * fps
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "23"}
        if gop is not None:
            s.codec_context.gop_size = gop
        for i in range(n):
            frame = background.copy()
            x0 = int(200 + 800 * i / n)
            frame[180:900, x0 : x0 + 720] = face
            noise = rng.normal(0, 4, (h // 4, w // 4, 3)).astype(np.float32)
            frame = np.clip(frame + cv2.resize(noise, (w, h)), 0, 255).astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    os.replace(tmp, path)
    return path


def run_ours(path: str, cfg: ScanConfig) -> int:
    info, frames = open_media(path, cfg)
    return sum(1 for _ in frames)


def _targets(path: str, cfg: ScanConfig) -> tuple[list[int], list[int]]:
    """Sampled frame indices and their timestamps (from our index pass, so all methods agree)."""
    sampler = VideoSampler(path, cfg)
    return sampler.indices, [sampler.sorted_pts[i] for i in sampler.indices]


def run_seek(path: str, cfg: ScanConfig) -> int:
    _, pts_wanted = _targets(path, cfg)
    got = 0
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for target in pts_wanted:
            c.seek(target, stream=s, backward=True, any_frame=False)
            for frame in c.decode(s):
                if frame.pts is not None and frame.pts >= target:
                    _to_rgb(frame)
                    got += 1
                    break
    return got


def run_seq(path: str, cfg: ScanConfig) -> int:
    indices, _ = _targets(path, cfg)
    wanted, got = set(indices), 0
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for i, frame in enumerate(c.decode(s)):
            if i in wanted:
                _to_rgb(frame)
                got += 1
    return got


def run_decode_all(path: str, cfg: ScanConfig) -> int:
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        return sum(1 for _ in c.decode(s))


METHODS = {"ours": run_ours, "seek": run_seek, "seq": run_seq, "decode-all": run_decode_all}


def best_ms(fn, path: str, cfg: ScanConfig, repeat: int) -> tuple[float, float]:
    """Best wall time and best CPU time (all threads of this process) over ``repeat`` runs, in ms.

    CPU time is the work done, whatever else runs on the machine; wall time is what a user waits.
    """
    wall = cpu = float("inf")
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn(path, cfg)
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    return wall * 1000, cpu * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seek-repeat", type=int, default=1, help="runs of the (slow) seek method")
    ap.add_argument("--clips", type=int, default=6, help="FF++ c23 clips to measure")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "deepdetector_bench")
    ap.add_argument("videos", nargs="*", help="extra videos to measure")
    args = ap.parse_args()
    cfg = ScanConfig(frames=args.frames)
    args.cache.mkdir(parents=True, exist_ok=True)

    ffpp = sorted(glob.glob(str(DATA / "ffpp_c23" / "**" / "*.mp4"), recursive=True))
    step = max(1, len(ffpp) // max(args.clips, 1))
    videos = ffpp[::step][: args.clips]
    print("generating 1080p clips (cached) ...", file=sys.stderr)
    videos += [
        str(make_1080p(args.cache / "h264_1080p_10s_gop250.mp4", gop=None)),
        str(make_1080p(args.cache / "h264_1080p_10s_gop30.mp4", gop=30)),
    ]
    videos += args.videos

    print(
        f"{args.frames} frames per video, best of {args.repeat} runs ({args.seek_repeat} for seek), "
        f"milliseconds: wall / CPU of all threads; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    header = f"{'video':38s} {'size':>9s} {'frames':>6s} {'keys':>4s} " + " ".join(f"{m:>13s}" for m in METHODS)
    print(header)
    print("-" * len(header))
    for path in videos:
        sampler = VideoSampler(path, cfg)
        row = [best_ms(fn, path, cfg, args.seek_repeat if m == "seek" else args.repeat) for m, fn in METHODS.items()]
        name = os.path.relpath(path, DATA) if path.startswith(str(DATA)) else os.path.basename(path)
        print(
            f"{name[-38:]:38s} {sampler.width:>4d}x{sampler.height:<4d} {sampler.total:>6d} {sampler.keyframes:>4d} "
            + " ".join(f"{w:>6.0f} /{c:>5.0f}" for w, c in row),
            flush=True,
        )


if __name__ == "__main__":
    main()
