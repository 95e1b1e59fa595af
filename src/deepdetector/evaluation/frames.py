"""Stills from a manifest's videos: a photo-form test set (``deepdetector frames``).

A fake video often reaches a fact-checker as a screenshot. ``deepdetector frames MANIFEST -o DIR``
saves a few evenly spaced frames of every video in the manifest as lossless PNG files (the frame as
decoded, so the video's own compression is all there is) and writes ``DIR/frames.csv``: one row per
still with the video's label and group, its ``kind`` with "video" replaced by "frame" (a
``faceswap-video`` gives ``faceswap-frame`` stills, a real ``video`` gives ``frame`` stills) and its
``source_dataset`` prefixed by "frames of ". ``deepdetector evaluate DIR/frames.csv`` then scores them
as photos. Frames keep their video's group, so the stills of one video never fall on both sides of
a split or of the group folds of ``deepdetector heads``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from deepdetector.config import ScanConfig
from deepdetector.datasets.manifest import ManifestItem
from deepdetector.errors import DeepDetectorError, MediaError

MANIFEST_NAME = "frames.csv"


class FramesError(DeepDetectorError):
    """The stills cannot be written."""


@dataclass
class FramesResult:
    manifest: Path
    n_videos: int
    n_stills: int
    failed: list[tuple[str, str]] = field(default_factory=list)  # (video path, reason)


def frame_kind(kind: str) -> str:
    return kind.replace("video", "frame") if "video" in kind else (kind + "-frame" if kind else "frame")


def write_stills(
    items: Sequence[ManifestItem],
    out: str | Path,
    per_video: int = 4,
    overwrite: bool = False,
    on_video: Callable[[ManifestItem], None] | None = None,
) -> FramesResult:
    """Save ``per_video`` evenly spaced frames of each video item as PNG stills under ``out``.

    Items that are not videos are skipped; a video that cannot be decoded is listed in ``failed``
    and the others go on. With ``overwrite`` the new stills and manifest are written first, then the
    stills the old manifest listed that the new one does not are deleted (other files in ``out`` are
    never touched); a run that writes no manifest leaves the old one and its stills as they were.
    """
    from PIL import Image

    from deepdetector.media.video import read_video

    if not 1 <= per_video <= ScanConfig.max_frames:
        raise FramesError(f"--per-video must be between 1 and {ScanConfig.max_frames}, got {per_video}")
    out = Path(out)
    manifest = out / MANIFEST_NAME
    if manifest.exists() and not overwrite:
        raise FramesError(f"{manifest} exists: add --overwrite to replace it")
    videos = [it for it in items if it.is_video]
    if not videos:
        raise FramesError("the manifest selection holds no video")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FramesError(f"cannot create {out}: {exc}") from None
    earlier = _listed_stills(manifest) if manifest.exists() else []  # --overwrite: removed once the new run is written
    config = ScanConfig(frames=per_video, heatmaps=False)
    rows: list[list[str]] = []
    failed: list[tuple[str, str]] = []
    for n, it in enumerate(videos):
        stem = f"{n:05d}_{Path(it.path).stem}"
        try:
            _, frames = read_video(str(it.file), config)
            for frame in frames:
                name = f"{stem}_f{frame.index:06d}.png"
                Image.fromarray(frame.image).save(out / name)
                rows.append(
                    [
                        name,
                        it.label_name,
                        frame_kind(it.kind),
                        f"frames of {it.source_dataset}" if it.source_dataset else "frames",
                        it.group or it.path,
                    ]
                )
        except MediaError as exc:
            failed.append((it.path, str(exc)))
        except OSError as exc:
            raise FramesError(f"cannot write stills to {out}: {exc}") from None
        if on_video is not None:
            on_video(it)
    if not rows:
        raise FramesError(f"no frame of any of the {len(videos)} videos could be decoded (first: {failed[0][1] if failed else 'none'})")
    try:
        with manifest.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "label", "kind", "source_dataset", "group"])
            w.writerows(rows)
    except OSError as exc:
        raise FramesError(f"cannot write {manifest}: {exc}") from None
    kept = {out.resolve() / r[0] for r in rows}
    try:
        for still in earlier:
            if still not in kept and still.is_file():
                still.unlink()
    except OSError as exc:
        raise FramesError(f"wrote {manifest}, but cannot remove the earlier stills in {out}: {exc}") from None
    return FramesResult(manifest, len(videos), len(rows), failed)


def _listed_stills(manifest: Path) -> list[Path]:
    """The stills ``manifest`` lists that an overwrite may delete: PNG files directly beside it (no
    path that leads elsewhere, e.g. through ``..`` or a link), nothing else."""
    folder = manifest.parent.resolve()
    try:
        with manifest.open(newline="", encoding="utf-8") as fh:
            names = [row.get("path") or "" for row in csv.DictReader(fh)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FramesError(f"cannot read the existing {manifest} to replace it: {exc}") from None
    out = []
    for name in names:
        still = (folder / name).resolve()
        if name and still.parent == folder and still.suffix.lower() == ".png":
            out.append(still)
    return out
