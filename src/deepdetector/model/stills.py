"""The generated-stills model: is this photo's face a GAN or diffusion image?

A second, small network beside the face classifier, for still images only. The face classifier
sees each face resized to its input (192 px of a 1.6x region): that keeps blending seams and
skin-tone mismatches but averages away the pixel-level traces a generator leaves (up-sampling
patterns, too-regular texture). This model looks at the face at the photo's own resolution: a
fixed 3 x 3 grid of square patches over the region around the face box (no resizing unless the
region is smaller than a patch, or larger than any region the model trained on: see
:func:`cap_region`), each classified, their logits averaged, then Platt-calibrated. It is
reported as its own head (``generated``) beside the face classifier's heads, and a face's
probability is the highest of them, as for the other heads.

The model is a folder like the main one (``model_card.json`` with ``"kind": "stills"`` + ONNX
file, sha256-verified on load); the main card names it under ``stills`` (a folder relative to the
main card). Train one with ``deepdetector train-stills``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepdetector.errors import ModelError
from deepdetector.faces.crop import native_region
from deepdetector.model.card import ModelCard
from deepdetector.model.classifier import FaceClassifier
from deepdetector.types import Box

HEAD = "generated"
DEFAULT_REGION_MARGIN = 1.2


def fit_patch(region: np.ndarray, size: int) -> np.ndarray:
    """The region itself when both sides reach ``size``; else up-scaled (bilinear) until they do."""
    h, w = region.shape[:2]
    if min(h, w) >= size:
        return region
    import cv2

    s = size / min(h, w)
    return cv2.resize(region, (max(size, round(w * s)), max(size, round(h * s))), interpolation=cv2.INTER_LINEAR)


def cap_region(region: np.ndarray, max_side: int | None) -> np.ndarray:
    """The region shrunk (area averaging) so that its longer side is at most ``max_side``; unchanged
    when it already is, or when ``max_side`` is None.

    The model learnt the generator's pixel pattern at the scale of its training photos. A region
    larger than any it trained on (a 1024 px StyleGAN image, a phone portrait) would put the nine
    patches on a part of the face at a scale it never saw; shrunk to the largest training region it
    is seen at a scale it knows (measured in docs/experiments/2026-12-02-photos-larger-than-training.md).
    """
    if max_side is None:
        return region
    h, w = region.shape[:2]
    if max(h, w) <= max_side:
        return region
    import cv2

    s = max_side / max(h, w)
    return cv2.resize(region, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


DEFAULT_GRID = 3


def fixed_patches(region: np.ndarray, size: int, grid: int = DEFAULT_GRID) -> np.ndarray:
    """``grid`` x ``grid`` patches of ``size`` pixels at native resolution, evenly spread over the
    region from corner to corner (they overlap when the region is small)."""
    region = fit_patch(region, size)
    h, w = region.shape[:2]
    ys = np.linspace(0, h - size, grid).astype(int) if grid > 1 else [(h - size) // 2]
    xs = np.linspace(0, w - size, grid).astype(int) if grid > 1 else [(w - size) // 2]
    return np.stack([np.ascontiguousarray(region[y : y + size, x : x + size]) for y in ys for x in xs])


class StillsModel:
    """The generated-stills network on onnxruntime: one calibrated probability per face of a photo."""

    def __init__(self, card_path: str | Path, threads: int = 0, verify: bool = True):
        self.net = FaceClassifier(card_path, threads=threads, verify=verify)
        if self.card.extra.get("kind") != "stills":
            raise ModelError(f'{self.card.file.parent} is not a generated-stills model (its card has no "kind": "stills")')
        if len(self.card.heads) != 1:
            raise ModelError(f"generated-stills model {self.card.label} must have one head, it has {len(self.card.heads)}")
        try:
            self.region_margin = float(self.card.extra.get("region_margin", DEFAULT_REGION_MARGIN))
            self.grid = int(self.card.extra.get("patch_grid", DEFAULT_GRID))
            cap = self.card.extra.get("max_region_side")
            self.max_region_side = None if cap is None else int(cap)
        except (TypeError, ValueError):
            raise ModelError(
                f"generated-stills model {self.card.label}: 'region_margin' must be a number and 'patch_grid' and 'max_region_side' integers"
            ) from None
        if self.max_region_side is not None and self.max_region_side < self.card.input_size:
            raise ModelError(
                f"generated-stills model {self.card.label}: max_region_side {self.max_region_side} is below its patch size {self.card.input_size}"
            )
        if not (0.5 <= self.region_margin <= 4.0) or not (1 <= self.grid <= 8) or self.card.input_size < 16:
            raise ModelError(
                f"generated-stills model {self.card.label}: region_margin {self.region_margin} (0.5-4), patch_grid {self.grid} (1-8) "
                f"or input_size {self.card.input_size} (>= 16) is out of range"
            )
        shape = self.net.session.get_inputs()[0].shape
        if len(shape) == 4 and all(isinstance(d, int) for d in shape[1:3]) and tuple(shape[1:3]) != (self.card.input_size,) * 2:
            raise ModelError(
                f"generated-stills model {self.card.label}: its card says {self.card.input_size} px patches, its ONNX file takes {shape[1]}x{shape[2]}"
            )

    @property
    def card(self) -> ModelCard:
        return self.net.card

    def logits(self, image: np.ndarray, boxes: list[Box]) -> np.ndarray:
        """Mean patch logit per face box of ``image`` (uint8 RGB, full resolution)."""
        if not boxes:
            return np.zeros(0, np.float32)
        size = self.net.input_size
        patches = []
        for box in boxes:
            x1, y1, x2, y2 = native_region(image.shape, box, self.region_margin)
            patches.append(fixed_patches(cap_region(image[y1:y2, x1:x2], self.max_region_side), size, self.grid))
        n = patches[0].shape[0]
        logits = self.net.predict(np.concatenate(patches), with_cam=False).logits[:, 0]
        return logits.reshape(len(boxes), n).mean(axis=1)

    def probabilities(self, image: np.ndarray, boxes: list[Box]) -> np.ndarray:
        head = self.card.heads[0]
        z = self.logits(image, boxes).astype(np.float64) * head.a + head.b
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def model_label(main: ModelCard) -> str:
    """The label results carry: the face classifier's, plus its stills model's when the card names one
    (e.g. ``deepdetector-lite0 v2 + deepdetector-stills-lite0 v2``)."""
    path = stills_card_path(main)
    if path is None:
        return main.label
    return f"{main.label} + {ModelCard.load(path).label}"


def stills_card_path(main: ModelCard) -> Path | None:
    """The stills model folder the main card names (``"stills": "<folder>"``), or None."""
    rel = main.extra.get("stills")
    if not rel:
        return None
    return (main.file.parent / str(rel)).resolve()
