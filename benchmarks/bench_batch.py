"""Batch throughput: files/s of the local engine and of Ray on this machine, with the per-file cost
broken down by stage (from ``FileResult.timings``). Run on demand, not in tests.

    .venv/bin/python benchmarks/bench_batch.py [--model PATH] [--images 48] [--videos 6] [--workers 1 2] [--no-ray]
    .venv/bin/python benchmarks/bench_batch.py --source /path/to/folder   # your own files instead of generated ones

Generated files: 1280x720 JPEG photos with one face (each with different noise, so no two are
identical) and 5-second 640x360 H.264 clips (the face drifting), scanned with --frames 32.
Uses the shipped model, or --model; without either, the tiny test model (timings then show the
pipeline's cost, not a real network's).

Reported per engine and worker count: wall time (including starting the workers and loading the
model), files/s over the whole run, steady files/s (first to last finished file, i.e. without
start-up), and the mean seconds per file in each stage (decode, detect, crop, classify, verdict, total)
for images and videos separately.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.media_factory

from deepdetector.batch import BatchOptions, run_batch  # noqa: E402
from deepdetector.config import ScanConfig  # noqa: E402
from tests.media_factory import face_photo, write_image, write_video  # noqa: E402

STAGES = ("decode", "detect", "crop", "classify", "verdict", "total")


def make_files(folder: Path, images: int, videos: int) -> Path:
    import cv2

    rng = np.random.default_rng(0)
    face = cv2.resize(face_photo(), (480, 480), interpolation=cv2.INTER_CUBIC)
    for i in range(images):
        canvas = np.full((720, 1280, 3), 110, np.uint8)
        x = 200 + (i * 37) % 600
        canvas[120:600, x : x + 480] = face
        noise = rng.integers(-6, 7, canvas.shape, dtype=np.int16)
        write_image(folder / f"photo_{i:04d}.jpg", np.clip(canvas + noise, 0, 255).astype(np.uint8), quality=90)
    for i in range(videos):
        write_video(folder / f"clip_{i:03d}.mp4", n_frames=125 + i, fps=25, size=(640, 360))
    return folder


def model_path(arg: str | None) -> tuple[Path | None, str]:
    if arg:
        return Path(arg), arg
    from deepdetector.errors import ModelError
    from deepdetector.model import default_card_path

    try:
        default_card_path()
        return None, "shipped model"
    except ModelError:
        from tests.tiny_model import build_tiny_model

        path = build_tiny_model(Path(tempfile.mkdtemp(prefix="bench_batch_tiny_")))
        return path, "tiny test model (no shipped model installed)"


def run_once(source: Path, engine: str, workers: int, config: ScanConfig, work: Path) -> dict:
    out = work / f"{engine}_{workers}.jsonl"
    stamps: list[float] = []

    def on_progress(finished: int, total: int | None) -> None:
        stamps.append((time.perf_counter(), finished))  # type: ignore[arg-type]

    started = time.perf_counter()
    summary = run_batch(
        BatchOptions(sources=[source], out=out, job=work / f"{engine}_{workers}.sqlite", engine=engine, workers=workers, config=config), on_progress
    )
    wall = time.perf_counter() - started
    finished_at = [(t, n) for t, n in stamps if n > 0]
    steady = None
    if len(finished_at) >= 2 and finished_at[-1][1] > finished_at[0][1]:
        (t0, n0), (t1, n1) = finished_at[0], finished_at[-1]
        steady = (n1 - n0) / (t1 - t0) if t1 > t0 else None
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    per_kind: dict[str, dict[str, float]] = {}
    for kind in ("image", "video"):
        sel = [r for r in rows if (r.get("media") or {}).get("kind") == kind]
        if sel:
            per_kind[kind] = {s: statistics.mean(r["timings"].get(s, 0.0) for r in sel) for s in STAGES}
            per_kind[kind]["n"] = len(sel)
    return {
        "engine": engine,
        "workers": workers,
        "files": summary.total,
        "wall_s": wall,
        "files_per_s": summary.total / wall,
        "steady_files_per_s": steady,
        "per_file": per_kind,
        "results": {r["path"]: (r["verdict"], r["probability"]) for r in rows},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", help="scan this folder / list / manifest instead of generated files")
    ap.add_argument("--model", help="model folder or model_card.json (default: shipped, else the tiny test model)")
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray engine")
    ap.add_argument("--json", help="also write the measurements to this JSON file")
    args = ap.parse_args()

    model, model_label = model_path(args.model)
    config = ScanConfig(model_path=model, frames=args.frames, threads=1)
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        tmp_path = Path(tmp)
        if args.source:
            source = Path(args.source)
        else:
            (tmp_path / "files").mkdir()
            source = make_files(tmp_path / "files", args.images, args.videos)
        runs = []
        engines = ["local"] + ([] if args.no_ray else ["ray"])
        for engine in engines:
            if engine == "ray":
                try:
                    import ray  # noqa: F401
                except ImportError:
                    print("ray is not installed: skipping the Ray engine (pip install 'deepdetector[ray]')")
                    continue
            for workers in args.workers:
                work = tmp_path / f"run_{engine}_{workers}"
                work.mkdir()
                print(f"running {engine} engine with {workers} worker(s)...", flush=True)
                runs.append(run_once(source, engine, workers, config, work))

    print(f"\nmodel: {model_label}; frames per video: {args.frames}; onnxruntime threads per worker: 1")
    print(f"{'engine':<7} {'workers':>7} {'files':>6} {'wall s':>8} {'files/s':>8} {'steady/s':>9}")
    for r in runs:
        steady = "-" if r["steady_files_per_s"] is None else f"{r['steady_files_per_s']:.2f}"
        print(f"{r['engine']:<7} {r['workers']:>7} {r['files']:>6} {r['wall_s']:>8.1f} {r['files_per_s']:>8.2f} {steady:>9}")
    print("\nmean seconds per file by stage (per worker; from FileResult.timings)")
    print(f"{'engine':<7} {'workers':>7} {'kind':<6} {'n':>4} " + " ".join(f"{s:>9}" for s in STAGES))
    for r in runs:
        for kind, t in r["per_file"].items():
            print(f"{r['engine']:<7} {r['workers']:>7} {kind:<6} {int(t['n']):>4} " + " ".join(f"{t[s]:>9.4f}" for s in STAGES))
    if len(runs) > 1:
        same = all(r["results"] == runs[0]["results"] for r in runs[1:])
        print(f"\nverdicts and probabilities identical across engines and worker counts: {same}")
    if args.json:
        Path(args.json).write_text(json.dumps([{k: v for k, v in r.items() if k != "results"} for r in runs], indent=2))


if __name__ == "__main__":
    main()
