"""One file as the provenance readers see it: bounded, cached reads shared by every reader.

Limits (each reader stops at them and says so in a warning, so a hostile file costs little):

- :data:`HEAD_BYTES`: metadata is searched for in the first 2 MiB of a file only (JPEG, PNG and
  WebP keep it before the picture data; a video's XMP or tags elsewhere are not read by byte search);
- :data:`MAX_PNG_CHUNKS`, :data:`MAX_TEXT_CHUNKS`, :data:`MAX_TEXT_BYTES`: PNG chunks walked,
  text chunks read, and bytes kept per text value (compressed text is inflated up to that size only);
- :data:`MAX_XMP_BYTES`: an XMP packet longer than this is read up to it only.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

HEAD_BYTES = 2 * 1024 * 1024
MAX_PNG_CHUNKS = 4096
MAX_TEXT_CHUNKS = 256
MAX_TEXT_BYTES = 1024 * 1024
MAX_XMP_BYTES = 1024 * 1024
VALUE_CHARS = 300
"""Finding values are shortened to this many characters (a prompt or a workflow can be huge)."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def shorten(text: str, limit: int = VALUE_CHARS) -> str:
    """``text`` with control characters replaced and cut to ``limit`` characters (``...`` marks a cut)."""
    clean = "".join(ch if ch.isprintable() or ch in " " else " " for ch in text).strip()
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


@dataclass
class PngText:
    """One PNG text chunk: its keyword and text (decoded, possibly cut at MAX_TEXT_BYTES)."""

    chunk: str  # tEXt, zTXt or iTXt
    keyword: str
    text: str


@dataclass
class Source:
    """The file being read. ``image`` is its decoded RGB picture when the caller already has it
    (the scanner passes its first frame), else it is decoded here on demand (photos only)."""

    path: str
    kind: str | None = None  # "image", "video" or None (unknown: every reader may try)
    image: np.ndarray | None = None
    max_image_pixels: int = 80_000_000
    warnings: list[str] = field(default_factory=list)
    c2pa_state: str | None = None  # set by the c2pa reader: ProvenanceRecord.c2pa

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    @cached_property
    def size(self) -> int:
        return os.path.getsize(self.path)

    @cached_property
    def head(self) -> bytes:
        """The first :data:`HEAD_BYTES` of the file."""
        with open(self.path, "rb") as fh:
            return fh.read(HEAD_BYTES)

    @cached_property
    def is_png(self) -> bool:
        return self.head.startswith(PNG_SIGNATURE)

    @cached_property
    def png_texts(self) -> list[PngText]:
        """The PNG's text chunks (empty for other files), read within the limits above."""
        if not self.is_png:
            return []
        return _read_png_texts(self)

    @cached_property
    def png_exif(self) -> bytes | None:
        """The PNG's eXIf chunk (raw TIFF-structured EXIF), if any."""
        self.png_texts  # noqa: B018 - the walk fills this
        return self.__dict__.get("_png_exif")

    def rgb(self) -> np.ndarray | None:
        """The decoded picture (RGB uint8), decoding it now if the caller did not pass it."""
        if self.image is None:
            from PIL import Image, ImageOps

            with Image.open(self.path) as img:
                if img.width * img.height > self.max_image_pixels:
                    raise ValueError(f"picture of {img.width}x{img.height} is over max_image_pixels")
                self.image = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
        return self.image


def _read_png_texts(src: Source) -> list[PngText]:
    texts: list[PngText] = []
    with open(src.path, "rb") as fh:
        fh.seek(len(PNG_SIGNATURE))
        for n in range(MAX_PNG_CHUNKS + 1):
            if n == MAX_PNG_CHUNKS:
                src.warn(f"PNG has more than {MAX_PNG_CHUNKS} chunks: the rest were not read")
                break
            header = fh.read(8)
            if len(header) < 8:
                if header:
                    src.warn("PNG ends inside a chunk header (truncated file)")
                break
            length, ctype = struct.unpack(">I4s", header)
            name = ctype.decode("latin-1")
            if name == "eXIf" and length <= MAX_TEXT_BYTES and "_png_exif" not in src.__dict__:
                data = fh.read(length)
                fh.seek(4, os.SEEK_CUR)
                src.__dict__["_png_exif"] = data
            elif name in ("tEXt", "zTXt", "iTXt"):
                if len(texts) >= MAX_TEXT_CHUNKS:
                    src.warn(f"PNG has more than {MAX_TEXT_CHUNKS} text chunks: the rest were not read")
                    fh.seek(length + 4, os.SEEK_CUR)
                else:
                    data = fh.read(min(length, MAX_TEXT_BYTES * 4))
                    if len(data) < min(length, MAX_TEXT_BYTES * 4):
                        src.warn(f"PNG {name} chunk is truncated")
                        break
                    if length > len(data):
                        fh.seek(length - len(data), os.SEEK_CUR)
                    fh.seek(4, os.SEEK_CUR)  # CRC (not checked: a bad CRC does not change what the text says)
                    text = _decode_text_chunk(name, data, src)
                    if text is not None:
                        texts.append(text)
            else:
                fh.seek(length + 4, os.SEEK_CUR)
            if name == "IEND":
                break
    return texts


def _inflate(data: bytes, src: Source, what: str) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(data, MAX_TEXT_BYTES)
    if d.unconsumed_tail:
        src.warn(f"PNG {what} text is longer than {MAX_TEXT_BYTES} bytes once inflated: cut")
    return out


def _decode_text_chunk(name: str, data: bytes, src: Source) -> PngText | None:
    try:
        keyword, _, rest = data.partition(b"\0")
        key = keyword.decode("latin-1")[:79]
        if name == "tEXt":
            body = rest[:MAX_TEXT_BYTES]
            if len(rest) > MAX_TEXT_BYTES:
                src.warn(f"PNG text {key!r} is longer than {MAX_TEXT_BYTES} bytes: cut")
            return PngText(name, key, body.decode("latin-1"))
        if name == "zTXt":
            return PngText(name, key, _inflate(rest[1:], src, repr(key)).decode("latin-1"))
        # iTXt: compression flag, method, language tag \0, translated keyword \0, UTF-8 text
        flag = rest[0] if rest else 0
        after = rest[2:]
        _lang, _, after = after.partition(b"\0")
        _translated, _, body = after.partition(b"\0")
        if flag:
            body = _inflate(body, src, repr(key))
        elif len(body) > MAX_TEXT_BYTES:
            src.warn(f"PNG text {key!r} is longer than {MAX_TEXT_BYTES} bytes: cut")
            body = body[:MAX_TEXT_BYTES]
        return PngText(name, key, body.decode("utf-8", errors="replace"))
    except (zlib.error, IndexError) as exc:
        src.warn(f"PNG {name} chunk could not be decoded ({exc})")
        return None
