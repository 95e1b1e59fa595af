"""Self-made temporal fakes: talking-head-like videos made from real clips, for a temporal model.

Three kinds, each what a family of generators changes in a real video (docs/temporal-fakes.md):

- ``animate`` (one-photo portrait animation, SadTalker / LivePortrait style): one still frame of
  clip A is driven by another clip B's FaceMesh landmark motion (B's expression, similarity-
  normalised, and B's head motion, both carried into A's frame) through a piecewise-affine warp
  of a triangulated mesh. The background is left still, moved with the head's similarity
  transform, or live (the source clip's own frames continue behind the animated head); all occur;
- ``lipsync`` (Wav2Lip style): each frame's lower face is the lower face of a frame 0.3-2 s away
  in the same clip, aligned on the landmarks, colour-matched and blended with a feathered mask;
- ``rerender`` (a renderer that re-invents the face): each frame's face is one reference frame's
  face texture warped onto the current landmarks, smoothed, colour-matched and blended with a
  feathered hull mask; head motion and background stay real.

The key rule: a fake and its real differ only in what generators change. Every output clip, fakes
and the re-encoded copies of the real clips alike, goes through one randomised pipeline
(:class:`Finish`, drawn by :func:`draw_finish` with no knowledge of the class): length 4-6 s,
output size, resolution loss, frame rate 12-30, blur, colour shift, sensor noise and libx264 CRF
18-32.

The bulk maker (:func:`make_set`, ``deepdetector temporal-fakes``) plans every output first from
the seed (:func:`plan_jobs`: the same seed gives the same choices), then makes the outputs one by
one, skipping those already made (resumable); a clip that fails is a warning, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from deepdetector.errors import DeepDetectorError
from deepdetector.landmarks import topology as mesh

KINDS = ("animate", "lipsync", "rerender")
REAL = "real"
MAX_LOST_SHARE = 0.1  # a segment is used only if the face was found in at least 90% of its frames
WORK_SIDE = 640  # frames are decoded at most this long on their longer side
READ_SECONDS = 12.0  # what is read of each source clip (the segment and lip-sync's time shift lie in it)


class SynthError(DeepDetectorError):
    """A fake cannot be made from this clip (no face, face lost, unreadable video); the message says why."""


# --- the pipeline both classes go through -----------------------------------------------------


@dataclass(frozen=True)
class Finish:
    """The randomised finish of one output clip (drawn the same way for reals and fakes)."""

    seconds: float  # length (the source clip's length when shorter)
    side: int  # longer side of the output in pixels
    resolution: float  # down-and-up-scale factor (1 = none): detail lost as in a low-resolution source
    fps: int
    blur: float  # Gaussian sigma in output pixels (0 = none)
    gain: tuple[float, float, float]  # per-channel (R, G, B) gain
    offset: float  # brightness offset in grey levels
    gamma: float
    noise: float  # sigma of fresh per-frame Gaussian noise in grey levels (0 = none)
    crf: int  # libx264 constant rate factor
    start: float  # where the segment starts, as a share of the room the clip leaves (0-1)


def draw_finish(rng: np.random.Generator) -> Finish:
    """One draw of the finish. Takes no kind or label: both classes get the same distribution."""
    return Finish(
        seconds=float(rng.uniform(4.0, 6.0)),
        side=int(rng.integers(224, 513)),
        resolution=float(rng.choice([1.0, rng.uniform(0.5, 1.0)])),
        fps=int(rng.integers(12, 31)),
        blur=float(rng.choice([0.0, rng.uniform(0.3, 1.2)])),
        gain=tuple(float(g) for g in rng.uniform(0.92, 1.08, 3)),
        offset=float(rng.uniform(-12, 12)),
        gamma=float(rng.uniform(0.85, 1.15)),
        noise=float(rng.choice([0.0, rng.uniform(0.5, 4.0)])),
        crf=int(rng.integers(18, 33)),
        start=float(rng.uniform()),
    )


def output_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(w, h) with the longer side ``side``, the aspect kept, both even (libx264's 4:2:0 needs it)."""
    scale = side / float(max(width, height))
    w, h = max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)
    return w, h


def retime(n_frames: int, src_fps: float, out_fps: int) -> list[int]:
    """Source frame indices for ``out_fps`` over ``n_frames`` frames at ``src_fps`` (nearest earlier frame)."""
    seconds = n_frames / src_fps
    count = max(1, int(np.floor(seconds * out_fps + 1e-6)))
    return [min(n_frames - 1, int(np.floor(i * src_fps / out_fps + 1e-6))) for i in range(count)]


