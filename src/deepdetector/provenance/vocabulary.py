"""The words provenance data uses for a file's origin, and what this project makes of them.

IPTC's Digital Source Type vocabulary (https://cv.iptc.org/newscodes/digitalsourcetype/) is what
C2PA actions and XMP ``Iptc4xmpExt:DigitalSourceType`` use. Only the codes below count as a
declaration; any other code is reported without one.
"""

from __future__ import annotations

import re

IPTC_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"

GENERATED_SOURCE_TYPES = {
    "trainedAlgorithmicMedia": "made by a generative model trained on sampled content (text-to-image, AI video)",
    "compositeWithTrainedAlgorithmicMedia": "a composite that includes generative-model content (e.g. generative fill)",
    "algorithmicMedia": "made purely by an algorithm, not from a capture",
    "compositeSynthetic": "a composite that includes synthetic elements",
}
"""Codes that declare the file (or part of it) generated rather than captured."""

CAPTURED_SOURCE_TYPES = {
    "digitalCapture": "captured by a camera or recorder from a real scene",
    "computationalCapture": "captured from a real scene with computational processing (phone cameras)",
    "negativeFilm": "scanned from a film negative",
    "positiveFilm": "scanned from a film positive (slide)",
    "print": "scanned from a print",
}
"""Codes that declare a capture of a real scene (shown; never make a file ``real``)."""

EDITED_SOURCE_TYPES = {
    "humanEdits": "edited by a person",
    "algorithmicallyEnhanced": "enhanced by algorithms without generative content",
    "dataDrivenMedia": "augmented or enhanced by a model trained on sampled content",
    "compositeCapture": "a composite of captures",
    "composite": "a composite of several elements",
    "digitalCreation": "created digitally by a person (drawing, 3D)",
    "screenCapture": "a screenshot",
    "virtualRecording": "a recording of a virtual scene",
    "minorHumanEdits": "minor edits by a person",
    "softwareImage": "made by software (deprecated code)",
}


def source_type_code(value: str) -> str:
    """``trainedAlgorithmicMedia`` from ``http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia``
    (or from the bare code); other URIs are returned as they are."""
    value = (value or "").strip()
    for prefix in (IPTC_PREFIX, IPTC_PREFIX.replace("http://", "https://")):
        if value.startswith(prefix):
            return value[len(prefix) :].strip("/")
    return value


def classify_source_type(value: str) -> tuple[str | None, str]:
    """``(declares, meaning)`` of a digital source type: declares is ``generated``, ``captured``,
    ``edited`` or None (unknown code)."""
    code = source_type_code(value)
    for declares, table in (("generated", GENERATED_SOURCE_TYPES), ("captured", CAPTURED_SOURCE_TYPES), ("edited", EDITED_SOURCE_TYPES)):
        if code in table:
            return declares, f"IPTC digital source type {code}: {table[code]}"
    return None, f"digital source type {code!r} (not in the IPTC vocabulary this project knows)"


GENERATOR_NAMES = (
    ("stable diffusion", "Stable Diffusion"),
    ("stablediffusion", "Stable Diffusion"),
    ("sdxl", "Stable Diffusion XL"),
    ("comfyui", "ComfyUI"),
    ("automatic1111", "Stable Diffusion web UI"),
    ("invokeai", "InvokeAI"),
    ("fooocus", "Fooocus"),
    ("novelai", "NovelAI"),
    ("midjourney", "Midjourney"),
    ("dall-e", "DALL-E"),
    ("dall·e", "DALL-E"),
    ("dalle", "DALL-E"),
    ("firefly", "Adobe Firefly"),
    ("google imagen", "Google Imagen"),
    ("gpt-4o", "OpenAI GPT-4o"),
    ("openai sora", "OpenAI Sora"),
    ("runwayml", "Runway"),
    ("runway gen", "Runway"),
    ("flux.1", "FLUX"),
    ("black forest labs", "FLUX"),
    ("leonardo.ai", "Leonardo.Ai"),
    ("ideogram", "Ideogram"),
)
"""Tool names that, found in a Software / CreatorTool / encoder text, claim the file was generated
(lower-case substring, display name). Matched on word boundaries; a claim only, never verified.
Ambiguous words (``imagen`` is Spanish for picture, ``Sora`` a name) only count with their maker's name."""

_GENERATOR_RE = [(re.compile(r"(?<![a-z0-9])" + re.escape(key) + r"(?![a-z0-9])"), name) for key, name in GENERATOR_NAMES]


def generator_in(text: str) -> str | None:
    """The generator a free text names (``"Adobe Firefly"`` for ``"Adobe Firefly Image 3"``), or None."""
    low = (text or "").lower()
    for pattern, name in _GENERATOR_RE:
        if pattern.search(low):
            return name
    return None
