"""The pixel step for photos (evidence/pixels.py) alone, and the 1080p photo scan with and without it.

    .venv/bin/python benchmarks/bench_pixels.py [--repeat 30]

The pixel step is what the pixel heads add to a photo's scan (8 native-resolution patches of 128 px,
features, two small logistic heads); the scan itself is timed with and without it, alternating in
one process so that a busy host slows both alike. Target: the 1080p photo within 60 ms warm
(benchmarks/bench_scan.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scan import photo_1080p  # noqa: E402

from deepdetector import Detector, ScanConfig  # noqa: E402
from deepdetector.evidence.pixels import PixelModel  # noqa: E402
from deepdetector.media import open_media  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    photo = photo_1080p(Path(tempfile.mkdtemp()))
    on, off = Detector(ScanConfig()), Detector(ScanConfig(pixels=False))
    if on.pixels is None:
        sys.exit("the pixel heads are not in use with this model (see docs/evidence.md)")
    res = on.scan(photo)
    off.scan(photo)
    _, frames = open_media(photo)
    image = next(iter(frames)).image
    boxes = [f.box for f in res.faces]
    scores = [{k: v for k, v in f.scores.items() if k not in on.pixels.head_names} for f in res.faces]
    model: PixelModel = on.pixels
    wall, cpu = [], []
    for _ in range(args.repeat):
        w, c = time.perf_counter(), time.process_time()
        model.probabilities(image, boxes, scores)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    t_on, t_off = [], []
    for _ in range(args.repeat):
        t_on.append(on.scan(photo).timings["total"])
        t_off.append(off.scan(photo).timings["total"])
    ms = lambda v: f"{statistics.median(v) * 1000:.1f} ms median ({min(v) * 1000:.1f} best)"  # noqa: E731
    print(f"model: {on.model_label}; faces: {len(boxes)}")
    print("| measurement | result |\n|---|---|")
    print(f"| pixel step alone, 1080p photo (wall) | {ms(wall)} |")
    print(f"| pixel step alone, 1080p photo (CPU time) | {ms(cpu)} |")
    print(f"| 1080p photo scan with the pixel heads | {ms(t_on)} |")
    print(f"| 1080p photo scan without (pixels=False) | {ms(t_off)} |")


if __name__ == "__main__":
    main()
