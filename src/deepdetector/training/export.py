"""ONNX export of the trained network and the model card next to it (docs/architecture.md, "Contracts").

The ONNX graph takes ``image`` uint8 [B,S,S,3] RGB and returns ``logits`` [B,K] and ``cam``
[B,K,h,w]; the batch axis is dynamic. :func:`check_parity` runs torch and onnxruntime on the same
input and returns the largest difference.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

ONNX_NAME = "deepdetector.onnx"
CARD_NAME = "model_card.json"


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_onnx(model: Any, path: str | Path, input_size: int) -> Path:
    """Write ``model`` (the training network, eval mode) as ONNX opset 17 with a dynamic batch axis."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    dummy = torch.zeros((1, input_size, input_size, 3), dtype=torch.uint8)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            input_names=["image"],
            output_names=["logits", "cam"],
            dynamic_axes={"image": {0: "B"}, "logits": {0: "B"}, "cam": {0: "B"}},
            opset_version=17,
            dynamo=False,
        )
    return path


def check_parity(model: Any, onnx_path: str | Path, images: np.ndarray) -> float:
    """Largest absolute difference between torch and onnxruntime outputs (logits and cam) on ``images``."""
    import onnxruntime as ort
    import torch

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    o_logits, o_cam = sess.run(["logits", "cam"], {"image": images})
    with torch.no_grad():
        t_logits, t_cam = model.eval()(torch.from_numpy(images))
    return float(max(np.abs(o_logits - t_logits.numpy()).max(), np.abs(o_cam - t_cam.numpy()).max()))


def write_card(folder: str | Path, onnx_path: str | Path, card: dict[str, Any]) -> Path:
    """Write ``model_card.json`` beside the ONNX file, filling ``file`` and ``sha256`` from the file itself."""
    folder = Path(folder)
    onnx_path = Path(onnx_path)
    full = dict(card)
    full["file"] = onnx_path.name
    full["sha256"] = sha256_of(onnx_path)
    out = folder / CARD_NAME
    out.write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
    return out
