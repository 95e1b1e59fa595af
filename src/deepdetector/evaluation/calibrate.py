"""Fit a model's decision thresholds to your own labelled files.

``deepdetector calibrate predictions.csv --out my-model/`` reads a ``deepdetector evaluate`` output
made with a model and writes a copy of that model (the same ONNX bytes, so the same sha256) whose
card holds new per-media thresholds. Two rules:

- ``--fpr 0.05``: the lowest threshold at which at most 5% of the real files of that media type
  are called fake (needs only real files: a newsroom's own archive of genuine photos will do);
- ``--balanced`` (default): the threshold that maximises balanced accuracy, (TPR + TNR) / 2, the
  rule the trainer uses on its validation files (needs fakes and reals).

A media type with too few files for its rule keeps the model's threshold. Measured on the same
files the thresholds were fitted to, the rates it prints are optimistic: check them on others.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from deepdetector.errors import DeepDetectorError
from deepdetector.evaluation.predictions import PredictionRow
from deepdetector.model.card import CARD_NAME, ModelCard, read_card, write_card
from deepdetector.model.stills import model_label, stills_card_path

MIN_REALS_FOR_FPR = 20
"""Fewer real files of a media type than this and ``--fpr`` leaves its threshold alone."""
MIN_PER_CLASS_FOR_BALANCED = 5


class CalibrateError(DeepDetectorError):
    """The thresholds cannot be fitted or written."""


@dataclass
class MediaCalibration:
    media: str
    old: float
    new: float
    n_fake: int
    n_real: int
    tpr: float | None  # at ``new``, on the files it was fitted to
    fpr: float | None
    note: str = ""


def fpr_threshold(real_scores: np.ndarray, target: float) -> float:
    """The lowest threshold (midway between scores) at which at most ``target`` of ``real_scores``
    are ``>=`` it: the operating point "call at most this share of genuine files fake"."""
    if not 0.0 <= target < 1.0:
        raise CalibrateError(f"--fpr is a rate: at least 0 and below 1, got {target}")
    r = np.sort(np.asarray(real_scores, np.float64))[::-1]  # highest first
    allowed = int(np.floor(target * r.size + 1e-9))  # reals that may be called fake
    if allowed >= r.size:
        return 0.0
    floor = r[allowed]  # the highest score that must stay below the threshold
    higher = r[r > floor]
    return float((floor + higher.min()) / 2.0) if higher.size else float(np.nextafter(floor, np.inf))


def _rates(y: np.ndarray, s: np.ndarray, t: float) -> tuple[float | None, float | None]:
    called = s >= t
    tpr = float(called[y == 1].mean()) if (y == 1).any() else None
    fpr = float(called[y == 0].mean()) if (y == 0).any() else None
    return tpr, fpr


def fit_thresholds(
    rows: list[PredictionRow], card: ModelCard, fpr: float | None = None, media_types: tuple[str, ...] = ("image", "video")
) -> list[MediaCalibration]:
    """New threshold per media type from scored prediction rows (``fpr`` None: balanced accuracy);
    only the types in ``media_types`` are refitted, the others are reported as kept."""
    from deepdetector.metrics import balanced_threshold

    current = card.thresholds
    out = []
    for media in ("image", "video"):
        part = [r for r in rows if r.scored and r.media == media]
        y = np.array([r.label for r in part], dtype=np.int64)
        s = np.array([r.score for r in part], dtype=np.float64)
        n_fake, n_real = int(y.sum()), int(y.size - y.sum())
        old = current.for_media(media)
        new, note = old, ""
        if media not in media_types:
            note = "kept: not asked for (--media)"
        elif any("video-fusion" in (r.model or "") for r in part):
            # their scores are the fusion's: its threshold lives with it, the card's is for --no-cues
            note = "kept: these videos were judged by the video fusion, whose threshold is its own (refit it with `deepdetector fuse`)"
        elif fpr is not None:
            if n_real >= MIN_REALS_FOR_FPR:
                new = fpr_threshold(s[y == 0], fpr)
            else:
                note = f"kept: {n_real} real {media}s, --fpr needs {MIN_REALS_FOR_FPR}"
        elif min(n_fake, n_real) >= MIN_PER_CLASS_FOR_BALANCED:
            new = balanced_threshold(y, s)
        else:
            note = f"kept: {n_fake} fake and {n_real} real {media}s, --balanced needs {MIN_PER_CLASS_FOR_BALANCED} of each"
        tpr, fp = _rates(y, s, new) if y.size else (None, None)
        out.append(MediaCalibration(media, old, round(float(new), 6), n_fake, n_real, tpr, fp, note))
    return out


def check_rows(rows: list[PredictionRow], card: ModelCard, source: Path) -> None:
    """Refuse predictions made by another model (the scores would belong to other weights)."""
    label = model_label(card)
    models = {r.model for r in rows if r.model}
    if models and models != {label}:
        raise CalibrateError(f"{source} was scored by {', '.join(sorted(models))}, not {label}: evaluate with this model first")
    metrics = source.with_name(source.stem + ".metrics.json")
    if metrics.is_file():
        try:
            run_model = json.loads(metrics.read_text(encoding="utf-8")).get("run", {}).get("model", {})
        except (OSError, ValueError):
            run_model = {}
        sha = run_model.get("sha256") if isinstance(run_model, dict) else None
        if sha and sha != card.sha256:
            raise CalibrateError(f"{source} was scored by another build of {card.label} (sha256 {sha[:12]}..., this one {card.sha256[:12]}...)")
        if sha and "stills" in run_model:  # evaluations record the stills model they used (None: none)
            check_stills_build(card, run_model.get("stills"), source)
    if not any(r.scored for r in rows):
        raise CalibrateError(f"{source} holds no scored file")


def check_stills_build(card: ModelCard, recorded: Any, source: Path) -> None:
    """Refuse predictions whose stills model (as recorded by evaluate) is not the one ``card`` names, by sha256."""
    path = stills_card_path(card)
    current = ModelCard.load(path).sha256 if path is not None else None
    used = recorded.get("sha256") if isinstance(recorded, dict) else None
    if used != current:
        raise CalibrateError(
            f"{source} was scored with another generated-stills model than this model's "
            f"({(used or 'none')[:12]} against {(current or 'none')[:12]}): evaluate with this model first"
        )


def build_checked(card: ModelCard, source: Path) -> bool:
    """Whether the predictions' model build could be checked (a metrics JSON beside them names its sha256)."""
    metrics = source.with_name(source.stem + ".metrics.json")
    try:
        return bool(json.loads(metrics.read_text(encoding="utf-8")).get("run", {}).get("model", {}).get("sha256"))
    except (OSError, ValueError, AttributeError):
        return False


