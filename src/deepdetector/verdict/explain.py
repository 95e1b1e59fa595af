"""The sentences that say how a file's verdict was reached: one text for every front end.

The terminal table, the JSON record (``explanation``), the HTML report and the web page all show
the text made here, so they cannot tell different stories about the same file. A video's verdict
comes from its most suspicious person (track): that person's per-frame face scores are combined by
the aggregation strategy, so single frames may pass the threshold while the file is ``real`` (or
stay below it while the file is ``fake``), and per-head scores, each combined on its own, need not
bracket the file's probability. The text says so where it applies.

:func:`explanation_parts` returns the sentences in reading order; a later kind of evidence adds
its own sentence by appending a function to :data:`PARTS`.
"""

from __future__ import annotations

from collections.abc import Callable

from deepdetector.evidence.fusion import FACE_INPUT as FUSED_FACE_INPUT  # the classifier's own score, first of a fused video's evidence
from deepdetector.types import FileResult, TrackResult, Verdict


def pct(p: float | None) -> str:
    """``0.318`` -> ``"31.8%"``."""
    return "n/a" if p is None else f"{100.0 * p:.1f}%"


def _kind(result: FileResult) -> str | None:
    return result.media.kind if result.media is not None else None


def deciding_track(result: FileResult) -> TrackResult | None:
    """The track whose probability is the file's (the most suspicious person that counted)."""
    if result.probability is None or not result.tracks:
        return None
    target = fused_face_score(result)  # a fused video: the classifier's own score names the track
    target = result.probability if target is None else target
    matching = [t for t in result.tracks if abs(t.probability - target) < 5e-5]
    pool = matching or result.tracks
    return max(pool, key=lambda t: (t.probability, t.n_faces))


def fused_face_score(result: FileResult) -> float | None:
    """The face classifier's own score for the video when the file's probability fuses it with the
    cues (the first evidence entry), else None."""
    first = result.evidence[0] if result.evidence else None
    if first is not None and getattr(first, "name", None) == FUSED_FACE_INPUT and getattr(first, "value", None) is not None:
        return float(first.value)
    return None


def face_threshold(result: FileResult) -> float | None:
    """The threshold the face classifier's own scores (faces, frames, tracks) are compared with:
    ``result.face_threshold``, which differs from ``result.threshold`` once a video's probability is
    fused with the cues (falls back to ``result.threshold``)."""
    return result.face_threshold if result.face_threshold is not None else result.threshold


def frames_at_or_above(result: FileResult) -> tuple[int, int, float | None]:
    """``(frames whose highest face score reached the face classifier's threshold, frames with a face, highest frame score)``."""
    scored = [f.probability for f in result.frames if f.probability is not None]
    threshold = face_threshold(result)
    if threshold is None or not scored:
        return 0, len(scored), max(scored, default=None)
    return sum(p >= threshold for p in scored), len(scored), max(scored)


def _declared(result: FileResult) -> str | None:
    """The verified declaration of generation that decided the verdict (verdict/provenance.py), if any."""
    record = getattr(result, "provenance", None)
    if record is None or Verdict(result.verdict) is not Verdict.FAKE:
        return None
    from deepdetector.verdict.provenance import provenance_reason

    reason = provenance_reason(record)
    return None if reason is None else reason.removeprefix("provenance: ")


def _verdict_sentence(result: FileResult, aggregation: str) -> str | None:
    verdict = Verdict(result.verdict)
    kind = _kind(result) or "file"
    declared = _declared(result)
    if declared is not None:
        fused = fused_face_score(result)
        if result.probability is None:
            model = "no face was found for the face model to judge"
        elif fused is not None:
            model = f"the face classifier gave {pct(fused)} against its own threshold of {pct(face_threshold(result))}"
        else:
            model = f"the face model alone gave {pct(result.probability)} against its {kind} threshold of {pct(result.threshold)}"
        return f"Generated or edited with AI, by the file's own verified declaration: {declared}. For comparison, {model}."
    if verdict is Verdict.ERROR:
        return f"The file could not be analysed: {result.error}." if result.error else "The file could not be analysed."
    if verdict is Verdict.NO_FACE:
        n = result.media.sampled_frames if result.media is not None else 0
        where = f"in the {n} analysed frames" if kind == "video" else "in the picture"
        return f"No face was found {where}, so nothing was judged: this is not a statement that the file is genuine."
    p, thr = pct(result.probability), pct(result.threshold)
    if verdict is Verdict.FAKE:
        return f"Likely manipulated: the file's probability of fake, {p}, is at or above the {kind} threshold of {thr}."
    return f"No manipulation found: the file's probability of fake, {p}, is below the {kind} threshold of {thr}."


