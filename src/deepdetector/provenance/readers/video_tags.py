"""Video container and stream tags (encoder, software, make/model, comment, creation time): claims.

Read with PyAV from the container header (no frame is decoded). A tag naming a known generator
claims generation; the rest is shown as context (``Lavf`` as encoder only says FFmpeg wrote it).
"""

from __future__ import annotations

from deepdetector.provenance.base import PROVENANCE_READERS, ProvenanceReader, Skip
from deepdetector.provenance.source import Source, shorten
from deepdetector.provenance.vocabulary import generator_in
from deepdetector.types import Finding

SHOWN = {
    "encoder": "the program that wrote the file",
    "encoded_by": "the program that wrote the file",
    "software": "the software that made the file",
    "com.apple.quicktime.software": "the software that made the file",
    "make": "device maker",
    "com.apple.quicktime.make": "device maker",
    "model": "device model",
    "com.apple.quicktime.model": "device model",
    "com.android.manufacturer": "device maker",
    "com.android.model": "device model",
    "creation_time": "creation time the container states",
    "com.apple.quicktime.creationdate": "creation time the container states",
    "comment": "comment",
    "description": "description",
    "title": "title",
    "artist": "author",
}
MAX_TAGS = 64


@PROVENANCE_READERS.register("video-tags", description="video container and stream tags (claims)")
class VideoTagsReader(ProvenanceReader):
    name = "video-tags"
    kinds = ("video",)

    def read(self, src: Source) -> list[Finding]:
        import av

        try:
            container = av.open(src.path, metadata_errors="replace")
        except av.FFmpegError as exc:
            raise Skip(f"not a container FFmpeg can open ({exc})") from None
        findings: list[Finding] = []
        seen: set[tuple[str, str]] = set()
        with container:
            tag_sets = [("container", dict(container.metadata))]
            tag_sets += [(f"stream {s.index}", dict(s.metadata)) for s in list(container.streams)[:8]]
        count = 0
        for where, tags in tag_sets:
            for key, value in tags.items():
                count += 1
                if count > MAX_TAGS:
                    src.warn(f"more than {MAX_TAGS} container tags: the rest were not read")
                    return findings
                low = str(key).lower()
                text = str(value)
                gen = generator_in(text[:2000])
                if low not in SHOWN and not gen:
                    continue
                if (low, text) in seen:
                    continue
                seen.add((low, text))
                meaning = SHOWN.get(low, "a tag")
                findings.append(
                    Finding(
                        "video-tags",
                        f"{key}" + ("" if where == "container" else f" ({where})"),
                        shorten(text),
                        "claimed",
                        (f"names a generator ({gen}); " if gen else "") + meaning + " (metadata: anyone can write it)",
                        declares="generated" if gen else None,
                        generator=gen,
                    )
                )
        return findings
