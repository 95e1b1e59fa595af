"""Self-blended pseudo-fakes (SBI, Shiohara & Yamasaki, CVPR 2022) made from one real face.

A face is blended into a slightly transformed copy of itself. The result has the artefacts of a
face swap (blending seam, colour and sharpness mismatch between face and surroundings, a face
that sits a few pixels off) without any face-swap method, so a detector trained on it
generalises to swaps it never saw. Recipe (``../shared/notes/field.md``):

1. Mask: the convex hull of the face outline. The detectors give 5 landmarks, so the outline is a
   mean-face template warped onto them with a similarity transform. Variants: whole face, inner
   face (eyes-nose-mouth, like reenactment) and lower face (mouth and chin, like lip-sync).
2. Source S = copy of the image; transform S or the target T: RGB shift, hue/saturation/value,
   brightness/contrast, then down-and-up-scaling (x1/2, x1/4) or sharpening; optionally
   (``SBIConfig.smooth``, off in the published recipe) edge-preserving smoothing instead, the
   waxy skin of generated and restored faces (talking-head pipelines, GFPGAN, CodeFormer).
3. Shift S and the mask together (x +-3%, y +-1.5%, scale 0.95-1.05; borders reflected, never
   black); deform the mask elastically.
4. Blend mask: blur, scale its peak to 1, zero everything below 1 (erodes the edge), blur again,
   scale its peak to 1, times a ratio from {0.25, 0.5, 0.75, 1, 1, 1}. (Without the two scalings,
   ``SBIConfig.normalise=False``, what this project trained with until 2026-12-02: a float blur of
   a 0/1 mask may peak a hair under 1, the threshold then empties the whole mask, and about one
   self-blend in six is "fake" with no blended pixel at all.)
5. fake = M*S + (1-M)*T; the real example is T.

Dense masks (``SBIConfig.dense``, ``deepdetector train --sbi-mask dense``): where the face cache holds
the 468 FaceMesh points of a face (``FaceCache.load(..., mesh=True)``), the mask of step 1 is drawn
from them instead of from a template on 5 points (:func:`dense_mask`, probabilities in
``SBIConfig.dense_variants``): ``hull``, the convex hull of every point (as the published recipe's
hull of 81 points; a quarter of the time without the forehead above the brows, as the recipe drops
its forehead points a quarter of the time); ``lower``, that hull below a line across the lower nose
(jaw, lower nose, mouth: what Wav2Lip, MuseTalk and LatentSync repaint and paste back); ``mouth``,
the outer lip contour grown 1.3-2x about its centre, kept below the nose tip (a lip-sync paste-back
restricted to the mouth). Steps 2-5 (shift, elastic deformation, the two random blurs, the blend
ratio) are the published ones for every mask. A face without a mesh falls back to the 5-point masks.

Cross-frame blends (``SBIConfig.cross_frame``, off in the published recipe): for a face from a
video, S may instead be ANOTHER frame of the same video, aligned onto this frame's landmarks
(:func:`align_to`; frames whose landmarks do not fit, a turned head, are not used) before the
steps above. Inside the mask the fake then shows the face with another expression, mouth shape
or lighting, which is what reenactment (Face2Face, NeuralTextures) and lip-sync (Wav2Lip,
SadTalker) change, while the colour, frequency and shift steps still add the blending artefacts
of a swap. The face cache keeps the largest face of each frame without tracking it, so in a clip
with two people the other frame may show the other one: a crude face swap, still a fake.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Mean face in the 112x112 ArcFace frame: 5 landmarks (left eye, right eye, nose, mouth corners).
TEMPLATE_5 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
# Face outline in the same frame: jaw from temple to temple, then the eyebrows (like the 68-point hull).
OUTLINE_FULL = np.array(
    [
        [17, 50],
        [18, 64],
        [21, 78],
        [26, 91],
        [34, 103],
        [44, 112],
        [56, 116],
        [68, 112],
        [78, 103],
        [86, 91],
        [91, 78],
        [94, 64],
        [95, 50],
        [90, 40],
        [82, 34],
        [72, 33],
        [62, 36],
        [50, 36],
        [40, 33],
        [30, 34],
        [22, 40],
    ],
    dtype=np.float32,
)
OUTLINE_INNER = np.array(
    [[26, 42], [40, 38], [56, 40], [72, 38], [86, 42], [88, 70], [80, 100], [56, 108], [32, 100], [24, 70]],
    dtype=np.float32,
)
OUTLINE_LOWER = np.array(
    [[26, 70], [56, 66], [86, 70], [88, 92], [78, 106], [56, 114], [34, 106], [24, 92]],
    dtype=np.float32,
)
MASK_VARIANTS = {"full": OUTLINE_FULL, "inner": OUTLINE_INNER, "lower": OUTLINE_LOWER}
# Regions for landmark part dropout (same frame).
PARTS = {
    "left_eye": np.array([[26, 44], [50, 44], [50, 60], [26, 60]], np.float32),
    "right_eye": np.array([[62, 44], [86, 44], [86, 60], [62, 60]], np.float32),
    "nose": np.array([[48, 54], [64, 54], [68, 80], [44, 80]], np.float32),
    "mouth": np.array([[34, 84], [78, 84], [78, 102], [34, 102]], np.float32),
    "face": OUTLINE_FULL,
}


@dataclass
class SBIConfig:
    """Probabilities and ranges of the self-blending recipe."""

    mask_variants: tuple[tuple[str, float], ...] = (("full", 0.6), ("inner", 0.2), ("lower", 0.2))
    shift_x: float = 0.03
    shift_y: float = 0.015
    scale: tuple[float, float] = (0.95, 1.05)
    elastic: float = 0.04  # elastic displacement amplitude as a fraction of the image side
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
    smooth: float = 0.0  # probability that the frequency transform is edge-preserving smoothing (0: the published recipe)
    source_transform: float = 0.5  # probability that the source (the blended face) is the transformed copy, else the target
    # (the surroundings) is; 1.0 keeps every pixel outside the mask as it was (the localisation study's fakes)
    normalise: bool = True  # scale the blurred mask's peak to 1 before the threshold and after the second blur (published recipe);
    # False reproduces models trained before 2026-12-02 (a sixth of their blend masks came out empty)
    cross_frame: float = 0.0  # probability that a video face's source is another frame of its video (0: the published recipe;
    # drawn by the batch maker, see training.data.other_frame)
    dense: bool = False  # masks from the 468 FaceMesh points where a face has them (dense_mask); False: the 5-point template masks
    dense_variants: tuple[tuple[str, float], ...] = (("hull", 0.5), ("lower", 0.3), ("mouth", 0.2))
    dense_no_forehead: float = 0.25  # share of ``hull`` masks cut at the brows (the published recipe drops the forehead points as often)
    mouth_scale: tuple[float, float] = (1.3, 2.0)  # ``mouth``: the outer lip contour grown by this factor about its centre


@dataclass
class SelfBlend:
    """A real/fake pair and the blend mask (float32 in [0, 1]) that made the fake."""

    real: np.ndarray
    fake: np.ndarray
    mask: np.ndarray


def similarity_to(landmarks: np.ndarray) -> np.ndarray:
    """2x3 similarity transform from the template frame to an image with these 5 landmarks."""
    m, _ = cv2.estimateAffinePartial2D(TEMPLATE_5, np.asarray(landmarks, np.float32), method=cv2.LMEDS)
    if m is None:  # degenerate landmarks: fall back to least squares on the eye/mouth centres
        m = cv2.getAffineTransform(TEMPLATE_5[[0, 1, 3]], np.asarray(landmarks, np.float32)[[0, 1, 3]])
    return m.astype(np.float32)


def warp_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    return points @ m[:, :2].T + m[:, 2]


def polygon_mask(shape: tuple[int, int], landmarks: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """uint8 mask (0/1) of the convex hull of ``outline`` (template frame) placed on ``landmarks``."""
    pts = warp_points(outline, similarity_to(landmarks))
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask


def face_mask(shape: tuple[int, int], landmarks: np.ndarray, variant: str = "full") -> np.ndarray:
    """The face hull mask (uint8 0/1) of one variant: ``full``, ``inner`` or ``lower``."""
    return polygon_mask(shape, landmarks, MASK_VARIANTS[variant])


DENSE_VARIANTS = ("hull", "lower", "mouth")
#: Brow points of the FaceMesh topology (subject's right, then left): the top of a hull without forehead.
BROWS = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46, 300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
#: Lower nose (subnasal point and nostril bases): where a lip-sync mask's upper edge runs.
LOWER_NOSE = (2, 94, 97, 326, 98, 327)


def has_mesh(mesh: np.ndarray | None) -> bool:
    """True when ``mesh`` holds 468 finite points (the face cache stores NaN where no mesh was placed)."""
    from deepdetector.landmarks.topology import MESH_POINTS

    return mesh is not None and np.shape(mesh) == (MESH_POINTS, 2) and bool(np.isfinite(mesh).all())


def _hull_fill(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.round(np.asarray(points, np.float32)).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    return mask


def _below(shape: tuple[int, int], anchor: np.ndarray, down: np.ndarray) -> np.ndarray:
    """uint8 mask of the pixels on or below the line through ``anchor`` across the face (``down`` a unit vector)."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return (((xs - anchor[0]) * down[0] + (ys - anchor[1]) * down[1]) >= 0).astype(np.uint8)


