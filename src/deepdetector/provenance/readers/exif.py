"""EXIF: camera Make and Model, Software, dates, Artist (claims: any editor can write or strip them).

Read with Pillow from the file's header (no pixel decoding). A ``Software`` value naming a known
generator is a claim of generation; a camera Make/Model is reported but declares nothing (it is
as easy to write as to copy).
"""

from __future__ import annotations

import warnings

from deepdetector.provenance.base import PROVENANCE_READERS, ProvenanceReader, Skip
from deepdetector.provenance.source import Source, shorten
from deepdetector.provenance.vocabulary import generator_in
from deepdetector.types import Finding

TAGS = {
    0x010F: ("Make", "camera maker"),
    0x0110: ("Model", "camera model"),
    0x0131: ("Software", "the software that wrote or last edited the file"),
    0x013B: ("Artist", "author"),
    0x010E: ("ImageDescription", "description"),
    0x0132: ("DateTime", "date the file was last changed"),
}
EXIF_IFD = 0x8769
EXIF_TAGS = {
    0x9003: ("DateTimeOriginal", "date the picture was taken"),
    0xA433: ("LensMake", "lens maker"),
}


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        for encoding in ("utf-8", "latin-1"):
            try:
                value = value.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", " ").strip()
    return value or None


@PROVENANCE_READERS.register("exif", description="EXIF Make, Model, Software, dates (claims)")
class ExifReader(ProvenanceReader):
    name = "exif"
    kinds = ("image",)

    def read(self, src: Source) -> list[Finding]:
        from PIL import Image, UnidentifiedImageError

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd EXIF; a bad tag is simply not read
            if src.is_png:  # Pillow would decode the whole picture to look for eXIf after the pixels
                exif = Image.Exif()
                if src.png_exif:
                    exif.load(src.png_exif)
            else:
                try:
                    with Image.open(src.path) as img:
                        exif = img.getexif()
                except UnidentifiedImageError:
                    raise Skip("not a picture Pillow can open") from None
            sub = exif.get_ifd(EXIF_IFD) if exif else {}
        findings = []
        for table, tags in ((TAGS, exif), (EXIF_TAGS, sub)):
            for tag, (key, meaning) in table.items():
                value = _text(tags.get(tag)) if tags else None
                if value is None:
                    continue
                gen = generator_in(value) if key in ("Software", "Artist", "ImageDescription") else None
                findings.append(
                    Finding(
                        "exif",
                        key,
                        shorten(value),
                        "claimed",
                        (f"names a generator ({gen}); " if gen else "") + meaning + " (metadata: anyone can write it)",
                        declares="generated" if gen else None,
                        generator=gen,
                    )
                )
        return findings
