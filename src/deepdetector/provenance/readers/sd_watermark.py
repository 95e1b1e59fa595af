"""The invisible watermark of Stable Diffusion's reference code (decoder: :mod:`deepdetector.provenance.watermark`).

When it runs (measured in ``benchmarks/bench_provenance.py``, docs/provenance.md): on photos whose
sides are both multiples of 8 (Stable Diffusion's autoencoder only makes such sizes, and the mark
does not survive resizing, which is what usually changes a size) and of at most
:data:`MAX_PIXELS` pixels (the sizes the reference code makes: SD 1.x 512 px, SD 2.x 768 px, SDXL
about one megapixel, 1024x1024 or 1536x640 and the buckets between). Larger pictures, a 1080p
photo for one, are skipped with the reason in the record: decoding a 1080p picture alone takes
most of the stage's 20 ms budget, and a picture that size is no reference-code output.
"""

from __future__ import annotations

from deepdetector.provenance.base import PROVENANCE_READERS, ProvenanceReader, Skip
from deepdetector.provenance.source import Source
from deepdetector.provenance.watermark import PAYLOAD_GENERATORS, PAYLOADS, blocks_in, find_watermark, min_matches
from deepdetector.types import Finding

MAX_PIXELS = 1_100_000
"""Largest picture decoded, in pixels: every size SD 1.x/2.x and SDXL's reference code makes fits."""


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
        return [
            Finding(
                "sd-watermark",
                match.payload,
                f"{match.bit_accuracy:.0%} of {len(PAYLOADS[match.payload])} bits",
                "verified",
                f"the invisible watermark {PAYLOAD_GENERATORS[match.payload]}'s reference code embeds in every picture it makes, "
                f"decoded ({match.bit_accuracy:.0%} of its bits match; a match needs {min_matches(len(PAYLOADS[match.payload]))} of "
                f"{len(PAYLOADS[match.payload])}, which random bits reach with probability below one in a million)",
                declares="generated",
                generator=PAYLOAD_GENERATORS[match.payload],
            )
        ]


def _size(src: Source) -> tuple[int, int] | None:
    if src.image is not None:
        return int(src.image.shape[1]), int(src.image.shape[0])
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(src.path) as img:
            return img.size
    except (UnidentifiedImageError, OSError):
        return None
