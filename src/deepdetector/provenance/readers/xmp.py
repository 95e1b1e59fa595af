"""XMP metadata: IPTC ``DigitalSourceType``, ``CreatorTool`` and a referenced remote C2PA manifest.

The packet is found by byte search in the file's first bytes (JPEG APP1, PNG iTXt, WebP, TIFF and
MP4 keep it there) or in a PNG ``XML:com.adobe.xmp`` text chunk, in UTF-8 or UTF-16; it is read
with regular expressions, not an XML parser (no entity expansion, bounded work). Anyone can write
XMP: every finding is a claim.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from deepdetector.provenance.base import PROVENANCE_READERS, ProvenanceReader
from deepdetector.provenance.source import MAX_XMP_BYTES, Source, shorten
from deepdetector.provenance.vocabulary import classify_source_type, generator_in
from deepdetector.types import Finding

_START = "<x:xmpmeta"
_END = "</x:xmpmeta>"
_ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be")
MAX_PACKETS = 4


def _field(name: str) -> re.Pattern[str]:
    """``ns:Name="value"``, ``<ns:Name rdf:resource="value"/>`` or ``<ns:Name>value</ns:Name>``.

    No unbounded repetition before the name, so a huge packet costs linear time."""
    return re.compile(
        r"[\s:]" + name + r"""\s*=\s*["']([^"']{0,2000})["']"""
        r"|[<:]" + name + r"""\b[^>]{0,2000}?rdf:resource\s*=\s*["']([^"']{0,2000})["']"""
        r"|[<:]" + name + r">\s*([^<]{0,2000}?)\s*</",
    )


_DST = _field("DigitalSourceType")
_CREATOR_TOOL = _field("CreatorTool")
_PROVENANCE = _field("provenance")  # dcterms:provenance: a remote C2PA manifest's address


def packets(src: Source) -> Iterator[str]:
    """The XMP packets of the file (at most MAX_PACKETS, each at most MAX_XMP_BYTES), each once."""
    found: list[str] = []
    head = src.head
    for encoding in _ENCODINGS:
        start_marker, end_marker = _START.encode(encoding), _END.encode(encoding)
        at = head.find(start_marker)
        while at != -1 and len(found) < MAX_PACKETS:
            end = head.find(end_marker, at, at + MAX_XMP_BYTES + len(end_marker))
            if end == -1:
                src.warn(f"XMP packet without its end within {MAX_XMP_BYTES} bytes (huge or truncated): read in part")
                end = min(len(head), at + MAX_XMP_BYTES)
            found.append(head[at : end + len(end_marker)].decode(encoding, errors="replace"))
            yield found[-1]
            at = head.find(start_marker, end)
    for text in src.png_texts:  # a compressed iTXt packet, or one past the first bytes
        if text.keyword == "XML:com.adobe.xmp" and len(found) < MAX_PACKETS:
            packet = text.text[:MAX_XMP_BYTES]
            if not any(packet[:200] in seen for seen in found):
                found.append(packet)
                yield packet


def _values(pattern: re.Pattern[str], text: str) -> list[str]:
    out = []
    for m in pattern.finditer(text):
        value = next((g for g in m.groups() if g), "").strip()
        if value and value not in out:
            out.append(value)
    return out[:8]


@PROVENANCE_READERS.register("xmp", description="XMP: IPTC DigitalSourceType, CreatorTool (claims)")
class XmpReader(ProvenanceReader):
    name = "xmp"
    kinds = ("image", "video")

    def read(self, src: Source) -> list[Finding]:
        findings: list[Finding] = []
        seen: set[tuple[str, str]] = set()
        for packet in packets(src):
            tools = _values(_CREATOR_TOOL, packet)
            for dst in _values(_DST, packet):
                declares, meaning = classify_source_type(dst)
                generator = next((generator_in(t) or t for t in tools), None) if declares == "generated" else None
                if ("DigitalSourceType", dst) not in seen:
                    seen.add(("DigitalSourceType", dst))
                    findings.append(
                        Finding(
                            "xmp",
                            "DigitalSourceType",
                            shorten(dst),
                            "claimed",
                            meaning + " (metadata: anyone can write it)",
                            declares=declares,
                            generator=shorten(generator, 120) if generator else None,
                        )
                    )
            for tool in tools:
                if ("CreatorTool", tool) in seen:
                    continue
                seen.add(("CreatorTool", tool))
                gen = generator_in(tool)
                findings.append(
                    Finding(
                        "xmp",
                        "CreatorTool",
                        shorten(tool),
                        "claimed",
                        f"names a generator ({gen})" if gen else "the software that last saved the file",
                        declares="generated" if gen else None,
                        generator=gen,
                    )
                )
            for url in _values(_PROVENANCE, packet):
                if ("provenance", url) not in seen:
                    seen.add(("provenance", url))
                    findings.append(
                        Finding("xmp", "provenance", shorten(url), "claimed", "address of a remote C2PA manifest: not fetched (scans are offline)")
                    )
        return findings
