"""Training and measuring the temporal model (evidence/temporal.py).

    deepdetector fit-temporal MANIFEST... --out DIR [--seeds 0,1,2]

1. **Collect** (resumable, ``DIR/series/``): every video of the manifests is decoded as a scan
   decodes it (the same dense windows, the same face following) and each window's landmarks and
   grey patches are stored, one ``.npz`` per video.
2. **Measure**: the network is trained on some sources and scores the videos of the others. Every
   source (a talking-head generator family, a face-swap method, a real source; ``source_of``) is
   left out in turn, for each seed; the hand-made cues, fitted by a logistic regression on the same
   folds, are the comparison.
3. **Fit** the model on everything and export it to ONNX with a card (sha256, threshold, data).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepdetector.evidence.temporal import CHUNK, REGIONS, Sequence, chunks, feature_size, window_sequence
from deepdetector.evidence.window import PATCH, FaceSeries
from deepdetector.training.fusion import source_weights, threshold_for_fpr

# --- collecting ----------------------------------------------------------------------------------


def extract_series(path: str, config, landmarker, detector) -> list[FaceSeries]:
    """The dense windows' face series of one video, as a scan computes them (no classifier)."""
    from deepdetector.evidence.window import WindowFollower
    from deepdetector.faces.detect import detect_faces
    from deepdetector.media import open_media

    info, frames = open_media(path, config, windows=True)
    follower = WindowFollower(landmarker, lambda im: detect_faces(detector, im, config), config.min_face_size)
    for frame in frames:
        if frame.window is not None:
            follower.add(frame.window, frame.timestamp, frame.image)
    return follower.windows()


def save_series(target: Path, series: list[FaceSeries], meta: dict) -> None:
    arrays: dict[str, np.ndarray] = {}
    for k, s in enumerate(series):
        n = len(s.points)
        patches = np.zeros((n, len(REGIONS), PATCH, PATCH), np.uint8)
        have = np.zeros((n, len(REGIONS)), bool)
        for i, px in enumerate(s.pixels):
            for r, name in enumerate(REGIONS):
                if px is not None and name in px:
                    patches[i, r] = np.clip(np.rint(px[name]), 0, 255).astype(np.uint8)
                    have[i, r] = True
        arrays[f"w{k}_t"] = np.asarray(s.timestamps, np.float64)
        arrays[f"w{k}_points"] = s.as_array().astype(np.float32)
        arrays[f"w{k}_patches"] = patches
        arrays[f"w{k}_have"] = have
        arrays[f"w{k}_size"] = np.asarray(s.frame_size, np.int32)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    tmp = target.with_name(target.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(target)


def load_series(source: Path) -> tuple[list[FaceSeries], dict]:
    data = np.load(source)
    meta = json.loads(bytes(data["meta"]).decode())
    out = []
    k = 0
    while f"w{k}_t" in data:
        pts, patches, have = data[f"w{k}_points"], data[f"w{k}_patches"], data[f"w{k}_have"]
        s = FaceSeries(k, frame_size=tuple(int(v) for v in data[f"w{k}_size"]))
        for i, t in enumerate(data[f"w{k}_t"]):
            s.timestamps.append(float(t))
            s.points.append(None if np.isnan(pts[i, 0, 0]) else pts[i].astype(np.float64))
            px = {name: patches[i, r].astype(np.float32) for r, name in enumerate(REGIONS) if have[i, r]}
            s.pixels.append(px or None)
        out.append(s)
        k += 1
    return out, meta


def series_key(file: str) -> str:
    p = Path(file)
    st = p.stat()
    return hashlib.sha1(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:20]


@dataclass
class Video:
    """One collected video: its manifest row's facts and its windows' descriptors."""

    file: str
    label: int
    source: str
    subset: str
    group: str
    manifest: str
    kind: str = ""
    sequences: list[Sequence] = field(default_factory=list)
    cues: dict[str, float | None] = field(default_factory=dict)
    height: int = 0


def collect(manifests: list[Path], folder: Path, config=None, on_progress=None, log=print) -> list[Video]:
    """Every video of ``manifests`` with its series (collected now when not in ``folder``)."""
    from deepdetector.config import ScanConfig
    from deepdetector.datasets.manifest import read_manifest
    from deepdetector.errors import DeepDetectorError
    from deepdetector.evidence.cues import measure_cues
    from deepdetector.faces.detect import detector_from_config
    from deepdetector.landmarks import create_landmarker
    from deepdetector.training.fusion import source_of

    config = config or ScanConfig()
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(m, item) for m in manifests for item in read_manifest(m) if item.is_video]
    landmarker = detector = None
    videos = []
    for i, (manifest, item) in enumerate(rows):
        file = str(item.file)
        try:
            target = folder / f"{series_key(file)}.npz"
            series = None
            if target.is_file():
                try:
                    series, _ = load_series(target)
                except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # a damaged cache entry: collected again
                    log(f"collecting {file} again: its cached series {target.name} cannot be read ({exc})")
            if series is None:
                if landmarker is None:
                    landmarker = create_landmarker(config.landmarks or "facemesh", threads=config.threads)
                    detector = detector_from_config(config)
                series = extract_series(file, config, landmarker, detector)
                save_series(target, series, {"file": file})
                series, _ = load_series(target)  # as stored, so a first run and a resumed one see the same numbers
        except (DeepDetectorError, OSError, ValueError) as exc:
            log(f"skipped {file}: {exc}")
            continue
        seqs = [s for s in (window_sequence(x) for x in series) if s is not None]
        cues = {c.name: c.value for c in measure_cues(series)}
        source = source_of(item.source_dataset, item.label_name)
        if item.source_dataset.lower().startswith("self-made"):  # our own temporal fakes and their re-encoded reals
            source = MADE_PREFIX + (item.source_dataset if item.label_name == "fake" else "real")
        videos.append(Video(file, 1 if item.label_name == "fake" else 0, source,
                            item.source_dataset, item.group or item.path, Path(manifest).name, item.kind or "", seqs, cues,
                            series[0].frame_size[1] if series else 0))  # fmt: skip
        if on_progress is not None:
            on_progress(i + 1, len(rows))
    return videos


