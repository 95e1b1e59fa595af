"""Still and animated images via Pillow: EXIF orientation, every colour mode to RGB, bomb checks."""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageOps

from deepdetector.config import ScanConfig
from deepdetector.errors import MediaError
from deepdetector.media.sampling import sample_count, sample_indices
from deepdetector.types import Frame, MediaInfo

# Formats whose multi-frame files are animations (multi-page TIFF, MPO stereo pairs, ICO sizes are not).
ANIMATED_FORMATS = {"GIF", "PNG", "WEBP"}
# Longer animations take the first frame's duration for every frame instead of reading them all.
MAX_TIMED_FRAMES = 1000

# What Pillow raises for broken files besides OSError: it uses SyntaxError and ValueError for
# malformed headers, struct.error (a ValueError) for short reads, EOFError for truncated sequences.
PILLOW_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    KeyError,
    MemoryError,
    Image.DecompressionBombError,
)


def _check_pixels(width: int, height: int, config: ScanConfig, what: str = "image") -> None:
    if width <= 0 or height <= 0:
        raise MediaError(f"the {what} has no pixels ({width}x{height})")
    pixels = width * height
    if pixels > config.max_image_pixels:
        raise MediaError(
            f"the {what} is {width}x{height} = {pixels / 1e6:.0f} megapixels, over the limit of "
            f"{config.max_image_pixels / 1e6:.0f} (max_image_pixels; scan --max-pixels): refused as a possible decompression bomb"
        )


# Pillow refuses pictures over twice its own global limit when opening them; ours (max_image_pixels,
# checked right after the header is read) replaces it, so the global is raised to ours while a file
# is opened, under a lock, and put back at once.
_PILLOW_LIMIT = threading.Lock()


def open_pillow(path: str, config: ScanConfig) -> Image.Image | None:
    """Open ``path`` lazily with Pillow (header only); ``None`` if Pillow does not recognise it."""
    try:
        with warnings.catch_warnings(), _PILLOW_LIMIT:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we apply our own limit
            saved = Image.MAX_IMAGE_PIXELS
            if saved is not None:
                Image.MAX_IMAGE_PIXELS = max(saved, config.max_image_pixels)
            try:
                img = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except Image.DecompressionBombError as exc:
        raise MediaError(f"refused as a possible decompression bomb: {exc}") from None
    except Image.UnidentifiedImageError:
        return None
    except PILLOW_ERRORS as exc:
        raise MediaError(f"the image header is damaged ({exc})") from None
    _check_pixels(img.width, img.height, config)
    return img


def is_animation(img: Image.Image) -> bool:
    """True for animated GIF/PNG/WebP files (more than one frame)."""
    return img.format in ANIMATED_FORMATS and bool(getattr(img, "is_animated", False))


