"""Makes test media on the fly: face photos, multi-face pictures, images in many formats, short videos."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image


def face_photo() -> np.ndarray:
    """A real 512x512 RGB face photo shipped inside scikit-image."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def two_face_photo() -> np.ndarray:
    """Two faces in one 512x1024 picture (the photo and its mirror image)."""
    img = face_photo()
    return np.ascontiguousarray(np.concatenate([img, img[:, ::-1]], axis=1))


def blank_photo(height: int = 240, width: int = 320) -> np.ndarray:
    """A picture with no face: a smooth colour gradient."""
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    r = np.broadcast_to(y, (height, width))
    g = np.broadcast_to(x, (height, width))
    b = np.full((height, width), 128, np.float32)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def write_image(path: Path, rgb: np.ndarray, **save_kwargs) -> Path:
    """Save ``rgb`` with Pillow; the format follows the file extension."""
    Image.fromarray(rgb).save(path, **save_kwargs)
    return path


def write_video(
    path: Path,
    n_frames: int = 48,
    fps: int = 24,
    size: tuple[int, int] = (320, 240),
    codec: str = "libx264",
    gop: int | None = None,
    face: bool = True,
) -> Path:
    """Write a short video with PyAV: the face photo drifting slowly across a grey background.

    ``size`` is (width, height). ``gop`` sets the keyframe spacing (None: the encoder's default).
    """
    width, height = size
    src = face_photo() if face else blank_photo()
    side = int(min(width, height) * 0.8)
    face_small = cv2.resize(src, (side, side), interpolation=cv2.INTER_AREA)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if gop is not None:
            stream.codec_context.gop_size = gop
        for i in range(n_frames):
            frame = np.full((height, width, 3), 90, np.uint8)
            x0 = int((width - side) * (0.3 + 0.4 * i / max(n_frames - 1, 1)))
            y0 = (height - side) // 2
            frame[y0 : y0 + side, x0 : x0 + side] = face_small
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_labelled_faces(root: Path, face_rgb: np.ndarray, n_real: int = 6, n_fake: int = 4) -> Path:
    """A labelled folder for tiny training runs: real/ holds the face photo under brightness changes and
    flips, fake/ self-blended versions of it (needs the [train] extra's dependencies)."""
    from deepdetector.datasets.sbi import self_blend
    from deepdetector.faces import create_detector

    (root / "real").mkdir(parents=True, exist_ok=True)
    (root / "fake").mkdir(exist_ok=True)
    face = create_detector("yunet").detect(face_rgb)[0]
    for i in range(n_real):
        img = np.clip(face_rgb.astype(np.int16) + (i - 3) * 12, 0, 255).astype(np.uint8)
        write_image(root / "real" / f"r{i}.png", img[:, ::-1] if i % 2 else img)
    for i in range(n_fake):
        write_image(root / "fake" / f"f{i}.png", self_blend(face_rgb, face.landmarks, np.random.default_rng(i)).fake)
    return root
