"""Which files are media, and whether a file is an image or a video: the ONE list of extensions.

Used wherever files are picked from folders or manifests by name (``scan`` and ``batch`` folder
listings, training and evaluation manifests). Decoding never relies on it: the media stage finds a
file's kind from its content (:func:`deepdetector.media.open_media`), so a file named on the command
line is scanned whatever its name.
"""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"})
"""Still pictures (an animated PNG or WebP is still scanned as a short video: decided by content)."""

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts", ".mts",
     ".m2ts", ".gif"}
)  # fmt: skip
"""Films. GIFs count as videos: in data sets they are animations (talking heads); a still GIF is
still scanned as a photo, by content."""

MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def is_media_name(name: str | os.PathLike[str]) -> bool:
    """True when the file name has an image or video extension (case-insensitive)."""
    return os.path.splitext(os.fspath(name))[1].lower() in MEDIA_EXTENSIONS


def media_kind(path: str | os.PathLike[str], kind: str | None = None) -> str:
    """``"image"``, ``"video"`` or ``"unknown"``.

    ``kind`` (a manifest's ``kind`` column, e.g. ``"gan-image"`` or ``"faceswap-video"``) wins when it
    says image or video; otherwise the file extension decides.
    """
    word = (kind or "").strip().lower()
    if "video" in word:
        return "video"
    if "image" in word:
        return "image"
    ext = Path(path).suffix.lower()
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return "unknown"
