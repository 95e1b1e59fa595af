"""The tables of ``deepdetector fit-pixels``: ablation, thresholds per real source, held-out results."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from deepdetector.evidence.pixels import PixelModel
from deepdetector.training import pixels as tp

FAMILY_SETS = {
    "NPR": ("npr",),
    "spectrum": ("spectrum",),
    "noise": ("noise",),
    "NPR + spectrum": ("npr", "spectrum"),
    "all three": ("npr", "spectrum", "noise"),
}
REGION_SETS = {"face only": ("face",), "whole picture only": ("image",), "face + whole picture": ("face", "image")}
ALL = tp.family_columns(("npr", "spectrum", "noise"))


def _auc(y: np.ndarray, s: np.ndarray) -> str:
    from deepdetector.evaluation.metrics import auc_interval, roc_auc

    if len(set(y.tolist())) < 2:
        return "-"
    auc = roc_auc(y, s).value
    iv = auc_interval(y, s)
    return f"{auc:.3f}" + ("" if iv.low is None else f" ({iv.low:.2f}-{iv.high:.2f})")


def _rate(k: int, n: int) -> str:
    from deepdetector.evaluation.metrics import rate_interval

    if n == 0:
        return "-"
    iv = rate_interval(k, n)
    return f"{k}/{n} = {k / n:.1%} ({iv.low:.1%}-{iv.high:.1%})"


def _sig(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def report(rows: list[tp.Row], fpr: float, strength: float, extra: dict) -> tuple[PixelModel, list[str]]:
    from deepdetector.model import ModelCard, default_card_path

    fit_rows = [r for r in rows if r.split == "fit"]
    test_rows = [r for r in rows if r.split == "test"]
    lines = ["# Pixel heads for photos: fitted on one half, measured on the other", "", f"Command: `{extra['command']}`", ""]

    # --- the data -------------------------------------------------------------------------------
    lines += ["## Photos (rows: each photo as given and its augmented copies; a row without a face is not judged)", "",
              "| source | label | fit: photos / rows with a face | held out: photos / rows with a face | classifier trained on (held out) |",
              "|---|---|---|---|---|"]  # fmt: skip
    by = defaultdict(lambda: defaultdict(set))
    faces = defaultdict(int)
    seen = defaultdict(set)
    for r in rows:
        by[(r.source, r.label)][r.split].add(r.file)
        faces[(r.source, r.split)] += r.probability is not None
        if r.split == "test" and r.seen:
            seen[r.source].add(r.file)
    for (source, label), splits in sorted(by.items(), key=lambda kv: (-kv[0][1], kv[0][0])):
        lines.append(f"| {source} | {'fake' if label else 'real'} | {len(splits['fit'])} / {faces[(source, 'fit')]} "
                     f"| {len(splits['test'])} / {faces[(source, 'test')]} | {len(seen[source])} |")  # fmt: skip

    # --- ablation -------------------------------------------------------------------------------
    lines += ["", "## What each kind of evidence adds (AUC on held-out photos, the head's fakes against every real photo, 95% bootstrap interval)", ""]
    heads = {name: src for name, (src, _) in tp.HEADS.items()}
    cols = ["as given", "augmented"]
    lines += ["| head | features | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]

    def test_auc(head_src: str, inputs: list[int], params, fake_src: str | None = None) -> list[str]:
        cells = []
        for aug in (False, True):
            sub = [r for r in test_rows if (r.variant > 0) == aug and (r.label == 0 or r.source.startswith(fake_src or head_src))]
            if not sub:
                cells.append("-")
                continue
            s = tp.head_logits(sub, inputs, params)
            cells.append(_auc(np.array([r.label for r in sub]), s))
        return cells

    for head, src in heads.items():
        hrows = tp.head_rows(fit_rows, src)
        for fam_name, fams in FAMILY_SETS.items():
            inputs = tp.family_columns(fams)
            lines.append(f"| {head} | {fam_name} (face + whole picture) | " + " | ".join(test_auc(src, inputs, tp.fit_head(hrows, inputs, strength))) + " |")
        for reg_name, regs in REGION_SETS.items():
            if regs == ("face", "image"):
                continue
            inputs = tp.family_columns(("npr", "spectrum", "noise"), regs)
            lines.append(f"| {head} | all three, {reg_name} | " + " | ".join(test_auc(src, inputs, tp.fit_head(hrows, inputs, strength))) + " |")
    lines += ["", "Transfer (all features): each head on the other kind of fake, and on GPEN face edits (never learnt):", "",
              "| head | fakes | as given | augmented |", "|---|---|---|---|"]  # fmt: skip
    final = {}
    for head, src in heads.items():
        final[head] = tp.fit_head(tp.head_rows(fit_rows, src), ALL, strength)
        for other in ("StyleGAN2", "Stable Diffusion", "GPEN"):
            if other != src:
                lines.append(f"| {head} | {other} | " + " | ".join(test_auc(src, ALL, final[head], other)) + " |")

    # --- thresholds per real source, on out-of-fold scores of the fit half ------------------------
    reals_fit = [r for r in fit_rows if r.label == 0 and r.probability is not None]
    oof = {}
    for head, src in heads.items():
        hrows = tp.head_rows(fit_rows, src)
        scores = tp.out_of_fold(hrows, ALL, strength)
        index = {(r.file, r.variant): s for r, s in zip(hrows, scores)}
        oof[head] = np.array([index[(r.file, r.variant)] for r in reals_fit])
    components = {"classifier": tp.logit([r.probability for r in reals_fit]), **oof}
    sources = [r.source for r in reals_fit]
    cuts, q = tp.choose_thresholds(components, sources, fpr)
    image_threshold = float(min(max(_sig(cuts["classifier"]), 0.5), 0.9999)) if math.isfinite(cuts["classifier"]) else 0.9999
    cuts["classifier"] = float(tp.logit([image_threshold])[0])
    model = tp.to_model(final, ALL, cuts, image_threshold, extra)
    card = ModelCard.load(default_card_path())
    card_threshold = card.thresholds_for(stills=True).for_media("image")
    lines += ["", f"## Thresholds (chosen on the fit half's out-of-fold scores: every real source at most {fpr:.0%})", "",
              f"Each part's threshold is set for {q:.2%} false alarms on its worst real source, the largest such share for which "
              f"a photo flagged by any part keeps every real source at or under {fpr:.0%}.", "",
              f"- photo threshold (the shipped classifier's heads, and every head's probability on this scale): **{image_threshold:.4f}** "
              f"(the model card's image threshold: {card_threshold:.4f})"]  # fmt: skip
    for head in heads:
        lines.append(f"- {head}: flags at logit {cuts[head]:+.3f}")

    # --- held-out results ---------------------------------------------------------------------------
    judged = [r for r in test_rows if r.probability is not None]
    t = float(tp.logit([image_threshold])[0])
    comb, parts = [], defaultdict(list)
    for r in judged:
        p = {"classifier": r.probability}
        for head in heads:
            p[head] = float(_sig(tp.head_logits([r], ALL, final[head])[0] - cuts[head] + t))
        for k, v in p.items():
            parts[k].append(v)
        comb.append(max(p.values()))
    comb = np.array(comb)
    parts = {k: np.array(v) for k, v in parts.items()}
    y = np.array([r.label for r in judged])
    lines += ["", "## Held-out photos: ranking (AUC, 95% bootstrap interval)", "",
              "| fakes | against | variants | shipped models alone | gan_pixels | diffusion_pixels | photo score (maximum of all) |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for fake in ("StyleGAN2", "Stable Diffusion 2.1", "GPEN edits"):
        for against in ("every real photo", "FFHQ"):
            for var_name, pick in (("as given", lambda r: r.variant == 0), ("augmented", lambda r: r.variant > 0)):
                m = np.array([pick(r) and (r.source == fake or (r.label == 0 and (against != "FFHQ" or r.source == "FFHQ"))) for r in judged])
                cells = [_auc(y[m], parts[k][m]) for k in ("classifier", *heads)] + [_auc(y[m], comb[m])]
                lines.append(f"| {fake} | {against} | {var_name} | " + " | ".join(cells) + " |")
    lines += ["", f"## Held-out photos at the photo threshold {image_threshold:.4f} (share flagged as fake; reals: false alarms)", "",
              f"Before: the shipped models at the model card's image threshold {card_threshold:.4f}.", "",
              "| source | label | as given: before | as given: now | augmented: before | augmented: now |", "|---|---|---|---|---|---|"]  # fmt: skip
    for source in sorted({r.source for r in judged}, key=lambda s: (s not in ("StyleGAN2", "Stable Diffusion 2.1", "GPEN edits"), s)):
        cells = []
        for aug in (False, True):
            m = np.array([r.source == source and (r.variant > 0) == aug for r in judged])
            n = int(m.sum())
            cells += [_rate(int((parts["classifier"][m] >= card_threshold).sum()), n), _rate(int((comb[m] >= image_threshold).sum()), n)]
        label = "fake" if any(r.label for r in judged if r.source == source) else "real"
        lines.append(f"| {source} | {label} | " + " | ".join(cells) + " |")
    no_face = defaultdict(lambda: [0, 0])
    for r in rows:
        no_face[r.source][0] += r.probability is None
        no_face[r.source][1] += 1
    lines += ["", "Rows without a detected face (no_face, not judged): " + ", ".join(f"{s} {k}/{n}" for s, (k, n) in sorted(no_face.items()) if k)]

    # --- the heads -------------------------------------------------------------------------------
    lines += ["", "## The heads' largest weights (per standard deviation)", ""]
    for h in model.heads:
        top = sorted(zip(h.inputs, h.coef), key=lambda kv: -abs(kv[1]))[:8]
        lines.append(f"- {h.name}: " + ", ".join(f"{n} {c:+.2f}" for n, c in top))
    model.extra["measured"] = {"image_threshold": image_threshold, "per_source_share": q}
    return model, lines