def face_axis(mesh: np.ndarray) -> np.ndarray:
    """Unit vector from the eyes' midpoint to the chin: "down" on the face, whatever its roll."""
    from deepdetector.landmarks import topology as T

    eyes = (mesh[list(T.RIGHT_EYE)].mean(0) + mesh[list(T.LEFT_EYE)].mean(0)) / 2.0
    v = mesh[T.CHIN] - eyes
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else np.array([0.0, 1.0], np.float32)


def dense_mask(shape: tuple[int, int], mesh: np.ndarray, variant: str, rng: np.random.Generator, config: SBIConfig | None = None) -> np.ndarray:
    """uint8 mask (0/1) of one dense variant (``hull``, ``lower``, ``mouth``: see the module docstring)
    from the 468 FaceMesh points ``mesh`` (image coordinates)."""
    from deepdetector.landmarks import topology as T

    cfg = config or SBIConfig()
    pts = np.asarray(mesh, np.float32)
    down = face_axis(pts)
    if variant == "hull":
        mask = _hull_fill(shape, pts)
        if rng.random() < cfg.dense_no_forehead:
            top = pts[list(BROWS)]
            anchor = top[int(np.argmin(top @ down))]  # the highest brow point along the face's axis
            mask &= _below(shape, anchor, down)
        return mask
    if variant == "lower":
        nose_tip, subnasal = pts[T.NOSE_TIP], pts[list(LOWER_NOSE)].mean(0)
        anchor = nose_tip + rng.uniform(0.0, 1.0) * (subnasal - nose_tip)  # the cut runs between nose tip and nostril base
        return _hull_fill(shape, pts) & _below(shape, anchor, down)
    if variant == "mouth":
        lips = pts[list(T.LIPS_OUTER)]
        centre = lips.mean(0)
        grown = centre + (lips - centre) * rng.uniform(*cfg.mouth_scale)
        return _hull_fill(shape, grown) & _hull_fill(shape, pts) & _below(shape, pts[T.NOSE_TIP], down)
    raise ValueError(f"unknown dense mask variant {variant!r}; choose one of {', '.join(DENSE_VARIANTS)}")


