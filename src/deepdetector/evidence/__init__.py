"""Evidence stage: what the frames of a video show together, beside the face classifier's per-frame scores.

    window.py   follows the main face through each dense window (dense landmarks per frame)
    cues.py     small documented signals over those landmark series (one function each, registered)
    fusion.py   the face classifier's video score and the cues, fused into one calibrated probability
    words.py    the sentences every output shows

See docs/evidence.md for what each cue measures and how far it is trusted.
"""

from deepdetector.evidence.cues import CUES, Cue, measure_cues
from deepdetector.evidence.window import FaceSeries, WindowFollower
from deepdetector.evidence.words import evidence_sentences, missing_reason

__all__ = ["CUES", "Cue", "measure_cues", "FaceSeries", "WindowFollower", "evidence_sentences", "missing_reason"]
