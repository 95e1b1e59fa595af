"""Decoder of the invisible watermark that Stable Diffusion's reference code embeds (DWT-DCT "max" method).

The Stable Diffusion 1.x/2.x reference scripts (``scripts/txt2img.py``) and SDXL (Stability's
``generative-models`` and diffusers' ``StableDiffusionXLWatermarker``) mark every picture with the
``invisible-watermark`` package (``WatermarkEncoder.encode(bgr, "dwtDct")``): SD 1.x/2.x write the
17 bytes ``StableDiffusionV1`` (136 bits), SDXL a fixed 48-bit message. That package declares torch
and opencv-python as dependencies, so this project decodes the mark itself; the algorithm below is
``imwatermark.maxDct.EmbedMaxDct.decode`` (scales ``[0, 36, 36]``, 4x4 blocks), vectorised:

1. convert the BGR picture to YUV (OpenCV's BT.601 ``COLOR_BGR2YUV``) and crop it to a multiple of 4;
2. take the one-level Haar wavelet transform of the U channel (the only channel with a non-zero
   scale among the two the encoder visits) and keep its approximation band LL, which for Haar is
   ``(a + b + c + d) / 2`` over each 2x2 pixel block;
3. cut LL into 4x4 blocks in row-major order; block ``k`` carries bit ``k mod L`` (L = payload length);
4. in each block take the coefficient of largest magnitude other than the first (the encoder moved
   it to ``(floor(|v| / 36) + 0.25 + 0.5 * bit) * 36``): the bit is 1 when ``|v| mod 36 > 18``;
5. a payload bit is the majority over its blocks (mean above 127/255, as the package does); a
   second, soft reading weighs each block by how far its value sits from the decision boundary
   (blocks near it carry little), which finds more marks in lossless copies (measured).

The decoded bits (hard and soft, both channel orders) are compared with each known payload; a
match needs so many right bits that independent random bits would reach them with probability at
most :data:`MAX_CHANCE` (one in a million per comparison, 8 comparisons per picture): 96 of SD's 136 bits (71 %), 41 of SDXL's 48 (85 %); see :func:`min_matches`. The mark is
weak (measured in docs/experiments/2026-12-06-provenance.md): even a lossless copy of a marked
photo decodes below that for some pictures, and JPEG, resizing and crops erase it. An absent mark
proves nothing.

diffusers passes RGB arrays where the package expects BGR, so both channel orders are tried.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

SCALE = 36.0
BLOCK = 4
MAX_CHANCE = 1e-6
"""Largest probability that random bits match a payload as well as a decoded mark must."""

SDXL_MESSAGE = 0b101100111110110010010000011110111011000110011110
PAYLOADS: dict[str, np.ndarray] = {
    "StableDiffusionV1": np.unpackbits(np.frombuffer(b"StableDiffusionV1", np.uint8)).astype(bool),
    "SDXL": np.array([int(b) for b in bin(SDXL_MESSAGE)[2:]], dtype=bool),
}
"""The known payloads: SD 1.x/2.x reference scripts (the text, 136 bits) and SDXL (48 bits)."""

PAYLOAD_GENERATORS = {"StableDiffusionV1": "Stable Diffusion 1.x/2.x", "SDXL": "Stable Diffusion XL"}


@lru_cache(maxsize=None)
def min_matches(length: int, max_chance: float = MAX_CHANCE) -> int:
    """The fewest right bits out of ``length`` that random bits reach with probability <= ``max_chance``."""
    tail = 0
    for k in range(length, -1, -1):
        tail += math.comb(length, k)
        if tail / 2**length > max_chance:
            return k + 1
    return 0


@dataclass(frozen=True)
class WatermarkMatch:
    payload: str  # a key of PAYLOADS
    bit_accuracy: float  # share of the payload's bits decoded right
    channel_order: str  # "bgr" (reference scripts) or "rgb" (diffusers)
    method: str = "hard"  # "hard" (the package's majority of block bits) or "soft" (blocks weighted by their margin)


def haar_ll(channel: np.ndarray) -> np.ndarray:
    """The approximation band of a one-level 2-D Haar transform (``pywt.dwt2(x, "haar")[0]``) of an
    array with even sides."""
    return haar_ll_doubled(channel) / 2.0


def haar_ll_doubled(channel: np.ndarray) -> np.ndarray:
    """Twice :func:`haar_ll`, in exact integers for an integer channel: the sum of each 2x2 block."""
    h, w = channel.shape[0] // 2 * 2, channel.shape[1] // 2 * 2
    x = channel[:h, :w].astype(np.int32 if channel.dtype.itemsize > 1 else np.int16)
    rows = x[0::2] + x[1::2]
    return rows[:, 0::2] + rows[:, 1::2]


def u_channel(picture: np.ndarray, code: int = cv2.COLOR_BGR2YUV) -> np.ndarray:
    """The U channel the encoder marks, of the picture cropped to a multiple of 4 (``code``
    ``COLOR_RGB2YUV`` reads an RGB array as the encoder reads the same picture in BGR)."""
    rows, cols = picture.shape[0] // 4 * 4, picture.shape[1] // 4 * 4
    cropped = picture[:rows, :cols]
    if not cropped.flags.c_contiguous:
        cropped = np.ascontiguousarray(cropped)
    return cv2.cvtColor(cropped, code)[:, :, 1]


def _haar_ll_float(u: np.ndarray) -> np.ndarray:
    """The LL band computed as PyWavelets computes it (float64, rows then columns): bit-exact with
    ``pywt.dwt2(u, "haar")[0]`` (checked in the tests); works on stacked (..., 2m, 2n) arrays."""
    h = 0.7071067811865476  # pywt.Wavelet("haar").dec_lo
    f = u.astype(np.float64)
    rows = f[..., 0::2, :] * h + f[..., 1::2, :] * h
    return rows[..., 0::2] * h + rows[..., 1::2] * h


def _infer(blocks: np.ndarray, scale: float) -> np.ndarray:
    """The bit of each flattened block (n, 16): its largest coefficient after the first, mod ``scale``."""
    mags = np.abs(blocks)
    pos = np.argmax(mags[:, 1:], axis=1) + 1
    values = mags[np.arange(len(mags)), pos]
    return np.mod(values, scale) > 0.5 * scale


def block_bits(bgr: np.ndarray, code: int = cv2.COLOR_BGR2YUV) -> np.ndarray:
    """One bit per 4x4 block (see :func:`block_decisions`)."""
    return block_decisions(bgr, code)[0]


def block_decisions(bgr: np.ndarray, code: int = cv2.COLOR_BGR2YUV) -> tuple[np.ndarray, np.ndarray]:
    """One bit per 4x4 block of the U channel's Haar LL band, in the encoder's order (bool array).

    Worked in integers (LL = s / 2 with s the sum of a 2x2 pixel block, so ``|LL| mod 36 > 18`` is
    ``|s| mod 72 > 36``), which is 4x faster than floats on a 1080p picture. The package decodes
    with PyWavelets' float transform, whose rounding decides blocks whose value sits exactly on a
    boundary (``|s| mod 72`` of 0 or 36); those few blocks are decoded again in float exactly as it
    does, so the bits equal the package's.

    Also returns a soft score per block in [-1, 1]: ``-sin(2 pi (|LL| mod 36) / 36)``, -1 at 9 (where
    the encoder puts a 0), +1 at 27 (a 1), 0 on the boundaries where the hard bit is a coin toss."""
    u = u_channel(bgr, code)
    ll2 = haar_ll_doubled(u)
    nr, nc = ll2.shape[0] // BLOCK, ll2.shape[1] // BLOCK
    blocks = ll2[: nr * BLOCK, : nc * BLOCK].reshape(nr, BLOCK, nc, BLOCK).transpose(0, 2, 1, 3).reshape(nr * nc, BLOCK * BLOCK)
    mags = np.abs(blocks)
    pos = np.argmax(mags[:, 1:], axis=1) + 1
    values = mags[np.arange(len(mags)), pos]
    rest = np.mod(values, 2 * int(SCALE))
    bits = rest > int(SCALE)
    edge = np.flatnonzero((rest == 0) | (rest == int(SCALE)))
    if len(edge):
        side = 2 * BLOCK
        pixels = u[: nr * side, : nc * side].reshape(nr, side, nc, side).transpose(0, 2, 1, 3)
        exact = _haar_ll_float(pixels[edge // nc, edge % nc]).reshape(len(edge), BLOCK * BLOCK)
        bits[edge] = _infer(exact, SCALE)
    soft = -np.sin(np.pi * rest / SCALE)
    return bits, soft


def decode_bits(block_bits_: np.ndarray, length: int) -> np.ndarray:
    """The ``length`` payload bits: majority over the blocks that carry each one."""
    index = np.arange(len(block_bits_)) % length
    ones = np.bincount(index, weights=block_bits_.astype(np.float64), minlength=length)
    count = np.bincount(index, minlength=length)
    return ones / np.maximum(count, 1) * 255 > 127


def decode_soft(scores: np.ndarray, length: int) -> np.ndarray:
    """The ``length`` payload bits from soft scores: the sign of their sum over each bit's blocks."""
    index = np.arange(len(scores)) % length
    return np.bincount(index, weights=scores, minlength=length) > 0


