"""``deepdetector demo``: a real photo, a self-blended fake of it, both scanned, one report.

The real photo is scikit-image's bundled ``astronaut`` (NASA, public domain), so the demo needs
no data and no network. The fake is made like the training's self-blended fakes: the face is
blended back onto itself after a colour and a resolution change, leaving the seams and mismatches
real face swaps leave (see :func:`make_demo_fake`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from deepdetector.config import ScanConfig
from deepdetector.errors import ConfigError
from deepdetector.types import Verdict


def demo_photo() -> np.ndarray:
    """The bundled real photo (RGB uint8)."""
    try:
        from skimage import data
    except ImportError:
        raise ConfigError("the demo photo ships with scikit-image: pip install 'deepdetector[demo]'") from None
    return np.ascontiguousarray(data.astronaut())


def make_demo_fake(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A face-swap-like fake of ``real`` and its blend mask (float32 HxW in [0, 1]).

    Built from the training recipe's pieces (:mod:`deepdetector.datasets.sbi`) with its two most
    common face-swap artefacts fixed instead of drawn at random, so every run shows the same,
    typical fake: the face is replaced by a copy of itself at half resolution (a swapped face is
    generated small and scaled up) with a warmer skin tone (+12 red, -8 blue: mid-range of the
    recipe's +-20 shift), blended in through the full face-hull mask with a soft edge (Gaussian sigma
    8% of the face side; the recipe draws 3-24% for a face of half its crop). Around the face the photo is untouched.
    Random draws of the recipe are far more varied (from barely visible to obvious); the model card
    reports how the model does on real fakes.
    """
    import cv2

    from deepdetector.datasets.sbi import face_mask, unit_peak
    from deepdetector.faces import create_detector

    faces = create_detector(ScanConfig.detector).detect(real)
    if not faces or faces[0].landmarks is None:
        raise ConfigError("the demo photo's face was not found by the default detector")
    face = faces[0]
    h, w = real.shape[:2]
    side = max(face.box.width, face.box.height)
    small = cv2.resize(real, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    source = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    source += np.array([12.0, 0.0, -8.0], np.float32)
    mask = face_mask((h, w), face.landmarks, "full").astype(np.float32)
    k = int(side * 0.08) // 2 * 2 + 1  # blur, cut the soft edge off (erodes), blur again: as in the recipe
    mask = unit_peak(cv2.GaussianBlur(mask, (k, k), 0))  # a float blur may peak a hair under 1 (see datasets/sbi.py)
    mask[mask < 1.0] = 0.0
    sigma = side * 0.08
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    m3 = mask[..., None]
    fake = np.clip(np.round(m3 * source + (1.0 - m3) * real.astype(np.float32)), 0, 255).astype(np.uint8)
    return fake, mask


def run_demo(out: Path, model: Path | None = None) -> bool:
    """Write real.png, fake.png, mask.png, heatmaps and report.html into ``out``; True when the
    fake is flagged and the real is not."""
    from rich.console import Console

    from deepdetector import report as rep
    from deepdetector.api import Detector

    console = Console()
    out.mkdir(parents=True, exist_ok=True)
    real = demo_photo()
    fake, mask = make_demo_fake(real)
    real_path, fake_path = out / "real.png", out / "fake.png"
    Image.fromarray(real).save(real_path)
    Image.fromarray(fake).save(fake_path)
    Image.fromarray((np.clip(mask, 0, 1) * 255).astype(np.uint8)).save(out / "mask.png")

    detector = Detector(ScanConfig(model_path=model))
    results = [detector.scan(real_path), detector.scan(fake_path)]
    heat_dir = out / "heatmaps"
    heat_dir.mkdir(exist_ok=True)
    for res in results:
        if res.ok:
            rep.write_heatmaps(res, heat_dir)
    rep.write_html_report(results, out / "report.html", title="DeepDetector demo")
    rep.write_json(results, out / "results.json")
    rep.print_table(results, console)

    real_res, fake_res = results
    ok = fake_res.verdict is Verdict.FAKE and real_res.verdict is Verdict.REAL
    if ok:
        console.print(
            f"[green]demo passed[/]: the self-blended fake was flagged ({fake_res.probability:.2f}) and the real photo was not ({real_res.probability:.2f})."
        )
    else:
        console.print(
            f"[red]demo failed[/]: fake -> {fake_res.verdict.value} ({fake_res.probability}), real -> {real_res.verdict.value} ({real_res.probability})."
        )
    console.print(f"report: {out / 'report.html'}")
    return ok
