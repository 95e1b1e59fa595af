"""Two checks of the temporal model behind the journal entry 2026-12-06-temporal-model.md.

    .venv/bin/python scripts/temporal_ablation.py --out runs/temporal

1. Which descriptors: the ``made`` scheme of ``deepdetector fit-temporal`` (self-made fakes and real
   clips only, every judged source unseen) with all descriptors, landmark motion only, and pixel
   change only (the others zeroed), seeds 0-2.
2. Does one kind of self-made fake teach the others: the self-made clips split by source clip into
   two halves; trained on the first half's fakes of some kinds and its reals, measured on the second
   half's fakes of one kind against its reals (AUC), seeds 0-2.

It reuses the series collected by ``deepdetector fit-temporal`` in ``--out``/series.
"""

from __future__ import annotations

import argparse
import copy
import json
import zlib
from pathlib import Path

import numpy as np

from deepdetector.evidence import temporal as tp
from deepdetector.metrics import roc_auc
from deepdetector.training import temporal as tm


def masked(videos: list[tm.Video], keep: np.ndarray) -> list[tm.Video]:
    out = []
    for v in videos:
        w = copy.copy(v)
        w.sequences = []
        for s in v.sequences:
            f = s.features.copy()
            f[:, ~keep] = 0.0
            w.sequences.append(tp.Sequence(f, s.timestamps))
        out.append(w)
    return out


def kind_of(v: tm.Video) -> str:
    return v.subset.removeprefix("self-made ").split(" ")[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("runs/temporal"))
    ap.add_argument(
        "--judge", type=Path, nargs="+", default=[Path("../shared/data/dev_manifest.csv"), Path("../shared/data/dev_talking_heads_manifest.csv")]
    )
    ap.add_argument("--train", type=Path, nargs="+", default=[Path("../shared/data/train_manifest.csv"), Path("runs/tfakes/manifest.csv")])
    args = ap.parse_args()
    judged = tm.collect(args.judge, args.out / "series")
    pool = tm.collect(args.train, args.out / "series")
    lines = ["## Which descriptors (scheme made: self-made fakes and real clips only)", ""]
    n_motion = 2 * len(tp.MOTION_POINTS)
    idx = np.arange(tp.feature_size())
    results: dict[str, list[dict]] = {}
    for name, keep in (("all", idx >= 0), ("landmark motion only", idx < n_motion), ("pixel change only", idx >= n_motion)):
        j, p = masked(judged, keep), masked(pool, keep)
        for seed in (0, 1, 2):
            o = tm.leave_sources_out(j, p, tm.Scheme("made", True, False), seed, 0.05)
            results.setdefault(f"made, {name}: network", []).append(tm.summarise(o["videos"], o["net"], o["net_threshold"]))
            if name == "all" and seed == 0:
                results["made: hand-made cues"] = [tm.summarise(o["videos"], o["cues"], o["cues_threshold"])]
    lines += tm.seed_table(results) + [""] + tm.generator_table(results)

    made = [v for v in pool if v.source.startswith(tm.MADE_PREFIX) and v.sequences]
    half = {v.group for v in made if zlib.crc32(v.group.encode()) % 2 == 0}
    kinds = sorted({kind_of(v) for v in made if v.label == 1})
    lines += ["", "## Does one kind teach the others (self-made clips, split by source clip; AUC on the held-out half)", "",
              "| trained on \\ measured on | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]  # fmt: skip
    transfer: dict[str, dict[str, list[float]]] = {}
    for train_kinds in [[k] for k in kinds] + [kinds]:
        train = [v for v in made if v.group in half and (v.label == 0 or kind_of(v) in train_kinds)]
        for seed in (0, 1, 2):
            fitted = tm.fit_network(train, seed)
            for k in kinds:
                test = [v for v in made if v.group not in half and (v.label == 0 or kind_of(v) == k)]
                s = fitted.video_scores(test)
                y = np.array([v.label for v in test])
                auc = roc_auc(y, np.where(np.isfinite(s), s, -1e9)).value
                transfer.setdefault("+".join(train_kinds), {}).setdefault(k, []).append(auc)
    for name, row in transfer.items():
        lines.append(f"| {name} | " + " | ".join(f"{np.mean(row[k]):.2f} ({min(row[k]):.2f}-{max(row[k]):.2f})" for k in kinds) + " |")
    (args.out / "ablation.md").write_text("\n".join(lines) + "\n")
    (args.out / "ablation.json").write_text(json.dumps({"descriptors": results, "transfer": transfer}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
