"""``deepdetector localisation``: does a fake face's heatmap point at the pixels that were changed?

Real fakes come without a map of what was changed, so this study makes fakes whose changed
pixels are known, from real photos, and scans them the way a user's file is scanned (same
decoding, face detection, crop, model and heatmap). Manipulations (``VARIANTS``):

========  ======================================================================================
full      self-blend of the whole face hull (the training recipe, ``datasets/sbi.py``, with the
          transform always on the blended face, so nothing outside the mask changes)
inner     self-blend of eyes, nose and mouth only (like reenactment)
lower     self-blend of mouth and chin only (like lip-sync)
swap      another photo's face aligned onto this one by its 5 landmarks, colour-matched and
          blended over the face hull: a crude cross-identity face swap, which training never made
========  ======================================================================================

The truth of a fake is its blend mask (at least half its peak strength). Per fake face, over the
square region the model saw:

- **pointing game**: the heatmap's hottest pixel lies in the truth (dilated by 4% of the region
  side), the measure of Zhang et al. for saliency maps;
- **pixel AUC**: how well the heat ranks the truth's pixels above the region's other pixels
  (0.5: no better than chance, whatever the heat's overall strength);
- **mass ratio**: the share of the heat that falls in the truth, divided by the share of the
  region the truth covers (1: no more than a uniform map).

The same measures are given for two maps that know nothing of the fake, so the heatmap's figures
can be read against them: a Gaussian at the region's centre (``centre``) and the face hull of the
detected landmarks (``face``). A heatmap that only says "the face is here" scores like ``face``; it
pinpoints something only where it beats it, which is possible for the ``inner`` and ``lower``
variants (their truth is part of the face). More figures per variant: the AUC of the score of
the manipulated face of the fakes against the same face of their originals (detection; a fake
whose face the scan lost is left out of it, and counts as not flagged), the original's own heatmap
against the same truth (where the heat sits without any change), and the AUC of the mean heat on the truth's
pixels of the fake against the same pixels of the real original (does a changed region get more
heat than the same region unchanged?).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from deepdetector import metrics as M
from deepdetector.config import ScanConfig
from deepdetector.datasets.manifest import ManifestItem
from deepdetector.datasets.sbi import SBIConfig, align_to, face_mask, self_blend
from deepdetector.errors import DeepDetectorError
from deepdetector.faces.crop import crop_region, crop_square
from deepdetector.types import Box

if TYPE_CHECKING:  # pragma: no cover
    from deepdetector.api import Detector
    from deepdetector.types import FaceResult, FileResult

VARIANTS = ("full", "inner", "lower", "swap")
#: Pointing-game tolerance: the truth is dilated by this fraction of the region side.
TOLERANCE = 0.04
#: Truth = blend mask at least this fraction of its peak.
TRUTH_LEVEL = 0.5
#: Side of the grid the pixel measures are computed on (the region is resized to it).
GRID = 64
#: Standard deviation of the centre prior, as a fraction of the region side.
CENTRE_SIGMA = 0.25
PRIORS = ("centre", "face")
#: Photos with more pixels are studied shrunk to this many (area interpolation), originals and fakes
#: alike: each fake holds a few full-frame arrays (the fake, its blend mask, the truth, the original's
#: heatmap: about 13 bytes a pixel, 200 MB at this size, 1 GB at the scanner's 80 MP limit) and the
#: swap keeps four recent photos as donors.
MAX_STUDY_PIXELS = 16_000_000


class LocalisationError(DeepDetectorError):
    """The study cannot run (no real photo with a face in the selection, a bad option)."""


# --- measures --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapScore:
    """How one map (heatmap or prior) localises one truth mask."""

    hit: bool  # pointing game
    pixel_auc: float | None  # None when the truth covers none or all of the region
    mass_ratio: float | None  # None when the map has no heat


def score_map(heat: np.ndarray, truth: np.ndarray, tolerance: float = TOLERANCE, grid: int | None = GRID) -> MapScore:
    """Score ``heat`` (float, any scale) against the boolean ``truth`` of the same shape.

    The pointing game is played at full resolution (ties: the first hottest pixel, as ``argmax``
    picks it; a map without any heat misses). The pixel measures are computed after resizing
    both to ``grid`` x ``grid`` (area interpolation; the truth is re-thresholded at one half),
    so a large face does not cost more than a small one; ``grid=None`` keeps the full resolution.
    """
    heat = np.asarray(heat, np.float32)
    truth = np.asarray(truth, bool)
    if heat.shape != truth.shape or heat.ndim != 2 or heat.size == 0:
        raise ValueError(f"heat {heat.shape} and truth {truth.shape} must be the same 2-D shape")
    peak = float(heat.max())
    if peak > 0:
        y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
        radius = int(round(tolerance * max(heat.shape)))
        y1, y2, x1, x2 = max(0, y - radius), y + radius + 1, max(0, x - radius), x + radius + 1
        near = truth[y1:y2, x1:x2]
        if radius > 0:  # within the tolerance disc, not its bounding square
            yy, xx = np.mgrid[y1 : y1 + near.shape[0], x1 : x1 + near.shape[1]]
            near = near & ((yy - y) ** 2 + (xx - x) ** 2 <= radius * radius)
        hit = bool(near.any())
    else:
        hit = False
    if grid is not None and max(heat.shape) > grid:
        heat = cv2.resize(heat, (grid, grid), interpolation=cv2.INTER_AREA)
        truth = cv2.resize(truth.astype(np.float32), (grid, grid), interpolation=cv2.INTER_AREA) >= 0.5
    labels = truth.ravel().astype(np.int64)
    auc = M.roc_auc(labels, heat.ravel()).value
    total = float(heat.sum())
    share = float(truth.mean())
    mass = (float(heat[truth].sum()) / total) / share if total > 0 and share > 0 else None
    return MapScore(hit, None if auc is None else float(auc), mass)


def centre_prior(shape: tuple[int, int], sigma: float = CENTRE_SIGMA) -> np.ndarray:
    """A Gaussian at the centre of a ``shape`` region (standard deviation ``sigma`` x its side)."""
    h, w = shape
    s = sigma * max(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.exp(-(((yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2) / (2 * s * s))).astype(np.float32)


def truth_of(mask: np.ndarray) -> np.ndarray:
    """The changed pixels of a blend mask: at least :data:`TRUTH_LEVEL` of its peak (none if empty)."""
    peak = float(mask.max()) if mask.size else 0.0
    return mask >= TRUTH_LEVEL * peak if peak > 0 else np.zeros(mask.shape, bool)


# --- known-mask fakes ------------------------------------------------------------------------------------


@dataclass
class Manipulated:
    """A fake made from a real photo, and the blend mask (float32 in [0, 1]) that made it."""

    image: np.ndarray
    mask: np.ndarray


def _colour_match(source: np.ndarray, target: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``source`` with the mean and spread of ``target`` inside ``region``, per channel in Lab (Reinhard transfer)."""
    src = cv2.cvtColor(source, cv2.COLOR_RGB2LAB).astype(np.float32)
    dst = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    sel = region.astype(bool)
    if sel.sum() < 16:
        return source
    s_mean, s_std = src[sel].mean(0), src[sel].std(0) + 1e-3
    d_mean, d_std = dst[sel].mean(0), dst[sel].std(0) + 1e-3
    out = (src - s_mean) / s_std * d_std + d_mean
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def face_swap(target: np.ndarray, target_lm: np.ndarray, donor: np.ndarray, donor_lm: np.ndarray) -> Manipulated:
    """The donor's face aligned onto the target's landmarks (similarity), colour-matched, blended over the hull."""
    h, w = target.shape[:2]
    warped = align_to(donor, donor_lm, target_lm, (h, w))
    if warped is None:
        raise LocalisationError("the donor's landmarks cannot be aligned onto this face")
    hull = face_mask((h, w), target_lm, "full")
    # a soft edge around the hull: erode it by about the blur's reach, then blur
    eye = float(np.linalg.norm(np.asarray(target_lm[1], np.float32) - np.asarray(target_lm[0], np.float32)))
    k = max(3, int(round(eye * 0.25)) | 1)
    inner = cv2.erode(hull, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    mask = cv2.GaussianBlur(inner.astype(np.float32), (2 * k + 1, 2 * k + 1), 0)
    warped = _colour_match(warped, target, inner)
    m3 = mask[..., None]
    fake = np.clip(np.round(m3 * warped.astype(np.float32) + (1 - m3) * target.astype(np.float32)), 0, 255).astype(np.uint8)
    return Manipulated(fake, mask)


#: Self-blends are made on a square of this many face-box sides around the face, as training makes them
#: on its 2x face crops (``training/data.py``): the recipe's kernels and shifts scale with the picture it gets.
BLEND_MARGIN = 2.0


def manipulate(
    variant: str, image: np.ndarray, box: Box, landmarks: np.ndarray, rng: np.random.Generator, donor: tuple[np.ndarray, np.ndarray] | None = None
) -> Manipulated:
    """One known-mask fake of ``image`` (RGB uint8) whose face has this ``box`` and 5 ``landmarks``.

    Self-blends are made at the photo's own resolution on the whole 2x square around the face (its
    part outside the frame filled by repeating the edge pixels, as training's crops are) and its part
    inside the frame is pasted back, so neither the face's size in the photo nor a frame edge next to
    the face changes the recipe.
    """
    if variant == "swap":
        if donor is None:
            raise LocalisationError("the swap variant needs a donor face")
        return face_swap(image, landmarks, donor[0], donor[1])
    if variant not in VARIANTS:
        raise LocalisationError(f"unknown variant {variant!r}; available: {', '.join(VARIANTS)}")
    r = crop_region(box, BLEND_MARGIN)
    h, w = image.shape[:2]
    side = max(2, int(np.ceil(r.width)))
    sx, sy = int(np.floor(r.x1)), int(np.floor(r.y1))  # the square [sy:sy+side, sx:sx+side] in frame pixels
    x1, y1, x2, y2 = max(0, sx), max(0, sy), min(w, sx + side), min(h, sy + side)
    if x2 <= x1 or y2 <= y1:
        raise LocalisationError("the face's square lies outside the picture")
    pad = ((y1 - sy, sy + side - y2), (x1 - sx, sx + side - x2), (0, 0))
    square = np.ascontiguousarray(np.pad(image[y1:y2, x1:x2], pad, mode="edge"))
    lm = np.asarray(landmarks, np.float32) - np.array([sx, sy], np.float32)
    # the face is the transformed copy, so every pixel outside the mask keeps its value: the mask is all that changed
    blend = self_blend(square, lm, rng, SBIConfig(source_transform=1.0), variant=variant)
    inside = (slice(y1 - sy, y2 - sy), slice(x1 - sx, x2 - sx))
    fake = image.copy()
    fake[y1:y2, x1:x2] = blend.fake[inside]
    mask = np.zeros((h, w), np.float32)
    mask[y1:y2, x1:x2] = blend.mask[inside]
    return Manipulated(fake, mask)


# --- the study -------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One fake: its scores, and how its heatmap and the two priors localise its truth."""

    path: str
    variant: str
    real_score: float | None  # probability of the face on the truth in the real original (None: not found there)
    fake_score: float | None  # and in the fake (None: the scan of the fake lost the face)
    flagged: bool  # that face of the fake is at or over the image threshold
    face_found: bool  # the scan of the fake found the manipulated face
    truth_share: float | None = None  # share of the region the truth covers
    heat: MapScore | None = None
    priors: dict[str, MapScore] = field(default_factory=dict)
    heat_on_truth_fake: float | None = None  # mean heat on the truth's pixels, fake
    heat_on_truth_real: float | None = None  # the same pixels of the real original
    real_heads: dict[str, float] = field(default_factory=dict)  # each head's score of that face, real original
    fake_heads: dict[str, float] = field(default_factory=dict)  # and fake
    heat_original: MapScore | None = None  # the original's heatmap against the same truth (where heat sits anyway)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Skipped:
    path: str
    reason: str


def _region_heat(face: "FaceResult", shape: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """The face's heatmap on the part of the frame its region covers (clipped at the frame edges), with
    that part's slices; None when the region lies outside the frame. Zero heat where the model gave none."""
    from deepdetector.explanation.heatmap import heat_patch

    patch = heat_patch(face.heatmap if face.heatmap is not None else np.zeros((1, 1), np.float32), face.region, shape)
    if patch is None:
        return None
    return patch.slices, patch.heat


def _mean_heat_on(face: "FaceResult | None", truth: np.ndarray) -> float:
    """Mean heat of ``face``'s map over the ``truth`` pixels of the frame (0 where the map does not reach)."""
    if face is None:
        return 0.0
    got = _region_heat(face, truth.shape)
    if got is None:
        return 0.0
    sl, heat = got
    return float(heat[truth[sl]].sum() / max(1, int(truth.sum())))


def _face_on(result: "FileResult", truth: np.ndarray) -> "FaceResult | None":
    """The scanned face whose box holds most of the truth (None when no box touches it)."""
    best, best_n = None, 0
    for face in result.faces:
        b = face.box
        x1, y1 = max(0, int(b.x1)), max(0, int(b.y1))
        n = int(truth[y1 : max(y1, int(np.ceil(b.y2))), x1 : max(x1, int(np.ceil(b.x2)))].sum())
        if n > best_n:
            best, best_n = face, n
    return best


def shrunk_shape(h: int, w: int, max_pixels: int = MAX_STUDY_PIXELS) -> tuple[int, int]:
    """(h, w) of an ``h`` x ``w`` picture shrunk (same aspect) to at most ``max_pixels``; unchanged when it fits."""
    if h * w <= max_pixels:
        return h, w
    f = (max_pixels / float(h * w)) ** 0.5
    return max(1, int(h * f)), max(1, int(w * f))


def shrink_to(image: np.ndarray, max_pixels: int = MAX_STUDY_PIXELS) -> np.ndarray:
    """``image`` unchanged, or shrunk (same aspect, area interpolation) to at most ``max_pixels``."""
    h, w = image.shape[:2]
    size = shrunk_shape(h, w, max_pixels)
    if size == (h, w):
        return image
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)


class _Capture:
    """A frame transform that records the decoded frame, shrunk to ``max_pixels``, or replaces it
    with ``replacement`` (a fake of the shrunk frame: what the scanner then sees)."""

    def __init__(self, replacement: np.ndarray | None = None, max_pixels: int = MAX_STUDY_PIXELS) -> None:
        self.frame: np.ndarray | None = None
        self.replacement = replacement
        self.max_pixels = max_pixels

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.replacement is not None:  # only the shape is compared: no need to shrink the decoded frame again
            if self.replacement.shape != (*shrunk_shape(*image.shape[:2], self.max_pixels), *image.shape[2:]):
                raise LocalisationError("the file decoded differently the second time")
            self.frame = self.replacement
            return self.replacement
        self.frame = shrink_to(image, self.max_pixels)
        return self.frame


CaseCallback = Callable[[str, str], None]


def _stable_number(text: str) -> int:
    """A number that depends on ``text`` only (the fakes of a photo do not depend on the rest of the sample)."""
    return zlib.crc32(text.encode("utf-8"))


def _needs_landmarks(detector: "Detector") -> None:
    from deepdetector.faces.base import FACE_DETECTORS

    name = detector.config.detector
    entry = next((e for e in FACE_DETECTORS.entries() if e.name == name), None)
    if entry is not None and entry.meta.get("landmarks") is False:
        with_landmarks = [e.name for e in FACE_DETECTORS.entries() if e.meta.get("landmarks")]
        raise LocalisationError(
            f"face detector {name!r} gives no landmarks, which the known-mask fakes need; use one of: {', '.join(with_landmarks)}"
        )


def run_study(
    detector: "Detector",
    items: Sequence[ManifestItem],
    variants: Sequence[str] = VARIANTS,
    seed: int = 0,
    on_case: CaseCallback | None = None,
    examples: int = 0,
    tile: int = 160,
    max_pixels: int = MAX_STUDY_PIXELS,
) -> tuple[list[Case], list[Skipped], list[dict[str, Any]]]:
    """Scan each real photo, then each of its known-mask fakes; measure every fake's heatmap.

    Each self-blend is seeded by ``seed``, the photo's path and the variant, so it is the same whatever
    else is in the sample (the swap draws no random numbers, but its donor depends on the sample). The swap's donor is the latest earlier photo of another group (or
    another file where groups are empty). Returns the cases, what gave no case (an unreadable
    photo, one without a face with landmarks, a fake whose scan failed) and up to ``examples``
    square tiles per variant for the example sheet. Photos over ``max_pixels`` are studied shrunk to
    it (see :data:`MAX_STUDY_PIXELS`), so the arrays each fake holds stay bounded whatever the photo's
    size (the scanner still decodes the whole photo for every scan).
    """
    from deepdetector.faces.detect import detect_faces

    for v in variants:
        if v not in VARIANTS:
            raise LocalisationError(f"unknown variant {v!r}; available: {', '.join(VARIANTS)}")
    _needs_landmarks(detector)
    threshold = detector.thresholds.for_media("image")
    cases: list[Case] = []
    skipped: list[Skipped] = []
    shown: list[dict[str, Any]] = []
    donors: list[tuple[str, np.ndarray, np.ndarray]] = []  # (group, image, landmarks) of recent photos, newest last
    for item in items:
        capture = _Capture(max_pixels=max_pixels)
        real = detector.scan(item.file, frame_transform=capture)
        if real.error or capture.frame is None:
            skipped.append(Skipped(item.path, real.error or "no frame decoded"))
            continue
        image = capture.frame
        found = [f for f in detect_faces(detector.face_detector, image, detector.config) if f.landmarks is not None]
        if not found:
            skipped.append(Skipped(item.path, "no face with landmarks"))
            continue
        face0 = found[0]  # the largest face with landmarks is the one manipulated
        landmarks = np.asarray(face0.landmarks, np.float32)
        group = item.group or item.path
        donor = next(((im, lm) for g, im, lm in reversed(donors) if g != group), None)
        shape = image.shape[:2]
        for variant in variants:
            if variant == "swap" and donor is None:
                skipped.append(Skipped(item.path, "swap fake: no earlier photo of another group to take a face from"))
                continue
            rng = np.random.default_rng([seed, _stable_number(item.path), VARIANTS.index(variant)])
            try:
                fake = manipulate(variant, image, face0.box, landmarks, rng, donor)
            except LocalisationError as exc:  # this fake cannot be made (a face at the edge, landmarks that do not align)
                skipped.append(Skipped(item.path, f"{variant} fake: {exc}"))
                continue
            truth = truth_of(fake.mask)
            res = detector.scan(item.file, frame_transform=_Capture(fake.image, max_pixels))
            if res.error:
                skipped.append(Skipped(item.path, f"{variant} fake: {res.error}"))
                continue
            face = _face_on(res, truth)
            real_face = _face_on(real, truth)
            case = Case(
                item.path,
                variant,
                real_face.probability if real_face is not None else None,
                face.probability if face is not None else None,
                face is not None and face.probability >= threshold,
                False,
                real_heads=dict(real_face.scores) if real_face is not None else {},
                fake_heads=dict(face.scores) if face is not None else {},
            )
            got = _region_heat(face, shape) if face is not None else None
            if got is not None and truth[got[0]].any():
                sl, heat = got
                t = truth[sl]
                case.face_found = True
                case.truth_share = float(t.mean())
                case.heat = score_map(heat, t)
                region_shape = t.shape
                sigma = 0.03 * max(region_shape)
                face_prior = cv2.GaussianBlur(
                    face_mask(shape, landmarks, "full")[sl].astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_CONSTANT
                )
                case.priors = {
                    "centre": score_map(centre_prior(region_shape), t),
                    "face": score_map(face_prior, t),
                }
                got_real = _region_heat(real_face, shape) if real_face is not None else None
                if got_real is not None:  # the original's map over the same pixels (the fake's region)
                    real_heat = np.zeros(shape, np.float32)
                    real_heat[got_real[0]] = got_real[1]
                    case.heat_original = score_map(real_heat[sl], t)
                case.heat_on_truth_fake = _mean_heat_on(face, truth)
                case.heat_on_truth_real = _mean_heat_on(real_face, truth)
                if sum(1 for x in shown if x["variant"] == variant) < examples:
                    shown.append(_example(variant, fake.image, truth, face, face.probability, tile))
            cases.append(case)
            if on_case is not None:
                on_case(item.path, variant)
        donors = [d for d in donors if d[0] != group][-3:] + [(group, image, landmarks)]
    if not cases:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:3]) + (f"; and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        raise LocalisationError(f"no real photo of the selection gave a fake to measure ({reasons or 'nothing to scan'})")
    return cases, skipped, shown


def _example(variant: str, image: np.ndarray, truth: np.ndarray, face: "FaceResult", score: float | None, tile: int) -> dict[str, Any]:
    """Square tiles of the face region the model saw (edges replicated past the frame): fake, truth, heat."""
    from deepdetector.explanation.heatmap import heatmap_on_frame

    r = face.region
    heat = heatmap_on_frame(face.heatmap, r, image.shape) if face.heatmap is not None else np.zeros(image.shape[:2], np.float32)
    as3 = lambda m: np.repeat(m[..., None], 3, axis=2)  # noqa: E731
    return {
        "variant": variant,
        "score": score,
        "fake": crop_square(image, r, tile),
        "truth": crop_square(as3(truth.astype(np.uint8) * 255), r, tile)[..., 0] >= 128,
        "heat": crop_square(as3(np.clip(np.round(heat * 255), 0, 255).astype(np.uint8)), r, tile)[..., 0].astype(np.float32) / 255.0,
    }


# --- summary ---------------------------------------------------------------------------------------------


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def _rate(flags: Sequence[bool]) -> dict[str, Any]:
    k, n = int(sum(flags)), len(flags)
    if n == 0:
        return {"value": None, "k": 0, "n": 0, "interval": None}
    iv = M.rate_interval(k, n)
    return {"value": k / n, "k": k, "n": n, "interval": [iv.low, iv.high]}


def _auc(pos: Sequence[float | None], neg: Sequence[float | None]) -> dict[str, Any]:
    p = [float(v) for v in pos if v is not None]
    q = [float(v) for v in neg if v is not None]
    labels = [1] * len(p) + [0] * len(q)
    m = M.roc_auc(labels, p + q)
    iv = M.auc_interval(labels, p + q) if m.value is not None else None
    return {
        "value": m.value,
        "n_fake": len(p),
        "n_real": len(q),
        "reason": m.reason,
        "interval": None if iv is None or iv.low is None else [iv.low, iv.high],
    }


def summarise(cases: Sequence[Case]) -> dict[str, Any]:
    """Per variant: detection, the heatmap's and the priors' localisation figures."""
    out: dict[str, Any] = {}
    for variant in [v for v in VARIANTS if any(c.variant == v for c in cases)]:
        vc = [c for c in cases if c.variant == variant]
        located = [c for c in vc if c.face_found and c.heat is not None]
        reals = {c.path: c.real_score for c in vc}  # one real per photo
        row: dict[str, Any] = {
            "fakes": len(vc),
            "faces_found": len(located),
            "detection_auc": _auc([c.fake_score for c in vc], list(reals.values())),
            "flagged": _rate([c.flagged for c in vc]),
            "truth_share": _mean([c.truth_share for c in located]),
            "heat_on_truth_auc": _auc([c.heat_on_truth_fake for c in located], [c.heat_on_truth_real for c in located]),
        }
        heads = sorted({h for c in vc for h in c.fake_heads} & {h for c in vc for h in c.real_heads})
        real_heads = {c.path: c.real_heads for c in vc}
        row["head_auc"] = {h: _auc([c.fake_heads.get(h) for c in vc], [r.get(h) for r in real_heads.values()]) for h in heads}
        maps: dict[str, Any] = {}
        for name in ("heatmap", "original") + PRIORS:
            scores = [c.heat if name == "heatmap" else c.heat_original if name == "original" else c.priors.get(name) for c in located]
            scores = [s for s in scores if s is not None]
            maps[name] = {
                "pointing": _rate([s.hit for s in scores]),
                "pixel_auc": _mean([s.pixel_auc for s in scores]),
                "mass_ratio": _mean([s.mass_ratio for s in scores]),
            }
        row["maps"] = maps
        out[variant] = row
    return out


def print_summary(console, summary: dict[str, Any], info: dict[str, Any]) -> None:
    from rich.table import Table

    def f(x: float | None, pct: bool = False) -> str:
        if x is None:
            return "n/a"
        return f"{100 * x:.0f}%" if pct else f"{x:.3f}"

    det = Table(title=f"Detection of known-mask fakes ({info.get('photos', '?')} real photos; image threshold {info.get('threshold', 0):.3f})")
    heads = sorted({h for row in summary.values() for h in row.get("head_auc", {})})
    for col in (
        "variant",
        "fakes",
        "face found",
        "AUC vs originals",
        *(f"{h} head" for h in heads),
        "flagged",
        "heat on changed pixels: AUC fake vs original",
    ):
        det.add_column(col)
    loc = Table(title="Where the heat is: heatmap vs maps that know nothing of the fake (pointing game / pixel AUC / mass ratio)")
    for col in ("variant", "truth share of region", "heatmap", "heatmap of the original", "centre prior", "face-hull prior"):
        loc.add_column(col)
    for variant, row in summary.items():
        d = row["detection_auc"]
        det.add_row(
            variant,
            str(row["fakes"]),
            str(row["faces_found"]),
            f(d["value"]),
            *(f(row.get("head_auc", {}).get(h, {}).get("value")) for h in heads),
            f(row["flagged"]["value"], True),
            f(row["heat_on_truth_auc"]["value"]),
        )
        cells = []
        for name in ("heatmap", "original") + PRIORS:
            m = row["maps"][name]
            cells.append(f"{f(m['pointing']['value'], True)} / {f(m['pixel_auc'])} / {f(m['mass_ratio'])}")
        loc.add_row(variant, f(row["truth_share"], True), *cells)
    console.print(det)
    console.print(loc)


def example_sheet(shown: Sequence[dict[str, Any]]) -> np.ndarray | None:
    """One row per example: the fake face region | the truth outlined on it | the heatmap on it."""
    from deepdetector.report.drawing import blend_heat

    if not shown:
        return None
    rows = []
    for ex in shown:
        fake = ex["fake"]
        tile = fake.shape[0]
        outlined = fake.copy()
        contours, _ = cv2.findContours(ex["truth"].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(outlined, contours, -1, (255, 255, 255), 2)
        heat = ex["heat"]
        hot = outlined.copy()
        blend_heat(hot, np.clip(heat, 0, 1).astype(np.float32))  # as a scan draws it: weak heat stays faint
        label = np.full((24, 3 * tile, 3), 255, np.uint8)
        score = "n/a" if ex["score"] is None else f"{ex['score']:.2f}"
        cv2.putText(label, f"{ex['variant']}  score {score}", (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([label, np.concatenate([fake, outlined, hot], axis=1)], axis=0))
    return np.concatenate(rows, axis=0)


def study_config(base: ScanConfig) -> ScanConfig:
    """The scan settings of the study: heatmaps on (they are what it measures)."""
    return base.with_(heatmaps=True)
