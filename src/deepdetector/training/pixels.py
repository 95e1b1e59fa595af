"""Fitting the pixel heads (evidence/pixels.py) and measuring them on files they never saw.

    deepdetector fit-pixels ../shared/data/dev_manifest.csv ../shared/data/train_manifest.csv --out runs/pixels

1. **Select** the photos: generated faces (``gan-image`` StyleGAN2 and GPEN edits, ``diffusion-image``)
   and real photos, at most ``cap`` per real source (files the face classifier never trained on first).
2. **Split** them: files in the shipped model card's validation list are held out (``test``); the
   others by a hash of their group (or path when it has none), half and half, so no file is scored by
   a head fitted on it, and a group stays on one side.
3. **Collect**: each photo as given (variant 0) and ``augment`` copies (JPEG 60-100 with several
   quantisation tables, resizing, blur; both classes alike), each scanned by the shipped models
   (largest face's box, the photo's probability) and measured at its own resolution (resumable:
   ``features.jsonl``).
4. **Fit** each head (logistic, standardised, classes and real sources weighted equally) on the fit
   half; its out-of-fold scores choose the thresholds so that no real source exceeds the false-alarm
   target; score the held-out half and write the tables.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepdetector.evidence.pixels import FEATURE_NAMES, PATCH, PATCHES, PixelHead, PixelModel, family_of
from deepdetector.metrics import logit

#: the shipped models' scores the heads read (as log-odds), beside the feature heads
SCORE_NAMES = ("swap", "synthetic", "generated")
HEADS = {
    # head name -> (the fakes it learns, the sentence shown when it flags a face)
    "gan_pixels": (
        "StyleGAN2",
        "the face and its pixels look like a GAN's output (up-sampling traces and texture, with the face classifier's scores)",
    ),
    "diffusion_pixels": (
        "Stable Diffusion",
        "the face and its pixels look like a diffusion model's output (noise and texture, with the face classifier's scores)",
    ),
}
MIN_SOURCE = 20  # real sources with fewer held files are pooled as "other real photos"


def source_name(source_dataset: str) -> str:
    """A short source name for the tables; small real sources pooled."""
    s = source_dataset.lower()
    for key, name in (("stylegan", "StyleGAN2"), ("gpen", "GPEN edits"), ("stable diffusion", "Stable Diffusion 2.1"),
                      ("celebrity photos", "press/celebrity photos"), ("ffhq", "FFHQ"),
                      ("web face crops", "web face crops"), ("film", "film stills"),
                      ("voxceleb", "VoxCeleb frames"), ("lfw", "LFW"), ("lrw", "LRW frames")):  # fmt: skip
        if key in s:
            return name
    return "other real photos"


def _hash_half(key: str) -> bool:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 2 == 1


def split_keys(files: list[Path]) -> dict[Path, str]:
    """The unit a file is split with: its name without the trailing number (an identity, a clip, a
    sequence: ``HrithikRoshan_135`` -> ``HrithikRoshan``), or, where that name covers more than a
    quarter of the source (numbered files, long frame sequences), the name with the number in
    blocks of 10 (nearby frames stay together)."""
    import re

    stems = {f: re.match(r"^(.*?)((?:[_\-]?\d+)*)$", f.stem) for f in files}
    count = defaultdict(int)
    for m in stems.values():
        count[m.group(1)] += 1
    out = {}
    for f, m in stems.items():
        if count[m.group(1)] * 4 <= len(files):
            out[f] = m.group(1)
        else:
            digits = re.findall(r"\d+", m.group(2))
            out[f] = f"{m.group(1)}#{int(digits[-1]) // 10 if digits else f.stem}"
    return out


@dataclass
class Photo:
    file: str
    label: int
    source: str
    split: str  # "fit" or "test"
    seen: bool  # the shipped face classifier trained on it


def select(manifests: list[Path], validation: set[str], unseen: set[str] | None, cap: int, seed: int = 0) -> list[Photo]:
    """The photos to use, each with its source and split (see the module's docstring)."""
    from deepdetector.datasets.manifest import read_manifest

    by_source: dict[str, list] = defaultdict(list)
    for manifest in manifests:
        for item in read_manifest(manifest):
            if item.is_video:
                continue
            by_source[source_name(item.source_dataset) if item.label == 1 or "image" in item.kind else "other real photos"].append(item)
    rng = np.random.default_rng(seed)
    out = []
    for source, items in sorted(by_source.items()):
        items = sorted(items, key=lambda it: str(it.file))
        validated = any(str(it.file.resolve()) in validation for it in items)
        if items[0].label == 0 and len(items) > cap and not validated:
            # files the classifier never trained on first, then a seeded sample of the rest
            order = rng.permutation(len(items))
            items = sorted((items[i] for i in order), key=lambda it: unseen is not None and str(it.file.resolve()) not in unseen)[:cap]
        keys = split_keys([it.file for it in items])
        for it in items:
            path = str(it.file.resolve())
            in_val = path in validation
            if validated:  # the classifier's own split: its validation files held out, the rest (it trained on) to fit
                split = "test" if in_val else "fit"
            elif source == "GPEN edits":  # face edits: measured, never learnt (they lowered GAN results in the probe)
                split = "test"
            else:
                split = "test" if _hash_half(f"{source}:{keys[it.file]}") else "fit"
            seen = not in_val and (unseen is None or path not in unseen)  # dev files outside validation: trained on
            out.append(Photo(path, it.label, source, split, bool(seen)))
    return out


# --- augmentation ---------------------------------------------------------------------------------

JPEG_PRESETS = ("web_medium", "web_high", "web_very_high", "web_maximum", "medium", "high", "maximum")


def augment(image, rng: np.random.Generator) -> tuple[bytes, str]:
    """A JPEG of the (PIL, RGB) picture after random resizing (30%) and blur (20%), at quality
    60-100 with libjpeg's tables and 4:4:4 or 4:2:0 chroma, or with one of Pillow's preset
    quantisation tables. Returns the bytes and what was done."""
    from PIL import Image, ImageFilter

    done = []
    if rng.random() < 0.3:
        s = float(rng.uniform(0.5, 1.5))
        w, h = image.size
        method = [Image.BILINEAR, Image.BICUBIC, Image.LANCZOS, Image.BOX][int(rng.integers(4))]
        image = image.resize((max(64, round(w * s)), max(64, round(h * s))), method)
        done.append(f"resize {s:.2f}")
    if rng.random() < 0.2:
        r = float(rng.uniform(0.3, 1.2))
        image = image.filter(ImageFilter.GaussianBlur(r))
        done.append(f"blur {r:.2f}")
    buf = io.BytesIO()
    if rng.random() < 0.5:
        q, sub = int(rng.integers(60, 101)), int(rng.choice([0, 2]))
        image.save(buf, "JPEG", quality=q, subsampling=sub)
        done.append(f"jpeg q{q} sub{sub}")
    else:
        preset = JPEG_PRESETS[int(rng.integers(len(JPEG_PRESETS)))]
        image.save(buf, "JPEG", quality=preset)
        done.append(f"jpeg {preset}")
    return buf.getvalue(), ", ".join(done)


# --- collecting -----------------------------------------------------------------------------------


def collect(photos: list[Photo], features: Path, variants: int, config=None, on_progress=None) -> int:
    """Scan and measure each photo as given and ``variants - 1`` augmented copies, appending to
    ``features`` (JSON Lines; rows already there are kept). Returns how many were measured now."""
    import tempfile

    from PIL import Image

    from deepdetector.api import Detector
    from deepdetector.config import ScanConfig
    from deepdetector.evidence.pixels import photo_features
    from deepdetector.media import open_media

    done = set()
    if features.is_file():
        for line in features.read_text().splitlines():
            if line.strip():
                raw = json.loads(line)
                done.add((raw["file"], raw["variant"]))
    todo = [(p, v) for p in photos for v in range(variants) if (p.file, v) not in done]
    todo = [todo[i] for i in np.random.default_rng(0).permutation(len(todo))]  # sources mixed: a partial run is usable
    if not todo:
        return 0
    cfg = (config or ScanConfig()).with_(pixels=False, heatmaps=False, landmarks=None)
    detector = Detector(cfg)
    features.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, features.open("a") as out:
        for i, (photo, variant) in enumerate(todo):
            path, how = photo.file, "as given"
            if variant > 0:
                rng = np.random.default_rng(int(hashlib.sha256(f"{photo.file}:{variant}".encode()).hexdigest()[:8], 16))
                try:
                    with Image.open(photo.file) as im:
                        data, how = augment(im.convert("RGB"), rng)
                except (OSError, ValueError) as exc:
                    data, how = b"", f"unreadable: {exc}"
                path = str(Path(tmp) / f"v{variant}.jpg")
                Path(path).write_bytes(data)
            res = detector.scan(path)
            row = {"file": photo.file, "variant": variant, "augment": how, "label": photo.label, "source": photo.source,
                   "split": photo.split, "seen": photo.seen, "probability": res.probability, "verdict": res.verdict.value,
                   "error": res.error, "faces": len(res.faces), "scores": None, "features": None}  # fmt: skip
            if res.error is None:
                _, frames = open_media(path, cfg)
                image = next(iter(frames)).image
                face = max(res.faces, key=lambda f: f.box.area) if res.faces else None
                row["scores"] = None if face is None else face.scores
                row["height"], row["width"] = int(image.shape[0]), int(image.shape[1])
                row["features"] = photo_features(image, None if face is None else face.box, PATCH, PATCHES)
            out.write(json.dumps(row) + "\n")
            out.flush()
            if on_progress is not None:
                on_progress(i + 1, len(todo))
    return len(todo)


@dataclass
class Row:
    file: str
    variant: int
    label: int
    source: str
    split: str
    seen: bool
    probability: float | None  # the shipped models' photo probability (None: no face)
    x: np.ndarray  # FEATURE_NAMES order, NaN where missing
    scores: dict | None = None  # the largest face's scores from the shipped models


def load_rows(features: Path) -> list[Row]:
    rows = []
    for line in features.read_text().splitlines():
        raw = json.loads(line)
        if raw.get("features") is None:
            continue
        f = raw["features"]
        x = np.array([np.nan if f.get(k) is None else float(f[k]) for k in FEATURE_NAMES])
        rows.append(
            Row(raw["file"], raw["variant"], raw["label"], raw["source"], raw["split"], raw["seen"], raw["probability"], x, raw.get("scores"))
        )
    return rows


# --- fitting --------------------------------------------------------------------------------------


def fold_of(file: str, folds: int) -> int:
    """A file's fold, from its folder's and its own name (the same wherever the data lies)."""
    p = Path(file)
    return int(hashlib.sha256(f"{p.parent.name}/{p.name}".encode()).hexdigest()[:8], 16) % folds


def check_enough(rows: list[Row]) -> None:
    """Raise a clear error when a head lacks fakes or reals to fit on (fit half) or to fuse and
    measure on (each of the two held-out folds)."""
    from deepdetector.errors import DeepDetectorError

    for head, (fake, _) in HEADS.items():
        for split, folds in (("fit", 1), ("test", 2)):
            for k in range(folds):
                part = [r for r in rows if r.split == split and (folds == 1 or fold_of(r.file, 2) == k)
                        and (split == "fit" or (r.probability is not None and r.scores))]  # fmt: skip
                n_fake = sum(r.label == 1 and r.source.startswith(fake) for r in part)
                n_real = sum(r.label == 0 for r in part)
                if n_fake < 2 or n_real < 2:
                    where = "the fit half" if split == "fit" else f"held-out fold {k + 1} of 2"
                    raise DeepDetectorError(f"{head} needs at least 2 {fake} photos and 2 real photos with a face in {where}; "
                                            f"it has {n_fake} and {n_real}: add photos to the manifests")  # fmt: skip


def weights(rows: list[Row]) -> np.ndarray:
    """Classes weigh the same, and within a class each source the same (as the video fusion's), mean 1."""
    from deepdetector.training.fusion import source_weights

    w = source_weights(rows)  # reads .source and .label
    return w / w.mean()


def fit_head(rows: list[Row], inputs: list[int], strength: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Logistic regression on standardised inputs (missing = the mean): mean, scale, coef, intercept."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([r.x[inputs] for r in rows])
    y = np.array([r.label for r in rows])
    finite = np.isfinite(x)
    cnt = np.maximum(finite.sum(axis=0), 1)
    mean = np.where(finite, x, 0.0).sum(axis=0) / cnt
    scale = np.sqrt(np.where(finite, (x - mean) ** 2, 0.0).sum(axis=0) / cnt)
    scale[~(scale > 1e-9)] = 1.0
    z = np.where(finite, (x - mean) / scale, 0.0)
    clf = LogisticRegression(C=strength, max_iter=2000)
    clf.fit(z, y, sample_weight=weights(rows))
    return mean, scale, clf.coef_[0], float(clf.intercept_[0])


def head_logits(rows: list[Row], inputs: list[int], params) -> np.ndarray:
    mean, scale, coef, intercept = params
    x = np.array([r.x[inputs] for r in rows]).reshape(len(rows), len(inputs))
    z = np.where(np.isfinite(x), (x - mean) / scale, 0.0)
    return intercept + z @ coef


def head_rows(rows: list[Row], fake_source: str) -> list[Row]:
    """The rows a head learns from: its fakes and every real photo."""
    return [r for r in rows if r.label == 0 or r.source.startswith(fake_source)]


def out_of_fold(rows: list[Row], inputs: list[int], strength: float, folds: int = 5) -> np.ndarray:
    """Each row's logit from a head fitted without its file (folds by file hash, every variant of a file together)."""
    fold = np.array([fold_of(r.file, folds) for r in rows])
    out = np.zeros(len(rows))
    for k in range(folds):
        train = [r for r, f in zip(rows, fold) if f != k]
        held = [r for r, f in zip(rows, fold) if f == k]
        if not held or len({r.label for r in train}) < 2:
            continue
        out[fold == k] = head_logits(held, inputs, fit_head(train, inputs, strength))
    return out


def worst_source_threshold(scores: np.ndarray, sources: list[str], rate: float) -> float:
    """The lowest threshold at which no real source has more than ``rate`` of its scores at or above it."""
    t = -np.inf
    for s in set(sources):
        v = np.sort(scores[np.array([x == s for x in sources])])[::-1]
        k = int(math.floor(rate * len(v) + 1e-9))  # at most k may be flagged
        if k < len(v):
            t = max(t, float(np.nextafter(v[k], np.inf)))
    return float(t)


def choose_thresholds(reals: dict[str, np.ndarray], real_sources: list[str], fakes: dict[str, np.ndarray], fake_sources: list[str],
                      target: float, groups: dict[str, list[str]], fixed: dict[str, float] | None = None) -> tuple[dict[str, float], dict[str, float]]:  # fmt: skip
    """Thresholds for the parts of the photo score (``groups``: a budget name -> the parts sharing it;
    ``fixed``: parts whose threshold is given, which flag photos too: on a real source where they
    alone already exceed ``target``, the other parts may add no false alarm).

    Each part's threshold lets ``q`` of its worst real source through, with one ``q`` per budget
    from a grid; of the combinations for which a photo flagged by any part keeps every real source at
    or under ``target``, the one flagging the largest mean share of the fake sources wins. Returns
    the thresholds and the budgets."""
    import itertools

    real_src = np.array(real_sources)
    fake_src = np.array(fake_sources)
    by_fixed = np.zeros(len(real_src), bool)
    for part, t in (fixed or {}).items():
        by_fixed |= reals[part] >= t
    allowed = {s: max(target, float(by_fixed[real_src == s].mean())) for s in set(real_sources)}
    grid = np.linspace(0.0, target, 9)
    best, best_key = None, None
    for qs in itertools.product(grid, repeat=len(groups)):
        budget = dict(zip(groups, (float(q) for q in qs)))
        ts = {part: worst_source_threshold(reals[part], real_sources, budget[name]) for name, parts in groups.items() for part in parts}
        ts.update(fixed or {})
        flagged = np.zeros(len(real_src), bool)
        for part, t in ts.items():
            flagged |= reals[part] >= t
        worst = max(float(flagged[real_src == s].mean()) - allowed[s] for s in set(real_sources))
        if worst > 1e-12:
            continue
        caught = np.zeros(len(fake_src), bool)
        for part, t in ts.items():
            caught |= fakes[part] >= t
        recall = float(np.mean([caught[fake_src == s].mean() for s in set(fake_sources)])) if len(fake_src) else 0.0
        key = (recall, -worst)
        if best_key is None or key > best_key:
            best, best_key = (ts, budget), key
    if best is None:
        return {**{part: float(np.inf) for parts in groups.values() for part in parts}, **(fixed or {})}, {name: 0.0 for name in groups}
    return best


def family_columns(families: tuple[str, ...], regions: tuple[str, ...] = ("face", "image")) -> list[int]:
    return [i for i, n in enumerate(FEATURE_NAMES) if family_of(n) in families and n.split(".")[0] in regions]


def stacked(rows: list[Row], feature_heads: dict[str, tuple]) -> list[Row]:
    """The rows as the heads see them: the shipped models' scores (log-odds) and the feature heads' log-odds."""
    cols = tp_all_columns()
    out = []
    for r in rows:
        sc = r.scores or {}
        v = [float(logit([sc[n]])[0]) if n in sc else np.nan for n in SCORE_NAMES]
        v += [float(head_logits([r], cols, params)[0]) for params in feature_heads.values()]
        out.append(Row(r.file, r.variant, r.label, r.source, r.split, r.seen, r.probability, np.array(v), r.scores))
    return out


def tp_all_columns() -> list[int]:
    return family_columns(("npr", "spectrum", "noise"))


def stacked_inputs(feature_heads: dict[str, tuple]) -> list[str]:
    from deepdetector.evidence.pixels import FEATURE_HEAD_INPUT, SCORE_INPUT

    return [SCORE_INPUT + n for n in SCORE_NAMES] + [FEATURE_HEAD_INPUT + n for n in feature_heads]


def _head(name: str, inputs: list[str], params, cut: float, words: str) -> PixelHead:
    mean, scale, coef, intercept = params
    return PixelHead(name=name, inputs=list(inputs), mean=[float(v) for v in mean], scale=[float(v) for v in scale],
                     coef=[float(v) for v in coef], intercept=float(intercept), cut=float(cut), words=words)  # fmt: skip


def to_model(feature_heads: dict[str, tuple], heads: dict[str, tuple], cuts: dict[str, float], image_threshold: float, extra: dict,
             score_cuts: dict[str, float] | None = None) -> PixelModel:  # fmt: skip
    cols = tp_all_columns()
    inputs = stacked_inputs(feature_heads)
    return PixelModel(
        feature_heads=[_head(name, [FEATURE_NAMES[i] for i in cols], params, 0.0, "") for name, params in feature_heads.items()],
        heads=[_head(name, inputs, params, cuts[name], HEADS[name][1]) for name, params in heads.items()],
        image_threshold=float(image_threshold),
        patch=PATCH,
        grid=PATCHES,
        extra=extra,
        score_cuts=dict(score_cuts or {}),
    )


def classifier_unseen(card_path: Path) -> set[str] | None:
    """Resolved paths of the training-only files the face classifier never trained on (as ``deepdetector unseen``), or None."""
    from deepdetector.training.train import unused_files

    raw = json.loads(Path(card_path).read_text(encoding="utf-8"))
    settings = (raw.get("training") or {}).get("settings") or {}
    if not settings.get("train_only") or settings.get("max_per_subset") is None:
        return None
    if not all(Path(src).exists() for src in settings["train_only"]):
        return None
    seed = settings.get("split_seed")
    items, _ = unused_files(list(settings["train_only"]), settings["max_per_subset"], int(seed if seed is not None else settings.get("seed", 0)))
    return {str(Path(it.path).resolve()) for it in items}
