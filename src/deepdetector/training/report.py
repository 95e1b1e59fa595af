"""Markdown tables of a model card's metrics (used for docs/model-card.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _f(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def metrics_markdown(card: dict[str, Any]) -> str:
    """Per-subset and per-real-source tables of the card's validation metrics."""
    m = card.get("metrics", {})
    thr = card.get("threshold")
    lines = [
        f"Threshold {_f(thr, 4)} on the calibrated probability (max over heads; file = mean over frames).",
        "",
        "| validation subset (fakes) | fake files | real files (reference) | file AUC | frame AUC | swap-head file AUC | synthetic-head file AUC | TPR | FPR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in m.get("subsets", {}).items():
        ph = s.get("file_auc_per_head", {})
        lines.append(
            f"| {name} | {s['n_fake_files']} | {s['n_real_files']} ({', '.join(s['real_reference'])}) | {_f(s['file_auc'])} | "
            f"{_f(s['frame_auc'])} | {_f(ph.get('swap'))} | {_f(ph.get('synthetic'))} | {_f(s.get('file_tpr'), 2)} | {_f(s.get('file_fpr'), 2)} |"
        )
    ov = m.get("overall", {})
    if ov:
        lines += ["", f"All validation files: {ov.get('n_files')} ({ov.get('n_fake_files')} fake), {ov.get('n_frames')} face crops; "
                  f"file AUC {_f(ov.get('file_auc'))}, frame AUC {_f(ov.get('frame_auc'))}, accuracy {_f(ov.get('file_accuracy'), 3)}, "
                  f"TPR {_f(ov.get('file_tpr'), 3)}, FPR {_f(ov.get('file_fpr'), 3)}."]
    reals = m.get("reals", {})
    if reals:
        lines += ["", "| real validation source | files | false-positive rate |", "|---|---|---|"]
        lines += [f"| {k} | {v['n_files']} | {_f(v['file_fpr'], 2)} |" for k, v in reals.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m deepdetector.training.report path/to/model_card.json
    import sys

    print(metrics_markdown(json.loads(Path(sys.argv[1]).read_text())))
