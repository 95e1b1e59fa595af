"""Markdown tables of evaluation outputs, for docs and model cards (the evaluation commands and the
model card document both use them).

    python -m deepdetector.markdown predictions.metrics.json   # deepdetector evaluate
    python -m deepdetector.markdown robustness.json            # deepdetector robustness
    python -m deepdetector.markdown compare.json               # deepdetector compare -o

Only formatting: every number comes from the JSON file the command wrote.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _f(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _ci(v: Any) -> str:
    """``0.71-0.92`` from a JSON ``[low, high]``; empty where none was computed (older files)."""
    return f"{v[0]:.2f}-{v[1]:.2f}" if isinstance(v, list) and len(v) == 2 else ""


def _change(lv: dict[str, Any]) -> str:
    """A level's paired AUC change against the baseline, ``*`` when its interval excludes 0."""
    d, ci = lv.get("auc_change"), lv.get("auc_change_ci")
    if d is None:
        return ""
    text = f"{d:+.3f}" + (f" ({ci[0]:+.2f} to {ci[1]:+.2f})" if isinstance(ci, list) and len(ci) == 2 else "")
    return text + ("*" if lv.get("auc_change_differs") else "")


def _thresholds(per_media: Any, default: Any) -> str:
    """``0.3653`` or ``image 0.7580, video 0.2910`` (files written before per-media thresholds: the single one)."""
    if isinstance(per_media, dict):
        media = {k: v for k, v in per_media.items() if k != "default"}
        if any(v != per_media.get("default") for v in media.values()):
            return ", ".join(f"{k} {_f(v, 4)}" for k, v in sorted(media.items()))
    return _f(default, 4)


