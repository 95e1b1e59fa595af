"""Shared test fixtures. Everything is generated at test time: no shared data, no downloads.

The real face comes from scikit-image's bundled ``astronaut`` photo (public domain, NASA); videos
are written with PyAV; models are tiny ONNX graphs built here (see ``tiny_model.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.media_factory import face_photo, two_face_photo, write_image, write_video  # noqa: F401
from tests.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def face_rgb() -> np.ndarray:
    """A real 512x512 RGB photo with one frontal face."""
    return face_photo()


@pytest.fixture(scope="session")
def two_faces_rgb() -> np.ndarray:
    """One RGB picture holding two faces side by side."""
    return two_face_photo()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A folder with a tiny, untrained ONNX model and its model card (for pipeline tests only)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture
def tiny_model_copy(tiny_model_dir, tmp_path) -> Path:
    """A writable copy of the tiny model's folder (for tests that edit its card)."""
    import shutil

    dst = tmp_path / "model"
    shutil.copytree(Path(tiny_model_dir).parent, dst)
    return dst
