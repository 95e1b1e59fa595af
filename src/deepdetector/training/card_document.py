"""The model card as a document: ``docs/model-card.md`` is generated from ``model_card.json``.

``deepdetector card [--model DIR] [--evaluation predictions.metrics.json] [--real-files predictions.metrics.json] -o docs/model-card.md``
renders everything the trainer recorded (data sources and counts, the equivalent training command,
time and hardware, calibration and threshold, checksum, per-subset validation metrics, licence)
and, when given, the tables of a ``deepdetector evaluate`` run. No number in it is typed by hand.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Any

from deepdetector.markdown import evaluation_markdown
from deepdetector.training.backbones import DEFAULT_BACKBONE

# TrainConfig fields -> the ``deepdetector train`` option that sets them (fields absent here have
# no option and are reported as fixed settings).
_OPTIONS = {
    "data": "--data",
    "train_only": "--train-only",
    "out": "--out",
    "cache_dir": "--cache-dir",
    "run_dir": "--run-dir",
    "seed": "--seed",
    "split_seed": "--split-seed",
    "epochs": "--epochs",
    "steps_per_epoch": "--steps-per-epoch",
    "pairs": "--pairs",
    "synthetic": "--synthetic",
    "supervised": "--supervised",
    "input_size": "--input-size",
    "margin": "--margin",
    "cache_size": "--cache-size",
    "lr": "--lr",
    "lr_schedule": "--lr-schedule",
    "freeze_blocks": "--freeze-blocks",
    "ema": "--ema",
    "val_fraction": "--val-fraction",
    "test_fraction": "--test-fraction",
    "video_frames": "--video-frames",
    "real_video_frames": "--real-video-frames",
    "max_per_subset": "--max-per-subset",
    "patience": "--patience",
    "threads": "--threads",
    "workers": "--workers",
    "max_minutes": "--max-minutes",
    "backbone": "--backbone",
    "taps": "--taps",
    "synthetic_reals": "--synthetic-reals",
    "sbi_smooth": "--sbi-smooth",
    "sbi_mask": "--sbi-mask",
    "sbi_cross_frame": "--sbi-cross-frame",
    "h264": "--h264",
    "method": "--method",
    "probe_chunks": "--probe-chunks",
    "probe_val_frames": "--probe-val-frames",
    "name": "--name",
    "version": "--version",
    "device": "--device",
    "packed": "--packed",
}
# Settings that only matter for one training method.
_METHOD_ONLY = {
    "probe": {"epochs", "steps_per_epoch", "lr", "lr_schedule", "freeze_blocks", "patience", "ema"},
    "finetune": {"probe_chunks", "probe_val_frames"},
}


def _media_thresholds(card: dict[str, Any], pattern: str) -> str:
    """The card's per-media thresholds, each written with ``pattern`` (``{k}``: media, ``{v}``: value)."""
    return ", ".join(pattern.format(k=k, v=v) for k, v in sorted(card.get("thresholds", {}).items()))


