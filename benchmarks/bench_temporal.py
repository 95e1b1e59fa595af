"""The learned temporal model's cost per video (run on demand, not in tests).

    .venv/bin/python benchmarks/bench_temporal.py [--repeat 20]

A 12-s 720p clip gets at most 3 dense windows of 4 s at 15 fps (ScanConfig defaults), 60 frames
each. Their face series are what the scan already computes for the cues; what the temporal model
adds is the descriptors (``evidence/temporal.window_sequence``) and one onnxruntime call over the
chunks. Measured here on synthetic series of that size with a network of the trained architecture
(weights drawn at random: the cost does not depend on them; torch is needed only to export it).
Target of issue #22: <= 0.3 s a 12-s clip.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from deepdetector.evidence import FaceSeries
from deepdetector.evidence import temporal as tp
from deepdetector.training import temporal as tm


def series(rng: np.random.Generator, frames: int = 60) -> FaceSeries:
    s = FaceSeries(0, frame_size=(1280, 720))
    base = np.c_[rng.uniform(500, 700, (468, 2)), np.zeros(468)]
    for i in range(frames):
        pix = {name: rng.integers(0, 256, (32, 32)).astype(np.float32) for name in tp.REGIONS}
        s.append(i / 15.0, None, pix)
        s.points[-1] = base + np.c_[rng.normal(0, 0.5, (468, 2)), np.zeros(468)]
    return s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    windows = [series(rng) for _ in range(3)]
    seqs = [tp.window_sequence(w) for w in windows]
    mean = np.zeros(tp.feature_size(), np.float32)
    fitted = tm.FittedTemporal(tm.build_network(tp.feature_size()), mean, np.ones_like(mean))
    with tempfile.TemporaryDirectory() as tmp:
        model = tp.TemporalModel(tm.export(fitted, Path(tmp) / "temporal.onnx", {}))
        model.score(seqs)  # warm-up
        t_desc, t_model = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            seqs = [tp.window_sequence(w) for w in windows]
            t1 = time.perf_counter()
            model.score(seqs)
            t_model.append(time.perf_counter() - t1)
            t_desc.append(t1 - t0)
    n_chunks = sum(len(tp.chunks(s)) for s in seqs)
    d, m = statistics.median(t_desc), statistics.median(t_model)
    print(f"3 windows x 60 frames ({n_chunks} chunks): descriptors {d * 1000:.1f} ms, network {m * 1000:.1f} ms, "
          f"together {(d + m) * 1000:.1f} ms (median of {args.repeat}; target <= 300 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
