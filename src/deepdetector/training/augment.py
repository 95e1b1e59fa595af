"""Training augmentations from the field, applied identically to every image of a real/fake pair.

Compression robustness must be trained in: JPEG quality 30-100, real H.264 re-encoding (libx264
through PyAV at CRF 18-40, so c40-like block and chroma artefacts are seen in training), blur and
down-scaling; plus colour jitter, cutout and landmark part dropout (eyes, nose, mouth, whole face).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from deepdetector.datasets.sbi import PARTS, polygon_mask


@dataclass
class AugmentConfig:
    """Probabilities and ranges (p_* are per pair)."""

    p_flip: float = 0.5
    p_colour: float = 0.5
    p_blur: float = 0.15
    p_downscale: float = 0.25
    downscale: tuple[float, float] = (0.3, 0.8)
    p_jpeg: float = 0.45
    jpeg_quality: tuple[int, int] = (30, 100)
    p_h264: float = 0.35
    h264_crf: tuple[int, int] = (18, 40)
    p_cutout: float = 0.1
    p_part_dropout: float = 0.15
    part_weights: tuple[tuple[str, float], ...] = (("left_eye", 1.0), ("right_eye", 1.0), ("nose", 1.0), ("mouth", 1.0), ("face", 0.2))


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) if ok else img


def h264(images: list[np.ndarray], crf: int) -> list[np.ndarray]:
    """Re-encode equally sized RGB images as an H.264 (libx264, yuv420p) sequence and decode them back.

    The first image is an I-frame, the others P-frames predicted from it, as in a compressed video.
    """
    import av

    h, w = images[0].shape[:2]
    w2, h2 = w - w % 2, h - h % 2
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = w2, h2, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.options = {"crf": str(int(crf)), "preset": "ultrafast", "tune": "zerolatency"}
    packets = []
    for i, img in enumerate(images):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h2, :w2]), format="rgb24")
        frame.pts = i
        packets.extend(enc.encode(frame))
    packets.extend(enc.encode(None))
    dec = av.CodecContext.create("h264", "r")
    out = []
    for pkt in packets:
        for fr in dec.decode(pkt):
            out.append(fr.to_ndarray(format="rgb24"))
    for fr in dec.decode(None):
        out.append(fr.to_ndarray(format="rgb24"))
    if len(out) != len(images):  # should not happen; keep the originals rather than mislabel
        return images
    if (w2, h2) != (w, h):
        out = [cv2.copyMakeBorder(o, 0, h - h2, 0, w - w2, cv2.BORDER_REPLICATE) for o in out]
    return out


def augment_pair(
    images: list[np.ndarray],
    landmarks: np.ndarray | None,
    rng: np.random.Generator,
    cfg: AugmentConfig | None = None,
) -> list[np.ndarray]:
    """Apply ONE random draw of every augmentation to all ``images`` (same size), e.g. a real and its fake.

    ``landmarks`` (5x2, image coordinates) enable part dropout. Flipping is left to the caller,
    which must flip landmarks too.
    """
    cfg = cfg or AugmentConfig()
    out = [np.ascontiguousarray(i) for i in images]
    h, w = out[0].shape[:2]
    if rng.random() < cfg.p_colour:
        alpha = 1.0 + rng.uniform(-0.2, 0.2)
        beta = rng.uniform(-20, 20)
        sat = 1.0 + rng.uniform(-0.3, 0.3)
        new = []
        for img in out:
            f = img.astype(np.float32) * alpha + beta
            grey = f.mean(axis=2, keepdims=True)
            f = grey + (f - grey) * sat
            new.append(np.clip(f, 0, 255).astype(np.uint8))
        out = new
    if landmarks is not None and rng.random() < cfg.p_part_dropout:
        names = [n for n, _ in cfg.part_weights]
        p = np.array([wt for _, wt in cfg.part_weights], np.float64)
        part = names[rng.choice(len(names), p=p / p.sum())]
        m = polygon_mask((h, w), landmarks, PARTS[part]).astype(bool)
        out = [np.where(m[..., None], 0, img).astype(np.uint8) for img in out]
    if rng.random() < cfg.p_cutout:
        ch, cw = int(h * rng.uniform(0.1, 0.4)), int(w * rng.uniform(0.1, 0.4))
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        colour = rng.integers(0, 256, size=3).astype(np.uint8)
        new = []
        for img in out:
            img = img.copy()
            img[y0 : y0 + ch, x0 : x0 + cw] = colour
            new.append(img)
        out = new
    if rng.random() < cfg.p_blur:
        sigma = rng.uniform(0.3, 1.5)
        out = [cv2.GaussianBlur(img, (0, 0), sigma) for img in out]
    if rng.random() < cfg.p_downscale:
        f = rng.uniform(*cfg.downscale)
        sw, sh = max(8, int(w * f)), max(8, int(h * f))
        out = [cv2.resize(cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR) for img in out]
    r = rng.random()
    if r < cfg.p_h264:
        crf = int(rng.integers(cfg.h264_crf[0], cfg.h264_crf[1] + 1))
        # each image is encoded as its own one-frame stream so a real and its fake get the same treatment
        out = [h264([img], crf)[0] for img in out]
    elif r < cfg.p_h264 + cfg.p_jpeg:
        q = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        out = [jpeg(img, q) for img in out]
    return out
