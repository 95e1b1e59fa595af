"""Recall, false positives and speed of each face detector backend on real faces.

    .venv/bin/python benchmarks/bench_detectors.py                        # 200 photos + 60 FF++ frames
    .venv/bin/python benchmarks/bench_detectors.py --images 400 --videos 30 --configs yunet@640,yunet@320

Positives: ``--images`` real photos drawn evenly from every folder of ``real_faces/`` in
``../shared/data/train_manifest.csv`` (each holds at least one face), and 3 frames from each of
``--videos`` FaceForensics++ c23 videos (one frontal face each), and ``--small`` of those photos
shrunk into 1080p frames (faces of 40-100 px). Negatives: the photos without a face
that ship in scikit-image (coffee, cat, rocket, coins, ...). Every image goes through
:func:`deepdetector.faces.detect.detect_faces` with the default settings except the detector and
``detect_max_side`` named in each config (``name@side``).

Columns: ``recall`` = images where at least one face was found, per group; ``extra`` = mean
detections beyond the first on the photos (mostly false positives: few photos hold two people);
``neg FP`` = detections on the face-free pictures; ``ms photo`` / ``ms 1080p`` = median time per
image for the photos (at most 512 px) and the 1080p frames (decode excluded; wall time, so it
depends on how busy the machine is: the load average is printed); ``box vs yunet`` = median ratio of box side and centre shift (in box
sides) against YuNet at 640 on the same faces, which tells how differently each backend frames a
face (crops use ``margin`` x the box side).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deepdetector.config import ScanConfig  # noqa: E402
from deepdetector.faces.detect import detect_faces, detector_from_config  # noqa: E402
from deepdetector.media import open_media  # noqa: E402
from deepdetector.types import Face  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NEGATIVES = [
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "coins",
    "page",
    "horse",
    "brick",
    "grass",
    "gravel",
    "moon",
    "text",
    "clock",
    "immunohistochemistry",
    "retina",
    "cell",
    "lily",
    "logo",
    "colorwheel",
]


def load_positives(n_images: int, n_videos: int) -> list[tuple[str, str, np.ndarray]]:
    """(group, name, RGB image) of real faces."""
    rows = [r for r in csv.DictReader(open(DATA / "train_manifest.csv")) if r["kind"] == "image" and r["path"].startswith("real_faces/")]
    by_folder: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        by_folder[r["path"].split("/")[1]].append(r["path"])
    rng = np.random.default_rng(0)
    per = max(1, n_images // len(by_folder))
    picked = []
    for folder, paths in sorted(by_folder.items()):
        picked += [(folder, p) for p in rng.choice(sorted(paths), size=min(per, len(paths)), replace=False)]
    out = []
    for folder, p in picked:
        info, frames = open_media(DATA / p, ScanConfig())
        out.append((f"photos:{folder}", p, next(frames).image))
    dev = [r for r in csv.DictReader(open(DATA / "dev_manifest.csv")) if r["path"].startswith("ffpp_c23/")]
    dev = sorted(dev, key=lambda r: r["path"])
    step = max(1, len(dev) // max(n_videos, 1))
    for r in dev[::step][:n_videos]:
        info, frames = open_media(DATA / r["path"], ScanConfig(frames=3))
        for f in frames:
            out.append(("ffpp_c23 frames", f"{r['path']}#{f.index}", f.image))
    return out


def small_faces(positives, n: int) -> list[tuple[str, str, np.ndarray]]:
    """Photos shrunk to 120-200 px and pasted into a 1920x1080 frame (a face of about 40-100 px):
    what a wide shot or a group photo gives, and where downscaling for detection costs recall."""
    import cv2

    rng = np.random.default_rng(1)
    photos = [(name, img) for g, name, img in positives if g.startswith("photos:") and min(img.shape[:2]) >= 200]
    background = cv2.GaussianBlur(rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8), (0, 0), 8)
    out = []
    for k in rng.choice(len(photos), size=min(n, len(photos)), replace=False):
        name, img = photos[k]
        side = int(rng.integers(120, 201))
        h, w = img.shape[:2]
        small = cv2.resize(img, (side, int(side * h / w)), interpolation=cv2.INTER_AREA)
        frame = background.copy()
        y, x = int(rng.integers(0, 1080 - small.shape[0])), int(rng.integers(0, 1920 - side))
        frame[y : y + small.shape[0], x : x + side] = small
        out.append(("small faces 1080p", name, frame))
    return out


def load_negatives() -> list[np.ndarray]:
    from skimage import data

    out = []
    for name in NEGATIVES:
        try:
            img = np.asarray(getattr(data, name)())
        except Exception:  # noqa: BLE001 - some images are fetched on demand; only bundled ones are used
            continue
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        if img.dtype != np.uint8:
            img = (255 * (img.astype(np.float64) / max(img.max(), 1))).astype(np.uint8)
        out.append(np.ascontiguousarray(img[:, :, :3]))
    return out


def run_config(name: str, side: int, positives, negatives):
    cfg = ScanConfig(detector=name, detect_max_side=side)
    detector = detector_from_config(cfg)
    detect_faces(detector, positives[0][2], cfg)  # warm-up
    results: list[list[Face]] = []
    times = []
    for _, _, img in positives:
        t = time.perf_counter()
        results.append(detect_faces(detector, img, cfg))
        times.append(time.perf_counter() - t)
    neg = sum(len(detect_faces(detector, img, cfg)) for img in negatives)
    return results, np.array(times) * 1000, neg


def box_agreement(ref: list[list[Face]], other: list[list[Face]]) -> tuple[float, float]:
    ratios, shifts = [], []
    for a, b in zip(ref, other):
        if not a or not b:
            continue
        fa = a[0]
        fb = max(b, key=lambda f: f.box.iou(fa.box))
        if fb.box.iou(fa.box) < 0.3:
            continue
        sa, sb = max(fa.box.width, fa.box.height), max(fb.box.width, fb.box.height)
        ratios.append(sb / sa)
        (ax, ay), (bx, by) = fa.box.center, fb.box.center
        shifts.append(np.hypot(bx - ax, by - ay) / sa)
    if not ratios:
        return float("nan"), float("nan")
    return float(np.median(ratios)), float(np.median(shifts))


def speed_child(configs: str) -> None:
    """Single-threaded CPU time per call (process time: little affected by other processes)."""
    import cv2

    cv2.setNumThreads(1)
    from skimage import data

    frame = cv2.resize(np.ascontiguousarray(data.astronaut()), (1920, 1080), interpolation=cv2.INTER_LINEAR)
    for spec in configs.split(","):
        name, _, side = spec.partition("@")
        cfg = ScanConfig(detector=name, detect_max_side=int(side or 640), extra={"threads": 1} if name == "retinaface" else {})
        try:
            detector = detector_from_config(cfg)
        except Exception as exc:  # noqa: BLE001
            print(f"{spec:16s} unavailable: {exc}")
            continue
        for _ in range(3):
            detect_faces(detector, frame, cfg)
        cpu, wall = [], []
        for _ in range(30):
            t, c = time.perf_counter(), time.process_time()
            detect_faces(detector, frame, cfg)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - t)
        print(f"{spec:16s} {np.median(cpu) * 1000:>10.1f} {min(wall) * 1000:>10.1f}", flush=True)


def run_speed(configs: str) -> None:
    import subprocess

    print(f"\n1080p frame, one thread per backend (OMP_NUM_THREADS=1, onnxruntime threads=1, OpenCV 1 thread); load average {os.getloadavg()[0]:.1f}")
    print(f"{'config':16s} {'cpu ms med':>10s} {'wall ms min':>10s}")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, __file__, "--speed-child", configs], env=env, check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--configs", default="yunet@640,yunet@480,yunet@320,retinaface@640,retinaface@480,retinaface@320,haar@640,haar@480")
    ap.add_argument("--small", type=int, default=40, help="photos pasted small into 1080p frames")
    ap.add_argument("--per-folder", action="store_true", help="also print recall per photo folder")
    ap.add_argument("--speed", action="store_true", help="only the single-thread speed table")
    ap.add_argument("--speed-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.speed_child:
        speed_child(args.speed_child)
        return
    if args.speed:
        run_speed(args.configs)
        return

    positives = load_positives(args.images, args.videos)
    positives += small_faces(positives, args.small)
    negatives = load_negatives()
    groups = sorted({g for g, _, _ in positives}, key=lambda g: (g.startswith("photos:"), g))
    print(
        f"{len(positives)} positive images ({sum(g.startswith('photos') for g, _, _ in positives)} photos), "
        f"{len(negatives)} face-free pictures; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    header = f"{'config':16s} {'recall photos':>13s} {'recall ffpp':>11s} {'recall small':>12s} {'extra':>6s} {'neg FP':>6s} {'ms photo':>8s} {'ms 1080p':>8s} {'box vs yunet':>14s}"
    print(header)
    print("-" * len(header))
    reference = None
    per_folder_rows = []
    for spec in args.configs.split(","):
        name, _, side = spec.partition("@")
        side_px = int(side or 640)
        try:
            results, ms, neg = run_config(name, side_px, positives, negatives)
        except Exception as exc:  # a backend whose package is missing
            print(f"{spec:16s} unavailable: {exc}")
            continue
        if reference is None and name == "yunet":
            reference = results
        found = np.array([len(r) > 0 for r in results])
        is_photo = np.array([g.startswith("photos") for g, _, _ in positives])
        is_ffpp = np.array([g.startswith("ffpp") for g, _, _ in positives])
        is_small = np.array([g.startswith("small") for g, _, _ in positives])
        extra = np.mean([max(0, len(r) - 1) for r, p in zip(results, is_photo) if p])
        ratio, shift = box_agreement(reference, results) if reference is not None else (float("nan"), float("nan"))
        print(
            f"{spec:16s} {found[is_photo].mean():>13.3f} {found[is_ffpp].mean():>11.3f} {found[is_small].mean():>12.3f} {extra:>6.3f} {neg:>6d} "
            f"{np.median(ms[is_photo]):>8.1f} {np.median(ms[is_small]):>8.1f} {ratio:>6.2f} / {shift:>5.2f}"
        )
        per_folder_rows.append((spec, {g: float(np.mean([len(r) > 0 for r, (gg, _, _) in zip(results, positives) if gg == g])) for g in groups}))
    run_speed(args.configs)
    if args.per_folder:
        print("\nrecall per group")
        print(f"{'config':16s} " + " ".join(f"{g.split(':')[-1][:14]:>14s}" for g in groups))
        for spec, rec in per_folder_rows:
            print(f"{spec:16s} " + " ".join(f"{rec[g]:>14.3f}" for g in groups))


if __name__ == "__main__":
    main()
