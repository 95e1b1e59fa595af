"""Probe training: frozen ImageNet backbone, per-head linear CAM heads fitted on pooled features.

The CAM head is a 1x1 convolution and the logit is the spatial mean of the CAM, so the logit is
exactly a linear function of the spatially pooled backbone features. With the backbone frozen,
training the heads is (weighted, L2-regularised) logistic regression on pooled features, and the
expensive part, one forward pass per training sample, is done once and cached
(``run_dir/features/*.npz``, resumable). This is the method for CPU-only budgets where
fine-tuning sees too few samples (``--method finetune`` fine-tunes instead).

Training samples are drawn exactly as for fine-tuning (:func:`deepdetector.training.data.make_batch`,
chunk ``c`` seeded with ``[seed, 0, c]``): self-blended pairs, generated faces with real images of
the same sources, and real manipulated video faces of training groups with real video faces.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from deepdetector.metrics import roc_auc
from deepdetector.training.backbones import DEFAULT_BACKBONE
from deepdetector.training.data import BatchSpec, Pools, SampleConfig, make_batch

_STATE: dict[str, Any] = {}


def _init_worker(
    pools: Pools,
    spec: BatchSpec,
    scfg: SampleConfig,
    seed: int,
    pretrained: bool,
    threads: int,
    taps: tuple[int, ...] = (),
    backbone: str = DEFAULT_BACKBONE,
) -> None:
    import torch

    from deepdetector.training.model import HEADS, build_model

    torch.set_num_threads(max(1, threads))
    _STATE.update(pools=pools, spec=spec, scfg=scfg, seed=seed, model=build_model(HEADS, pretrained=pretrained, taps=taps, backbone=backbone).eval())


def pooled_features(model: Any, images: np.ndarray, batch: int = 32) -> np.ndarray:
    """Spatially pooled final backbone features [N, C] of uint8 NHWC images."""
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = torch.from_numpy(images[s : s + batch]).permute(0, 3, 1, 2).to(torch.float32)
            x = (x - 127.0) / 128.0
            out.append(model.feature_map(x).mean(dim=(2, 3)).numpy())
    return np.concatenate(out) if out else np.zeros((0, 1280), np.float32)


def _train_chunk(chunk: int) -> tuple[int, np.ndarray, np.ndarray]:
    st = _STATE
    rng = np.random.default_rng([st["seed"], 0, chunk])
    imgs, labels = make_batch(st["pools"], st["spec"], st["scfg"], rng)
    return chunk, pooled_features(st["model"], imgs), labels


def _eval_chunk(args: tuple[int, np.ndarray]) -> tuple[int, np.ndarray]:
    k, imgs = args
    return k, pooled_features(_STATE["model"], imgs)


class _InProcess:
    """One worker: the chunks are computed in this process, in order (no fork: a process forked
    while other threads hold locks, onnxruntime's or torch's, can hang on them)."""

    def __init__(self, init_args: tuple) -> None:
        _init_worker(*init_args)

    def imap_unordered(self, fn: Callable, items: Any):
        return map(fn, items)

    def terminate(self) -> None:
        pass

    def __enter__(self) -> "_InProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        _STATE.clear()


def _workers(processes: int, init_args: tuple):
    """A pool of ``processes`` forked workers, or the chunks in this process when only one is asked for."""
    import multiprocessing as mp

    if processes <= 1:
        return _InProcess(init_args)
    return mp.get_context("fork").Pool(processes, initializer=_init_worker, initargs=init_args)


def extract_training_features(
    pools: Pools,
    spec: BatchSpec,
    scfg: SampleConfig,
    seed: int,
    chunks: int,
    folder: Path,
    processes: int = 2,
    threads: int = 1,
    pretrained: bool = True,
    log: Callable[[str], None] = print,
    val_images: np.ndarray | None = None,
    time_limit_s: float | None = None,
    taps: tuple[int, ...] = (),
    backbone: str = DEFAULT_BACKBONE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Features and labels of ``chunks`` training batches (cached per chunk in ``folder``), and of ``val_images``."""
    folder.mkdir(parents=True, exist_ok=True)
    todo = [c for c in range(chunks) if not (folder / f"train_{c:05d}.npz").is_file()]
    val_path = folder / "val.npz"
    val_chunks: list[tuple[int, np.ndarray]] = []
    if val_images is not None and not val_path.is_file():
        val_chunks = [(k, val_images[s : s + 32]) for k, s in enumerate(range(0, len(val_images), 32))]
    t0 = time.time()
    if todo or val_chunks:
        init_args = (pools, spec, scfg, seed, pretrained, threads, taps, backbone)
        with _workers(processes, init_args) as pool:
            if val_chunks:
                parts = dict(pool.imap_unordered(_eval_chunk, val_chunks))
                np.savez(val_path, features=np.concatenate([parts[k] for k in range(len(val_chunks))]))
                log(f"validation features: {len(val_images)} crops in {time.time() - t0:.0f} s")
            done = 0
            for c, feats, labels in pool.imap_unordered(_train_chunk, todo):
                np.savez(folder / f"train_{c:05d}.npz", features=feats, labels=labels)
                done += 1
                if done % 10 == 0 or done == len(todo):
                    el = time.time() - t0
                    log(f"training features: {done}/{len(todo)} chunks, {el:.0f} s")
                if time_limit_s is not None and time.time() - t0 > time_limit_s:
                    log(f"feature time limit reached after {done} chunks")
                    pool.terminate()
                    break
    feats, labels = [], []
    for c in range(chunks):  # only the unbroken run 0..k-1, so that --probe-chunks k reproduces a cut-short run
        p = folder / f"train_{c:05d}.npz"
        if not p.is_file():
            break
        with np.load(p) as z:
            feats.append(z["features"])
            labels.append(z["labels"])
    val = None
    if val_path.is_file():
        with np.load(val_path) as z:
            val = z["features"]
    return np.concatenate(feats), np.concatenate(labels), val


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Class-balanced L2-regularised logistic regression: weights [C] and bias (on standardised x)."""
    from scipy.optimize import minimize

    w_cls = np.where(y == 1, 0.5 / max(1, (y == 1).sum()), 0.5 / max(1, (y == 0).sum()))

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = p[:-1], p[-1]
        z = x @ w + b
        l = (w_cls * (np.logaddexp(0.0, z) - y * z)).sum() + 0.5 * l2 * (w @ w)
        g = w_cls * (1.0 / (1.0 + np.exp(-z)) - y)
        return float(l), np.concatenate([x.T @ g + l2 * w, [g.sum()]])

    res = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x[:-1], float(res.x[-1])


def fit_heads(
    feats: np.ndarray,
    labels: np.ndarray,
    val_feats: np.ndarray | None,
    val_y: np.ndarray | None,
    val_kind: np.ndarray | None,
    heads: tuple[str, ...],
    l2_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1),
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Fit each head; pick its L2 strength by validation AUC. Returns conv weights [K,C], biases [K], report."""
    mu = feats.mean(axis=0)
    sd = feats.std(axis=0) + 1e-6
    xs = (feats - mu) / sd
    W = np.zeros((len(heads), feats.shape[1]), np.float32)
    B = np.zeros(len(heads), np.float32)
    report: dict[str, Any] = {}
    for k, h in enumerate(heads):
        sel = labels[:, k] >= 0
        x, y = xs[sel], labels[sel, k]
        best = None
        for l2 in l2_grid:
            w, b = fit_logistic(x, y, l2)
            auc = None
            if val_feats is not None:
                vsel = (val_kind == h) | (val_y == 0)
                auc = roc_auc(val_y[vsel], ((val_feats[vsel] - mu) / sd) @ w + b).value
            score = auc if auc is not None else 0.0
            report.setdefault(h, {})[f"l2={l2:g}"] = {"val_frame_auc": auc, "train_auc": roc_auc(y, x @ w + b).value}
            if best is None or score > best[0]:
                best = (score, l2, w, b)
        _, l2, w, b = best
        report[h]["chosen_l2"] = l2
        report[h]["n_train"] = {"fake": int((y == 1).sum()), "real": int((y == 0).sum())}
        W[k] = w / sd
        B[k] = b - float((w / sd) @ mu)
    return W, B, report
