"""Cues: small signals over the landmark series of one face, each a registered function.

A cue takes a :class:`SeriesView` (the series of one window, with the measures several cues share
computed once) and returns a number, or ``None`` with nothing to say (too few frames, face lost).
Add one by decorating a function with ``@CUES.register(name, description=..., unit=..., low=..., high=...)``:
``low`` / ``high`` say in plain words what a value below / above real videos' looks like; the optional
``low_fake`` / ``high_fake`` add what it suggests, shown only when the fusion reads it as evidence of fake.

Conventions: lengths are in units of the eye distance (centre of one eye to the other), so a cue
does not depend on how large the face is in pixels; rates are per second, not per frame, so it does
not depend on the frame rate; angles in degrees.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from deepdetector.evidence.window import FaceSeries
from deepdetector.landmarks import topology as mesh
from deepdetector.registry import Registry
from deepdetector.types import Cue

CUES: Registry = Registry("cue")

MIN_FRAMES = 8  # fewer frames with a face than this: no cue at all
MIN_SECONDS = 1.0  # windows shorter than this say nothing about motion
# Below these a face does not move: landmark noise alone gives about 3 deg/s and 0.004 eye distances
# on a still face (a still photo saved as an H.264 video; tests/test_evidence_video.py).
STILL_HEAD = 5.0  # deg/s, median head speed
STILL_MOUTH = 0.01  # eye distances, std of the lip gap


def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation matrix R minimising |R a_i - b_i| for centred point sets (N, 3)."""
    h = a.T @ b
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


class SeriesView:
    """A face series with the shared measures computed on demand (only frames with a face)."""

    def __init__(self, series: FaceSeries) -> None:
        arr = series.as_array()
        self.valid = ~np.isnan(arr[:, 0, 0])
        self.points = arr[self.valid]  # (T, 468, 3)
        self.t = np.asarray(series.timestamps, dtype=np.float64)[self.valid]
        pixels = list(series.pixels) + [None] * (len(series.points) - len(series.pixels))
        self.pixels = [p for p, ok in zip(pixels, self.valid) if ok]  # grey patches of the frames with a face
        self.n = len(self.points)
        self.seconds = float(self.t[-1] - self.t[0]) if self.n > 1 else 0.0

    @cached_property
    def eye_distance(self) -> np.ndarray:
        right = self.points[:, list(mesh.RIGHT_EYE), :2].mean(axis=1)
        left = self.points[:, list(mesh.LEFT_EYE), :2].mean(axis=1)
        return np.maximum(np.linalg.norm(left - right, axis=1), 1e-6)

    @cached_property
    def scale(self) -> float:
        return float(np.median(self.eye_distance))

    @cached_property
    def ear(self) -> np.ndarray:
        """Eye aspect ratio per frame, both eyes averaged (Soukupova and Cech 2016)."""

        def one(idx: tuple[int, ...]) -> np.ndarray:
            p = self.points[:, list(idx), :2]
            vertical = np.linalg.norm(p[:, 1] - p[:, 5], axis=1) + np.linalg.norm(p[:, 2] - p[:, 4], axis=1)
            return vertical / (2.0 * np.maximum(np.linalg.norm(p[:, 0] - p[:, 3], axis=1), 1e-6))

        return (one(mesh.RIGHT_EYE) + one(mesh.LEFT_EYE)) / 2.0

    @cached_property
    def mouth_opening(self) -> np.ndarray:
        gap = self.points[:, mesh.INNER_LIP_LOWER, :2] - self.points[:, mesh.INNER_LIP_UPPER, :2]
        return np.linalg.norm(gap, axis=1) / self.eye_distance

    @cached_property
    def rotations(self) -> np.ndarray:
        """Head rotation per frame relative to the window's median pose, as (yaw, pitch, roll) degrees."""
        rigid = self.points[:, list(mesh.RIGID), :] / self.eye_distance[:, None, None]
        rigid = rigid - rigid.mean(axis=1, keepdims=True)
        reference = np.median(rigid, axis=0)
        angles = np.zeros((self.n, 3))
        for i in range(self.n):
            r = _kabsch(rigid[i], reference)
            # rotation of the frame relative to the reference, as yaw (y axis), pitch (x), roll (z)
            angles[i] = (
                np.degrees(np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))),
                np.degrees(np.arctan2(r[2, 1], r[2, 2])),
                np.degrees(np.arctan2(r[1, 0], r[0, 0])),
            )
        return angles

    @cached_property
    def aligned(self) -> np.ndarray:
        """2-D landmarks with head motion removed: each frame mapped onto the median frame by the
        similarity transform that best aligns its rigid points (scale, rotation, shift)."""
        xy = self.points[:, :, :2]
        ref = np.median(xy[:, list(mesh.RIGID)], axis=0)
        ref_c = ref - ref.mean(axis=0)
        out = np.empty_like(xy)
        for i in range(self.n):
            src = xy[i, list(mesh.RIGID)]
            mu = src.mean(axis=0)
            s = src - mu
            # complex-number least squares for a 2-D similarity: z_ref = a * z_src
            zs = s[:, 0] + 1j * s[:, 1]
            zr = ref_c[:, 0] + 1j * ref_c[:, 1]
            a = np.vdot(zs, zr) / max(np.vdot(zs, zs).real, 1e-12)
            z = (xy[i, :, 0] - mu[0]) + 1j * (xy[i, :, 1] - mu[1])
            z = a * z
            out[i, :, 0] = z.real + ref.mean(axis=0)[0]
            out[i, :, 1] = z.imag + ref.mean(axis=0)[1]
        return out / self.scale

    def rate(self, values: np.ndarray) -> np.ndarray:
        """Time derivative (per second) of a per-frame series."""
        dt = np.diff(self.t)
        dt[dt <= 0] = np.nan
        return np.diff(values, axis=0) / (dt[:, None] if values.ndim > 1 else dt)


