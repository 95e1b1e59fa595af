"""Media stage: open an image or a video and give the frames to analyse.

    info, frames = open_media("clip.mp4", ScanConfig(frames=32))
    for frame in frames:          # lazily decoded, evenly spaced
        frame.index, frame.timestamp, frame.image  # RGB uint8 (H, W, 3)

The kind of file is found from its content, never its extension: Pillow is tried first (JPEG, PNG,
WebP, BMP, TIFF, GIF, ...), then PyAV/FFmpeg (mp4, mov, mkv, webm, avi, ...). Animated GIF, PNG
and WebP files are treated as short videos (GIF and APNG decoded by FFmpeg, WebP by Pillow). Every problem (missing, empty, too large, damaged,
not media) is a :class:`deepdetector.errors.MediaError` with a message for a person.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from deepdetector.config import ScanConfig
from deepdetector.errors import MediaError
from deepdetector.media.images import is_animation, open_pillow, read_animation, read_still
from deepdetector.media.sampling import sample_count, sample_indices
from deepdetector.media.video import read_video
from deepdetector.types import Frame, MediaInfo

__all__ = ["open_media", "sample_count", "sample_indices"]

FFMPEG_ANIMATIONS = {"GIF", "PNG"}


def _check_file(path: str, config: ScanConfig) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise MediaError(f"broken link: it points to {os.readlink(path)}, which does not exist") from None
        raise MediaError("file not found") from None
    except OSError as exc:
        raise MediaError(f"cannot read the file ({exc.strerror or exc})") from None
    if os.path.isdir(path):
        raise MediaError("is a folder, not a file")
    if st.st_size == 0:
        raise MediaError("the file is empty")
    if st.st_size > config.max_file_bytes:
        raise MediaError(f"the file is {st.st_size / 1e6:.0f} MB, over the limit of {config.max_file_bytes / 1e6:.0f} MB (max_file_bytes)")
    if not os.access(path, os.R_OK):
        raise MediaError("no permission to read the file")


def open_media(path: str | os.PathLike[str], config: ScanConfig | None = None, windows: bool = False) -> tuple[MediaInfo, Iterator[Frame]]:
    """Open ``path`` and return what it is and an iterator over the frames to analyse.

    A still image gives one frame (decoded now, EXIF orientation applied). A video gives
    ``config.frames`` evenly spaced frames (or ``config.fps`` per second, at most
    ``config.max_frames``), decoded as the iterator is consumed; ``info.sampled_frames`` holds the
    planned count and is corrected to the count actually produced when the iterator finishes.

    With ``windows``, a video also gives the frames of its dense windows (contiguous stretches for
    evidence across frames, ``config.window_seconds`` ...), marked ``Frame.window``; frames of the
    even sample have ``Frame.sampled`` True.

    Raises :class:`MediaError` for anything that cannot be read as an image or video.
    """
    config = config or ScanConfig()
    path_str = str(Path(path))
    _check_file(path_str, config)
    img = open_pillow(path_str, config)
    if img is not None:
        if is_animation(img):
            if img.format in FFMPEG_ANIMATIONS:
                # FFmpeg decodes GIF/APNG about 4x faster than Pillow, which composites every frame
                # on each seek; Pillow stays the fallback (and reads animated WebP, which FFmpeg cannot).
                try:
                    result = read_video(path_str, config, windows)
                    img.close()
                    return result
                except MediaError:
                    pass
            return read_animation(img, path_str, config)
        return read_still(img, path_str, config)
    return read_video(path_str, config, windows)
