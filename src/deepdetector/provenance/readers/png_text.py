"""PNG text chunks (tEXt, zTXt, iTXt) that generator front ends write.

=====================  ===============================================  ===========
keyword                written by                                       declares
=====================  ===============================================  ===========
``parameters``         Stable Diffusion web UI (AUTOMATIC1111, Forge),  generated
                       and tools copying its format
``prompt``             ComfyUI (the prompt graph, JSON)                 generated
``workflow``           ComfyUI (the editor's workflow, JSON)            generated
``invokeai_metadata``  InvokeAI                                          generated
``sd-metadata``        InvokeAI (older)                                  generated
``Dream``              InvokeAI / lstein's dream.py (older)              generated
``Software``           any; a generator's name there claims generation  generated
                       (NovelAI writes ``NovelAI``)
``Comment``            any; reported when it names a generator           generated
=====================  ===============================================  ===========

All of them are claims: a text chunk is as easy to add as to delete. Chunks are read within the
limits of :mod:`deepdetector.provenance.source` (a PNG with 10,000 text chunks costs little).
"""

from __future__ import annotations

import json
import re

from deepdetector.provenance.base import PROVENANCE_READERS, ProvenanceReader, Skip
from deepdetector.provenance.source import Source, shorten
from deepdetector.provenance.vocabulary import generator_in
from deepdetector.types import Finding

GENERATOR_KEYWORDS = {
    "parameters": ("Stable Diffusion web UI", "generation parameters in the Stable Diffusion web UI format (prompt, sampler, seed, model)"),
    "prompt": ("ComfyUI", "a ComfyUI prompt graph"),
    "workflow": ("ComfyUI", "a ComfyUI workflow"),
    "invokeai_metadata": ("InvokeAI", "InvokeAI generation metadata"),
    "sd-metadata": ("InvokeAI", "InvokeAI generation metadata"),
    "Dream": ("InvokeAI", "dream.py generation command"),
}
OTHER_KEYWORDS = ("Software", "Comment", "Description", "Source", "Author", "Title")
_MODEL = re.compile(r"\bModel:\s*([^,\n]{1,100})")


def _looks_like_comfy(text: str) -> bool:
    head = text.lstrip()[:1]
    if head not in ("{", "["):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@PROVENANCE_READERS.register("png-text", description="PNG text chunks: Stable Diffusion / ComfyUI / InvokeAI parameters (claims)")
class PngTextReader(ProvenanceReader):
    name = "png-text"
    kinds = ("image",)

    def read(self, src: Source) -> list[Finding]:
        if not src.is_png:
            raise Skip("not a PNG")
        findings = []
        for t in src.png_texts:
            if t.keyword in GENERATOR_KEYWORDS:
                tool, meaning = GENERATOR_KEYWORDS[t.keyword]
                if t.keyword in ("prompt", "workflow") and not _looks_like_comfy(t.text):
                    # a plain "prompt" text is only a caption; not ComfyUI's graph
                    findings.append(Finding("png-text", t.keyword, shorten(t.text), "claimed", "a text chunk named prompt (not a ComfyUI graph)"))
                    continue
                generator = tool
                model = _MODEL.search(t.text) if t.keyword == "parameters" else None
                if model:
                    generator = f"{tool} (model {model.group(1).strip()})"
                findings.append(
                    Finding(
                        "png-text",
                        t.keyword,
                        shorten(t.text),
                        "claimed",
                        meaning + " (metadata: anyone can write it)",
                        declares="generated",
                        generator=shorten(generator, 120),
                    )
                )
            elif t.keyword in OTHER_KEYWORDS and t.text.strip():
                gen = generator_in(t.text[:2000])
                if t.keyword == "Software" or gen:
                    findings.append(
                        Finding(
                            "png-text",
                            t.keyword,
                            shorten(t.text),
                            "claimed",
                            (f"names a generator ({gen})" if gen else "the software that wrote the file") + " (metadata: anyone can write it)",
                            declares="generated" if gen else None,
                            generator=gen,
                        )
                    )
        return findings