def _changes(view: SeriesView, name: str, laplacian: bool = False) -> np.ndarray:
    """Mean absolute change of patch ``name`` between consecutive frames with a face (grey levels),
    of its Laplacian (fine texture) when asked."""
    import cv2

    out = []
    for a, b in zip(view.pixels, view.pixels[1:]):
        if a is None or b is None or name not in a or name not in b:
            continue
        pa, pb = a[name], b[name]
        if laplacian:
            pa, pb = cv2.Laplacian(pa, cv2.CV_32F), cv2.Laplacian(pb, cv2.CV_32F)
        out.append(float(np.mean(np.abs(pb - pa))))
    return np.asarray(out)


def _jitter(view: SeriesView, xy: np.ndarray) -> float:
    """Frame-to-frame noise of points (T, K, 2): the RMS distance to a 3-frame moving average, in eye
    distances. Smooth motion cancels in the average; tremble and re-rendering noise do not."""
    if len(xy) < 3:
        return float("nan")
    smooth = (xy[:-2] + xy[1:-1] + xy[2:]) / 3.0
    return float(np.sqrt(np.mean(np.sum((xy[1:-1] - smooth) ** 2, axis=-1))))


@CUES.register("eye_opening_variation", description="how much the eyes open and close (std of the eye aspect ratio)", unit="ratio",
               low="the eyes open and close less than in real footage", low_fake="as when a face is blended in or animated from a still",
               high="the eyes open and close more than in most real videos")  # fmt: skip
def eye_opening_variation(view: SeriesView) -> float:
    return float(np.std(view.ear))


@CUES.register("blinks_per_minute", description="blinks a minute (eye aspect ratio dropping below 75% of its median)", unit="/min",
               low="fewer blinks than in most real videos", high="more blinks than in most real videos")  # fmt: skip
def blinks_per_minute(view: SeriesView) -> float | None:
    if view.seconds < 2.0:
        return None
    ear = view.ear
    closed_at, open_at = 0.75 * np.median(ear), 0.85 * np.median(ear)
    blinks, closed = 0, False
    for value in ear:
        if not closed and value < closed_at:
            blinks, closed = blinks + 1, True
        elif closed and value > open_at:
            closed = False
    return blinks * 60.0 / view.seconds


@CUES.register("mouth_opening_variation", description="how much the mouth opens and closes (std of the lip gap, eye distances)", unit="eye dist.",
               low="the mouth moves less than in real speech", low_fake="as when a face is blended in",
               high="the mouth moves more than in most real videos")  # fmt: skip
def mouth_opening_variation(view: SeriesView) -> float:
    return float(np.std(view.mouth_opening))