def chunk_matrix(videos: list[Video]) -> tuple[np.ndarray, np.ndarray]:
    """All chunks of the videos (N, CHUNK, D) and the index of the video each came from."""
    xs, owner = [], []
    for v, video in enumerate(videos):
        for s in video.sequences:
            c = chunks(s)
            xs.append(c)
            owner += [v] * len(c)
    if not xs:
        return np.zeros((0, CHUNK, feature_size()), np.float32), np.zeros(0, int)
    return np.concatenate(xs).astype(np.float32), np.asarray(owner)


def seed_of(text: str) -> int:
    return zlib.crc32(text.encode())


# --- the network (torch; training only) -----------------------------------------------------------


def build_network(features: int, width: int = 32, dropout: float = 0.2):
    """Per-frame projection, two temporal convolutions, mean and max over time, one logit."""
    import torch
    from torch import nn

    class TemporalNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.frame = nn.Sequential(nn.Linear(features, width), nn.GELU(), nn.Dropout(dropout))
            self.time = nn.Sequential(
                nn.Conv1d(width, width, 5, padding=2), nn.GELU(),
                nn.Conv1d(width, width, 5, padding=4, dilation=2), nn.GELU(),
            )  # fmt: skip
            self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * width, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, T, D) -> (N,)
            h = self.frame(x).transpose(1, 2)
            h = self.time(h)
            pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
            return self.head(pooled).squeeze(1)

    return TemporalNet()


@dataclass
class FitSettings:
    epochs: int = 40
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-2
    width: int = 32
    noise: float = 0.1  # Gaussian noise added to the standardised descriptors while training
    threads: int = 1  # torch threads (the network is tiny: more threads mostly wait on each other)