def write_calibrated(card: ModelCard, out: Path, fits: list[MediaCalibration], rule: str, source: Path, overwrite: bool) -> Path:
    """A copy of the model in ``out`` with the fitted thresholds in its card."""
    src_dir = card.file.parent
    out = out.expanduser()
    if out.resolve() == src_dir.resolve():
        raise CalibrateError(f"--out {out} is the model's own folder: write the calibrated copy elsewhere")
    if (out / CARD_NAME).exists() and not overwrite:
        raise CalibrateError(f"{out / CARD_NAME} exists: add --overwrite to replace it")
    raw = read_card(src_dir)
    thresholds = dict(raw.get("thresholds") or {})
    for f in fits:
        thresholds[f.media] = f.new
    raw["thresholds"] = thresholds
    raw["file"] = card.file.name
    raw.setdefault("calibrations", []).append(
        {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "rule": rule,
            "predictions": str(source),
            "thresholds": {f.media: {"old": f.old, "new": f.new, "n_fake": f.n_fake, "n_real": f.n_real, "note": f.note} for f in fits},
        }
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(card.file, out / card.file.name)
        stills = stills_card_path(card)
        if stills is not None:  # the stills model the card names travels with it, as out/stills
            folder = stills.parent if stills.suffix == ".json" else stills
            if (out / "stills").resolve() != folder.resolve():
                shutil.rmtree(out / "stills", ignore_errors=True)
                shutil.copytree(folder, out / "stills")
            raw["stills"] = "stills"
        write_card(raw, out)
    except OSError as exc:
        raise CalibrateError(f"cannot write the calibrated model to {out}: {exc}") from None
    return out
