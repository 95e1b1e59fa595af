"""Evidence in words: the sentences every output shows for a video's cues."""

from __future__ import annotations

from deepdetector.evidence.cues import CLASSIFIER_FLICKER, Cue
from deepdetector.evidence.fusion import FACE_INPUT
from deepdetector.evidence.fusion import WORDS_EFFECT as MIN_EFFECT  # smaller pushes are not worth a sentence


def _number(value: float) -> str:
    return f"{value:.3g}"


def evidence_sentences(evidence: list[Cue], limit: int = 3) -> list[str]:
    """Up to ``limit`` sentences, strongest push first, for the cues that moved the score (toward
    fake or toward real) and have words; with no fusion, those outside the range of real videos."""
    ranked = [c for c in evidence if c.words and c.value is not None]
    fused = any(c.effect is not None for c in ranked)
    if fused:
        ranked = [c for c in ranked if c.effect is not None and abs(c.effect) >= MIN_EFFECT]
        ranked.sort(key=lambda c: -abs(c.effect or 0.0))
    out = []
    for cue in ranked[:limit]:
        where = ""
        if cue.real_range is not None:
            lo, hi = cue.real_range
            where = f"; {cue.name.replace('_', ' ')} {_number(cue.value)} against {_number(lo)}-{_number(hi)} in real videos"
        push = ""
        if cue.effect is not None:
            push = ", pointing to fake" if cue.effect > 0 else ", pointing to real"
        out.append(f"{cue.words[0].upper()}{cue.words[1:]}{push}{where}.")
    return out


def missing_reason(evidence: list[Cue]) -> str | None:
    """Why the cues could not be measured (the same reason for all), or None."""
    scores = {FACE_INPUT, CLASSIFIER_FLICKER}  # from the judged frames, not the dense windows
    reasons = {c.reason for c in evidence if c.value is None and c.reason and c.name not in scores}
    measured = [c for c in evidence if c.value is not None and c.name not in scores]
    return next(iter(reasons)) if reasons and not measured else None