def evaluation_markdown(payload: dict[str, Any]) -> str:
    """The targets and per-kind / per-source tables of a ``predictions.metrics.json``."""
    run = payload.get("run", {})
    model = run.get("model", {})
    settings = run.get("config", {})
    lines = []
    if model:
        stills = model.get("stills")
        with_stills = f" + {stills.get('name')} (sha256 {str(stills.get('sha256', ''))[:12]}...)" if isinstance(stills, dict) else ""
        lines.append(
            f"Model {model.get('name')} v{model.get('version')} (sha256 {str(model.get('sha256', ''))[:12]}...){with_stills}, "
            f"threshold {_thresholds(payload.get('thresholds'), payload.get('threshold'))}."
        )
    if run.get("manifest"):
        # files written before splits were recorded: the shipped model's validation split was the only one used
        splits = run.get("splits", ["src/deepdetector/model/weights/model_card.json"])
        lines += [
            "",
            "```bash",
            f"deepdetector evaluate {run['manifest']} "
            + "".join(f"--split {sp} " for sp in splits)
            + f"--output {run.get('predictions', 'predictions.csv')}",
            "```",
        ]
    if run.get("selection"):
        lines += [
            "",
            "Items: "
            + "; ".join(run["selection"])
            + f" ({run.get('n_selected')} of {run.get('n_manifest')} in the manifest{'s' if ' ' in str(run.get('manifest', '')) else ''}).",
        ]
    if settings:
        lines += ["", "Settings: " + ", ".join(f"{k} {v}" for k, v in settings.items()) + "."]
    lines += ["", "| target | goal | measured | 95% interval | status | items (scored) |", "|---|---|---|---|---|---|"]
    for t in payload.get("targets", []):
        n = "" if t.get("n") is None else f"{t['n']} ({t['n_scored']})"
        lines.append(f"| {t['name']} | {t['goal']} | {_f(t.get('value'))} | {_ci(t.get('ci'))} | {t['status']} | {n} |")
    lines += [
        "",
        "| subset | n (fake/real) | scored | no face | error | vs | AUC | AUC 95% interval | frame AUC | AP | EER | acc | TPR | FPR |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in payload.get("subsets", []):
        lines.append(
            f"| {s['name']} | {s['n']} ({s['n_fake']}/{s['n_real']}) | {s['n_scored']} | {s['n_no_face']} | {s['n_error']} | "
            f"{s.get('vs') or ''} | {_f(s.get('auc'))} | {_ci(s.get('auc_ci'))} | {_f(s.get('frame_auc'))} | {_f(s.get('ap'))} | {_f(s.get('eer'))} | "
            f"{_f(s.get('accuracy'))} | {_f(s.get('tpr'))} | {_f(s.get('fpr'))} |"
        )
    aggs = [s for s in payload.get("subsets", []) if s.get("video_auc_by_aggregation") and s["level"] in {"overall", "media"}]
    if aggs:
        names = payload.get("aggregations", [])
        lines += ["", "Video AUC by aggregation of frame scores:", "", "| subset | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for s in aggs:
            lines.append(f"| {s['name']} | " + " | ".join(_f(s["video_auc_by_aggregation"].get(n)) for n in names) + " |")
    return "\n".join(lines) + "\n"


def robustness_markdown(payload: dict[str, Any]) -> str:
    """One table per experiment of a ``robustness.json`` (baseline level in bold)."""
    run = payload.get("run", {})
    lines = [
        f"Model {run.get('model')} (sha256 {run.get('model_sha256')}...), threshold {_thresholds(run.get('thresholds'), run.get('threshold'))}; "
        f"{run.get('items')} items, {run.get('frames_per_video')} frames per video, seed {run.get('seed')}; "
        + "; ".join(run.get("selection", []))
        + "."
    ]
    for ex in payload.get("experiments", []):
        lines += [
            "",
            f"**{ex.get('title', ex.get('name'))}**: {ex.get('description', '')}",
            "",
            "| level | AUC | AUC change (95%) | acc | TPR | FPR | mean abs change | mean change | scored | no face | error | s/item |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for lv in ex.get("levels", []):
            label = f"**{lv['label']}**" if lv.get("baseline") else lv["label"]
            if lv.get("unavailable"):
                lines.append(f"| {label} | unavailable: {lv['unavailable']} ||||||||||| ")
                continue
            lines.append(
                f"| {label} | {_f(lv.get('auc'))} | {_change(lv)} | {_f(lv.get('accuracy'))} | {_f(lv.get('tpr'))} | {_f(lv.get('fpr'))} | "
                f"{_f(lv.get('mean_abs_change'))} | {_f(lv.get('mean_change'))} | {lv.get('n_scored')} | {lv.get('n_no_face')} | "
                f"{lv.get('n_error')} | {_f(lv['seconds'] / lv['n'] if lv.get('n') else None, 2)} |"
            )  # "seconds": all items of the level
    return "\n".join(lines) + "\n"


def fmt_auc(x: float | None, signed: bool = False) -> str:
    """An AUC (or, ``signed``, a difference) to three decimals; ``n/a`` when undefined."""
    if x is None:
        return "n/a"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def fmt_interval(v: list[float] | None) -> str:
    """A signed interval to three decimals (``-0.120 to +0.030``); empty when none."""
    return "" if not v else f"{v[0]:+.3f} to {v[1]:+.3f}"


def comparison_markdown(payload: dict[str, Any]) -> str:
    """A markdown table of a compare JSON (``deepdetector compare -o``)."""
    c = payload.get("comparison", {})
    lines = [
        f"A = `{c.get('a')}`, B = `{c.get('b')}`: {c.get('n_common')} items scored by both "
        f"({c.get('only_a')} scored by A only, {c.get('only_b')} by B only); paired bootstrap, "
        f"{c.get('bootstrap_samples')} resamples, 95% interval of AUC(A) - AUC(B).",
        "",
        "| subset | fake/real | AUC A | AUC B | A - B | 95% interval | p | differs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in payload.get("rows", []):
        p = "" if r.get("p_value") is None else f"{r['p_value']:.3f}"
        lines.append(
            f"| {r['name']} | {r['n_fake']}/{r['n_real']} | {fmt_auc(r.get('auc_a'))} | {fmt_auc(r.get('auc_b'))} | "
            f"{fmt_auc(r.get('delta'), True)} | {fmt_interval(r.get('ci'))} | {p} | {'yes' if r.get('differs') else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in {"-h", "--help"}:
        print("usage: python -m deepdetector.markdown FILE.json   (a predictions.metrics.json, robustness.json or compare JSON)", file=sys.stderr)
        return 0 if args and args[0] in {"-h", "--help"} else 2
    try:
        payload = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args[0]}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(payload, dict) or not ({"experiments", "targets", "comparison"} & payload.keys()):
        print(f"error: {args[0]} is neither a robustness.json, a predictions.metrics.json nor a compare JSON", file=sys.stderr)
        return 2
    if "comparison" in payload:
        print(comparison_markdown(payload), end="")
    else:
        print(robustness_markdown(payload) if "experiments" in payload else evaluation_markdown(payload), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
