"""Model soups: one network whose weights are the uniform average of several fine-tuning runs.

Runs fine-tuned from the same pretrained weights on the same split often stay in one basin of the
loss, and the average of their weights then scores about like the average of their predictions
(Wortsman et al., "Model soups", 2022) at the cost of one network. Here every run starts from the
backbone's ImageNet weights with its first blocks frozen; ``--seed`` only draws the new head and the
batches, so runs of other seeds may be averaged too (docs/experiments/2026-12-02-weight-averages-soup.md measures both). Without
ImageNet weights (``--no-pretrained``) each seed starts from another random network, and
:func:`check_ingredients` refuses to average those.

``deepdetector soup MODEL MODEL ...`` reads each ingredient's model card (the settings it was
trained with and its run folder), checks that the checkpoint in that run folder is the network the
card's ONNX file was exported from, averages the checkpoints, and then finishes exactly as a training
run does (:func:`deepdetector.training.train._finish`): ONNX export, Platt scaling and thresholds on
the validation files, metrics per subset and a model card, which records the ingredients.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

from deepdetector.errors import ConfigError, ModelError
from deepdetector.model.card import CARD_NAME, read_card, sha256_file

# must be equal: the same network started from the same weights (and ``seed`` too when they are random) ...
SAME_NETWORK = ("backbone", "taps", "input_size", "pretrained")
# ... and the same validation files prepared the same way (the soup is calibrated and measured on them)
SAME_DATA = (
    "data",
    "train_only",
    "max_per_subset",
    "val_fraction",
    "split_seed",
    "margin",
    "cache_size",
    "cache_margin",
    "detector",
    "video_frames",
    "real_video_frames",
)
PATH_LISTS = ("data", "train_only")  # compared as resolved paths: ../data/x.csv and /abs/data/x.csv are one source
PARITY_TOLERANCE = 1e-4  # |torch(checkpoint) - onnxruntime(card file)| outputs: above export noise (shipped models: 1e-5 to 3e-5)


@dataclass
class Ingredient:
    folder: Path
    card: dict[str, Any]
    settings: dict[str, Any]  # as recorded, options newer than the card filled with their behaviour before they existed
    checkpoint: Path


def filled_settings(recorded: dict[str, Any]) -> dict[str, Any]:
    """A card's settings with options added after it was written set to what they did before they existed."""
    from deepdetector.training.config import _LATER_OPTIONS

    out = {**_LATER_OPTIONS, **recorded}
    out.setdefault("synthetic_reals", "same-source")  # cards older than --synthetic-reals
    out.setdefault("taps", [])  # cards older than --taps: final features only
    return out


def read_ingredient(folder: str | Path) -> Ingredient:
    folder = Path(folder)
    path = folder / CARD_NAME if folder.is_dir() else folder
    try:
        card = read_card(path)
    except ModelError as exc:
        raise ConfigError(f"ingredient {folder}: cannot read its model card {path} ({exc})") from None
    tr = card.get("training") if isinstance(card, dict) else None
    if not isinstance(tr, dict) or not isinstance(tr.get("settings"), dict) or not isinstance(tr.get("split"), dict):
        raise ConfigError(f"ingredient {folder}: {path} is not a model card written by `deepdetector train`")
    if tr.get("soup"):
        raise ConfigError(f"ingredient {folder} is itself a soup: give its ingredients instead")
    settings = filled_settings(tr["settings"])
    if settings.get("method", "finetune") != "finetune":
        raise ConfigError(f"ingredient {folder} was trained with --method {settings.get('method')}: only fine-tuned networks can be averaged")
    if not isinstance(settings.get("run_dir"), str) or not settings["run_dir"]:
        raise ConfigError(f"ingredient {folder}: its card names no run folder (training.settings.run_dir)")
    checkpoint = Path(settings["run_dir"]) / "best.pt"
    if not checkpoint.is_file():
        raise ConfigError(
            f"ingredient {folder}: its run folder's checkpoint {checkpoint} does not exist "
            "(the card names the --run-dir it was trained in; run from the folder it was trained from)"
        )
    return Ingredient(folder=path.parent, card=card, settings=settings, checkpoint=checkpoint)


def check_ingredients(ingredients: list[Ingredient]) -> None:
    """Refuse ingredients that cannot be averaged into one meaningful network."""
    if len(ingredients) < 2:
        raise ConfigError("a soup needs at least two ingredients (model folders written by `deepdetector train`)")
    seen: dict[str, Path] = {}
    for ing in ingredients:
        for key in (str(ing.checkpoint.resolve()), f"sha256:{ing.card.get('sha256')}"):
            if key in seen:
                raise ConfigError(
                    f"ingredients {seen[key]} and {ing.folder} are the same network "
                    f"({'one checkpoint, ' + str(ing.checkpoint) if not key.startswith('sha256:') else 'identical weights files'})"
                )
            seen[key] = ing.folder
    first = ingredients[0]
    for ing in ingredients[1:]:
        keys = SAME_NETWORK + SAME_DATA + (() if first.settings.get("pretrained", True) else ("seed",))
        for key in keys:
            a, b = first.settings.get(key), ing.settings.get(key)
            if key == "split_seed":  # what decides the split: split_seed, else seed
                a = first.settings.get("seed") if a is None else a
                b = ing.settings.get("seed") if b is None else b
            if key in PATH_LISTS:
                a, b = ([str(Path(p).resolve()) for p in (v or [])] for v in (a, b))
            if a != b:
                why = (
                    (" (trained without ImageNet weights, each seed starts from another random network: their average is not a working network)")
                    if key == "seed"
                    else ""
                )
                raise ConfigError(f"ingredients {first.folder} and {ing.folder} differ in {key}: {a!r} and {b!r}{why}")
        if sorted(first.card["training"]["split"].get("validation_groups", [])) != sorted(ing.card["training"]["split"].get("validation_groups", [])):
            raise ConfigError(
                f"ingredients {first.folder} and {ing.folder} were validated on other groups: "
                "the soup would be calibrated on files one of them trained on"
            )


