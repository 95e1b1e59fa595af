"""Fitting the video fusion (evidence/fusion.py) and measuring it with sources left out.

    deepdetector fuse ../shared/data/dev_manifest.csv ../shared/data/dev_talking_heads_manifest.csv \
        ../shared/data/train_manifest.csv --out runs/fusion

1. **Collect**: every video of the manifests is scanned once with the shipped face classifier and
   the cues on (resumable: ``features.jsonl`` in the output folder is appended to and reused).
2. **Leave one source out**: the videos are grouped by source (a face-swap method at both FF++
   compressions, a talking-head generator family, a real source); for each source a fusion is
   fitted on all the others and scores the one left out; its threshold is set on the training
   folds' real videos. Every video so gets a score and a verdict from a model that never saw its
   source, for the fusion and, the same way, for the face classifier alone.
3. **Fit** the shipped fusion on all sources, with its threshold for ``--fpr`` false alarms on real
   videos (each real source weighted equally), and write ``video_fusion.json`` and a report.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepdetector.evidence.cues import CUES
from deepdetector.evidence.fusion import FACE_INPUT, FusionModel


@dataclass
class VideoRecord:
    """One scanned video of a manifest, with what the fusion needs."""

    path: str
    label: int  # 1 fake, 0 real
    source: str  # the unit left out (see source_of)
    subset: str  # the manifest's source_dataset
    face_probability: float | None
    cues: dict[str, float | None]
    seen: bool  # the face classifier trained on this file's group
    height: int = 0
    fps: float = 0.0
    variant: str | None = None  # a changed copy (see Variant), or None for the file as it is
    original: str = ""  # the file a variant was made from (its own path for an original)
    variant_index: int = 0  # 1, 2, ... for the changed copies of a file (0 for the file itself)


_FFPP = re.compile(r"^FaceForensics\+\+ c\d\d ")


def source_of(source_dataset: str, label: str) -> str:
    """The source a video is left out with: FF++ methods at both compressions together, talking-head
    generators by family (variants and post-processing merged), real sources by name."""
    name = _FFPP.sub("FaceForensics++ ", source_dataset.strip())
    name = re.split(r" \+ | \(|,", name)[0].strip()
    if name in ("FaceForensics++ original", "FaceForensics++ youtube"):
        name = "FaceForensics++ youtube"
    for family in ("SadTalker", "Wav2Lip", "EDTalk", "StyleTalk", "VoxCeleb", "MEAD", "LRW", "HDTF"):
        if name.startswith(family) or name.startswith(f"{family}-"):
            name = family
    return f"{label}: {name}"


NOT_FUSED = {
    # the 468-point mesh hardly follows the eyelids: in 4-s windows at <= 15 fps it saw a blink in 1 of
    # 126 real videos (2026-12-06), so the cue is reported but carries nothing to fuse
    "blinks_per_minute",
    # head pose: a face swap or reenactment keeps the head motion of the real video it was made from,
    # so across these sources pose tells sources apart (news footage turns more than studio clips),
    # not manipulation; fitted, more turning and faster heads counted as fake, the opposite of what
    # animated photos show. Reported, not fused (leave-one-source-out: within noise either way).
    "head_yaw_variation",
    "head_pitch_variation",
    "head_speed",
    # pixel cues across frames: fused, they changed nothing measurable with sources left out (all videos
    # 0.810 against 0.806; false alarms on unseen reals 12% against 4%, 3 against 1 of 25): reported only
    "mouth_texture_flicker",
    "background_change",
    # the classifier's own flicker across its judged frames: fused, the ranking stayed (all videos 0.809
    # against 0.807) while the threshold rose so far that fakes flagged fell from 56 to 27 of 129
    "classifier_flicker",
}
#: cues that are spreads, speeds or jitter (positive, skewed): entered as logarithms
LOG_INPUTS = ("expression_motion", "eye_opening_variation", "head_pitch_variation", "head_speed", "head_yaw_variation",
              "mouth_jitter", "mouth_opening_variation", "rigid_jitter")  # fmt: skip


def input_names() -> list[str]:
    return [FACE_INPUT] + [name for name in CUES.names() if name not in NOT_FUSED]


def _template(inputs: list[str]) -> FusionModel:
    """A model that only turns raw values into inputs (logit, logs), to build training matrices."""
    n = len(inputs)
    return FusionModel(inputs=list(inputs), mean=[0.0] * n, scale=[1.0] * n, coef=[0.0] * n, intercept=0.0, threshold=0.5,
                       log_inputs=[name for name in inputs if name in LOG_INPUTS])  # fmt: skip


def matrix(records: list[VideoRecord], inputs: list[str]) -> np.ndarray:
    template = _template(inputs)
    return np.array([template.vector(r.face_probability, r.cues) for r in records], dtype=np.float64).reshape(len(records), len(inputs))


def source_weights(records: list[VideoRecord]) -> np.ndarray:
    """Each source weighs as much as every other of its class (a big source must not decide alone)."""
    count = defaultdict(int)
    for r in records:
        count[r.source] += 1
    n_sources = defaultdict(set)
    for r in records:
        n_sources[r.label].add(r.source)
    return np.array([1.0 / (count[r.source] * len(n_sources[r.label])) for r in records])


def threshold_for_fpr(scores: np.ndarray, weights: np.ndarray, fpr: float) -> float:
    """Lowest threshold whose weighted share of real scores at or above it is at most ``fpr``."""
    order = np.argsort(-scores)
    s, w = scores[order], weights[order] / weights.sum()
    cum = np.cumsum(w)
    ok = cum <= fpr + 1e-12
    k = int(ok.sum())  # the k highest reals may be flagged
    if k == 0:
        return float(np.nextafter(s[0], 2.0))
    if k >= len(s):
        return float(s[-1])
    return float((s[k - 1] + s[k]) / 2.0) if s[k - 1] > s[k] else float(np.nextafter(s[k - 1], 2.0))


def fit(records: list[VideoRecord], inputs: list[str], fpr: float, c: float = 0.3) -> FusionModel:
    """A logistic fusion over standardised inputs, classes and sources balanced, L2 penalty ``1/c``."""
    from sklearn.linear_model import LogisticRegression

    x = matrix(records, inputs)
    y = np.array([r.label for r in records])
    finite = np.isfinite(x)
    count = np.maximum(finite.sum(axis=0), 1)
    mean = np.where(finite, x, 0.0).sum(axis=0) / count  # an input never measured: mean 0, scale 1, no effect
    scale = np.sqrt(np.where(finite, (x - mean) ** 2, 0.0).sum(axis=0) / count)
    scale[~(scale > 1e-9)] = 1.0
    z = np.where(np.isfinite(x), (x - mean) / scale, 0.0)
    w = source_weights(records)
    w = w / w.mean()
    clf = LogisticRegression(C=c, max_iter=1000)
    clf.fit(z, y, sample_weight=w)
    reals = (y == 0) & np.array([r.variant is None for r in records])  # ranges and threshold: the files as they are
    ranges = {}  # in the cue's own units (not logs), for people
    for name in CUES.names():
        col = np.array([r.cues.get(name) for r in records if r.label == 0 and r.variant is None and r.cues.get(name) is not None],
                       dtype=np.float64)  # fmt: skip
        if col.size:
            ranges[name] = [float(np.percentile(col, 5)), float(np.percentile(col, 95))]
    model = FusionModel(inputs=list(inputs), mean=mean.tolist(), scale=scale.tolist(), coef=clf.coef_[0].tolist(),
                        intercept=float(clf.intercept_[0]), threshold=0.5, real_ranges=ranges,
                        log_inputs=[name for name in inputs if name in LOG_INPUTS])  # fmt: skip
    fused = np.array([model.probability(row) for row in x])
    model.threshold = threshold_for_fpr(fused[reals], w[reals], fpr)
    return model


def face_only_threshold(records: list[VideoRecord], fpr: float) -> float:
    reals = [r for r in records if r.label == 0 and r.variant is None]
    return threshold_for_fpr(np.array([r.face_probability for r in reals]), source_weights(reals), fpr)


def leave_one_source_out(records: list[VideoRecord], inputs: list[str], fpr: float, c: float = 0.3) -> dict[str, dict[str, np.ndarray]]:
    """Out-of-source scores and thresholds for every record: {"fusion"|"face": {"score", "threshold"}}."""
    n = len(records)
    out = {k: {"score": np.zeros(n), "threshold": np.zeros(n)} for k in ("fusion", "face")}
    x = matrix(records, inputs)
    for source in sorted({r.source for r in records}):
        held = np.array([r.source == source for r in records])
        train = [r for r, h in zip(records, held) if not h]
        if len({r.label for r in train}) < 2:
            continue
        model = fit(train, inputs, fpr, c)
        for i in np.flatnonzero(held):
            out["fusion"]["score"][i] = model.probability(x[i])
            out["fusion"]["threshold"][i] = model.threshold
            out["face"]["score"][i] = records[i].face_probability
            out["face"]["threshold"][i] = face_only_threshold(train, fpr)
    return out


def load_records(features: Path, validation: set[str] | None, split_manifests: set[str], trained_manifests: set[str]) -> list[VideoRecord]:
    """Records of ``features.jsonl`` with a face score (videos with no face or unreadable are left out).

    ``seen`` marks what the face classifier trained on: every file of ``trained_manifests`` (its
    training-only data), and the files of ``split_manifests`` outside ``validation`` (its split)."""
    records = []
    for line in features.read_text().splitlines():
        raw = json.loads(line)
        if raw.get("probability") is None:
            continue
        original = raw.get("original") or raw["file"]
        in_validation = validation is not None and (raw["group"] in validation or original in validation)
        seen = raw["manifest"] in trained_manifests or (raw["manifest"] in split_manifests and not in_validation)
        media = raw.get("media") or {}
        records.append(VideoRecord(path=raw["path"], label=1 if raw["label"] == "fake" else 0,
                                   source=source_of(raw["source_dataset"], raw["label"]), subset=raw["source_dataset"],
                                   face_probability=float(raw["probability"]), cues=raw["cues"], seen=seen,
                                   height=int(media.get("height") or 0), fps=float(media.get("fps") or 0.0),
                                   variant=raw.get("variant"), original=original,
                                   variant_index=int(raw["file"].rsplit("#variant", 1)[1]) if "#variant" in raw["file"] else 0))  # fmt: skip
    return records


# --- collecting and the whole command ------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """A changed copy of a video, the same for real and fake: smaller frames, stronger compression and
    another frame rate in the dense windows, so that a fusion fitted on them cannot lean on how a
    source was recorded or stored (resolution, codec, frame rate) instead of on the face."""

    scale: float  # frame size factor (area-averaged down-scale)
    jpeg: int | None  # every frame re-compressed at this JPEG quality (None: not)
    window_fps: float  # frames a second taken in the dense windows

    @property
    def tag(self) -> str:
        return f"scale={self.scale:.2f},jpeg={self.jpeg or 'none'},window_fps={self.window_fps:g}"

    def transform(self, image: np.ndarray) -> np.ndarray:
        import cv2

        if self.scale < 1.0:
            h, w = image.shape[:2]
            image = cv2.resize(image, (max(2, round(w * self.scale)), max(2, round(h * self.scale))), interpolation=cv2.INTER_AREA)
        if self.jpeg is not None:
            ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, self.jpeg])
            if ok:
                image = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
        return np.ascontiguousarray(image)


def variants_of(file: str, n: int) -> list[Variant]:
    """``n`` variants of a video, drawn from a generator seeded by its path (the same on every run)."""
    import zlib

    rng = np.random.default_rng(zlib.crc32(file.encode()))
    out = []
    for _ in range(n):
        jpeg = None if rng.random() < 0.3 else int(rng.integers(30, 91))
        out.append(Variant(scale=float(rng.uniform(0.35, 0.9)), jpeg=jpeg, window_fps=float(rng.choice([8.0, 10.0, 12.0, 15.0]))))
    return out


def collect(manifests: list[Path], features: Path, config=None, on_progress=None, augment: int = 0) -> int:
    """Scan every video of ``manifests`` not yet in ``features`` (JSON Lines, appended), and with
    ``augment`` that many :class:`Variant` copies of each; returns how many scans were made now. The
    face classifier judges as ``deepdetector scan`` does, with the fusion itself off (its inputs are
    what is recorded)."""
    from deepdetector.api import Detector
    from deepdetector.config import ScanConfig
    from deepdetector.datasets.manifest import read_manifest

    done = set()
    if features.is_file():
        done = {json.loads(line)["file"] for line in features.read_text().splitlines() if line.strip()}
    todo = []
    for manifest in manifests:
        for item in read_manifest(manifest):
            if not item.is_video:
                continue
            for k, variant in enumerate([None, *variants_of(str(item.file), augment)]):
                key = str(item.file) if variant is None else f"{item.file}#variant{k}"
                if key not in done:
                    todo.append((manifest, item, variant, key))
    if not todo:
        return 0
    base = config or ScanConfig()
    detectors: dict[float, Detector] = {}

    def detector_for(window_fps: float) -> Detector:
        if window_fps not in detectors:
            detectors[window_fps] = Detector(base.with_(window_fps=window_fps))
            detectors[window_fps].fusion = None  # record the inputs, not a previous fusion's output
        return detectors[window_fps]

    features.parent.mkdir(parents=True, exist_ok=True)
    with features.open("a") as out:
        for i, (manifest, item, variant, key) in enumerate(todo):
            if variant is None:
                res = detector_for(base.window_fps).scan(item.file)
            else:
                res = detector_for(variant.window_fps).scan(item.file, frame_transform=variant.transform)
            record = {"manifest": manifest.name, "file": key, "original": str(item.file), "variant": None if variant is None else variant.tag,
                      "path": item.path, "label": item.label_name,
                      "kind": item.kind, "source_dataset": item.source_dataset, "group": item.group,
                      "verdict": res.verdict.value, "probability": res.probability, "scores": res.scores,
                      "media": None if res.media is None else res.media.to_dict(),
                      "cues": {c.name: c.value for c in res.evidence},
                      "reason": next((c.reason for c in res.evidence if c.reason), None), "error": res.error}  # fmt: skip
            out.write(json.dumps(record) + "\n")
            out.flush()
            if on_progress is not None:
                on_progress(i + 1, len(todo))
    return len(todo)


# --- the leave-one-source-out report --------------------------------------------------------------


def _fmt_rate(k: int, n: int) -> str:
    from deepdetector.metrics import rate_interval

    if n == 0:
        return "-"
    iv = rate_interval(k, n)
    return f"{k}/{n} = {k / n:.0%} ({iv.low:.0%}-{iv.high:.0%})"


def _fmt_auc(y: np.ndarray, s: np.ndarray) -> str:
    from deepdetector.metrics import auc_interval, roc_auc

    auc = roc_auc(y, s).value
    if auc is None:
        return "-"
    iv = auc_interval(y, s)
    return f"{auc:.3f}" + ("" if iv.low is None else f" ({iv.low:.2f}-{iv.high:.2f})")


SUBSETS = {
    "FF++ c23 (fakes vs its originals)": lambda r: "FaceForensics++ c23" in r.subset,
    "FF++ c40 (fakes vs its originals)": lambda r: "FaceForensics++ c40" in r.subset,
    "face swaps (FF++, DFDC)": lambda r: r.label == 0 or r.source.startswith("fake: FaceForensics") or r.source.startswith("fake: DFDC"),
    "talking heads (every generator)": lambda r: (
        r.label == 0 or not (r.source.startswith("fake: FaceForensics") or r.source.startswith("fake: DFDC"))
    ),
    "all videos": lambda r: True,
}


def loso_report(records: list[VideoRecord], loso: dict[str, dict[str, np.ndarray]], fpr: float, only_unseen: bool) -> list[str]:
    """Markdown tables: per source left out and per subset, the face classifier alone against the
    fusion (the files as they are; changed copies are in :func:`variant_report`)."""
    keep = np.array([r.variant is None and (not r.seen or not only_unseen) for r in records])
    y = np.array([r.label for r in records])
    lines = []
    lines.append(f"Thresholds set on the training folds' real videos for {fpr:.0%} false alarms (each real source weighted equally).")
    lines.append("")
    lines.append("| subset | n fake / real | AUC face classifier | AUC fusion | flagged fakes: face / fusion | false alarms: face / fusion |")
    lines.append("|---|---|---|---|---|---|")
    for name, pick in SUBSETS.items():
        m = keep & np.array([pick(r) for r in records])
        cells = []
        for k in ("face", "fusion"):
            s, t = loso[k]["score"][m], loso[k]["threshold"][m]
            cells.append((_fmt_auc(y[m], s), int(((s >= t) & (y[m] == 1)).sum()), int(((s >= t) & (y[m] == 0)).sum())))
        nf, nr = int((y[m] == 1).sum()), int((y[m] == 0).sum())
        lines.append(f"| {name} | {nf} / {nr} | {cells[0][0]} | {cells[1][0]} | {_fmt_rate(cells[0][1], nf)} / {_fmt_rate(cells[1][1], nf)} "
                     f"| {_fmt_rate(cells[0][2], nr)} / {_fmt_rate(cells[1][2], nr)} |")  # fmt: skip
    lines.append("")
    lines.append("Per source left out (fakes: share flagged; reals: share falsely flagged):")
    lines.append("")
    lines.append("| source | n | face classifier | fusion |")
    lines.append("|---|---|---|---|")
    for source in sorted({r.source for r in records}):
        m = keep & np.array([r.source == source for r in records])
        if not m.any():
            continue
        n = int(m.sum())
        cells = [_fmt_rate(int((loso[k]["score"][m] >= loso[k]["threshold"][m]).sum()), n) for k in ("face", "fusion")]
        lines.append(f"| {source} | {n} | {cells[0]} | {cells[1]} |")
    return lines


def confound_report(records: list[VideoRecord]) -> list[str]:
    """How well frame height and frame rate alone separate fakes from reals (they must not be what a model learns)."""
    from deepdetector.metrics import roc_auc

    records = [r for r in records if r.variant is None]
    y = np.array([r.label for r in records])
    lines = ["| measure | AUC alone, fakes vs reals (0.5 = no information; below 0.5 ranks the other way) |", "|---|---|"]
    for name, values in (("frame height", [r.height for r in records]), ("frame rate", [r.fps for r in records])):
        auc = roc_auc(y, np.array(values, float)).value
        lines.append(f"| {name} | {'-' if auc is None else f'{auc:.3f}'} |")
    return lines


def single_input_report(records: list[VideoRecord], inputs: list[str]) -> list[str]:
    """AUC of each input alone, per subset, on the videos the face classifier never trained on."""
    from deepdetector.metrics import roc_auc

    keep = [r for r in records if not r.seen and r.variant is None]
    x = matrix(keep, inputs)
    y = np.array([r.label for r in keep])
    names = ["face swaps (FF++, DFDC)", "talking heads (every generator)"]
    lines = ["| input | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for j, name in enumerate(inputs):
        cells = []
        for sub in names:
            m = np.array([SUBSETS[sub](r) for r in keep]) & np.isfinite(x[:, j])
            auc = roc_auc(y[m], x[m, j]).value
            cells.append("-" if auc is None else f"{auc:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def variant_report(records: list[VideoRecord], loso: dict[str, dict[str, np.ndarray]]) -> list[str]:
    """How much a changed copy of a video (smaller, recompressed, another window frame rate; see
    :class:`Variant`) moves its score away from the original's, sources left out: a fusion that
    leaned on how a source was recorded would move a lot; and the AUC on the copies alone."""

    index = {r.original: i for i, r in enumerate(records) if r.variant is None}
    pairs = [(index[r.original], j) for j, r in enumerate(records) if r.variant is not None and r.original in index]
    if not pairs:
        return ["No changed copies were scanned (`--augment 0`)."]
    y = np.array([r.label for r in records])
    copies = np.array([r.variant is not None for r in records])
    lines = ["| scores | AUC, files as they are | AUC, changed copies | median change of a copy's score | verdicts that flip |",
             "|---|---|---|---|---|"]  # fmt: skip
    for k, name in (("face", "face classifier alone"), ("fusion", "fusion")):
        s, t = loso[k]["score"], loso[k]["threshold"]
        originals = ~copies
        change = np.array([abs(s[j] - s[i]) for i, j in pairs])
        flips = sum((s[i] >= t[i]) != (s[j] >= t[j]) for i, j in pairs)
        lines.append(f"| {name} | {_fmt_auc(y[originals], s[originals])} | {_fmt_auc(y[copies], s[copies])} | "
                     f"{np.median(change):.3f} | {flips}/{len(pairs)} = {flips / len(pairs):.0%} |")  # fmt: skip
    return lines
