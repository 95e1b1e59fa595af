"""The model card: what a model file is, how to calibrate its outputs, and its checksum.

A model is a folder holding ``model_card.json`` and the ONNX file it names. The card's fields
are described in docs/architecture.md; unknown fields (training details, metrics) are kept in
``extra`` so that nothing the trainer recorded is lost.

This module is the one place that reads (:func:`read_card`, :meth:`ModelCard.load`) and writes
(:func:`write_card`) cards, and computes the checksum (:func:`sha256_file`): the trainers
(``deepdetector train``/``export``/``soup``/``train-stills``) and ``deepdetector calibrate`` use it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepdetector.errors import ModelError
from deepdetector.faces.crop import DEFAULT_MARGIN
from deepdetector.types import Thresholds

CARD_NAME = "model_card.json"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class Head:
    """One output of the model, with its Platt calibration ``p = sigmoid(a * logit + b)``."""

    name: str
    a: float = 1.0
    b: float = 0.0

    def calibrate(self, logit: float) -> float:
        z = self.a * float(logit) + self.b
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


@dataclass
class ModelCard:
    name: str
    version: str
    file: Path  # absolute path of the ONNX file
    sha256: str
    input_size: int
    margin: float
    heads: list[Head]
    threshold: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def thresholds(self) -> Thresholds:
        """The threshold per media type (``thresholds`` in the card), falling back to ``threshold``."""
        raw = self.extra.get("thresholds") or {}
        try:
            if not isinstance(raw, dict):
                raise TypeError
            by_media = {str(k): float(v) for k, v in raw.items()}
            if not all(0.0 <= v <= 1.0 for v in by_media.values()):  # also refuses NaN
                raise ValueError
        except (TypeError, ValueError):
            raise ModelError(f"model card of {self.label}: 'thresholds' must map media types to probabilities in [0, 1], got {raw!r}") from None
        return Thresholds.of(self.threshold, by_media)

    def thresholds_for(self, stills: bool) -> Thresholds:
        """The thresholds to use with (True) or without (False) the stills model the card names: a
        card may keep those fitted for the face classifier alone as ``thresholds_without_stills``."""
        raw = self.extra.get("thresholds_without_stills")
        if stills or not self.extra.get("stills") or not raw:
            return self.thresholds
        try:
            by_media = {str(k): float(v) for k, v in raw.items()}
            if not all(0.0 <= v <= 1.0 for v in by_media.values()):
                raise ValueError
        except (AttributeError, TypeError, ValueError):
            raise ModelError(
                f"model card of {self.label}: 'thresholds_without_stills' must map media types to probabilities in [0, 1], got {raw!r}"
            ) from None
        return Thresholds.of(self.threshold, by_media)

    @property
    def untrained(self) -> bool:
        return bool(self.extra.get("untrained", False))

    @classmethod
    def load(cls, path: str | Path) -> "ModelCard":
        """Read a card from ``model_card.json``, the folder holding it, or the ``.onnx`` file beside it."""
        path = card_path(path)
        raw = read_card(path)
        try:
            heads = [Head(str(h["name"]), float(h.get("a", 1.0)), float(h.get("b", 0.0))) for h in raw["heads"]]
            card = cls(
                name=str(raw["name"]),
                version=str(raw.get("version", "0")),
                file=(path.parent / raw["file"]).resolve(),
                sha256=str(raw["sha256"]).lower(),
                input_size=int(raw["input_size"]),
                margin=float(raw.get("margin", DEFAULT_MARGIN)),
                heads=heads,
                threshold=float(raw.get("threshold", 0.5)),
                extra={k: v for k, v in raw.items() if k not in {"name", "version", "file", "sha256", "input_size", "margin", "heads", "threshold"}},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model card {path} is missing or has a bad field: {exc}") from None
        if not heads:
            raise ModelError(f"model card {path} lists no heads")
        return card

    def verify(self) -> None:
        """Refuse a weights file whose sha256 differs from the card (damaged or swapped file)."""
        if not self.file.is_file():
            raise ModelError(f"model file {self.file} named by the card is missing")
        digest = sha256_file(self.file)
        if digest != self.sha256:
            raise ModelError(
                f"model file {self.file} does not match its card: sha256 {digest[:16]}... expected {self.sha256[:16]}... "
                "(the file is damaged or was replaced; reinstall DeepDetector or retrain)"
            )


def card_path(path: str | Path) -> Path:
    """The ``model_card.json`` meant by ``path``: the card itself, the folder holding it, or the ``.onnx`` beside it."""
    path = Path(path).expanduser()
    if path.is_dir():
        return path / CARD_NAME
    if path.suffix.lower() == ".onnx":
        return path.with_name(CARD_NAME)
    return path


def read_card(path: str | Path) -> dict[str, Any]:
    """The card as written (a JSON object), from the card, its folder or the ``.onnx`` beside it.

    Raises:
        ModelError: no card there, or it is not readable JSON.
    """
    path = card_path(path)
    if not path.is_file():
        raise ModelError(f"no model card at {path}: a model is a folder with {CARD_NAME} and the ONNX file it names")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read model card {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ModelError(f"model card {path} is not a JSON object")
    return raw


def write_card(card: dict[str, Any], folder: str | Path, onnx: str | Path | None = None) -> Path:
    """Write ``card`` as ``folder/model_card.json`` (indented JSON, one trailing newline) and return its path.

    With ``onnx`` (the model file, in ``folder``), ``file`` and ``sha256`` are filled from the file
    itself, so a card never names a checksum its file does not have.
    """
    full = dict(card)
    if onnx is not None:
        onnx = Path(onnx)
        full["file"] = onnx.name
        full["sha256"] = sha256_file(onnx)
    out = Path(folder) / CARD_NAME
    out.write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    return out


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_card_path() -> Path:
    """The card of the model shipped inside the package."""
    path = WEIGHTS_DIR / CARD_NAME
    if not path.is_file():
        raise ModelError(
            "no trained model is installed with this copy of DeepDetector "
            f"(expected {path}); pass --model PATH to a model folder, or train one with `deepdetector train`"
        )
    return path
