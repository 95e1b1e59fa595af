"""The tables of ``deepdetector fit-pixels``: ablation, thresholds per real source, held-out results."""

from __future__ import annotations

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
    from deepdetector.metrics import auc_interval, roc_auc

    if len(set(y.tolist())) < 2:
        return "-"
    auc = roc_auc(y, s).value
    iv = auc_interval(y, s)
    return f"{auc:.3f}" + ("" if iv.low is None else f" ({iv.low:.2f}-{iv.high:.2f})")


def _rate(k: int, n: int) -> str:
    from deepdetector.metrics import rate_interval

    if n == 0:
        return "-"
    iv = rate_interval(k, n)
    return f"{k}/{n} = {k / n:.1%} ({iv.low:.1%}-{iv.high:.1%})"


def _sig(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def report(rows: list[tp.Row], fpr: float, strengths: list[float], extra: dict) -> tuple[PixelModel, list[str]]:
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

    # --- the penalty of each head, chosen on the fit half (out-of-fold AUC) ---------------------------
    heads = {name: src for name, (src, _) in tp.HEADS.items()}
    from deepdetector.metrics import roc_auc

    lines += [
        "",
        "## Penalty (inverse L2 strength), chosen on the fit half: out-of-fold AUC, 5 folds by file",
        "",
        "| head | " + " | ".join(f"C={c:g}" for c in strengths) + " |",
        "|---|" + "---|" * len(strengths),
    ]
    strength_of = {}
    for head, src in heads.items():
        hrows = tp.head_rows(fit_rows, src)
        yy = np.array([r.label for r in hrows])
        aucs = [float(roc_auc(yy, tp.out_of_fold(hrows, ALL, c)).value) for c in strengths]
        strength_of[head] = strengths[int(np.argmax(aucs))]
        lines.append(f"| {head.split('_')[0]} features | " + " | ".join(f"{a:.3f}" for a in aucs) + " |")
    extra["feature_head_strengths"] = {name.split("_")[0]: c for name, c in strength_of.items()}

    # --- ablation -------------------------------------------------------------------------------
    lines += [
        "",
        "## What each kind of evidence adds: the feature heads (pixel features only, fitted on the fit half; AUC on held-out photos, the head's fakes against every real photo, 95% bootstrap interval)",
        "",
    ]
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
            lines.append(
                f"| {head.split('_')[0]} features | {fam_name} (face + whole picture) | "
                + " | ".join(test_auc(src, inputs, tp.fit_head(hrows, inputs, strength_of[head])))
                + " |"
            )
        for reg_name, regs in REGION_SETS.items():
            if regs == ("face", "image"):
                continue
            inputs = tp.family_columns(("npr", "spectrum", "noise"), regs)
            lines.append(
                f"| {head.split('_')[0]} features | all three, {reg_name} | "
                + " | ".join(test_auc(src, inputs, tp.fit_head(hrows, inputs, strength_of[head])))
                + " |"
            )
    lines += ["", "Transfer (all features): each feature head on the other kind of fake, and on GPEN face edits (never learnt):", "",
              "| head | fakes | as given | augmented |", "|---|---|---|---|"]  # fmt: skip
    final = {}
    for head, src in heads.items():
        final[head] = tp.fit_head(tp.head_rows(fit_rows, src), ALL, strength_of[head])
        for other in ("StyleGAN2", "Stable Diffusion", "GPEN"):
            if other != src:
                lines.append(f"| {head.split('_')[0]} features | {other} | " + " | ".join(test_auc(src, ALL, final[head], other)) + " |")

    # --- the heads: the shipped models' scores and the feature heads, fused on held-out photos ---------
    # The shipped face classifier trained on most fit-half files (its scores there are optimistic), so
    # the fusion and the thresholds are fitted on held-out photos: two folds by file, each measured
    # with a fusion and thresholds fitted on the other; the shipped ones are fitted on both.
    feature_heads = {name.split("_")[0]: params for name, params in final.items()}  # gan, diffusion
    judged = [r for r in test_rows if r.probability is not None and r.scores]
    st = tp.stacked(judged, feature_heads)
    cols = list(range(len(tp.stacked_inputs(feature_heads))))
    y = np.array([r.label for r in judged])
    src = [r.source for r in judged]
    target_fakes = ("StyleGAN2", "Stable Diffusion 2.1")  # GPEN edits: measured, not aimed at
    groups = {"pixel heads": list(heads)}
    fold = np.array([tp.fold_of(r.file, 2) for r in judged])
    base = tp.logit([r.probability for r in judged])  # the shipped models alone (the maximum of their heads)
    # the face classifier's swap head keeps deciding photos at the card's image threshold (face swaps and
    # edits in photos: the heads never saw any); synthetic and generated count only through the heads
    card = ModelCard.load(default_card_path())
    card_threshold = card.thresholds_for(stills=True).for_media("image")
    swap = tp.logit([r.scores.get("swap", 0.0) for r in judged])
    fixed = {"swap": float(tp.logit([card_threshold])[0])}

    def fuse(mask: np.ndarray, use: list[int] = cols) -> tuple[dict[str, tuple], dict[str, np.ndarray]]:
        fitted, comp = {}, {"swap": swap}
        for head, fake in heads.items():
            train = [r for r, m in zip(st, mask) if m and (r.label == 0 or r.source.startswith(fake))]
            fitted[head] = tp.fit_head(train, use, 1.0)
            comp[head] = tp.head_logits(st, use, fitted[head])
        return fitted, comp

    def choose(mask: np.ndarray, comp: dict[str, np.ndarray]) -> tuple[dict[str, float], dict[str, float]]:
        rm = mask & (y == 0)
        fm = mask & np.array([s in target_fakes for s in src])
        return tp.choose_thresholds({k: v[rm] for k, v in comp.items()}, [s for s, m in zip(src, rm) if m],
                                    {k: v[fm] for k, v in comp.items()}, [s for s, m in zip(src, fm) if m], fpr, groups, fixed)  # fmt: skip

    margin = np.full(len(judged), -np.inf)  # how far the photo's most suspicious part is over its threshold (log-odds)
    comp = {k: np.zeros(len(judged)) for k in ("swap", *heads)}  # cross-fitted
    comp["classifier"] = base
    scores_only = {head: np.zeros(len(judged)) for head in heads}  # the same fusion without the feature heads: what pixels add
    for k in (0, 1):
        _, comp_k = fuse(fold != k)
        _, without = fuse(fold != k, cols[: len(tp.SCORE_NAMES)])
        for head in heads:
            scores_only[head][fold == k] = without[head][fold == k]
        ts, _ = choose(fold != k, comp_k)
        m = fold == k
        for part, t in ts.items():
            comp[part][m] = comp_k[part][m]
            margin[m] = np.maximum(margin[m], comp_k[part][m] - t)
    flagged = margin >= 0
    fused, comp_all = fuse(np.ones(len(judged), bool))
    ts, budget = choose(np.ones(len(judged), bool), comp_all)
    image_threshold = card_threshold  # the heads are mapped onto the card's scale; the swap head keeps its meaning
    cuts = {head: ts[head] for head in heads}
    model = tp.to_model(feature_heads, fused, cuts, image_threshold, extra, score_cuts=fixed)
    lines += ["", f"## Fusion and thresholds (every real source at most {fpr:.0%})", "",
              "Each head (`gan_pixels`, `diffusion_pixels`) is a logistic fusion of the shipped models' three scores (log-odds) and the "
              "two feature heads above, fitted on held-out photos (the face classifier trained on most of the fit half), its fakes "
              "against every real photo. A photo is flagged by either head, or by the face classifier's `swap` head at the card's "
              "image threshold (face swaps in photos: the heads never saw any); `synthetic` and `generated` count only through the "
              "heads. The heads' thresholds let one share of their worst real source through, from a grid; of the shares keeping "
              f"every real source at or under {fpr:.0%} for a photo flagged by any part, the one flagging the most StyleGAN2 and "
              "Stable Diffusion faces wins. The tables below are cross-fitted (two folds by file, each judged with a fusion and "
              "thresholds fitted on the other); the shipped ones are fitted on both.", "",
              f"- photo threshold: **{image_threshold:.4f}** (the model card's image threshold; `swap` flags at it, the heads are "
              f"rescaled onto it); share of the worst real source for the heads: {budget['pixel heads']:.2%}"]  # fmt: skip
    for head in heads:
        lines.append(f"- {head}: flags at logit {cuts[head]:+.3f}; weights (per standard deviation): "
                     + ", ".join(f"{n} {c:+.2f}" for n, c in zip(tp.stacked_inputs(feature_heads), fused[head][2])))  # fmt: skip

    # --- held-out results ---------------------------------------------------------------------------
    lines += ["", "## Held-out photos: ranking (AUC, 95% bootstrap interval; heads and photo score cross-fitted)", "",
              "| fakes | against | variants | shipped models alone (maximum of their heads) | gan_pixels | diffusion_pixels | photo score | gan_pixels / diffusion_pixels without pixel features |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for fake in ("StyleGAN2", "Stable Diffusion 2.1", "GPEN edits"):
        for against in ("every real photo", "FFHQ"):
            for var_name, pick in (("as given", lambda r: r.variant == 0), ("augmented", lambda r: r.variant > 0)):
                m = np.array([pick(r) and (r.source == fake or (r.label == 0 and (against != "FFHQ" or r.source == "FFHQ"))) for r in judged])
                cells = [_auc(y[m], comp[k][m]) for k in ("classifier", *heads)] + [_auc(y[m], margin[m])]
                cells.append(" / ".join(_auc(y[m], scores_only[k][m]).split(" ")[0] for k in heads))
                lines.append(f"| {fake} | {against} | {var_name} | " + " | ".join(cells) + " |")
    lines += ["", "## Held-out photos flagged (fakes: share caught; reals: false alarms; cross-fitted thresholds)", "",
              f"Before: the shipped models at the model card's image threshold {card_threshold:.4f}. Now: the photo score.", "",
              "| source | label | as given: before | as given: now | augmented: before | augmented: now |", "|---|---|---|---|---|---|"]  # fmt: skip
    before = np.array([r.probability >= card_threshold for r in judged])
    for source in sorted(set(src), key=lambda s: (s not in ("StyleGAN2", "Stable Diffusion 2.1", "GPEN edits"), s)):
        cells = []
        for aug in (False, True):
            m = np.array([r.source == source and (r.variant > 0) == aug for r in judged])
            n = int(m.sum())
            cells += [_rate(int(before[m].sum()), n), _rate(int(flagged[m].sum()), n)]
        label = "fake" if any(r.label for r in judged if r.source == source) else "real"
        lines.append(f"| {source} | {label} | " + " | ".join(cells) + " |")
    no_face = defaultdict(lambda: [0, 0])
    for r in rows:
        no_face[r.source][0] += r.probability is None
        no_face[r.source][1] += 1
    lines += ["", "Rows without a detected face (no_face, not judged): " + ", ".join(f"{s} {k}/{n}" for s, (k, n) in sorted(no_face.items()) if k)]

    # --- the heads -------------------------------------------------------------------------------
    lines += ["", "## The feature heads' largest weights (per standard deviation)", ""]
    for h in model.feature_heads:
        top = sorted(zip(h.inputs, h.coef), key=lambda kv: -abs(kv[1]))[:8]
        lines.append(f"- {h.name}: " + ", ".join(f"{n} {c:+.2f}" for n, c in top))
    model.extra["measured"] = {"image_threshold": image_threshold, "budgets": budget}
    return model, lines