def _draw(variants: tuple[tuple[str, float], ...], rng: np.random.Generator) -> str:
    names = [n for n, _ in variants]
    probs = np.array([p for _, p in variants], np.float64)
    return names[rng.choice(len(names), p=probs / probs.sum())]


#: A cross-frame source is used only where the similarity fit leaves every landmark within this share
#: of the eye distance of where it belongs (on the frame pairs of the 88 training videos of the shipped
#: model's data: median 0.05, 95th percentile 0.24, about 9% over this bound); a turned head or a badly
#: found face fits worse and is not blended in.
MAX_ALIGN_RESIDUAL = 0.15


def align_to(
    image: np.ndarray, landmarks_from: np.ndarray, landmarks_to: np.ndarray, shape: tuple[int, int], max_residual: float | None = None
) -> np.ndarray | None:
    """``image`` warped (similarity transform, borders reflected) so that its ``landmarks_from`` land on
    ``landmarks_to`` in a picture of ``shape`` (h, w): another face or frame laid over this one.

    None when no similarity fits the landmarks (degenerate points) or, with ``max_residual``, when
    some landmark lands farther than that share of the eye distance from its target.
    """
    src, dst = np.asarray(landmarks_from, np.float32), np.asarray(landmarks_to, np.float32)
    m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if m is None:
        return None
    if max_residual is not None:
        eye = max(float(np.linalg.norm(dst[1] - dst[0])), 1.0)
        if float(np.linalg.norm(warp_points(src, m) - dst, axis=1).max()) > max_residual * eye:
            return None
    h, w = shape
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _elastic(mask: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    h, w = mask.shape
    grid = 5
    dx = cv2.resize(rng.uniform(-1, 1, (grid, grid)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(rng.uniform(-1, 1, (grid, grid)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    amp = amplitude * max(h, w)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, xs + dx * amp, ys + dy * amp, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _colour_transform(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.astype(np.float32)
    out += rng.uniform(-20, 20, size=3).astype(np.float32)  # RGB shift
    hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-0.3, 0.3) * 18.0) % 180.0  # hue: +-0.3 of a 60-degree sector
    hsv[..., 1] *= 1.0 + rng.uniform(-0.3, 0.3)
    hsv[..., 2] *= 1.0 + rng.uniform(-0.3, 0.3) * 0.5
    out = cv2.cvtColor(np.clip(hsv, 0, [179, 255, 255]).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    alpha, beta = 1.0 + rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1) * 255.0
    out = (out - 127.5) * alpha + 127.5 + beta
    return np.clip(out, 0, 255).astype(np.uint8)


def _smooth(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Edge-preserving smoothing (bilateral filter): skin detail and noise go, edges stay."""
    w = img.shape[1]
    sigma_space = rng.uniform(1.5, 4.0) * w / 192.0
    out = cv2.bilateralFilter(np.ascontiguousarray(img), d=9, sigmaColor=float(rng.uniform(20, 60)), sigmaSpace=float(sigma_space))
    return out


def _frequency_transform(img: np.ndarray, rng: np.random.Generator, smooth: float = 0.0) -> np.ndarray:
    h, w = img.shape[:2]
    if smooth > 0 and rng.random() < smooth:  # no draw when off: the published recipe's random stream is unchanged
        return _smooth(img, rng)
    choice = rng.integers(3)
    if choice < 2:  # down- and up-scale by 1/2 or 1/4
        f = 2 if choice == 0 else 4
        small = cv2.resize(img, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    amount = rng.uniform(0.2, 1.0)  # sharpen (unsharp mask)
    blur = cv2.GaussianBlur(img, (0, 0), 1.0)
    return cv2.addWeighted(img, 1.0 + amount, blur, -amount, 0)


def unit_peak(mask: np.ndarray) -> np.ndarray:
    """``mask`` divided by its maximum (x / x is exactly 1 in floating point), unchanged when empty."""
    peak = float(mask.max())
    return mask / np.float32(peak) if peak > 0 else mask


def _odd(x: float) -> int:
    k = int(round(x))
    return max(1, k + (1 - k % 2))


def self_blend(
    image: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
    config: SBIConfig | None = None,
    variant: str | None = None,
    source: np.ndarray | None = None,
    mesh: np.ndarray | None = None,
) -> SelfBlend:
    """Make a self-blended fake of ``image`` (RGB uint8) with 5 ``landmarks`` in its coordinates.

    ``source``: the picture blended in (same shape, already aligned to ``landmarks``); default a
    copy of ``image`` (the published recipe). The real example is always ``image`` (or its
    transformed copy), so the fake differs from it only inside the mask either way.
    ``mesh``: the face's 468 FaceMesh points (same coordinates); with ``config.dense`` the mask is
    drawn from them (:func:`dense_mask`), else (or without a usable mesh) from the 5 landmarks.
    """
    cfg = config or SBIConfig()
    h, w = image.shape[:2]
    if cfg.dense and has_mesh(mesh) and (variant is None or variant in DENSE_VARIANTS):
        mask = dense_mask((h, w), mesh, variant or _draw(cfg.dense_variants, rng), rng, cfg).astype(np.float32)
    else:
        mask = face_mask((h, w), landmarks, variant or _draw(cfg.mask_variants, rng)).astype(np.float32)

    target = image
    if source is not None and source.shape != image.shape:
        raise ValueError(f"source shape {source.shape} differs from image shape {image.shape}")
    source = image.copy() if source is None else source.copy()
    if rng.random() < cfg.source_transform:
        source = _frequency_transform(_colour_transform(source, rng), rng, cfg.smooth)
    else:
        target = _frequency_transform(_colour_transform(target, rng), rng, cfg.smooth)

    # shift the source and the mask together; reflect the border (black padding would be a shortcut)
    s = rng.uniform(*cfg.scale)
    tx, ty = rng.uniform(-cfg.shift_x, cfg.shift_x) * w, rng.uniform(-cfg.shift_y, cfg.shift_y) * h
    cx, cy = w / 2.0, h / 2.0
    m = np.array([[s, 0, (1 - s) * cx + tx], [0, s, (1 - s) * cy + ty]], np.float32)
    source = cv2.warpAffine(source, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    mask = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = _elastic(mask, rng, cfg.elastic * rng.uniform(0.3, 1.0))

    # blend mask: blur, erode the soft edge, blur again, scale
    k1 = _odd(rng.uniform(5, 25) * w / 380.0)
    mask = cv2.GaussianBlur(mask, (k1, k1), 0)
    if cfg.normalise:
        mask = unit_peak(mask)
    mask[mask < 1.0] = 0.0
    sigma = rng.uniform(5, 45) * w / 380.0
    k2 = _odd(sigma * 3) * 2 + 1
    mask = cv2.GaussianBlur(mask, (k2, k2), sigma)
    if cfg.normalise:
        mask = unit_peak(mask)
    mask *= float(rng.choice(cfg.blend_ratios))
    mask = np.clip(mask, 0.0, 1.0)

    m3 = mask[..., None]
    fake = np.where(m3 > 0, m3 * source.astype(np.float32) + (1.0 - m3) * target.astype(np.float32), target)
    fake = np.clip(np.round(fake), 0, 255).astype(np.uint8)
    return SelfBlend(real=np.ascontiguousarray(target), fake=fake, mask=mask)


def flip_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Landmarks of the horizontally mirrored image (left/right names swapped back into order)."""
    lm = np.asarray(landmarks, np.float32).copy()
    lm[:, 0] = width - 1 - lm[:, 0]
    return lm[[1, 0, 2, 4, 3]]


def side_by_side(blend: SelfBlend) -> np.ndarray:
    """real | mask | fake in one RGB picture (what ``deepdetector synth`` writes)."""
    mask_rgb = np.repeat(np.clip(np.round(blend.mask * 255.0), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return np.concatenate([blend.real, mask_rgb, blend.fake], axis=1)
