"""A seed table from `deepdetector evaluate` metrics files: one column per run, the AUC of each
row, and per recipe the mean and the spread (largest minus smallest) over its seeds.

    python scripts/seed_table.py dense=runs/dense-s0/eval/predictions.metrics.json dense=runs/dense-s1/... v2=...

Each argument is ``RECIPE=METRICS_JSON`` (the ``*.metrics.json`` written beside the predictions);
runs of one recipe are its seeds. Prints a Markdown table (what docs/experiments entries hold).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

# row label -> (section of the metrics file, name there)
ROWS = (
    ("FF++ c23 videos", "targets", "FF++ c23 video AUC"),
    ("FF++ c40 videos", "targets", "FF++ c40 video AUC"),
    ("talking heads", "targets", "talking-head video AUC"),
    ("all videos", "subsets", "all videos"),
    ("face-swap videos", "subsets", "faceswap-video"),
    ("GAN faces vs FFHQ", "subsets", "gan-image"),
    ("diffusion faces vs FFHQ", "subsets", "diffusion-image"),
    ("all images", "subsets", "all images"),
)


def auc(metrics: dict, section: str, name: str) -> float | None:
    for row in metrics.get(section, []):
        if row.get("name") == name:
            return row.get("value" if section == "targets" else "auc")
    return None


def main(argv: list[str]) -> int:
    if not argv or any("=" not in a for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    runs = [(a.split("=", 1)[0], Path(a.split("=", 1)[1])) for a in argv]
    metrics = [json.loads(p.read_text()) for _, p in runs]
    recipes: dict[str, list[int]] = defaultdict(list)
    for i, (recipe, _) in enumerate(runs):
        recipes[recipe].append(i)
    head = [f"{r} #{recipes[r].index(i) + 1}" for i, (r, _) in enumerate(runs)]
    head += [f"{r} {w}" for r in recipes for w in ("mean", "spread")]
    print("| AUC | " + " | ".join(head) + " |")
    print("|---" * (len(head) + 1) + "|")
    for label, section, name in ROWS:
        vals = [auc(m, section, name) for m in metrics]
        cells = ["" if v is None else f"{v:.3f}" for v in vals]
        for r, idx in recipes.items():
            got = [vals[i] for i in idx if vals[i] is not None]
            cells += [f"{sum(got) / len(got):.3f}", f"{max(got) - min(got):.3f}"] if got else ["", ""]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