@CUES.register("head_pitch_variation", description="how much the head nods (std of pitch)", unit="deg",
               low="the head nods less than in most real videos", high="the head nods more than in most real videos")  # fmt: skip
def head_pitch_variation(view: SeriesView) -> float:
    return float(np.std(view.rotations[:, 1]))


@CUES.register("head_yaw_variation", description="how much the head turns (std of yaw)", unit="deg",
               low="the head turns less than in most real videos", high="the head turns more than in most real videos")  # fmt: skip
def head_yaw_variation(view: SeriesView) -> float:
    return float(np.std(view.rotations[:, 0]))


@CUES.register("head_speed", description="median angular speed of the head", unit="deg/s",
               low="the head moves more slowly than in most real videos", high="the head moves faster than in most real videos")  # fmt: skip
def head_speed(view: SeriesView) -> float | None:
    speed = np.linalg.norm(view.rate(view.rotations), axis=1)
    speed = speed[np.isfinite(speed)]
    return float(np.median(speed)) if speed.size else None


@CUES.register("lip_head_coupling", description="how closely mouth motion follows head motion (largest correlation within 0.5 s)", unit="corr",
               low="mouth and head move independently", high="mouth and head move together", high_fake="as when one motion drives both")  # fmt: skip
def lip_head_coupling(view: SeriesView) -> float | None:
    mouth = np.abs(view.rate(view.mouth_opening))
    head = np.linalg.norm(view.rate(view.rotations), axis=1)
    ok = np.isfinite(mouth) & np.isfinite(head)
    mouth, head = mouth[ok], head[ok]
    if len(mouth) < MIN_FRAMES or np.median(head) < STILL_HEAD or np.std(view.mouth_opening) < STILL_MOUTH:
        return None  # nothing moves enough: a correlation would only measure landmark noise
    step = max(view.seconds / max(view.n - 1, 1), 1e-3)
    lags = int(round(0.5 / step))
    best = 0.0
    for lag in range(-lags, lags + 1):
        a = mouth[max(0, lag) : len(mouth) + min(0, lag)]
        b = head[max(0, -lag) : len(head) + min(0, -lag)]
        if len(a) >= MIN_FRAMES and a.std() > 1e-9 and b.std() > 1e-9:
            best = max(best, abs(float(np.corrcoef(a, b)[0, 1])))
    return best


@CUES.register("expression_motion", description="how much the face changes shape once head motion is removed (non-rigid motion)", unit="eye dist.",
               low="the expression changes less than in real footage", low_fake="as when a face is blended in or a photo is animated",
               high="the face changes shape more than in most real videos")  # fmt: skip
def expression_motion(view: SeriesView) -> float:
    aligned = view.aligned
    return float(np.mean(np.std(aligned, axis=0)))


@CUES.register("rigid_jitter", description="frame-to-frame tremble of the points that move with the skull", unit="eye dist.",
               low="the face outline is steadier than in most real videos", high="the face outline trembles from frame to frame", high_fake="as rendered faces do")  # fmt: skip
def rigid_jitter(view: SeriesView) -> float:
    xy = view.points[:, list(mesh.RIGID), :2] / view.scale
    return _jitter(view, xy)


@CUES.register("mouth_jitter", description="frame-to-frame tremble of the lips, head motion removed", unit="eye dist.",
               low="the lips move more smoothly than in most real videos", high="the lips tremble from frame to frame", high_fake="as re-rendered mouths do")  # fmt: skip
def mouth_jitter(view: SeriesView) -> float:
    return _jitter(view, view.aligned[:, list(mesh.LIPS_OUTER)])


@CUES.register("mouth_texture_flicker", description="how much the mouth's fine texture changes from frame to frame, against the middle of the face", unit="ratio",
               low="the mouth's fine texture changes less than the rest of the face", low_fake="as when a mouth is smoothed or a face re-rendered",
               high="the mouth's fine texture flickers more than the rest of the face", high_fake="as when a mouth is re-rendered or pasted in frame by frame")  # fmt: skip
def mouth_texture_flicker(view: SeriesView) -> float | None:
    mouth, face = _changes(view, "mouth", laplacian=True), _changes(view, "face", laplacian=True)
    if len(mouth) < MIN_FRAMES - 1 or len(face) < MIN_FRAMES - 1:
        return None
    return float(np.median(mouth) / (np.median(face) + 0.5))


