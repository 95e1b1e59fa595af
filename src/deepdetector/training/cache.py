"""A resumable on-disk face cache: detection, landmarks and a wide crop per sampled frame, computed once.

Layout of ``cache_dir``::

    index.jsonl        one JSON line per finished file (appended as files finish: resumable)
    crops/<key>.npz    crops uint8 [N,S,S,3], landmarks float32 [N,5,2] and boxes float32 [N,4]
                       (both in crop coordinates), frames int32 [N], confidence float32 [N], and
                       once asked for (``load(..., mesh=True)``) mesh float32 [N,468,2]: dense
                       FaceMesh landmarks found in the crop, NaN where none
    contents.jsonl     remembered content fingerprints: path, size, modification time -> fingerprint

Faces are found with the scanner's detector (``deepdetector.faces.create_detector``) and cut with
the scanner's crop code (``crop_region``/``crop_square``) at a WIDER margin than the model uses
(default 2.0 at 288 px), so training can re-crop the model's region (1.6x) with ``crop_square``
and jitter it without leaving the cached pixels.

The key of a file is a fingerprint of its CONTENT (:func:`content_fingerprint`) plus the cache
settings and the frames sampled: changed settings or a changed file never reuse stale crops, while
the same files copied or moved elsewhere (another disk, a fresh checkout of the data, a restored
backup: new paths and modification times) reuse every crop. Fingerprints are remembered by path,
size and modification time (``contents.jsonl``), so an unchanged file is read once, not every run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from deepdetector.datasets.manifest import MediaItem
from deepdetector.errors import MediaError
from deepdetector.faces.crop import crop_region, crop_square, to_crop_coords
from deepdetector.types import Box, Face


@dataclass(frozen=True)
class CacheSettings:
    """What a cached crop depends on (part of every cache key)."""

    crop_size: int = 288
    crop_margin: float = 2.0
    video_frames: int = 16
    detector: str = "yunet"
    detector_confidence: float = 0.6
    detect_max_side: int = 640
    min_face_size: int = 32


@dataclass
class CachedFaces:
    """The faces cached for one file (the largest face of each sampled frame)."""

    item: MediaItem
    crops: np.ndarray  # uint8 [N,S,S,3]
    landmarks: np.ndarray  # float32 [N,5,2], crop coordinates
    boxes: np.ndarray  # float32 [N,4] x1,y1,x2,y2, crop coordinates
    frames: np.ndarray  # int32 [N]
    mesh: np.ndarray | None = None  # float32 [N,468,2] dense landmarks, crop coordinates (NaN where none); see FaceCache.load

    def __len__(self) -> int:
        return int(self.crops.shape[0])


WHOLE_FILE_BYTES = 4 << 20  # files up to this size are hashed whole
SAMPLE_BYTES = 1 << 20  # larger ones: their size and this many bytes at the start, middle and end


def content_fingerprint(path: str | os.PathLike) -> str:
    """A sha256 of a file's bytes: all of them up to 4 MiB, else its size and 1 MiB at the start,
    middle and end (long videos stay cheap; an edit that keeps the size and all three samples is
    the case this misses)."""
    h = hashlib.sha256()
    size = os.stat(path).st_size
    h.update(str(size).encode())
    with open(path, "rb") as fh:
        if size <= WHOLE_FILE_BYTES:
            h.update(fh.read())
        else:
            for start in (0, (size - SAMPLE_BYTES) // 2, size - SAMPLE_BYTES):
                fh.seek(start)
                h.update(fh.read(SAMPLE_BYTES))
    return h.hexdigest()[:32]


def cache_key(content: str, settings: CacheSettings, frames: int) -> str:
    """The cache key of a file whose :func:`content_fingerprint` is ``content``."""
    payload = json.dumps([content, asdict(settings), frames], sort_keys=True)
    return hashlib.sha1(payload.encode()).hexdigest()[:20]


def _load_image(path: str) -> np.ndarray:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"))
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a media problem
        raise MediaError(f"cannot read image {path}: {exc}") from None


def _sample_video(path: str, n: int) -> Iterator[tuple[int, np.ndarray]]:
    """``n`` evenly spaced frames of a video, through the media stage when it is available."""
    try:
        from deepdetector.config import ScanConfig
        from deepdetector.media import open_media  # type: ignore[attr-defined]
    except ImportError:
        open_media = None
    if open_media is not None:
        _, frames = open_media(path, ScanConfig(frames=n))
        for fr in frames:
            yield fr.index, fr.image
        return
    yield from _pyav_sample(path, n)


def _pyav_sample(path: str, n: int) -> Iterator[tuple[int, np.ndarray]]:
    """Fallback sampler (decodes sequentially and keeps ``n`` evenly spaced frames)."""
    import av

    try:
        container = av.open(path)
    except Exception as exc:  # noqa: BLE001
        raise MediaError(f"cannot open video {path}: {exc}") from None
    with container:
        if not container.streams.video:
            raise MediaError(f"{path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        total = stream.frames or 0
        if total <= 0 and stream.duration and stream.average_rate:
            total = int(float(stream.duration * stream.time_base) * float(stream.average_rate))
        if total <= 0:
            total = 300
        wanted = sorted({int(round(x)) for x in np.linspace(0, max(total - 1, 0), num=max(1, n))})
        wanted_set = set(wanted)
        last = wanted[-1]
        try:
            for i, frame in enumerate(container.decode(stream)):
                if i in wanted_set:
                    yield i, frame.to_ndarray(format="rgb24")
                if i >= last:
                    break
        except av.error.FFmpegError as exc:  # truncated files: keep what was decoded
            if not wanted_set:
                raise MediaError(f"cannot decode {path}: {exc}") from None


def _detect_largest(detector, image: np.ndarray, s: CacheSettings) -> Face | None:
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, s.detect_max_side / float(max(h, w)))
    small = image if scale >= 1.0 else cv2.resize(image, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_AREA)
    faces = detector.detect(small)
    for f in faces:  # largest first
        b = Box(f.box.x1 / scale, f.box.y1 / scale, f.box.x2 / scale, f.box.y2 / scale)
        if min(b.width, b.height) < s.min_face_size or f.landmarks is None:
            continue
        return Face(box=b, confidence=f.confidence, landmarks=np.asarray(f.landmarks, np.float32) / scale)
    return None


def extract_faces(item: MediaItem, detector, s: CacheSettings, frames: int) -> dict[str, np.ndarray]:
    """Detect and crop the largest face of every sampled frame of ``item``."""
    if item.is_video:
        source = _sample_video(item.path, frames)
    else:
        source = iter([(0, _load_image(item.path))])
    crops, lms, boxes, idx, conf = [], [], [], [], []
    for fi, image in source:
        face = _detect_largest(detector, image, s)
        if face is None:
            continue
        region = crop_region(face.box, s.crop_margin)
        crops.append(crop_square(image, region, s.crop_size))
        lms.append(to_crop_coords(face.landmarks, region, s.crop_size))
        corners = np.array([[face.box.x1, face.box.y1], [face.box.x2, face.box.y2]], np.float32)
        boxes.append(to_crop_coords(corners, region, s.crop_size).reshape(4))
        idx.append(fi)
        conf.append(face.confidence)
    size = s.crop_size
    return {
        "crops": np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
        "landmarks": np.stack(lms).astype(np.float32) if lms else np.zeros((0, 5, 2), np.float32),
        "boxes": np.stack(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32),
        "frames": np.asarray(idx, np.int32),
        "confidence": np.asarray(conf, np.float32),
    }


_LANDMARKER = None


def dense_landmarks(crops: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """FaceMesh points ``[N,468,2]`` (crop coordinates; NaN where the mesh could not be placed) of
    cached crops, placed from each crop's cached box and 5 landmarks, as the scanner places them."""
    global _LANDMARKER
    from deepdetector.landmarks import MESH_POINTS, create_landmarker

    if _LANDMARKER is None:
        _LANDMARKER = create_landmarker("facemesh")
    faces = [Face(box=Box(*map(float, b)), confidence=1.0, landmarks=lm) for b, lm in zip(boxes, landmarks)]
    found = _LANDMARKER.locate_many(list(zip(crops, faces)))
    out = np.full((len(crops), MESH_POINTS, 2), np.nan, np.float32)
    for i, f in enumerate(found):
        if f is not None:
            out[i] = f.xy
    return out


