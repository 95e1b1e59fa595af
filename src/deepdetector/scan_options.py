"""The scan settings as command-line options, declared once for every command that scans.

``scan``, ``evaluate``, ``batch`` and ``serve`` take these options with the same names, defaults and
help, and turn them into a :class:`deepdetector.config.ScanConfig` with :func:`scan_config`; the
ranges are checked by ``ScanConfig.validate`` (called by ``Detector``), so every front end refuses
the same values with the same sentence. A command declares an option by annotating a parameter::

    def scan(frames: opts.Frames = opts.DEFAULTS.frames, detector: opts.DetectorName = opts.DEFAULTS.detector, ...):
        config = opts.scan_config(frames=frames, detector=detector, ...)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from deepdetector.config import ScanConfig

DEFAULTS = ScanConfig()
MEGA = 1e6

Frames = Annotated[int, typer.Option(help="Frames sampled per video, evenly spaced (ignored when --fps is given).")]
Fps = Annotated[Optional[float], typer.Option(help="Sample this many frames per second instead of --frames (at most 300 per video).")]
DetectorName = Annotated[str, typer.Option("--detector", help="Face detector backend (see `deepdetector detectors`).")]
Margin = Annotated[Optional[float], typer.Option(help="Crop size as a multiple of the face box, 1 to 4 (default: as trained).")]
Aggregation = Annotated[str, typer.Option(help="Video aggregation strategy (see `deepdetector aggregations`).")]
Threshold = Annotated[
    Optional[float], typer.Option(help="Decision threshold, 0 to 1, for every file (default: the model card's, or the video fusion's).")
]
ModelPath = Annotated[Optional[Path], typer.Option("--model", help="Model folder or model_card.json (default: the shipped model).")]
FlipTta = Annotated[bool, typer.Option("--flip-tta", help="Also classify mirrored faces and average.")]
Stills = Annotated[bool, typer.Option("--stills/--no-stills", help="Photos: also run the model's generated-stills model (head 'generated').")]
Landmarks = Annotated[str, typer.Option(help="Dense landmark model for each face ('none' skips landmarks and the cues that need them).")]
Cues = Annotated[
    bool, typer.Option("--cues/--no-cues", help="Videos: measure evidence across frames (eyes, mouth, head motion) and fuse it into the score.")
]
MaxPixels = Annotated[
    float,
    typer.Option(
        "--max-pixels", help="Refuse pictures larger than this many megapixels (decompression bombs); large JPEGs are decoded reduced first."
    ),
]
Pixels = Annotated[
    bool,
    typer.Option(
        "--pixels/--no-pixels", help="Photos: also weigh the pixel evidence of GAN and diffusion generation (heads gan_pixels, diffusion_pixels)."
    ),
]
Provenance = Annotated[bool, typer.Option("--provenance/--no-provenance", help="Read C2PA, XMP, EXIF, PNG generator text, the SD watermark and video tags; a verified declaration of generation makes the file fake.")]  # fmt: skip

LANDMARKS_DEFAULT = DEFAULTS.landmarks or "none"
MAX_PIXELS_DEFAULT = DEFAULTS.max_image_pixels / MEGA


def scan_config(
    *,
    frames: int = DEFAULTS.frames,
    fps: float | None = DEFAULTS.fps,
    detector: str = DEFAULTS.detector,
    margin: float | None = DEFAULTS.margin,
    aggregation: str = DEFAULTS.aggregation,
    threshold: float | None = DEFAULTS.threshold,
    model: Path | None = DEFAULTS.model_path,
    flip_tta: bool = DEFAULTS.flip_tta,
    stills: bool = DEFAULTS.stills,
    landmarks: str = LANDMARKS_DEFAULT,
    cues: bool = DEFAULTS.cues,
    max_pixels: float = MAX_PIXELS_DEFAULT,
    pixels: bool = DEFAULTS.pixels,
    provenance: bool = DEFAULTS.provenance,
    **fixed: Any,
) -> ScanConfig:
    """The :class:`ScanConfig` the shared options describe (``--landmarks none`` is no landmark
    model; ``--max-pixels`` is in megapixels); ``fixed`` sets other fields a command decides itself
    (``threads``, ``heatmaps``, ...). Not validated here: ``Detector`` does that."""
    return ScanConfig(
        frames=frames, fps=fps, detector=detector, margin=margin, aggregation=aggregation, threshold=threshold,
        model_path=model, flip_tta=flip_tta, stills=stills, landmarks=None if landmarks.lower() == "none" else landmarks,
        cues=cues, max_image_pixels=round(max_pixels * MEGA) if max_pixels > 0 else 0, pixels=pixels, provenance=provenance, **fixed,
    )  # fmt: skip


#: The parameter names of the shared options, as a command declares them.
SHARED = ("frames", "fps", "detector", "margin", "aggregation", "threshold", "model", "flip_tta", "stills", "landmarks", "cues",
          "max_pixels", "pixels", "provenance")  # fmt: skip


def from_options(values: dict[str, Any], **fixed: Any) -> ScanConfig:
    """:func:`scan_config` from a command's parameters (its ``locals()``): the shared options are
    picked by name, so a command lists them once, in its signature; ``fixed`` as in :func:`scan_config`."""
    return scan_config(**{name: values[name] for name in SHARED if name in values}, **fixed)