def _f(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _opt_value(key: str, value: Any) -> str:
    if key == "taps":
        return ",".join(str(t) for t in value)
    if isinstance(value, float) and value.is_integer() and key in {"max_minutes"}:
        return str(int(value))
    return str(value)


def train_command(training: dict[str, Any]) -> str:
    """The ``deepdetector train`` command line that reproduces a card's ``training`` record.

    Every recorded setting that has an option is written out, defaults included, so the command
    does not depend on the defaults of a later version. A time budget (``--max-minutes``) depends
    on the machine, so where it ended the run, the command names the work actually done instead
    (the epochs run, or the probe chunks used). Output folders are left at their defaults: the
    command writes the shipped model's folder.
    """
    settings = dict(training.get("settings", {}))
    method = settings.get("method", "finetune")
    for key in ("out", "run_dir", "cache_dir"):
        settings.pop(key, None)
    # a cosine schedule depends on the planned epochs: there the budget stays (machine-dependent)
    if settings.get("max_minutes") is not None and settings.get("lr_schedule", "constant") == "constant":
        if method == "finetune" and training.get("epochs_run") is not None and training["epochs_run"] < settings.get("epochs", 0):
            settings["epochs"] = training["epochs_run"]
        if method == "probe" and training.get("probe_chunks_used") is not None:
            settings["probe_chunks"] = training["probe_chunks_used"]
        settings["max_minutes"] = None
    skip = _METHOD_ONLY.get(method, set())
    parts = ["deepdetector", "train"]
    # cards written before --taps / --synthetic-reals / --ema / --sbi-mask / --backbone existed: no taps, same-source, raw weights,
    # legacy masks, Lite0, no cross-frame blends
    settings = {
        **settings,
        "backbone": settings.get("backbone", DEFAULT_BACKBONE),
        "taps": settings.get("taps", []),
        "synthetic_reals": settings.get("synthetic_reals", "same-source"),
        "ema": settings.get("ema", 0.0),
        "lr_schedule": settings.get("lr_schedule", "constant"),
        "sbi_smooth": settings.get("sbi_smooth", 0.0),
        "sbi_mask": settings.get("sbi_mask", "legacy"),
        "sbi_cross_frame": settings.get("sbi_cross_frame", 0.0),
        "h264": settings.get("h264", 0.35),
    }
    for key, opt in _OPTIONS.items():
        if key not in settings or key in skip:
            continue
        value = settings[key]
        if value is None:
            continue
        if isinstance(value, list) and key != "taps":
            for v in value:
                parts += [opt, str(v)]
            continue
        parts += [opt, _opt_value(key, value)]
    if settings.get("pretrained") is False:
        parts.append("--no-pretrained")
    return " ".join(shlex.quote(p) for p in parts)


def metrics_markdown(card: dict[str, Any]) -> str:
    """Per-subset and per-real-source tables of the card's validation metrics."""
    m = card.get("metrics", {})
    thr = card.get("threshold")
    lines = [
        f"Threshold {_f(thr, 4)} on the calibrated probability (max over heads; file = mean over frames)"
        + (f"; TPR and FPR below use each file's media threshold ({_media_thresholds(card, '{k} {v:.4f}')})." if card.get("thresholds") else "."),
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
        lines += [
            "",
            f"All validation files: {ov.get('n_files')} ({ov.get('n_fake_files')} fake), {ov.get('n_frames')} face crops; "
            f"file AUC {_f(ov.get('file_auc'))}, frame AUC {_f(ov.get('frame_auc'))}, accuracy {_f(ov.get('file_accuracy'), 3)}, "
            f"TPR {_f(ov.get('file_tpr'), 3)}, FPR {_f(ov.get('file_fpr'), 3)}.",
        ]
    reals = m.get("reals", {})
    if reals:
        lines += ["", "| real validation source | files | false-positive rate |", "|---|---|---|"]
        lines += [f"| {k} | {v['n_files']} | {_f(v['file_fpr'], 2)} |" for k, v in reals.items()]
    return "\n".join(lines) + "\n"


def _method(tr: dict[str, Any]) -> str:
    st = tr.get("settings", {})
    if st.get("method", "finetune") != "finetune":
        return tr.get("method", st.get("method", "n/a"))
    batch = 2 * (st.get("pairs", 0) + st.get("synthetic", 0) + st.get("supervised", 0))
    taps = st.get("taps") or []
    return (
        f"fine-tuned end to end except the stem and the first {st.get('freeze_blocks')} MBConv blocks (kept at their "
        f"ImageNet weights); "
        + (f"rectified outputs of blocks {', '.join(map(str, taps))} pooled into the CAM head beside the final features; " if taps else "")
        + f"AdamW, lr {st.get('lr')} after {st.get('warmup_steps')} warm-up steps"
        + (", then cosine decay to 2% over the planned epochs" if st.get("lr_schedule") == "cosine" else "")
        + f", {st.get('steps_per_epoch')} steps per epoch "
        f"of {batch} images ({st.get('pairs')} real/self-blended pairs, {st.get('synthetic')} generated + {st.get('synthetic')} real "
        f"images, {st.get('supervised')} manipulated + {st.get('supervised')} real video faces), binary cross-entropy per head"
        + (f"; validated and shipped: the moving average of the weights (decay {st['ema']} per step)" if st.get("ema") else "")
        + "; the epoch with the best validation frame AUC (mean over heads) is kept"
    )


def _heads(tr: dict[str, Any]) -> dict[str, str]:
    mixed = tr.get("settings", {}).get("synthetic_reals", "same-source") == "mixed"
    return {
        "swap": "blending / face-swap / reenactment artefacts: self-blended fakes of every real face, plus the real "
        "manipulated videos (face swaps, reenactment, talking heads) of the training groups",
        "synthetic": "whole-image generated faces (GAN, diffusion) of the training groups against real images of the same "
        "sources" + (" and as many real images of every other source" if mixed else ""),
    }


def _counts_table(counts: dict[str, dict[str, int]]) -> list[str]:
    rows = ["| source | real | fake |", "|---|---|---|"]
    rows += [f"| {k} | {v.get('real', 0)} | {v.get('fake', 0)} |" for k, v in counts.items()]
    tot_r = sum(v.get("real", 0) for v in counts.values())
    tot_f = sum(v.get("fake", 0) for v in counts.values())
    rows.append(f"| **total** | **{tot_r}** | **{tot_f}** |")
    return rows


def real_files_markdown(evaluation: dict[str, Any]) -> str:
    """Per real source of an evaluate run: files scored, share called fake at the model's
    thresholds, and its Wilson 95% interval (from the counts in the metrics JSON)."""
    from deepdetector.metrics import rate_interval

    lines = ["| real source | files scored | called fake | 95% interval |", "|---|---|---|---|"]
    total_fp = total_n = 0
    for sub in evaluation.get("subsets", []):
        if sub.get("level") != "source_dataset" or sub.get("n_fake") or not sub.get("n_scored"):
            continue
        c = sub.get("counts", {})
        fp, n = int(c.get("fp", 0)), int(c.get("fp", 0)) + int(c.get("tn", 0))
        if n == 0:
            continue
        iv = rate_interval(fp, n)
        total_fp, total_n = total_fp + fp, total_n + n
        lines.append(f"| {sub['name']} | {n} | {fp / n:.1%} ({fp}) | {iv.low:.1%}-{iv.high:.1%} |")
    if total_n:
        iv = rate_interval(total_fp, total_n)
        lines.append(f"| all real files | {total_n} | {total_fp / total_n:.1%} ({total_fp}) | {iv.low:.1%}-{iv.high:.1%} |")
    return "\n".join(lines) + "\n"


def _calibrations(card: dict[str, Any]) -> list[str]:
    """Lines for the thresholds refitted after training by ``deepdetector calibrate`` (the card's ``calibrations``)."""
    out = []
    for c in card.get("calibrations") or []:
        changed = [
            f"{m} {v.get('old')} -> {v.get('new')} ({v.get('n_fake')} fake, {v.get('n_real')} real)"
            for m, v in (c.get("thresholds") or {}).items()
            if not v.get("note")
        ]
        if changed:
            out.append(
                f"Refitted on {str(c.get('date', ''))[:10]} by `deepdetector calibrate` ({c.get('rule')}) on "
                f"`{c.get('predictions')}`: " + "; ".join(changed) + ". Fitted on the validation files measured below, so the "
                "accuracy, TPR and FPR there are optimistic."
            )
    return ["", *out] if out else []


def _cap_text(stills: dict[str, Any]) -> str:
    cap = stills.get("max_region_side")
    return f", or larger than {cap} px, the largest training region, when it is shrunk to that" if cap else ""


def stills_command(tr: dict[str, Any]) -> str:
    """The ``deepdetector train-stills`` command that reproduces a stills model (options that differ from the defaults)."""
    from deepdetector.training.config import StillsConfig

    s = tr.get("settings", {})
    default = asdict(StillsConfig())
    parts = ["deepdetector train-stills"]
    parts += [f"--data {d}" for d in s.get("data", [])] + [f"--train-only {d}" for d in s.get("train_only", [])]
    flags = {
        "out": "--out",
        "seed": "--seed",
        "split_seed": "--split-seed",
        "epochs": "--epochs",
        "steps_per_epoch": "--steps-per-epoch",
        "fakes_per_step": "--fakes-per-step",
        "patch": "--patch",
        "freeze_blocks": "--freeze-blocks",
        "lr": "--lr",
        "val_fraction": "--val-fraction",
        "max_per_subset": "--max-per-subset",
        "threads": "--threads",
        "name": "--name",
        "version": "--version",
        "rescale_probability": "--rescale",
    }
    for key, flag in flags.items():
        if key in s and s[key] != default.get(key) and s[key] is not None:
            parts.append(f"{flag} {s[key]}")
    if s.get("rescale_probability") and tuple(s.get("rescale_range", ())) != tuple(default["rescale_range"]):
        parts.append("--rescale-range " + ",".join(f"{v:g}" for v in s["rescale_range"]))
    return " ".join(parts)


def stills_markdown(stills: dict[str, Any], onnx_bytes: int | None = None) -> list[str]:
    """The model card's section on the generated-stills model the face classifier's card names."""
    tr = stills.get("training", {})
    head = (stills.get("heads") or [{}])[0]
    size = f", {onnx_bytes / 1e6:.1f} MB" if onnx_bytes else ""
    m = stills.get("metrics", {})
    rows = [f"| {name} | {v.get('fake')} | {_f(v.get('auc_vs_all_reals'))} |" for name, v in m.items() if name != "overall"]
    ov = m.get("overall", {})
    return [
        f"## The generated-stills model: {stills.get('name')} v{stills.get('version')}",
        "",
        f"- File: `src/deepdetector/model/weights/stills/{stills.get('file')}`{size}; sha256 `{stills.get('sha256')}` (verified on load).",
        f"- What: {tr.get('what', 'n/a')}. Photos only: videos are judged by the face classifier alone.",
        f"- Input: a {stills.get('patch_grid')} x {stills.get('patch_grid')} grid of {stills.get('input_size')} x {stills.get('input_size')} px "
        f"patches at the photo's own resolution (no resizing unless the region is smaller{_cap_text(stills)}), spread over a region "
        f"{stills.get('region_margin')} x the face box; the patch logits are averaged.",
        f"- Output: head `{head.get('name')}`, `p = sigmoid(a * logit + b)` with a = {head.get('a')}, b = {head.get('b')} (Platt, fitted on the "
        "validation images, each class weighted equally); it joins the face classifier's heads, and a photo's face gets the highest of all heads.",
        f"- Backbone: {tr.get('backbone', 'n/a')}; {tr.get('settings', {}).get('epochs')} epochs of {tr.get('settings', {}).get('steps_per_epoch')} steps, "
        f"no early stopping; {tr.get('train_seconds')} s training, {tr.get('total_seconds')} s for the whole command; {tr.get('hardware')}; "
        f"ONNX parity {tr.get('onnx_parity_max_abs_diff')}.",
        "- Same split as the face classifier (same sources, seed and fraction): the validation groups are identical.",
        "",
        "```bash",
        stills_command(tr),
        "```",
        "",
        "Training images:",
        "",
        *_counts_table(tr.get("data", {}).get("train_files", {})),
        "",
        f"Validation (recorded by the trainer; {ov.get('fake')} generated vs {ov.get('real')} real images, overall AUC {_f(ov.get('file_auc'))}):",
        "",
        "| generated subset | files | AUC vs every real validation image |",
        "|---|---|---|",
        *rows,
    ]


def soup_commands(card: dict[str, Any]) -> list[str]:
    """The commands that rebuild a soup: each ingredient's ``train`` (into ``runs/soup-K``), then ``soup``."""
    soup = card.get("training", {}).get("soup", {})
    lines, folders = [], []
    for k, ing in enumerate(soup.get("ingredients", []), start=1):
        folder = f"runs/soup-{k}"
        folders.append(f"{folder}/model")
        lines.append(train_command(ing) + f" --out {folder}/model --run-dir {folder}/run")
    lines.append(
        " ".join(
            ["deepdetector", "soup", *folders, "--version", shlex.quote(str(card.get("version")))]
            + (["--name", shlex.quote(str(card.get("name")))] if card.get("name") else [])
            + ["--out", "runs/soup/model", "--run-dir", "runs/soup/run"]
        )
    )
    return lines


def _soup_lines(card: dict[str, Any]) -> list[str]:
    tr = card.get("training", {})
    ings = tr.get("soup", {}).get("ingredients", [])
    return [
        f"A model soup: the weights are the uniform average of {len(ings)} fine-tuning runs that started from the same",
        ("pretrained weights" if tr.get("settings", {}).get("pretrained", True) else "random weights (one seed)")
        + " on the same split, each trained by its own command; `deepdetector soup` then averaged",
        "their best checkpoints and calibrated and measured the average on their common validation files, as a training",
        "run does. The exact commands (run from the repository root, with `../shared/data` beside it):",
        "",
        "```bash",
        "pip install '.[train]'",
        *soup_commands(card),
        "```",
        "",
        *[
            f"- Ingredient {k}: {ing.get('name')} v{ing.get('version')} (sha256 `{str(ing.get('sha256'))[:12]}...`), "
            f"{ing.get('train_seconds')} s training on {ing.get('hardware')}; epochs run {ing.get('epochs_run')}, best epoch "
            f"{ing.get('best_epoch')} (validation score {_f(ing.get('best_validation_score'), 4) if ing.get('best_validation_score') is not None else 'n/a'})."
            for k, ing in enumerate(ings, start=1)
        ],
        f"- Time: {tr.get('train_seconds')} s training in all, {tr.get('total_seconds_this_invocation')} s for the soup command "
        "(face cache check, averaging, export, calibration).",
    ]


def model_card_markdown(
    card: dict[str, Any],
    evaluation: dict[str, Any] | None = None,
    onnx_bytes: int | None = None,
    real_files: dict[str, Any] | None = None,
    stills: dict[str, Any] | None = None,
    stills_bytes: int | None = None,
    generated_by: str | None = None,
    file_shown: str | None = None,
) -> str:
    """The whole model card document (docs/model-card.md).

    ``generated_by``: the command that wrote it (named in the document's first comment, so it can
    be rerun exactly); ``file_shown``: the weights' path as the document names it (default: the
    shipped folder's)."""
    tr = card.get("training", {})
    settings = tr.get("settings", {})
    data = tr.get("data", {})
    heads = card.get("heads", [])
    size = f", {onnx_bytes / 1e6:.1f} MB" if onnx_bytes else ""
    out = [
        f"# Model card: {card.get('name')} v{card.get('version')}",
        "",
        f"<!-- Generated by `{generated_by or 'deepdetector card -o docs/model-card.md'}` from the model's model_card.json"
        " (and the evaluations named there: `--evaluation`, `--real-files`). Edit the generator, not this file. -->",
        "",
        "## What it is",
        "",
        f"- File: `{file_shown or 'src/deepdetector/model/weights/' + str(card.get('file'))}`{size}; sha256 `{card.get('sha256')}`. "
        "The scanner recomputes the checksum on load and refuses a file that does not match.",
        f"- Backbone: {tr.get('backbone', 'n/a')}.",
        f"- Training: {_method(tr)}.",
        f"- Input: RGB face crop, {card.get('input_size')} x {card.get('input_size')} px, {card.get('margin')} x the detected "
        "face box (the scanner's `crop_face`), uint8; normalisation is inside the graph.",
        "- Outputs: one logit per head and a class-activation map per head (the heatmaps).",
        "- Heads: " + "; ".join(f"`{h['name']}`: {_heads(tr).get(h['name'], tr.get('heads', {}).get(h['name'], ''))}" for h in heads) + ".",
        "",
        "## Intended use",
        "",
        "Screening photos and videos of faces for face swaps, reenactment and generated faces, as one signal among",
        "others for fact-checkers and analysts. A score is evidence to look closer (the heatmap shows roughly where), not proof.",
        "Not for decisions about people without human review. Faces the detector does not find are not judged",
        "(verdict `no_face`).",
        "",
        "## Calibration and threshold",
        "",
        "Per head, `p = sigmoid(a * logit + b)` (Platt scaling) was fitted on the validation files below (each file",
        "weighted once); a face's probability of fake is the maximum over heads. The threshold maximises balanced",
        "accuracy over the validation files (file probability = mean over frames); images and videos each get",
        "their own, chosen the same way on the validation files of that type (where each class has at least 5),",
        "because a video's mean over codec-blurred frames and a sharp photo's single face do not share a scale.",
        "",
        "| head | a | b |",
        "|---|---|---|",
        *[f"| {h['name']} | {h['a']} | {h['b']} |" for h in heads],
        "",
        f"Decision threshold: **{card.get('threshold')}**"
        + (f" for any other media type; {_media_thresholds(card, '{k}s **{v}**')}." if card.get("thresholds") else " (one for every file)."),
        *_calibrations(card),
        "",
        "## How it was trained",
        "",
        *(
            _soup_lines(card)
            if tr.get("soup")
            else [
                "The exact command (run from the repository root, with `../shared/data` beside it; same data and seed",
                "give the same split, samples and initial weights):",
                "",
                "```bash",
                "pip install '.[train]'",
                train_command(tr),
                "```",
                "",
                f"- Time: {tr.get('train_seconds')} s training, {tr.get('total_seconds_this_invocation')} s for the whole command "
                f"(face cache, training, export, calibration); epochs run {tr.get('epochs_run')}, best epoch {tr.get('best_epoch')} "
                f"(validation score {_f(tr.get('best_validation_score'), 4) if tr.get('best_validation_score') is not None else 'n/a'}).",
            ]
        ),
        f"- Hardware: {tr.get('hardware')}.",
        *([f"- Recalibrated: {tr['recalibrated']}."] if tr.get("recalibrated") else []),
        *([f"- Reproduced: {tr['reproduced']}."] if tr.get("reproduced") else []),
        f"- ONNX export: largest |torch - onnxruntime| logit difference {tr.get('onnx_parity_max_abs_diff')}.",
        "- Fixed settings (no command option): "
        + ", ".join(f"{k} {v}" for k, v in settings.items() if k not in _OPTIONS and k not in {"pretrained"})
        + ".",
        "",
        "### Training data",
        "",
        "Self-blended fakes made from every real face of the training files are the main signal; labelled fakes of",
        "the training groups of the `--data` sources (face swaps, reenactment, talking heads; generated images) train",
        "alongside. Files split by `group` (identity pair, source clip): no group is on both sides.",
        "",
        f"Faces per pool: {json.dumps(data.get('pools', {}))}.",
        f"Face cache: {json.dumps(data.get('cache', {}))}.",
        "",
        "Training files:",
        "",
        *_counts_table(data.get("train_files", {})),
        "",
        "Validation files (held out; used for model selection, calibration and the threshold):",
        "",
        *_counts_table(data.get("validation_files", {})),
        "",
        "## Validation metrics (recorded by the trainer)",
        "",
        "Frame level = every sampled frame's largest face; file level = the mean over frames. Fakes of one subset",
        "are ranked against the reals of the same source (column 3); where a source has no reals of its own (talking",
        "heads, DFDC), against the few real clips of the nearest kind, which flatters them: the evaluation below ranks",
        "them against every real video. Few files per subset: read differences of a few points as noise. These",
        "validation groups also chose the epoch and fitted the calibration, so all numbers here are somewhat optimistic.",
        "",
        metrics_markdown(card).rstrip(),
    ]
    if stills is not None:
        out += ["", *stills_markdown(stills, stills_bytes)]
        if card.get("thresholds_without_stills"):
            out += [
                "",
                "Without the stills model (`--no-stills`) the scanner uses the thresholds fitted for the face classifier alone: "
                + ", ".join(f"{k}s {v}" for k, v in card["thresholds_without_stills"].items())
                + ".",
            ]
    if evaluation is not None:
        out += [
            "",
            "## Measured by `deepdetector evaluate` (scanner settings, validation groups only)",
            "",
            "These numbers come from the scanner itself (32 frames, YuNet, tracking, the `confident` aggregation),",
            "not from the trainer's crops, so they are what users get. Same validation groups as above (the groups",
            "that chose the epoch and the calibration). One-class subsets are ranked against the items named in `vs`.",
            "",
            evaluation_markdown(evaluation).rstrip(),
        ]
    if real_files is not None:
        run = real_files.get("run", {})
        out += [
            "",
            "## False alarms on real files",
            "",
            "How often the scanner calls genuine files fake, per source, at the thresholds above. The dev set's",
            "only real photos are FFHQ; this evaluation adds files of the training sources that training never",
            "used (`deepdetector unseen -o FILE` writes them as a manifest), so it covers more kinds of real photo,",
            "though not new sources:",
            "",
            "```bash",
            f"deepdetector evaluate {run.get('manifest', '')} "
            + "".join(f"--split {sp} " for sp in run.get("splits", []))
            + f"--output {run.get('predictions', 'predictions.csv')}",
            "```",
            "",
            real_files_markdown(real_files).rstrip(),
        ]
    out += [
        "",
        "## Limitations",
        "",
        "- Validated on a small development set (tens of videos per compression level); the confidence intervals",
        "  of the AUCs above are wide. Data of other sources (other datasets, phone video, social-media",
        "  re-encodes) may score differently.",
        "- Heavy compression (FF++ c40) and reenactment methods that leave no blending seam (NeuralTextures,",
        "  lip-sync) are the hardest cases; see the per-subset tables for how hard.",
        "- Trained on faces found by YuNet at the crop margin above: other detectors or margins change the crops",
        "  (see docs/evaluation.md, robustness).",
        "- Frames of fake videos scored as photos (screenshots) are mostly missed at the image threshold: 15% of",
        "  the frames of the validation face-swap videos were flagged (`deepdetector frames`, docs/evaluation.md).",
        "  Scan the video itself.",
        "- The heatmap is coarse (one value per cell of a small grid over the face region, upsampled; the score is",
        "  the grid's average): it shows which part of the face the score came from, not the changed pixels. How",
        "  often it points at a known changed region is measured by `deepdetector localisation` (docs/evaluation.md).",
    ]
    if stills is not None and stills.get("max_region_side"):
        out += [
            f"- Every training photo of the generated-stills model was at most {stills['max_region_side']} px across the face region; larger",
            "  regions are shrunk to that size. How photos stored at other sizes score was measured only on validation",
            "  photos re-stored at half, twice and three times their size (the robustness `size` experiment,",
            "  docs/evaluation.md); no genuinely high-resolution photo (a 1024 px StyleGAN original, a phone portrait)",
            "  was available to test.",
        ]
    out += [
        "",
        "## Licence",
        "",
        card.get("licence", "n/a"),
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":  # python -m deepdetector.training.card_document path/to/model_card.json
    import sys

    print(metrics_markdown(json.loads(Path(sys.argv[1]).read_text())))