def _how_made(result: FileResult, aggregation: str) -> str | None:
    track = deciding_track(result)
    if track is None:
        return None
    others = len(result.tracks) - 1
    if _kind(result) != "video":
        rule = "the highest of its model heads"
        if "gan_pixels" in result.scores or "diffusion_pixels" in result.scores:
            # evidence/pixels.py: swap decides alone; synthetic and generated count through the pixel heads
            rule = ("the highest of the swap head and the two pixel heads, gan_pixels and diffusion_pixels, which weigh the "
                    "synthetic and generated scores with the picture's pixel evidence, so those two scores do not decide on their own")  # fmt: skip
        if others <= 0:
            return f"It is the score of the one face judged ({rule})."
        return f"It is the score of the most suspicious of the {len(result.tracks)} faces judged (each face: {rule})."
    from deepdetector.verdict.aggregation import AGGREGATIONS

    rule = next((e.description for e in AGGREGATIONS.entries() if e.name == aggregation), "")
    n_frames = result.media.sampled_frames if result.media is not None else len(result.frames)
    who = "the one person" if others <= 0 else f"the most suspicious of {len(result.tracks)} people"
    made = (
        f"the score of {who} (track {track.track_id}, face seen in {track.n_faces} of {n_frames} analysed frames): "
        f"that face's score in each frame (the highest of its model heads) combined over the frames by the "
        f"'{aggregation}' rule" + (f" ({rule})" if rule else "")
    )
    fused = fused_face_score(result)
    if fused is not None:
        n_cues = sum(1 for c in result.evidence[1:] if getattr(c, "effect", None) is not None)  # the fused ones
        return (
            f"It fuses the face classifier's score for the video, {pct(fused)}, with {n_cues} cue{'' if n_cues == 1 else 's'} measured across frames "
            f"(listed as evidence); that score is {made}."
        )
    return f"It is {made}."


def _frames_sentence(result: FileResult, aggregation: str) -> str | None:
    if _kind(result) != "video" or result.probability is None:
        return None
    above, scored, top = frames_at_or_above(result)
    if scored == 0:
        return None
    if fused_face_score(result) is not None:  # frame scores are the classifier's: compared with its own threshold
        return (
            f"{above} of {scored} frames with a face scored at or above the face classifier's own threshold of "
            f"{pct(face_threshold(result))} (highest frame score {pct(top)}); the verdict is on the fused probability and its threshold, "
            "not on single frames."
        )
    if above == 0:
        return f"No single frame reached the threshold (highest frame score {pct(top)})."
    sentence = f"{above} of {scored} frames with a face scored at or above the threshold on their own (highest frame score {pct(top)})"
    if result.verdict is Verdict.REAL:
        return sentence + "; single frames vary with pose, blur and compression, so the verdict follows the combined score, not single frames."
    return sentence + "."


def _heads_sentence(result: FileResult, aggregation: str) -> str | None:
    if _kind(result) != "video" or not result.scores or result.probability is None:
        return None
    listed = ", ".join(f"{k} {pct(v)}" for k, v in result.scores.items())
    combined = "the face classifier's score" if fused_face_score(result) is not None else "the file's probability"
    return (
        f"Per-head scores ({listed}) are each combined over the frames on their own (the highest over people is shown), "
        f"while {combined} combines each frame's highest head, so it need not lie between them."
    )


def _reduced_sentence(result: FileResult, aggregation: str) -> str | None:
    m = result.media
    if m is None or m.decoded_scale >= 1.0:
        return None
    stored = f"{round(m.width / m.decoded_scale)}x{round(m.height / m.decoded_scale)}"
    return (
        f"The photo ({stored}) was decoded reduced to {m.width}x{m.height} (scale {m.decoded_scale:.3g}, max_decode_pixels): "
        "every model, the native-resolution generated-stills model too, judged the reduced picture."
    )


def _evidence_sentence(result: FileResult, aggregation: str) -> str | None:
    """What the cues across frames said (videos), strongest push first, or why there are none."""
    if _kind(result) != "video" or not result.evidence or result.probability is None:
        return None
    from deepdetector.evidence import evidence_sentences, missing_reason

    reason = missing_reason(result.evidence)
    if reason is not None:
        return f"No evidence across frames: {reason}."
    sentences = evidence_sentences(result.evidence, limit=3)
    if not sentences:
        return "Evidence across frames: no cue stood out from real videos."
    return "Evidence across frames: " + " ".join(sentences)


Part = Callable[[FileResult, str], "str | None"]

#: The sentences of an explanation, in reading order. Each takes (result, aggregation name) and
#: returns a sentence or None when it does not apply.
PARTS: list[Part] = [_verdict_sentence, _how_made, _evidence_sentence, _frames_sentence, _heads_sentence, _reduced_sentence]


def explanation_parts(result: FileResult, aggregation: str) -> list[str]:
    """The explanation's sentences for ``result``, judged with the aggregation strategy ``aggregation``."""
    return [text for part in PARTS if (text := part(result, aggregation))]


def explain(result: FileResult, aggregation: str) -> str:
    """The explanation as one paragraph (``FileResult.explanation``; shown by every front end)."""
    return " ".join(explanation_parts(result, aggregation))