@CUES.register("background_change", description="how much a fixed piece of background beside the face changes from frame to frame, against the face", unit="ratio",
               low="the background stays stiller than the face", low_fake="as when a face is animated over a still picture",
               high="the background changes more than the face")  # fmt: skip
def background_change(view: SeriesView) -> float | None:
    background, face = _changes(view, "background"), _changes(view, "face")
    if len(background) < MIN_FRAMES - 1 or len(face) < MIN_FRAMES - 1:
        return None  # no room beside the face, or too few frames
    return float(np.median(background) / (np.median(face) + 0.5))


#: The face classifier's own scores across the evenly spaced frames (not a landmark series: see
#: :func:`classifier_cues`). Registered for its words and description like every cue.
CLASSIFIER_FLICKER = "classifier_flicker"
CUES.register(
    CLASSIFIER_FLICKER,
    description="how much the face classifier's score for the main face jumps between neighbouring sampled frames (median change of the log-odds)",
    unit="log-odds",
    low="the face classifier's score is steadier from frame to frame than in most real videos",
    high="the face classifier's score jumps from frame to frame more than in most real videos",
    high_fake="as when a blend holds in some frames and slips in others",
)(None)


def classifier_cues(faces: list, min_frames: int = MIN_FRAMES) -> list[Cue]:
    """The classifier-score cue of a video from its judged faces (``FaceResult``): the person seen in
    the most frames, the median absolute change of their face's log-odds between neighbouring
    sampled frames. Too few frames with that face: no value, and the reason."""
    entry = CUES.entry(CLASSIFIER_FLICKER)
    by_track: dict[int, list] = {}
    for f in faces:
        by_track.setdefault(f.track_id, []).append(f)
    main = max(by_track.values(), key=len, default=[])
    if len(main) < min_frames:
        return [Cue(CLASSIFIER_FLICKER, None, entry.description, entry.meta["unit"],
                    reason=f"the main face was judged in {len(main)} sampled frames (needs {min_frames})")]  # fmt: skip
    p = np.clip(np.array([f.probability for f in sorted(main, key=lambda f: f.frame_index)], dtype=np.float64), 1e-4, 1 - 1e-4)
    logits = np.log(p / (1 - p))
    return [Cue(CLASSIFIER_FLICKER, float(np.median(np.abs(np.diff(logits)))), entry.description, entry.meta["unit"])]


def measure_cues(series: list[FaceSeries]) -> list[Cue]:
    """Every registered cue for a video, measured on its windows and averaged over them (weighted by
    the frames with a face). A cue that cannot be measured gets ``value=None`` and a reason."""
    views = [SeriesView(s) for s in series]
    usable = [v for v in views if v.n >= MIN_FRAMES and v.seconds >= MIN_SECONDS]
    if not series:
        reason = "no dense window (a still image, or evidence across frames is off)"
    elif not usable:
        frames = max(len(s.points) for s in series)
        span = max(s.seconds for s in series)
        found = max(v.n for v in views)
        if frames < MIN_FRAMES or span < MIN_SECONDS:
            reason = (
                f"too short or too few frames a second for motion evidence ({frames} frames over {span:.1f} s; "
                f"needs {MIN_FRAMES} frames over at least {MIN_SECONDS:g} s)"
            )
        else:
            reason = f"the face was found in only {found} of {frames} frames of the dense window (needs {MIN_FRAMES} over {MIN_SECONDS:g} s)"
    else:
        reason = None
    cues = []
    for entry in CUES.entries():
        if entry.obj is None:  # measured elsewhere (classifier_cues)
            continue
        desc, unit = entry.description, entry.meta.get("unit", "")
        if reason is not None:
            cues.append(Cue(entry.name, None, desc, unit, reason=reason))
            continue
        values, weights = [], []
        for v in usable:
            try:
                value = entry.obj(v)
            except (FloatingPointError, ValueError, np.linalg.LinAlgError):
                value = None
            if value is not None and np.isfinite(value):
                values.append(float(value))
                weights.append(v.n)
        if values:
            cues.append(Cue(entry.name, float(np.average(values, weights=weights)), desc, unit))
        else:
            cues.append(Cue(entry.name, None, desc, unit, reason="not measurable in this video"))
    return cues