def finish_frames(frames: Sequence[np.ndarray], src_fps: float, f: Finish, rng: np.random.Generator) -> list[np.ndarray]:
    """The pipeline on decoded frames (RGB uint8, one size): frame rate, size, resolution loss,
    blur, colour and noise. Encoding (CRF) is :func:`write_video`'s."""
    h0, w0 = frames[0].shape[:2]
    w, h = output_size(w0, h0, f.side)
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** f.gamma + f.offset, 0, 255)
    out = []
    for i in retime(len(frames), src_fps, f.fps):
        img = cv2.resize(frames[i], (w, h), interpolation=cv2.INTER_AREA if w < w0 else cv2.INTER_LINEAR)
        if f.resolution < 0.999:
            small = (max(2, int(round(w * f.resolution))), max(2, int(round(h * f.resolution))))
            img = cv2.resize(cv2.resize(img, small, interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)
        if f.blur > 0:
            img = cv2.GaussianBlur(img, (0, 0), f.blur)
        x = lut[img].astype(np.float32) * np.asarray(f.gain, np.float32)
        if f.noise > 0:
            x += rng.normal(0.0, f.noise, x.shape).astype(np.float32)
        out.append(np.clip(np.round(x), 0, 255).astype(np.uint8))
    return out


def write_video(path: Path, frames: Sequence[np.ndarray], fps: int, crf: int) -> None:
    """H.264 (libx264, yuv420p) MP4 of RGB frames, written to a temporary name then renamed."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.mp4")
    h, w = frames[0].shape[:2]
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(int(fps), 1))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(int(crf)), "preset": "veryfast"}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)


# --- reading a clip and following its face ------------------------------------------------------


@dataclass
class Clip:
    """Decoded frames of a source clip (RGB uint8, at most WORK_SIDE long) and the main face's
    FaceMesh points per frame (``(T, 468, 2)``, NaN where the face was lost)."""

    frames: list[np.ndarray]
    fps: float
    points: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps


def read_frames(path: str | Path, seconds: float = READ_SECONDS, max_side: int = WORK_SIDE) -> tuple[list[np.ndarray], float]:
    """The first ``seconds`` of a video as RGB frames (upright, longer side at most ``max_side``) and its frame rate."""
    import av

    from deepdetector.media.video import AV_ERRORS, _to_rgb

    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SynthError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 25.0)
            if not 1.0 <= fps <= 240.0:
                fps = 25.0
            for frame in container.decode(stream):
                img = _to_rgb(frame)
                h, w = img.shape[:2]
                if max(h, w) > max_side:
                    s = max_side / float(max(h, w))
                    img = cv2.resize(img, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_AREA)
                frames.append(img)
                if len(frames) >= seconds * fps:
                    break
    except AV_ERRORS as exc:
        raise SynthError(f"{path}: cannot decode the video ({exc})") from None
    if len(frames) < 2:
        raise SynthError(f"{path}: fewer than two frames could be decoded")
    return frames, fps


class FaceTracker:
    """FaceMesh points of the main face in every frame (the scan's window follower: the detector on
    the first frame and whenever the face is lost, the last mesh otherwise)."""

    def __init__(self, detector: str = "yunet") -> None:
        from deepdetector.faces import create_detector
        from deepdetector.landmarks import create_landmarker

        self.detector = create_detector(detector)
        self.landmarker = create_landmarker("facemesh")

    def track(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        from deepdetector.evidence.window import WindowFollower

        follower = WindowFollower(self.landmarker, self.detector.detect)
        for i, img in enumerate(frames):
            follower.add(0, float(i), img)
        series = follower.windows()[0]
        return series.as_array()[:, :, :2].astype(np.float64)


def load_clip(path: str | Path, tracker: FaceTracker, cache: Path | None = None) -> Clip:
    """Decode a clip and follow its face; the points are kept in ``cache`` (an .npz) when given."""
    frames, fps = read_frames(path)
    points = None
    if cache is not None and cache.is_file():
        try:
            data = np.load(cache)
            if data["points"].shape[0] == len(frames):
                points = data["points"]
        except (OSError, ValueError, KeyError):
            points = None
    if points is None:
        points = tracker.track(frames)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cache, points=points.astype(np.float32))
    return Clip(frames=frames, fps=fps, points=np.asarray(points, np.float64))


def fill_gaps(points: np.ndarray) -> np.ndarray:
    """Points of lost frames linearly interpolated from the nearest found ones (held at the ends)."""
    found = ~np.isnan(points[:, 0, 0])
    if found.all() or not found.any():
        return points
    idx = np.arange(len(points))
    out = points.copy()
    flat = points.reshape(len(points), -1)
    filled = np.stack([np.interp(idx, idx[found], flat[found, j]) for j in range(flat.shape[1])], axis=1)
    out[~found] = filled.reshape(points.shape)[~found]
    return out


def pick_segment(points: np.ndarray, fps: float, seconds: float, start: float) -> tuple[int, int]:
    """Frames ``[a, b)`` of about ``seconds`` (the whole clip when shorter) where the face is found in at
    least 1 - MAX_LOST_SHARE of the frames; ``start`` (0-1) picks among the possible starts."""
    n = len(points)
    length = min(n, max(2, int(round(seconds * fps))))
    found = ~np.isnan(points[:, 0, 0])
    starts = [a for a in range(0, n - length + 1) if found[a : a + length].mean() >= 1.0 - MAX_LOST_SHARE]
    if not starts:
        raise SynthError(f"the face is lost in more than {MAX_LOST_SHARE:.0%} of every {length / fps:.1f}-s stretch")
    a = starts[min(len(starts) - 1, int(start * len(starts)))]
    return a, a + length


# --- geometry -----------------------------------------------------------------------------------


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity (rotation, uniform scale, shift) taking ``src`` onto ``dst`` (Umeyama)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        s[1, 1] = -1
    r = u @ s @ vt
    var = (a**2).sum() / len(src)
    scale = float(np.trace(np.diag(d) @ s) / var) if var > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = md - m[:, :2] @ ms
    return m


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ m[:, :2].T + m[:, 2]


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 map ``a(b(x))``."""
    out = np.zeros((2, 3))
    out[:, :2] = a[:, :2] @ b[:, :2]
    out[:, 2] = a[:, :2] @ b[:, 2] + a[:, 2]
    return out


def invert(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(m, np.float64))


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles ``(K, 3)`` of point indices (OpenCV's Subdiv2D; duplicate points are merged)."""
    pts = np.asarray(points, np.float64)
    lo, hi = pts.min(0) - 10, pts.max(0) + 10
    sub = cv2.Subdiv2D((int(np.floor(lo[0])), int(np.floor(lo[1])), int(np.ceil(hi[0] - lo[0])) + 1, int(np.ceil(hi[1] - lo[1])) + 1))
    for p in pts:
        sub.insert((float(p[0]), float(p[1])))
    tris = sub.getTriangleList().reshape(-1, 3, 2)
    out = []
    for tri in tris:
        d = np.linalg.norm(pts[None, :, :] - tri[:, None, :], axis=2)
        idx = d.argmin(axis=1)
        if (d[np.arange(3), idx] < 1e-3).all() and len(set(idx.tolist())) == 3:
            out.append(idx)
    return np.asarray(out, np.int64).reshape(-1, 3)


def identity_map(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs, ys


def affine_map(m: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Sampling maps for ``cv2.remap`` that pull each output pixel x from ``m(x)``."""
    xs, ys = identity_map(h, w)
    return (m[0, 0] * xs + m[0, 1] * ys + m[0, 2]).astype(np.float32), (m[1, 0] * xs + m[1, 1] * ys + m[1, 2]).astype(np.float32)


def piecewise_map(
    src: np.ndarray, dst: np.ndarray, triangles: np.ndarray, h: int, w: int, base: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Piecewise-affine sampling maps: a pixel inside triangle k of ``dst`` pulls from the same place in
    triangle k of ``src``. Outside every triangle the ``base`` maps (default: identity) apply.
    Returns ``(map_x, map_y, inside)``: ``inside`` is the uint8 mask of the covered pixels."""
    map_x, map_y = base if base is not None else identity_map(h, w)
    map_x, map_y = map_x.copy(), map_y.copy()
    x0, y0 = (int(max(0, np.floor(v))) for v in dst.min(axis=0))
    x1, y1 = int(min(w, np.ceil(dst[:, 0].max()) + 1)), int(min(h, np.ceil(dst[:, 1].max()) + 1))
    inside = np.zeros((h, w), np.uint8)
    if x1 <= x0 or y1 <= y0:
        return map_x, map_y, inside
    label = np.zeros((y1 - y0, x1 - x0), np.int32)  # only the box around the mesh is drawn
    d = np.asarray(dst, np.float64)[triangles]  # (K, 3, 2)
    lhs = np.concatenate([d, np.ones((len(triangles), 3, 1))], axis=2)
    ok = np.abs(np.linalg.det(lhs)) > 1e-6  # flat triangles are not drawn
    coef = np.zeros((len(triangles), 2, 3))
    coef[ok] = np.linalg.solve(lhs[ok], np.asarray(src, np.float64)[triangles][ok]).transpose(0, 2, 1)
    corners = np.round((d - [x0, y0]) * 16).astype(np.int32)
    for k in np.flatnonzero(ok):
        cv2.fillConvexPoly(label, corners[k], int(k) + 1, lineType=cv2.LINE_8, shift=4)
    ys, xs = np.nonzero(label)
    c = coef[label[ys, xs] - 1]
    ys, xs = ys + y0, xs + x0
    map_x[ys, xs] = c[:, 0, 0] * xs + c[:, 0, 1] * ys + c[:, 0, 2]
    map_y[ys, xs] = c[:, 1, 0] * xs + c[:, 1, 1] * ys + c[:, 1, 2]
    inside[ys, xs] = 1
    return map_x, map_y, inside


def remap(image: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Sample ``image`` at the maps; outside it the edge pixels are smeared outwards (as warping
    animators do; a mirrored border would be a shortcut no generator makes)."""
    return cv2.remap(image, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def eye_distance(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[list(mesh.RIGHT_EYE)].mean(0) - points[list(mesh.LEFT_EYE)].mean(0)))


def ring(points: np.ndarray, scale: float, n: int = 24) -> np.ndarray:
    """``n`` points on the face outline pushed out ``scale`` times from the face's centre."""
    oval = points[list(mesh.FACE_OVAL)]
    centre = points[list(mesh.RIGID)].mean(0)
    take = oval[np.linspace(0, len(oval), n, endpoint=False).astype(int)]
    return centre + (take - centre) * scale


def feathered_mask(shape: tuple[int, int], polygon: np.ndarray, feather: float, erode: float = 0.0) -> np.ndarray:
    """float32 mask in [0, 1]: the convex hull of ``polygon``, shrunk by ``erode`` pixels, edges blurred by ``feather`` (sigma)."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(polygon).astype(np.int32)), 255)
    if erode >= 1:
        k = int(2 * round(erode) + 1)
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    out = mask.astype(np.float32) / 255.0
    if feather > 0:
        out = cv2.GaussianBlur(out, (0, 0), feather)
    return out


def colour_match(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source`` with the mean and spread of each Lab channel of ``target`` under ``mask`` (> 0.5)."""
    sel = (mask > 0.5).astype(np.uint8)
    if int(sel.sum()) < 16:
        return source
    s = cv2.cvtColor(source, cv2.COLOR_RGB2LAB).astype(np.float32)
    t = cv2.cvtColor(target, cv2.COLOR_RGB2LAB)
    ms, ss = (v.ravel() for v in cv2.meanStdDev(s, mask=sel))
    mt, st = (v.ravel() for v in cv2.meanStdDev(t, mask=sel))
    gain = np.clip((st + 1e-3) / (ss + 1e-3), 0.5, 2.0).astype(np.float32)
    out = (s - ms.astype(np.float32)) * gain + mt.astype(np.float32)
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def blend(back: np.ndarray, front: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None]
    return np.clip(np.round(front.astype(np.float32) * m + back.astype(np.float32) * (1 - m)), 0, 255).astype(np.uint8)


def mouth_opening(points: np.ndarray) -> float:
    """The inner-lip polygon's area over the squared eye distance."""
    poly = points[list(mesh.LIPS_INNER)].astype(np.float32)
    return float(abs(cv2.contourArea(poly))) / max(eye_distance(points) ** 2, 1.0)


def paint_mouth(image: np.ndarray, points: np.ndarray, source_opening: float) -> np.ndarray:
    """Darken the mouth opening where the warp opened a mouth that was closed in the source texture
    (a warp stretches the lips over it; generators paint a dark cavity and teeth)."""
    opening = mouth_opening(points)
    alpha = float(np.clip((opening - source_opening - 0.01) / 0.08, 0.0, 0.6))
    if alpha <= 0:
        return image
    eye = eye_distance(points)
    mask = feathered_mask(image.shape[:2], points[list(mesh.LIPS_INNER)], feather=0.04 * eye, erode=0.06 * eye) * alpha
    dark = (image.astype(np.float32) * 0.45 + np.array([12, 4, 4], np.float32)).clip(0, 255).astype(np.uint8)
    return blend(image, dark, mask)


# --- the three kinds ----------------------------------------------------------------------------


def drive_points(still: np.ndarray, driver: np.ndarray, head: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Target points for a still face with points ``still`` (468, 2) moved like ``driver`` (T, 468, 2).

    The driver's expression (its points with its head motion, a similarity on the rigid points,
    removed) is carried into the still's frame by the similarity that lays the driver's first
    frame over the still; its head motion is carried over the same way (``head=False``: none).
    Returns the target points ``(T, 468, 2)`` and the head transforms ``(T, 2, 3)`` in the still's frame.
    """
    rigid = list(mesh.RIGID)
    q0 = driver[0]
    to_still = similarity(q0[rigid], still[rigid])
    from_still = invert(to_still)
    lin = to_still[:, :2]
    out, heads = [], []
    for q in driver:
        head_b = similarity(q0[rigid], q[rigid])  # driver's head motion since its first frame
        expression = apply(invert(head_b), q) - q0
        g = compose(to_still, compose(head_b, from_still)) if head else np.hstack([np.eye(2), np.zeros((2, 1))])
        out.append(apply(g, still + expression @ lin.T))
        heads.append(g)
    return np.asarray(out), np.asarray(heads)


BACKGROUNDS = ("still", "moved", "live")


def animate_frames(
    image: np.ndarray,
    still: np.ndarray,
    driver: np.ndarray,
    background: str = "still",
    live: tuple[Sequence[np.ndarray], np.ndarray] | None = None,
) -> list[np.ndarray]:
    """One still picture (``image`` with face points ``still``) animated by the driver's motion.

    The face mesh and a ring of points around it (hair, neck) are warped piecewise-affinely. The
    rest of the frame: ``still``, the ring stays where it was (the picture stretches between the
    face and the ring) and the background is the still picture; ``moved``, it moves rigidly with
    the head; ``live``, as ``still`` but beyond the animated head the frames of the picture's own
    clip continue (``live``: those frames and their face points, one per driver frame), as when an
    animated face is pasted back into the source video: the background keeps the camera's noise."""
    if background not in BACKGROUNDS:
        raise SynthError(f"unknown background {background!r}; choose one of {', '.join(BACKGROUNDS)}")
    if background == "live" and (live is None or len(live[0]) < len(driver)):
        raise SynthError("a live background needs one frame of the source clip per driver frame")
    h, w = image.shape[:2]
    targets, heads = drive_points(still, driver)
    outer = ring(still, 1.6)
    src = np.vstack([still, outer])
    triangles = triangulate(src)
    opening = mouth_opening(still)
    eye = eye_distance(still)
    frames = []
    for t, (pts, g) in enumerate(zip(targets, heads)):
        if background == "moved":
            dst_outer = apply(g, outer)
            base = affine_map(invert(g), h, w)
        else:
            dst_outer, base = outer, None
        mx, my, _ = piecewise_map(src, np.vstack([pts, dst_outer]), triangles, h, w, base)
        frame = paint_mouth(remap(image, (mx, my)), pts, opening)
        if background == "live":
            assert live is not None
            # the animated head and the ring, and wherever the clip's own head is in this frame
            cover = np.vstack([outer, ring(pts, 1.6), ring(live[1][t], 2.0)])
            hard = feathered_mask((h, w), cover, feather=0.0)
            frame = blend(live[0][t], frame, np.maximum(hard, feathered_mask((h, w), cover, feather=0.15 * eye)))  # soft edge outwards
        frames.append(frame)
    return frames


def _reflect(i: int, n: int) -> int:
    """Index ``i`` folded back into ``range(n)`` at both ends (0 1 2 1 0 1 2 ...)."""
    if n <= 1:
        return 0
    period = 2 * (n - 1)
    i %= period
    return period - i if i >= n else i


def lipsync_frames(
    frames: Sequence[np.ndarray], points: np.ndarray, shift: int, rng: np.random.Generator, span: tuple[int, int] | None = None
) -> list[np.ndarray]:
    """Each frame's lower face replaced by the lower face of the frame ``shift`` frames away (reflected
    at the clip's ends), aligned on the nose and cheek points, colour-matched, feathered. A drawn
    share of them is also softened, as lip-sync models paint the mouth at low resolution. ``span``:
    only the frames ``[a, b)`` are made (the shifted frames may lie outside it)."""
    n = len(frames)
    anchors = list(mesh.RIGID) + [2, 98, 327, 129, 358]
    soften = float(rng.choice([1.0, rng.uniform(1.5, 3.0)]))
    out = []
    a, b = span or (0, n)
    for t in range(a, b):
        s = _reflect(t + shift, n)
        h, w = frames[t].shape[:2]
        m = similarity(points[s][anchors], points[t][anchors])
        src = cv2.warpAffine(frames[s], m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        moved = apply(m, points[s])
        eye = eye_distance(points[t])
        region = np.vstack([points[t][list(mesh.LOWER_FACE)], moved[list(mesh.LOWER_FACE)]])
        mask = feathered_mask((h, w), region, feather=0.12 * eye, erode=0.1 * eye)
        if soften > 1:
            small = (max(2, int(w / soften)), max(2, int(h / soften)))
            src = cv2.resize(cv2.resize(src, small, interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)
        src = colour_match(src, frames[t], mask)
        out.append(blend(frames[t], src, mask))
    return out


def rerender_frames(frames: Sequence[np.ndarray], points: np.ndarray, reference: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Each frame's face replaced by the reference frame's face texture warped onto the frame's
    landmarks, smoothed (bilateral or Gaussian, drawn once for the clip) and colour-matched to the
    frame, blended with a feathered hull mask. Head motion and background stay real."""
    ref_img, ref_pts = frames[reference], points[reference]
    triangles = triangulate(ref_pts)
    opening = mouth_opening(ref_pts)
    eye = eye_distance(ref_pts)
    if rng.random() < 0.5:
        sigma_colour, sigma_space = float(rng.uniform(10, 30)), float(rng.uniform(0.02, 0.05) * eye)

        def smooth(x):
            return cv2.bilateralFilter(x, 0, sigma_colour, sigma_space)
    else:
        sigma = float(rng.uniform(0.005, 0.015) * eye)

        def smooth(x):
            return cv2.GaussianBlur(x, (0, 0), sigma)

    texture = smooth(ref_img)
    out = []
    for img, pts in zip(frames, points):
        h, w = img.shape[:2]
        mx, my, inside = piecewise_map(ref_pts, pts, triangles, h, w)
        face = paint_mouth(remap(texture, (mx, my)), pts, opening)
        e = eye_distance(pts)
        mask = feathered_mask((h, w), pts[list(mesh.FACE_OVAL)], feather=0.1 * e, erode=0.12 * e) * inside.astype(np.float32)
        face = colour_match(face, img, mask)
        out.append(blend(img, face, mask))
    return out


# --- planning and making ------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A real source clip: the manifest row's path as written, its file and what the output manifest repeats."""

    path: str
    file: str
    group: str
    source_dataset: str = ""
    origin_repo: str = ""


@dataclass(frozen=True)
class Job:
    """One output clip, fully decided by the plan."""

    kind: str  # "real" or one of KINDS
    source: Source
    index: int
    finish: Finish
    name: str
    driver: Source | None = None  # animate: the clip whose motion drives the still
    backup_drivers: tuple[Source, ...] = ()  # animate: tried in turn when the driver cannot be read
    background: str = "still"  # animate: still, moved or live (BACKGROUNDS)
    still_at: float = 0.0  # animate: where the still frame is, as a share of the source clip
    shift_seconds: float = 0.0  # lipsync: signed time shift
    reference_at: float = 0.0  # rerender: where the reference frame is, as a share of the segment
    extra_seed: int = 0  # seeds the kind's own random choices and the pipeline's noise

    @property
    def source_dataset(self) -> str:
        if self.kind == REAL:
            return f"self-made real copy ({self.source.source_dataset or 'real video'})"
        if self.kind == "animate":
            return f"self-made animate ({self.background} background)"
        return f"self-made {self.kind}"


def _rng(seed: int, *keys: object) -> np.random.Generator:
    digest = hashlib.sha256(("\x1f".join([str(seed), *map(str, keys)])).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _slug(path: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem)[:60]
    return f"{stem}-{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def plan_jobs(sources: Sequence[Source], kinds: Sequence[str], per_clip: int, seed: int) -> list[Job]:
    """Every output clip, decided from the seed alone: each source gives ``per_clip`` re-encoded real
    copies and ``per_clip`` fakes of each kind. ``animate`` takes its driver from another group
    (another person) when there is one; its background takes the BACKGROUNDS in turn from clip to
    clip from a seeded start, so each occurs in equal shares."""
    jobs = []
    for si, src in enumerate(sources):
        others = [o for o in sources if o.group != src.group] or [o for o in sources if o.path != src.path] or [src]
        for kind in (REAL, *kinds):
            for k in range(per_clip):
                rng = _rng(seed, src.path, kind, k)
                finish = draw_finish(rng)
                job = dict(kind=kind, source=src, index=k, finish=finish, name=f"{_slug(src.path)}_{k}", extra_seed=int(rng.integers(2**31)))
                if kind == "animate":
                    order = rng.permutation(len(others))[:4]
                    job["driver"] = others[int(order[0])]
                    job["backup_drivers"] = tuple(others[int(o)] for o in order[1:])
                    job["background"] = BACKGROUNDS[(si + k + int(_rng(seed, "background").integers(len(BACKGROUNDS)))) % len(BACKGROUNDS)]
                    job["still_at"] = float(rng.uniform())
                elif kind == "lipsync":
                    job["shift_seconds"] = float(rng.uniform(0.3, 2.0) * rng.choice([-1, 1]))
                elif kind == "rerender":
                    job["reference_at"] = float(rng.uniform())
                jobs.append(Job(**job))
    return jobs


ClipLoader = Callable[[Source], Clip]


def make_frames(job: Job, load: ClipLoader) -> tuple[list[np.ndarray], float, Source | None]:
    """The frames of one output before the finish, their frame rate and (animate) the driver used."""
    rng = np.random.default_rng(job.extra_seed)
    clip = load(job.source)
    if job.kind == "animate":
        assert job.driver is not None
        used, drv, why = None, None, ""
        for candidate in (job.driver, *job.backup_drivers):
            try:
                drv, used = load(candidate), candidate
                break
            except SynthError as exc:
                why = str(exc)
        if drv is None:
            raise SynthError(f"no driving clip could be read (last: {why})")
        a, b = pick_segment(drv.points, drv.fps, job.finish.seconds, job.finish.start)
        found = np.flatnonzero(~np.isnan(clip.points[:, 0, 0]))
        if len(found) == 0:
            raise SynthError(f"{job.source.path}: no face found")
        still = int(found[min(len(found) - 1, int(job.still_at * len(found)))])
        live = None
        if job.background == "live":  # the source clip's own frames, by time, reflected at the ends of its segment
            a2, b2 = pick_segment(clip.points, clip.fps, job.finish.seconds, job.finish.start)
            idx = [_reflect(int(round(t * clip.fps / drv.fps)), b2 - a2) + a2 for t in range(b - a)]
            live = ([clip.frames[i] for i in idx], fill_gaps(clip.points)[idx])
        frames = animate_frames(clip.frames[still], clip.points[still], fill_gaps(drv.points[a:b]), job.background, live)
        return frames, drv.fps, used
    a, b = pick_segment(clip.points, clip.fps, job.finish.seconds, job.finish.start)
    if job.kind == REAL:
        return list(clip.frames[a:b]), clip.fps, None
    if job.kind == "lipsync":
        points = fill_gaps(clip.points)
        shift = int(round(job.shift_seconds * clip.fps)) or 1
        # the shifted frame comes from the whole clip read, not only the segment
        return lipsync_frames(clip.frames, points, shift, rng, (a, b)), clip.fps, None
    if job.kind == "rerender":
        points = fill_gaps(clip.points[a:b])
        ref = min(b - a - 1, int(job.reference_at * (b - a)))
        found = np.flatnonzero(~np.isnan(clip.points[a:b, 0, 0]))
        ref = int(found[np.abs(found - ref).argmin()])
        return rerender_frames(clip.frames[a:b], points, ref, rng), clip.fps, None
    raise SynthError(f"unknown kind {job.kind!r}; choose one of {', '.join(KINDS)}")


def render_job(job: Job, load: ClipLoader) -> tuple[list[np.ndarray], Source | None]:
    """The finished frames of one output clip (the pipeline applied) and (animate) the driver used."""
    frames, fps, driver = make_frames(job, load)
    return finish_frames(frames, fps, job.finish, np.random.default_rng(job.extra_seed + 1)), driver


@dataclass
class Summary:
    made: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def sources_from_manifests(manifests: Sequence[str | Path]) -> list[Source]:
    """The real video rows of the manifests (each file once)."""
    from deepdetector.datasets.manifest import read_manifest

    out, seen = [], set()
    for manifest in manifests:
        for item in read_manifest(manifest):
            if item.label != 0 or not item.is_video or str(item.file) in seen:
                continue
            seen.add(str(item.file))
            out.append(Source(item.path, str(item.file), item.group or item.path, item.source_dataset, item.origin_repo))
    return out


MANIFEST_EXTRA = ("driver", "source_clip", "finish")


def make_set(
    manifests: Sequence[str | Path],
    out: str | Path,
    kinds: Sequence[str] = KINDS,
    per_clip: int = 1,
    seed: int = 0,
    max_clips: int | None = None,
    load: ClipLoader | None = None,
    progress: Callable[[str], None] = print,
) -> Summary:
    """Make the set (see the module's text) and write ``out/manifest.csv``; returns what was done."""
    from deepdetector.datasets.manifest import ManifestError, write_manifest

    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ManifestError(f"unknown kind(s) {', '.join(bad)}; choose from {', '.join(KINDS)}")
    if per_clip < 1:
        raise ManifestError(f"--per-clip {per_clip} is not possible: it must be 1 or more")
    sources = sources_from_manifests(manifests)
    if not sources:
        raise ManifestError(f"no real video rows in {', '.join(map(str, manifests))}")
    if max_clips is not None:
        sources = sources[: max(0, max_clips)]
    out = Path(out)
    if load is None:
        tracker: FaceTracker | None = None
        memo: dict[str, Clip] = {}

        def load(src: Source) -> Clip:
            nonlocal tracker
            if src.file not in memo:
                if tracker is None:
                    tracker = FaceTracker()
                if len(memo) > 3:  # keep memory bounded: the source and a driver or two
                    memo.clear()
                memo[src.file] = load_clip(src.file, tracker, out / "landmarks" / f"{_slug(src.path)}.npz")
            return memo[src.file]

    from deepdetector.media.video import AV_ERRORS

    jobs = plan_jobs(sources, kinds, per_clip, seed)
    summary = Summary()
    for i, job in enumerate(jobs, 1):
        video = out / "clips" / job.kind / f"{job.name}.mp4"
        meta = video.with_suffix(".json")
        if video.is_file() and meta.is_file():
            summary.skipped += 1
            continue
        t0 = time.perf_counter()
        try:
            frames, driver = render_job(job, load)
            write_video(video, frames, job.finish.fps, job.finish.crf)
        except (DeepDetectorError, OSError, ValueError, cv2.error, np.linalg.LinAlgError, *AV_ERRORS) as exc:
            msg = f"{job.kind} from {job.source.path}: {exc}"
            summary.failed.append(msg)
            warnings.warn(msg, stacklevel=2)
            progress(f"[{i}/{len(jobs)}] FAILED {msg}")
            continue
        dt = time.perf_counter() - t0
        row = {
            "path": f"clips/{job.kind}/{job.name}.mp4",
            "label": "real" if job.kind == REAL else "fake",
            "kind": "video",
            "source_dataset": job.source_dataset,
            "origin_repo": job.source.origin_repo,
            "group": job.source.group,
            "driver": driver.path if driver else "",
            "source_clip": job.source.path,
            "finish": json.dumps(asdict(job.finish), separators=(",", ":")),
        }
        meta.write_text(json.dumps(row, indent=1))
        summary.made += 1
        summary.seconds.append(dt)
        progress(f"[{i}/{len(jobs)}] {job.kind} {job.name} {len(frames)} frames {dt:.1f} s")
    rows = []
    for meta in sorted((out / "clips").glob("*/*.json")):
        try:
            rows.append(json.loads(meta.read_text()))
        except (OSError, ValueError):
            continue
    if rows:
        write_manifest(out / "manifest.csv", rows, extra=MANIFEST_EXTRA)
    return summary


def side_by_side_clip(real: Sequence[np.ndarray], fake: Sequence[np.ndarray]) -> list[np.ndarray]:
    """real | fake frames side by side (the shorter one's last frame held)."""
    n = max(len(real), len(fake))
    return [np.concatenate([real[min(i, len(real) - 1)], fake[min(i, len(fake) - 1)]], axis=1) for i in range(n)]


def show_pair(
    video: str | Path,
    kind: str,
    seed: int = 0,
    driver: str | Path | None = None,
    background: str | None = None,
    tracker: FaceTracker | None = None,
) -> tuple[list[np.ndarray], int]:
    """One fake of ``kind`` made from ``video`` beside the real frames it was made from (for
    ``animate`` the driving clip, by default the video itself), both through the same finish.
    Returns the side-by-side frames and their frame rate (what ``deepdetector synth VIDEO`` writes)."""
    if kind not in KINDS:
        raise SynthError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    if background is not None and background not in BACKGROUNDS:
        raise SynthError(f"unknown background {background!r}; choose one of {', '.join(BACKGROUNDS)}")
    src = Source(str(video), str(Path(video).resolve()), str(video))
    drv = Source(str(driver), str(Path(driver).resolve()), str(driver)) if driver is not None else src
    job = next(j for j in plan_jobs([src], [kind], 1, seed) if j.kind == kind)
    if kind == "animate":
        job = replace(job, driver=drv, backup_drivers=(), background=background or job.background)
    tracker = tracker or FaceTracker()
    memo: dict[str, Clip] = {}

    def load(s: Source) -> Clip:
        if s.file not in memo:
            memo[s.file] = load_clip(s.file, tracker)
        return memo[s.file]

    fake, fps, _ = make_frames(job, load)
    real, _, _ = make_frames(replace(job, kind=REAL, source=job.driver or src, driver=None), load)
    h = real[0].shape[0]
    if fake[0].shape[0] != h:
        w = int(round(fake[0].shape[1] * h / fake[0].shape[0]))
        fake = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in fake]
    pair = side_by_side_clip(real, fake)
    finish = replace(job.finish, side=2 * job.finish.side)
    return finish_frames(pair, fps, finish, np.random.default_rng(job.extra_seed + 1)), finish.fps
