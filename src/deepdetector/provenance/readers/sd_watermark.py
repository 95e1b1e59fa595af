"""The invisible watermark of Stable Diffusion's reference code (decoder: :mod:`deepdetector.provenance.watermark`).

When it runs (measured in ``benchmarks/bench_provenance.py``, docs/provenance.md): on photos whose
sides are both multiples of 8 (Stable Diffusion's autoencoder only makes such sizes, and the mark
does not survive resizing, which is what usually changes a size) and of at most
:data:`MAX_PIXELS` pixels (the reference scripts make 512 to 1024 px pictures; larger pictures
are skipped, with the reason in the record, to keep the stage within its time budget).
"""

from __future__ import annotations

from deepdetector.provenance.base import PROVENANCE_READERS, ProvenanceReader, Skip
from deepdetector.provenance.source import Source
from deepdetector.provenance.watermark import MIN_BIT_ACCURACY, PAYLOAD_GENERATORS, PAYLOADS, blocks_in, find_watermark
from deepdetector.types import Finding

MAX_PIXELS = 2048 * 1088
"""Largest picture decoded (1080p and every size the reference scripts make fit under it)."""


@PROVENANCE_READERS.register("sd-watermark", description="Stable Diffusion invisible watermark (DWT-DCT), decoded")
class SdWatermarkReader(ProvenanceReader):
    name = "sd-watermark"
    kinds = ("image",)

    def read(self, src: Source) -> list[Finding]:
        size = _size(src)
        if size is None:
            raise Skip("not a picture that can be opened")
        width, height = size
        if width % 8 or height % 8:
            raise Skip(f"{width}x{height} is not a size Stable Diffusion makes (sides multiples of 8)")
        if width * height > MAX_PIXELS:
            raise Skip(f"{width}x{height} is larger than the pictures the Stable Diffusion reference scripts make")
        if blocks_in(width, height) < 2 * min(len(p) for p in PAYLOADS.values()):
            raise Skip(f"{width}x{height} is too small to carry the watermark")
        rgb = src.rgb()
        if rgb is None or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise Skip("no RGB picture")
        match, accuracy = find_watermark(rgb)
        if match is None:
            return []
        return [Finding(
            "sd-watermark", match.payload,
            f"{match.bit_accuracy:.0%} of {len(PAYLOADS[match.payload])} bits",
            "verified",
            f"the invisible watermark {PAYLOAD_GENERATORS[match.payload]}'s reference code embeds in every picture it makes, "
            f"decoded ({match.bit_accuracy:.0%} of its bits match; a match needs {MIN_BIT_ACCURACY:.0%}, a chance match is below one in a billion)",
            declares="generated", generator=PAYLOAD_GENERATORS[match.payload],
        )]


def _size(src: Source) -> tuple[int, int] | None:
    if src.image is not None:
        return int(src.image.shape[1]), int(src.image.shape[0])
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(src.path) as img:
            return img.size
    except (UnidentifiedImageError, OSError):
        return None
