"""ONNX export of the trained network (docs/architecture.md, "Contracts"); the card beside it is
written by :func:`deepdetector.model.card.write_card`.

The ONNX graph takes ``image`` uint8 [B,S,S,3] RGB and returns ``logits`` [B,K] and ``cam``
[B,K,h,w]; the batch axis is dynamic. :func:`check_parity` runs torch and onnxruntime on the same
input and returns the largest difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

ONNX_NAME = "deepdetector.onnx"


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
