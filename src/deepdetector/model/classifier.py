"""Runs the face classifier with onnxruntime (no torch at scan time)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepdetector.errors import ModelError
from deepdetector.model.card import ModelCard, default_card_path


@dataclass
class Prediction:
    """Model outputs for a batch of crops."""

    logits: np.ndarray  # (B, K) raw
    probabilities: np.ndarray  # (B, K) calibrated per head
    cams: np.ndarray | None  # (B, K, h, w) raw class-activation maps, or None

    @property
    def fake_probability(self) -> np.ndarray:
        """(B,) probability that each face is fake: the most confident head."""
        return self.probabilities.max(axis=1)


class FaceClassifier:
    """An onnxruntime session over a model folder (ONNX + model card), verified by sha256."""

    def __init__(self, card_path: str | Path | None = None, threads: int = 0, verify: bool = True):
        import onnxruntime as ort

        self.card = ModelCard.load(card_path if card_path is not None else default_card_path())
        if verify:
            self.card.verify()
        options = ort.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.card.file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load model {self.card.file}: {exc}") from None
        outputs = [o.name for o in self.session.get_outputs()]
        if "logits" not in outputs:
            raise ModelError(f"model {self.card.file} has no 'logits' output (outputs: {outputs})")
        self._outputs = ["logits"] + (["cam"] if "cam" in outputs else [])
        self._a = np.array([h.a for h in self.card.heads], np.float32)
        self._b = np.array([h.b for h in self.card.heads], np.float32)

    @property
    def input_size(self) -> int:
        return self.card.input_size

    @property
    def head_names(self) -> list[str]:
        return [h.name for h in self.card.heads]

    def predict(self, crops: np.ndarray, with_cam: bool = True, flip_tta: bool = False) -> Prediction:
        """Classify uint8 RGB crops of shape (B, S, S, 3)."""
        crops = np.ascontiguousarray(crops, dtype=np.uint8)
        if crops.ndim != 4 or crops.shape[1:] != (self.input_size, self.input_size, 3):
            raise ModelError(f"crops must be (B, {self.input_size}, {self.input_size}, 3) uint8, got {crops.shape}")
        if len(crops) == 0:
            k = len(self.card.heads)
            return Prediction(np.zeros((0, k), np.float32), np.zeros((0, k), np.float32), None)
        outputs = self._outputs if with_cam else ["logits"]
        result = self.session.run(outputs, {"image": crops})
        logits = result[0].astype(np.float32)
        cams = result[1].astype(np.float32) if with_cam and len(result) > 1 else None
        if flip_tta:
            flipped = self.session.run(outputs, {"image": np.ascontiguousarray(crops[:, :, ::-1])})
            logits = (logits + flipped[0]) / 2.0
            if cams is not None and len(flipped) > 1:
                cams = (cams + flipped[1][..., ::-1]) / 2.0
        probabilities = 1.0 / (1.0 + np.exp(-(logits * self._a + self._b)))
        return Prediction(logits=logits, probabilities=probabilities.astype(np.float32), cams=cams)
