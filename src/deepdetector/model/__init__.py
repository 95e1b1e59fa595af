"""Model stage: the onnxruntime face classifier and its model card."""

from deepdetector.model.card import Head, ModelCard, default_card_path
from deepdetector.model.classifier import FaceClassifier, Prediction

__all__ = ["FaceClassifier", "Prediction", "ModelCard", "Head", "default_card_path"]
