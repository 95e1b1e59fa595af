"""A compact, self-contained copy of a training run's faces: ``train --packed FILE`` trains from it
on a machine that has none of the media (a GPU machine reached by copying a few tens of MiB).

One ``.npz`` file (no pickle) holds:

``meta``      JSON (as uint8 bytes): format version, the crop settings, the run settings that chose
              the files (sources, split seed, fractions, frames), and every file's manifest record
              (path, label, kind, subset, group, source) with its side: ``train``, ``val`` or ``test``
``jpeg``      the face crops, JPEG-encoded, concatenated; ``offsets`` [N+1] marks each one
``item``      int32 [N], the file each face belongs to; ``frames`` int32 [N]
``landmarks`` float32 [N,5,2] and ``boxes`` float32 [N,4], crop coordinates, as in the face cache
``mesh``      float16 [N,468,2] FaceMesh points (NaN where none), when packed with meshes

Video files keep at most ``frames_per_video`` evenly spaced faces of those cached. Test files are
listed (their groups go into the model card) but carry no faces: nothing in training looks at them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from deepdetector.datasets.manifest import MediaItem
from deepdetector.errors import ConfigError
from deepdetector.training.cache import CachedFaces

PACK_VERSION = 1
_ITEM_FIELDS = ("path", "label", "kind", "subset", "group", "source")


def _pick(n: int, cap: int | None) -> np.ndarray:
    if cap is None or n <= cap:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, cap).round().astype(int))


def write_pack(
    path: str | Path,
    sides: dict[str, list[MediaItem]],
    faces: list[CachedFaces],
    settings: dict[str, Any],
    quality: int = 75,
    frames_per_video: int | None = 4,
    mesh: bool = True,
) -> dict[str, Any]:
    """Write the pack; ``sides`` maps ``train``/``val``/``test`` to their files, ``faces`` the cached
    faces of the train and val files. Returns counts and the file's size."""
    import cv2

    if not 1 <= quality <= 100:
        raise ConfigError(f"JPEG quality is from 1 to 100, got {quality}")
    records, index = [], {}
    for side in ("train", "val", "test"):
        for it in sides.get(side, []):
            index[it.path] = len(records)
            records.append({**{k: getattr(it, k) for k in _ITEM_FIELDS}, "side": side})
    blobs: list[bytes] = []
    item_ix, frames, lms, boxes, meshes = [], [], [], [], []
    for f in faces:
        if f.item.path not in index:
            raise ConfigError(f"{f.item.path} has faces but is on no side of the split")
        for j in _pick(len(f), frames_per_video if f.item.is_video else None):
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f.crops[j], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
            if not ok:
                raise ConfigError(f"could not JPEG-encode a face of {f.item.path}")
            blobs.append(buf.tobytes())
            item_ix.append(index[f.item.path])
            frames.append(int(f.frames[j]))
            lms.append(f.landmarks[j])
            boxes.append(f.boxes[j])
            if mesh:
                meshes.append(f.mesh[j] if f.mesh is not None else np.full((468, 2), np.nan, np.float32))
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    crop_size = int(faces[0].crops.shape[1]) if faces else 0
    meta = {
        "version": PACK_VERSION,
        "crop_size": crop_size,
        "quality": quality,
        "frames_per_video": frames_per_video,
        "settings": settings,
        "items": records,
    }
    arrays: dict[str, np.ndarray] = {
        "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
        "jpeg": np.frombuffer(b"".join(blobs), np.uint8),
        "offsets": offsets,
        "item": np.asarray(item_ix, np.int32),
        "frames": np.asarray(frames, np.int32),
        "landmarks": np.asarray(lms, np.float32).reshape(-1, 5, 2),
        "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
    }
    if mesh:
        arrays["mesh"] = np.asarray(meshes, np.float16).reshape(-1, 468, 2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:  # a file object: np.savez would otherwise append ".npz" to another suffix
        np.savez_compressed(fh, **arrays)
    sides_count = {s: sum(1 for r in records if r["side"] == s) for s in ("train", "val", "test")}
    return {"faces": len(blobs), "files": sides_count, "bytes": path.stat().st_size, "jpeg_bytes": int(offsets[-1])}


def read_pack(path: str | Path) -> tuple[dict[str, list[MediaItem]], list[CachedFaces], dict[str, Any]]:
    """The files of each side, the cached faces of the train and val files, and the pack's meta."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"packed face cache {path} does not exist (make it with scripts/pack_gpu_cache.py)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays["meta"].tobytes().decode())
    except Exception as exc:  # a truncated or foreign file: zip, numpy and json each raise their own
        raise ConfigError(f"{path} cannot be read as a packed face cache ({type(exc).__name__})") from None
    if meta.get("version") != PACK_VERSION:
        raise ConfigError(f"{path} is a packed face cache of format {meta.get('version')}; this version reads {PACK_VERSION}")
    items = [MediaItem(**{k: r[k] for k in _ITEM_FIELDS}) for r in meta["items"]]
    sides: dict[str, list[MediaItem]] = {"train": [], "val": [], "test": []}
    for it, r in zip(items, meta["items"]):
        sides[r["side"]].append(it)
    jpeg, offsets, owner = arrays["jpeg"], arrays["offsets"], arrays["item"]
    mesh = arrays.get("mesh")
    faces = []
    for i in np.unique(owner):
        rows = np.flatnonzero(owner == i)
        crops = np.stack([cv2.cvtColor(cv2.imdecode(jpeg[offsets[r] : offsets[r + 1]], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for r in rows])
        faces.append(
            CachedFaces(
                items[int(i)],
                crops,
                arrays["landmarks"][rows],
                arrays["boxes"][rows],
                arrays["frames"][rows],
                None if mesh is None else mesh[rows].astype(np.float32),
            )
        )
    return sides, faces, meta