def blocks_in(width: int, height: int) -> int:
    """How many 4x4 LL blocks (8x8 pixels) a picture of this size has."""
    return ((height // 4 * 4) // 2 // BLOCK) * ((width // 4 * 4) // 2 // BLOCK)


def find_watermark(rgb: np.ndarray, min_repeats: int = 2) -> tuple[WatermarkMatch | None, dict[str, float]]:
    """The known payload this RGB picture carries, if any, and the best bit accuracy per payload.

    Payloads with fewer than ``min_repeats`` copies in the picture are not tried.
    """
    best: dict[str, float] = {}
    match: WatermarkMatch | None = None
    n_blocks = blocks_in(rgb.shape[1], rgb.shape[0])
    # the reference scripts mark the BGR picture (read here as RGB2YUV of the RGB array); diffusers marks RGB as if BGR
    for order, code in (("bgr", cv2.COLOR_RGB2YUV), ("rgb", cv2.COLOR_BGR2YUV)):
        bits, soft = block_decisions(rgb, code)
        for name, payload in PAYLOADS.items():
            if n_blocks < min_repeats * len(payload):
                continue
            for method, decoded in (("hard", decode_bits(bits, len(payload))), ("soft", decode_soft(soft, len(payload)))):
                right = int(np.sum(decoded == payload))
                accuracy = right / len(payload)
                best[name] = max(best.get(name, 0.0), accuracy)
                if right >= min_matches(len(payload)) and (match is None or accuracy > match.bit_accuracy):
                    match = WatermarkMatch(name, accuracy, order, method)
    return match, best
