"""The Ray engine gives the same results as the local engine (a local Ray instance started here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepdetector.batch import BatchOptions, run_batch
from deepdetector.config import ScanConfig
from tests.media_factory import blank_photo, face_photo, write_image

ray = pytest.importorskip("ray", reason="Ray is not installed (optional extra: pip install 'deepdetector[ray]')")


def _rows(path):
    return [{k: v for k, v in json.loads(line).items() if k != "timings"} for line in path.read_text().splitlines()]


def test_ray_engine_matches_the_local_engine(tmp_path, tiny_model_dir):
    src = tmp_path / "files"
    src.mkdir()
    face = np.ascontiguousarray(face_photo()[::2, ::2])
    write_image(src / "a.jpg", face)
    write_image(src / "b.png", np.ascontiguousarray(face[:, ::-1]))
    write_image(src / "c.jpg", (face * 0.7).astype(np.uint8))
    (src / "a_copy.jpg").write_bytes((src / "a.jpg").read_bytes())
    write_image(src / "blank.png", blank_photo())
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    config = ScanConfig(model_path=tiny_model_dir, frames=4)

    local = run_batch(BatchOptions(sources=[src], out=tmp_path / "local.jsonl", workers=1, config=config))
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        distributed = run_batch(BatchOptions(sources=[src], out=tmp_path / "ray.jsonl", engine="ray", workers=1, config=config))
    finally:
        ray.shutdown()

    assert distributed.engine == "ray" and distributed.workers == 1 and local.engine == "local"
    rows = _rows(tmp_path / "ray.jsonl")
    assert rows == _rows(tmp_path / "local.jsonl")
    assert {r["verdict"] for r in rows} >= {"no_face", "error"} and sum(r["faces"] != [] for r in rows) == 4
    assert distributed.scans == 5 and distributed.reused == 1 and distributed.counts == local.counts
