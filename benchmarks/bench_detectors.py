"""Recall, false positives and speed of each face detector backend on real faces.

    .venv/bin/python benchmarks/bench_detectors.py                        # 200 photos + 60 FF++ frames
    .venv/bin/python benchmarks/bench_detectors.py --images 400 --videos 30 --configs yunet@640,yunet@320

Positives: ``--images`` real photos drawn evenly from every folder of ``real_faces/`` in
``../shared/data/train_manifest.csv`` (each holds at least one face), and 3 frames from each of
``--videos`` FaceForensics++ c23 videos (one frontal face each). Negatives: the photos without a face
that ship in scikit-image (coffee, cat, rocket, coins, ...). Every image goes through
:func:`deepdetector.faces.detect.detect_faces` with the default settings except the detector and
``detect_max_side`` named in each config (``name@side``).

Columns: ``recall`` = images where at least one face was found, per group; ``extra`` = mean
detections beyond the first on the photos (mostly false positives: few photos hold two people);
``neg FP`` = detections on the face-free pictures; ``ms`` = median and 90th percentile of the time
per image (decode excluded); ``box vs yunet`` = median ratio of box side and centre shift (in box
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
NEGATIVES = ["coffee", "chelsea", "rocket", "hubble_deep_field", "coins", "page", "horse", "brick", "grass",
             "gravel", "moon", "text", "clock", "immunohistochemistry", "retina", "cell", "lily", "logo", "colorwheel"]


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--configs", default="yunet@640,yunet@480,yunet@320,retinaface@640,retinaface@480,retinaface@320,haar@640,haar@480")
    ap.add_argument("--per-folder", action="store_true", help="also print recall per photo folder")
    args = ap.parse_args()

    positives = load_positives(args.images, args.videos)
    negatives = load_negatives()
    groups = sorted({g for g, _, _ in positives}, key=lambda g: (g.startswith("photos:"), g))
    print(f"{len(positives)} positive images ({sum(g.startswith('photos') for g, _, _ in positives)} photos), "
          f"{len(negatives)} face-free pictures; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    header = f"{'config':16s} {'recall photos':>13s} {'recall ffpp':>11s} {'extra':>6s} {'neg FP':>6s} {'ms med':>7s} {'ms p90':>7s} {'box vs yunet':>14s}"
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
        extra = np.mean([max(0, len(r) - 1) for r, p in zip(results, is_photo) if p])
        ratio, shift = box_agreement(reference, results) if reference is not None else (float("nan"), float("nan"))
        print(
            f"{spec:16s} {found[is_photo].mean():>13.3f} {found[~is_photo].mean():>11.3f} {extra:>6.3f} {neg:>6d} "
            f"{np.median(ms):>7.1f} {np.percentile(ms, 90):>7.1f} {ratio:>6.2f} / {shift:>5.2f}"
        )
        per_folder_rows.append((spec, {g: float(np.mean([len(r) > 0 for r, (gg, _, _) in zip(results, positives) if gg == g])) for g in groups}))
    if args.per_folder:
        print("\nrecall per group")
        print(f"{'config':16s} " + " ".join(f"{g.split(':')[-1][:14]:>14s}" for g in groups))
        for spec, rec in per_folder_rows:
            print(f"{spec:16s} " + " ".join(f"{rec[g]:>14.3f}" for g in groups))


if __name__ == "__main__":
    main()