class FaceCache:
    """Builds and reads the face cache in ``root`` (see the module docstring)."""

    def __init__(self, root: str | Path, settings: CacheSettings | None = None) -> None:
        self.root = Path(root)
        self.settings = settings or CacheSettings()
        (self.root / "crops").mkdir(parents=True, exist_ok=True)
        self.index_path = self.root / "index.jsonl"
        self.contents_path = self.root / "contents.jsonl"
        self._index = {rec["key"]: rec for rec in _read_jsonl(self.index_path) if "key" in rec}
        self._contents = {
            (rec["path"], rec["size"], rec["mtime_ns"]): rec["content"]
            for rec in _read_jsonl(self.contents_path)
            if {"path", "size", "mtime_ns", "content"} <= rec.keys()
        }
        self._detector = None
        self._unreadable: dict[str, str] = {}

    def content(self, path: str) -> str:
        """The content fingerprint of ``path``, remembered while its size and modification time stay."""
        st = os.stat(path)
        memo = (str(Path(path).resolve()), int(st.st_size), int(st.st_mtime_ns))
        fp = self._contents.get(memo)
        if fp is None:
            fp = content_fingerprint(path)
            self._contents[memo] = fp
            with self.contents_path.open("a") as fh:
                fh.write(json.dumps({"path": memo[0], "size": memo[1], "mtime_ns": memo[2], "content": fp}) + "\n")
        return fp

    def frames_for(self, item: MediaItem, video_frames: int | None = None) -> int:
        return (video_frames or self.settings.video_frames) if item.is_video else 1

    def key(self, item: MediaItem, video_frames: int | None = None) -> str:
        """The cache key of ``item`` (raises OSError when the file cannot be read)."""
        return cache_key(self.content(item.path), self.settings, self.frames_for(item, video_frames))

    def has(self, item: MediaItem, video_frames: int | None = None) -> bool:
        try:
            return self.key(item, video_frames) in self._index
        except OSError:
            return False  # a missing or unreadable file: build() records the error

    def build(
        self,
        items: list[MediaItem],
        video_frames: Callable[[MediaItem], int] | None = None,
        progress: bool = True,
    ) -> dict[str, int]:
        """Compute the faces of every item not cached yet. Returns counts (done, skipped, failed, faces)."""
        from deepdetector.faces import create_detector

        todo = [it for it in items if not self.has(it, video_frames(it) if video_frames else None)]
        stats = {"cached_before": len(items) - len(todo), "done": 0, "failed": 0, "no_face": 0, "faces": 0}
        if not todo:
            return stats
        if self._detector is None:
            self._detector = create_detector(self.settings.detector, confidence=self.settings.detector_confidence)
        bar = _progress(todo, "face cache", progress)
        with self.index_path.open("a") as index:
            for it in bar:
                n = self.frames_for(it, video_frames(it) if video_frames else None)
                try:
                    key = cache_key(self.content(it.path), self.settings, n)
                except OSError as exc:  # gone or unreadable: nothing to key or cache; counted, not fatal
                    stats["failed"] += 1
                    stats["done"] += 1
                    self._unreadable[it.path] = f"cannot read {it.path}: {exc.strerror or exc}"
                    continue
                rec: dict = {"key": key, "path": it.path, "frames": n}
                try:
                    arrays = extract_faces(it, self._detector, self.settings, n)
                except Exception as exc:  # noqa: BLE001 - one bad file must not stop a long build
                    rec.update(n=0, error=str(exc) or type(exc).__name__)
                    stats["failed"] += 1
                else:
                    rec["n"] = int(arrays["crops"].shape[0])
                    if rec["n"]:
                        tmp = self.root / "crops" / f"{key}.tmp.npz"
                        np.savez(tmp, **arrays)
                        os.replace(tmp, self.root / "crops" / f"{key}.npz")
                    else:
                        stats["no_face"] += 1
                    stats["faces"] += rec["n"]
                stats["done"] += 1
                index.write(json.dumps(rec) + "\n")
                index.flush()
                self._index[key] = rec
        return stats

    def load(self, item: MediaItem, video_frames: int | None = None, mesh: bool = False) -> CachedFaces | None:
        """The cached faces of ``item`` (None when it is not cached, has no face or cannot be read).

        With ``mesh``, also their dense landmarks (:func:`dense_landmarks`): computed from the cached
        crops the first time they are asked for and stored in the same file, so caches built before
        landmarks existed keep their keys and crops, and gain the mesh on first use."""
        try:
            key = self.key(item, video_frames)
        except OSError:
            return None
        rec = self._index.get(key)
        if not rec or not rec.get("n"):
            return None
        file = self.root / "crops" / f"{key}.npz"
        with np.load(file) as z:
            arrays = {name: z[name] for name in z.files}
        faces = CachedFaces(item, arrays["crops"], arrays["landmarks"], arrays["boxes"], arrays["frames"], arrays.get("mesh"))
        if mesh and faces.mesh is None:
            faces.mesh = arrays["mesh"] = dense_landmarks(faces.crops, faces.boxes, faces.landmarks)
            tmp = file.with_name(file.stem + ".tmp.npz")
            np.savez(tmp, **arrays)
            os.replace(tmp, file)
        return faces

    def status(self, item: MediaItem, video_frames: int | None = None) -> dict | None:
        try:
            return self._index.get(self.key(item, video_frames))
        except OSError as exc:
            return {"path": item.path, "n": 0, "error": self._unreadable.get(item.path) or f"cannot read {item.path}: {exc.strerror or exc}"}


def _read_jsonl(path: Path) -> Iterator[dict]:
    """The JSON records of ``path`` (none when it is missing); a line cut by an interruption is skipped,
    so the file it described is simply redone."""
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            yield rec


def _progress(seq, desc: str, enabled: bool):
    """A rich progress bar over ``seq`` (plain iteration when disabled)."""
    if not enabled:
        yield from seq
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()) as prog:
        task = prog.add_task(desc, total=len(seq))
        for x in seq:
            yield x
            prog.advance(task)
