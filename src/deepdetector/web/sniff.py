"""Recognise an upload as an image or a video from its first bytes (never from its name).

This is only the service's gate: it refuses what is plainly not a picture or a film (text, PDF,
archives, executables) before anything is queued. Decoding, and the final word on whether a file
is readable, belong to the media stage (Pillow, PyAV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Bytes of the upload's head needed to recognise every format below (MPEG-TS needs 3 x 188 + 1).
SNIFF_BYTES = 1024


@dataclass(frozen=True)
class MediaType:
    """What the upload looks like: ``kind`` decides how the page shows progress."""

    kind: Literal["image", "video"]
    mime: str


# ISO base media ("ftyp" box) brands that hold still images; every other brand is a film.
_IMAGE_BRANDS = {b"avif": "image/avif", b"avis": "image/avif", b"heic": "image/heic", b"heix": "image/heic",
                 b"mif1": "image/heif", b"msf1": "image/heif"}  # fmt: skip
# First box types of QuickTime files written without an "ftyp" box.
_QUICKTIME_BOXES = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}


def sniff(head: bytes) -> MediaType | None:
    """The media type of a file starting with ``head`` (its first :data:`SNIFF_BYTES` bytes), or
    ``None`` when it is not an image or video format the service accepts."""
    if head.startswith(b"\xff\xd8\xff"):
        return MediaType("image", "image/jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType("image", "image/png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return MediaType("image", "image/gif")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return MediaType("image", "image/tiff")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return MediaType("image", "image/webp")
    if head[:2] == b"BM" and len(head) >= 18 and head[6:10] == b"\x00\x00\x00\x00":
        if int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
            return MediaType("image", "image/bmp")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return MediaType("image", _IMAGE_BRANDS[brand])
        return MediaType("video", "video/quicktime" if brand == b"qt  " else "video/mp4")
    if head[4:8] in _QUICKTIME_BOXES and int.from_bytes(head[:4], "big") >= 8:
        return MediaType("video", "video/quicktime")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaType("video", "video/webm" if b"webm" in head[:64] else "video/x-matroska")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return MediaType("video", "video/x-msvideo")
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return MediaType("video", "video/x-ms-asf")
    if head.startswith(b"FLV\x01"):
        return MediaType("video", "video/x-flv")
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return MediaType("video", "video/mpeg")
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return MediaType("video", "video/mp2t")
    return None