@dataclass
class FittedTemporal:
    """A trained network with the standardisation of its inputs."""

    net: object
    mean: np.ndarray
    scale: np.ndarray

    def chunk_logits(self, x: np.ndarray) -> np.ndarray:
        import torch

        self.net.eval()
        with torch.no_grad():
            z = torch.from_numpy(((x - self.mean) / self.scale).astype(np.float32))
            return self.net(z).numpy()

    def video_scores(self, videos: list[Video]) -> np.ndarray:
        """Mean chunk log-odds per video (NaN for a video without a usable window)."""
        x, owner = chunk_matrix(videos)
        out = np.full(len(videos), np.nan)
        if len(x):
            logits = self.chunk_logits(x)
            for v in range(len(videos)):
                m = owner == v
                if m.any():
                    out[v] = float(logits[m].mean())
        return out


def fit_network(videos: list[Video], seed: int, settings: FitSettings | None = None) -> FittedTemporal:
    import torch

    settings = settings or FitSettings()
    x, owner = chunk_matrix(videos)
    y = np.array([videos[o].label for o in owner], np.float32)
    w_video = source_weights(videos)
    per_video_chunks = np.bincount(owner, minlength=len(videos)).astype(np.float64)
    w = w_video[owner] / per_video_chunks[owner]
    w = w / w.sum()
    flat = x.reshape(-1, x.shape[-1])
    mean = flat.mean(axis=0)
    scale = flat.std(axis=0) + 1e-3
    xz = ((x - mean) / scale).astype(np.float32)
    torch.set_num_threads(settings.threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_network(x.shape[-1], settings.width)
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps = max(1, len(x) // settings.batch)
    total = settings.epochs * steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=total)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    net.train()
    for _ in range(total):
        idx = rng.choice(len(x), size=settings.batch, p=w)  # weighted draws: sources and classes balanced
        xb = xz[idx]
        if rng.random() < 0.5:
            xb = xb[:, ::-1]  # time reversed: motion statistics do not depend on its direction
        xb = torch.from_numpy(np.ascontiguousarray(xb))
        xb = xb + settings.noise * torch.randn_like(xb)
        loss = loss_fn(net(xb), torch.from_numpy(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return FittedTemporal(net, mean.astype(np.float32), scale.astype(np.float32))


# --- the hand-made cues on the same folds (the comparison) ----------------------------------------


def cue_matrix(videos: list[Video]) -> np.ndarray:
    from deepdetector.training.fusion import LOG_INPUTS, NOT_FUSED

    names = sorted({k for v in videos for k in v.cues if k not in NOT_FUSED})
    out = np.zeros((len(videos), len(names)))
    for i, v in enumerate(videos):
        for j, name in enumerate(names):
            value = v.cues.get(name)
            if value is None or not np.isfinite(value):
                out[i, j] = np.nan
            else:
                out[i, j] = np.log(max(value, 1e-6)) if name in LOG_INPUTS else value
    return out


def fit_cues(x_train: np.ndarray, videos: list[Video]):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(C=0.3, max_iter=2000))
    model.fit(x_train, [v.label for v in videos], logisticregression__sample_weight=source_weights(videos) * len(videos))
    return model


# --- leaving sources out --------------------------------------------------------------------------


@dataclass
class Scheme:
    """What the model may train on when a source is left out: the self-made fakes and their reals
    (``made``), the training manifests' real clips (``reals``) and, with ``use_judged``, the judged
    videos of every other source."""

    name: str
    use_made: bool = True
    use_judged: bool = False


def leave_sources_out(judged: list[Video], pool: list[Video], scheme: Scheme, seed: int, fpr: float,
                      settings: FitSettings | None = None, log=None) -> dict[str, np.ndarray]:  # fmt: skip
    """Scores for every video of ``judged`` (and of the real clips in ``pool`` that are not self-made)
    from models that never saw its source: {"net"|"cues": score, "net_threshold"|"cues_threshold": ...}.

    ``pool`` holds the always-available training videos (self-made fakes and reals, real clips of
    the training manifests). A fold leaves out one source: every video of that source, and every
    video sharing a group with one of them (a self-made fake of a left-out real clip goes too)."""

    everyone = judged + [v for v in pool if not v.source.startswith(MADE_PREFIX)]
    made = [v for v in pool if v.source.startswith(MADE_PREFIX)]
    n = len(everyone)
    out = {k: np.full(n, np.nan) for k in ("net", "cues", "net_threshold", "cues_threshold")}
    candidates = (made if scheme.use_made else []) + [v for v in pool if not v.source.startswith(MADE_PREFIX)]
    if scheme.use_judged:
        candidates += judged
    in_training = {v.source for v in candidates} | {v.group for v in candidates}
    # a source no training video shares a source or group with is scored by one model of everything
    # (the same model its own fold would train); every other source gets its own fold
    unseen = sorted({v.source for v in everyone if v.source not in in_training and v.group not in in_training})
    folds = [(s,) for s in sorted({v.source for v in everyone} - set(unseen))] + ([tuple(unseen)] if unseen else [])
    for k, fold in enumerate(folds):
        held = np.array([v.source in fold for v in everyone])
        groups = {v.group for v, h in zip(everyone, held) if h}
        train = [v for v in candidates if v.source not in fold and v.group not in groups and v.sequences]
        if len({v.label for v in train}) < 2:
            continue
        fitted = fit_network(train, seed_of(f"{seed}|{','.join(fold)}"), settings)
        train_scores = fitted.video_scores(train)
        reals = [i for i, v in enumerate(train) if v.label == 0 and np.isfinite(train_scores[i])]
        threshold = threshold_for_fpr(train_scores[reals], source_weights([train[i] for i in reals]), fpr)
        idx = np.flatnonzero(held)
        out["net"][idx] = fitted.video_scores([everyone[i] for i in idx])
        out["net_threshold"][idx] = threshold
        x_train = cue_matrix(train + [everyone[i] for i in idx])
        if x_train.shape[1] == 0:  # no cue measured anywhere
            continue
        cue_model = fit_cues(x_train[: len(train)], train)
        cue_train = cue_model.decision_function(x_train[: len(train)])
        out["cues"][idx] = cue_model.decision_function(x_train[len(train) :])
        out["cues_threshold"][idx] = threshold_for_fpr(cue_train[reals], source_weights([train[i] for i in reals]), fpr)
        if log is not None:
            log(f"  [{k + 1}/{len(folds)}] {', '.join(fold)}: trained on {len(train)} videos")
    out["videos"] = everyone  # type: ignore[assignment]
    return out


MADE_PREFIX = "made: "


# --- the report -----------------------------------------------------------------------------------


def is_talking_head(v: Video) -> bool:
    return v.label == 1 and "talking-head" in v.kind


def is_face_swap(v: Video) -> bool:
    return v.label == 1 and (v.source.startswith("fake: FaceForensics") or v.source.startswith("fake: DFDC"))


def summarise(videos: list[Video], score: np.ndarray, threshold: np.ndarray) -> dict[str, float | int | None]:
    """The figures of one scheme, method and seed (NaN scores, videos with no usable window, rank
    lowest: a detector that cannot judge a video does not get credit for it)."""
    from deepdetector.metrics import roc_auc

    s = np.where(np.isfinite(score), score, -1e9)
    real = np.array([v.label == 0 for v in videos])
    talking = np.array([is_talking_head(v) for v in videos])
    swap = np.array([is_face_swap(v) for v in videos])
    ffpp_real = np.array([v.label == 0 and v.source.startswith("real: FaceForensics") for v in videos])

    def auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
        m = pos | neg
        return roc_auc(pos[m].astype(int), s[m]).value

    flagged = s >= threshold
    out: dict[str, float | int | None] = {
        "talking_auc": auc(talking, real),
        "swap_auc": auc(swap, ffpp_real),
        "talking_flagged": int((flagged & talking).sum()),
        "talking_n": int(talking.sum()),
        "real_flagged": int((flagged & real).sum()),
        "real_n": int(real.sum()),
    }
    for family in sorted({v.source for v in videos if is_talking_head(v)}):
        fam = np.array([v.source == family for v in videos])
        out[f"auc {family.removeprefix('fake: ')}"] = auc(fam, real)
    return out


def seed_table(results: dict[str, list[dict]]) -> list[str]:
    """Markdown: one row per scheme and method, seed mean and range of each figure."""

    def cell(values: list, pct: bool = False) -> str:
        vals = [v for v in values if v is not None]
        if not vals:
            return "-"
        m, lo, hi = float(np.mean(vals)), min(vals), max(vals)
        return f"{m:.3f} ({lo:.2f}-{hi:.2f})" if not pct else f"{m:.0%} ({lo:.0%}-{hi:.0%})"

    lines = [
        "| scheme, method | talking heads vs all reals, AUC | face swaps vs FF++ reals, AUC | talking heads flagged | reals flagged (left-out sources) |",
        "|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        th = [r["talking_flagged"] / max(1, r["talking_n"]) for r in runs]
        fa = [r["real_flagged"] / max(1, r["real_n"]) for r in runs]
        lines.append(f"| {name} | {cell([r['talking_auc'] for r in runs])} | {cell([r['swap_auc'] for r in runs])} | "
                     f"{cell(th, True)} of {runs[0]['talking_n']} | {cell(fa, True)} of {runs[0]['real_n']} |")  # fmt: skip
    return lines


def generator_table(results: dict[str, list[dict]]) -> list[str]:
    """Markdown: AUC of each left-out generator family against every real video, seed mean."""
    names = list(results)
    families = sorted({k for runs in results.values() for k in runs[0] if k.startswith("auc ")})
    lines = ["| generator (left out) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for fam in families:
        row = []
        for name in names:
            vals = [r.get(fam) for r in results[name] if r.get(fam) is not None]
            row.append(f"{np.mean(vals):.2f}" if vals else "-")
        lines.append(f"| {fam.removeprefix('auc ')} | " + " | ".join(row) + " |")
    return lines


# --- export ---------------------------------------------------------------------------------------


def export(fitted: FittedTemporal, path: Path, card: dict) -> Path:
    """Write the network, with its input standardisation inside the graph, as ONNX (input ``chunks``
    (N, CHUNK, D) float32, output ``logit`` (N,)), and its card (JSON, same stem) with the sha256."""
    import torch

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = fitted.net
            self.register_buffer("mean", torch.from_numpy(fitted.mean))
            self.register_buffer("scale", torch.from_numpy(fitted.scale))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net((x - self.mean) / self.scale)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = Exported().eval()
    dummy = torch.zeros((1, CHUNK, feature_size()), dtype=torch.float32)
    with torch.no_grad():
        torch.onnx.export(model, (dummy,), str(path), input_names=["chunks"], output_names=["logit"],
                          dynamic_axes={"chunks": {0: "N"}, "logit": {0: "N"}}, opset_version=17, dynamo=False)  # fmt: skip
    from deepdetector.evidence.temporal import FEATURE_VERSION

    card = {**card, "feature_version": FEATURE_VERSION, "chunk": CHUNK, "features": feature_size(),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}  # fmt: skip
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return path


def card_for(fitted: FittedTemporal, data: list[Video], scheme: Scheme, command: str, results: dict, fpr: float) -> dict:
    """The card of a fitted model: what it trained on, its threshold and the measured figures."""
    from collections import Counter

    usable = [v for v in data if v.sequences]
    scores = fitted.video_scores(usable)
    reals = [i for i, v in enumerate(usable) if v.label == 0 and np.isfinite(scores[i])]
    threshold = threshold_for_fpr(scores[reals], source_weights([usable[i] for i in reals]), fpr)
    return {
        "name": "deepdetector-temporal",
        "scheme": scheme.name,
        "threshold_logit": float(threshold),
        "threshold": float(1.0 / (1.0 + np.exp(-threshold))),
        "trained_on": {f"{'fake' if k[1] else 'real'}: {k[0]}": n for k, n in sorted(Counter((v.subset, v.label) for v in usable).items())},
        "command": command,
        "measured": results,
    }
