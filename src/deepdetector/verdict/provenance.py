"""The verdict policy for provenance (docs/provenance.md, "Verdict policy").

1. A **verified** declaration of generation (a C2PA manifest that validates offline and records a
   generative digital source type, or a decoded Stable Diffusion watermark) makes the file
   ``fake``, whatever the face model said and also when no face was found; the reason names it.
2. Metadata **claims** (XMP, EXIF, PNG text, video tags, and C2PA data that does not validate)
   are reported and move nothing.
3. A valid **capture** credential (C2PA ``digitalCapture``) never makes a file ``real``: the
   file may have been edited after it was signed, and the face model still judges it.
4. A broken or tampered manifest is a warning in the record, not evidence either way.
5. An unreadable file stays ``error``: the verdict needs the file's pictures to be read.
"""

from __future__ import annotations

from deepdetector.types import ProvenanceRecord, Verdict


def provenance_reason(record: ProvenanceRecord) -> str | None:
    """One sentence naming the verified declaration of generation, or None when there is none."""
    found = record.verified_generated
    if not found:
        return None
    parts = []
    for f in found:
        if f.source == "c2pa":
            code = f.value.rsplit("/", 1)[-1]
            parts.append(f"a valid C2PA manifest declares it {code}" + (f" (generator: {f.generator})" if f.generator else ""))
        elif f.source == "sd-watermark":
            parts.append(f"the {f.generator} invisible watermark was decoded ({f.value})")
        else:
            parts.append(f"{f.source} {f.key}: {f.value}")
    text = "provenance: " + "; ".join(dict.fromkeys(parts))
    if any(f.source == "c2pa" for f in found):
        text += " (verified offline; signer not checked against a trust list)"
    return text


def apply_provenance(verdict: Verdict, record: ProvenanceRecord | None) -> tuple[Verdict, str | None]:
    """The file's verdict once its provenance is known, and the reason when provenance changed or
    confirmed it (None when provenance has nothing to say)."""
    if record is None or verdict is Verdict.ERROR:
        return verdict, None
    reason = provenance_reason(record)
    if reason is None:
        return verdict, None
    return Verdict.FAKE, reason