def to_rgb(img: Image.Image) -> np.ndarray:
    """Any Pillow image as an RGB uint8 array.

    Transparency is composited over white (what viewers show); 16- and 32-bit greyscale is scaled
    to 8 bits rather than clipped; CMYK, palette, LAB, YCbCr go through Pillow's conversions.
    """
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img)
        if mode.startswith("I;16"):
            arr8 = (arr.astype(np.uint32) >> 8).astype(np.uint8)
        else:  # 32-bit int or float: stretch the range actually used by the file's bit depth
            arr = arr.astype(np.float64)
            hi = 65535.0 if arr.max(initial=0) > 255 else 255.0
            arr8 = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr8[:, :, None], 3, axis=2))
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        img = background
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag (phone photos); a damaged EXIF block is ignored."""
    try:
        return ImageOps.exif_transpose(img)
    except PILLOW_ERRORS:
        return img


def reduction(width: int, height: int, budget: int, powers_of_two: bool = False) -> int:
    """The smallest whole factor that brings ``width`` x ``height`` to at most ``budget`` pixels
    (1 when it already fits); with ``powers_of_two``, the smallest of 1, 2, 4, 8 (what a JPEG
    decoder can do), or 8 when none fits."""
    pixels = width * height
    if pixels <= budget:
        return 1
    if powers_of_two:
        return next((k for k in (2, 4, 8) if math.ceil(width / k) * math.ceil(height / k) <= budget), 8)
    return math.ceil(math.sqrt(pixels / budget))


def read_still(img: Image.Image, path: str, config: ScanConfig) -> tuple[MediaInfo, Iterator[Frame]]:
    """Decode a still image now (so that a damaged file fails at open time) and wrap it as one frame.

    A photo over ``config.max_decode_pixels`` is decoded reduced (see :class:`ScanConfig`); the
    result's ``decoded_scale`` says by how much."""
    fmt = img.format
    stored_width = img.width
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if fmt == "JPEG":  # reduce inside the decoder: a 200 MP photo never exists at full size
                k = reduction(img.width, img.height, config.max_decode_pixels, powers_of_two=True)
                if k > 1:
                    img.draft(img.mode, (math.ceil(img.width / k), math.ceil(img.height / k)))
            img.load()
            picture = img
            k = reduction(img.width, img.height, config.max_decode_pixels)
            if k > 1:  # other formats (or a JPEG still too large at 1/8)
                picture = img.reduce(k)
            decoded_scale = picture.width / stored_width
            rgb = to_rgb(_upright(picture))
    except Image.DecompressionBombError as exc:
        raise MediaError(f"refused as a possible decompression bomb: {exc}") from None
    except PILLOW_ERRORS as exc:
        raise MediaError(f"the {fmt or 'image'} file is damaged or truncated ({exc})") from None
    finally:
        img.close()
    height, width = rgb.shape[:2]
    info = MediaInfo(path=path, kind="image", width=width, height=height, format=fmt, sampled_frames=1, decoded_scale=decoded_scale)
    return info, iter([Frame(index=0, timestamp=None, image=rgb)])


def read_animation(img: Image.Image, path: str, config: ScanConfig) -> tuple[MediaInfo, Iterator[Frame]]:
    """An animated GIF/PNG/WebP as a short video: evenly spaced frames, timestamps from frame durations."""
    fmt = img.format

    def frame_duration(i: int) -> float:
        img.seek(i)
        if "duration" not in img.info:
            img.load()  # WebP sets a frame's duration only once the frame is decoded
        return float(img.info.get("duration") or 0.0)

    try:
        total = int(getattr(img, "n_frames", 1))
        # reading every frame's duration means decoding every frame: long animations use the first's
        timed = total if total <= MAX_TIMED_FRAMES else 1
        durations_ms = [frame_duration(i) for i in range(timed)]
        durations_ms += [durations_ms[0]] * (total - timed)
        img.seek(0)
    except PILLOW_ERRORS as exc:
        img.close()
        raise MediaError(f"the animated {fmt} file is damaged or truncated ({exc})") from None
    if not any(durations_ms):
        durations_ms = [100.0] * total  # browsers' default for GIFs without timing
    durations_ms = [d if d > 0 else 100.0 for d in durations_ms]
    starts = np.concatenate([[0.0], np.cumsum(durations_ms)[:-1]]) / 1000.0
    duration = float(sum(durations_ms)) / 1000.0
    indices = sample_indices(total, sample_count(total, duration, config))
    info = MediaInfo(
        path=path,
        kind="video",
        width=img.width,
        height=img.height,
        format=fmt,
        duration=round(duration, 3),
        fps=round(total / duration, 3) if duration > 0 else None,
        frame_count=total,
        sampled_frames=len(indices),
    )

    def decode(i: int) -> Frame:
        img.seek(i)
        return Frame(index=i, timestamp=round(float(starts[i]), 4), image=to_rgb(img))

    try:  # the first frame now, so that a damaged file fails at open time
        first = decode(indices[0])
    except PILLOW_ERRORS as exc:
        img.close()
        raise MediaError(f"the animated {fmt} file is damaged ({exc})") from None

    def frames() -> Iterator[Frame]:
        done = 0
        try:
            done += 1
            yield first
            for i in indices[1:]:
                try:
                    frame = decode(i)
                except PILLOW_ERRORS:
                    break  # keep what was decoded before the damage
                done += 1
                yield frame
        finally:
            info.sampled_frames = done
            img.close()

    return info, frames()