def load_checked(ing: Ingredient) -> tuple[Any, dict[str, Any]]:
    """The ingredient's network with its checkpoint loaded, after checking it is its card's ONNX file."""
    import numpy as np
    import torch

    from deepdetector.model.card import ModelCard
    from deepdetector.training.export import check_parity
    from deepdetector.training.model import HEADS, build_model

    card = ModelCard.load(ing.folder)
    card.verify()
    try:
        state = torch.load(ing.checkpoint, map_location="cpu", weights_only=True)  # a state dict: no pickled code runs
    except Exception as exc:  # truncated or foreign file
        raise ConfigError(f"ingredient {ing.folder}: {ing.checkpoint} cannot be read as a torch checkpoint ({type(exc).__name__}: {exc})") from None
    state = state.get("model", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise ConfigError(f"ingredient {ing.folder}: {ing.checkpoint} holds no network weights")
    s = ing.settings
    model = build_model(HEADS, pretrained=False, taps=tuple(s["taps"]), backbone=s["backbone"])
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"ingredient {ing.folder}: {ing.checkpoint} does not fit the network its card describes") from exc
    size = int(s["input_size"])
    images = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    diff = check_parity(model, card.file, images)
    if diff > PARITY_TOLERANCE:
        raise ConfigError(
            f"ingredient {ing.folder}: {ing.checkpoint} is not the network its {card.file.name} was exported from "
            f"(outputs differ by {diff:.3g}): was its run folder reused or trained on?"
        )
    return model, state


def average(states: list[dict[str, Any]]) -> dict[str, Any]:
    """Uniform average of floating-point tensors; other buffers (BatchNorm step counts) from the first."""
    out = {}
    for key, first in states[0].items():
        if getattr(first, "is_floating_point", lambda: False)():
            out[key] = sum(s[key].double() for s in states).div(len(states)).to(first.dtype)
        else:
            out[key] = first.clone() if hasattr(first, "clone") else first
    return out


def check_outputs(ingredients: list[Ingredient], out: Path, run_dir: Path) -> None:
    """Refuse output folders that are an ingredient's: the soup would replace what it is made of."""
    taken = {}
    for ing in ingredients:
        taken[ing.folder.resolve()] = f"{ing.folder} (an ingredient's model folder)"
        taken[ing.checkpoint.parent.resolve()] = f"{ing.checkpoint.parent} (an ingredient's run folder)"
    for what, path in (("--out", out), ("--run-dir", run_dir)):
        if path.resolve() in taken:
            raise ConfigError(f"{what} {path} is {taken[path.resolve()]}: write the soup somewhere else")


def run_soup(
    folders: list[str | Path],
    out: str | Path,
    run_dir: str | Path,
    version: str,
    name: str | None = None,
    threads: int = 2,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Average the ingredients' checkpoints, then export, calibrate and measure like a training run."""
    import torch

    from deepdetector.training.train import TrainConfig, _finish, check_settings, prepare

    t_start = time.time()
    if not str(version).strip():
        raise ConfigError("--version must not be empty: it names the soup in its card")
    ingredients = [read_ingredient(f) for f in folders]
    check_ingredients(ingredients)
    check_outputs(ingredients, Path(out), Path(run_dir))
    torch.set_num_threads(max(1, threads))
    models, states = zip(*(load_checked(ing) for ing in ingredients))  # before minutes of face caching
    first = ingredients[0]
    known = {f.name for f in fields(TrainConfig)}
    base = {k: v for k, v in first.settings.items() if k in known}
    base.update(
        out=str(out),
        run_dir=str(run_dir),
        version=str(version),
        name=name or first.card.get("name", base.get("name")),
        threads=threads,
        progress=progress,
    )
    base["taps"] = tuple(base["taps"])
    cfg = TrainConfig(**base)
    check_settings(cfg)
    split, stats, _, val_faces, pools = prepare(cfg, log)
    groups = sorted({it.group for it in split.val})
    if groups != sorted(first.card["training"]["split"].get("validation_groups", [])):
        raise ConfigError(
            "the data the ingredients were trained on now splits into other validation groups "
            "(files added or removed?): the soup cannot be calibrated on the files they never saw"
        )
    model = models[0]
    model.load_state_dict(average(list(states)))
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), Path(run_dir) / "best.pt")  # `deepdetector export` re-exports it
    log(f"averaged {len(ingredients)} checkpoints into {Path(run_dir) / 'best.pt'}")
    record = {
        "method": "uniform average of the ingredients' weights (a model soup); calibrated and measured on their common validation files",
        "ingredients": [
            {
                "model": str(ing.folder),
                "name": ing.card.get("name"),
                "version": ing.card.get("version"),
                "sha256": ing.card.get("sha256"),
                "checkpoint": str(ing.checkpoint),
                "checkpoint_sha256": sha256_file(ing.checkpoint),
                "settings": ing.card["training"]["settings"],
                **{k: ing.card["training"].get(k) for k in ("epochs_run", "best_epoch", "best_validation_score", "train_seconds", "hardware")},
            }
            for ing in ingredients
        ],
    }
    state = {
        "epoch": None,
        "best": None,
        "best_epoch": None,
        "train_seconds": sum(float(ing.card["training"].get("train_seconds") or 0.0) for ing in ingredients),
    }
    return _finish(cfg, model, split, val_faces, pools, state, stats, t_start, log, extra={"soup": record})
