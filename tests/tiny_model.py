"""Builds a tiny, untrained ONNX model that follows the model contract (docs/architecture.md).

It exists only so that pipeline tests do not depend on the shipped model. Its "fake" logit is the
mean brightness of the crop's centre minus the border's, so tests can steer it, and its CAM is a
7x7 average-pooled brightness map.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

INPUT_SIZE = 64


def build_tiny_model(folder: Path, input_size: int = INPUT_SIZE, heads: tuple[str, ...] = ("swap", "synthetic")) -> Path:
    k = len(heads)
    nodes = [
        helper.make_node("Cast", ["image"], ["x_f"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["x_f"], ["x_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("ReduceMean", ["x_nchw"], ["gray"], axes=[1], keepdims=1),  # [B,1,S,S]
        helper.make_node("Sub", ["gray", "c127"], ["centered"]),
        helper.make_node("Div", ["centered", "c64"], ["normed"]),
        helper.make_node(
            "AveragePool", ["normed"], ["pooled"], kernel_shape=[input_size // 7, input_size // 7], strides=[input_size // 7, input_size // 7]
        ),  # [B,1,7,7]
        helper.make_node("Tile", ["pooled", "tile_k"], ["cam"]),  # [B,K,7,7]
        helper.make_node("ReduceMean", ["cam"], ["logits"], axes=[2, 3], keepdims=0),  # [B,K]
    ]
    inits = [
        helper.make_tensor("c127", TensorProto.FLOAT, [], [127.0]),
        helper.make_tensor("c64", TensorProto.FLOAT, [], [64.0]),
        helper.make_tensor("tile_k", TensorProto.INT64, [4], [1, k, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_deepdetector",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["B", input_size, input_size, 3])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", k]),
            helper.make_tensor_value_info("cam", TensorProto.FLOAT, ["B", k, 7, 7]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.onnx"
    onnx.save(model, str(path))
    card = {
        "name": "tiny-test-model",
        "version": "0",
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "input_size": input_size,
        "margin": 1.6,
        "heads": [{"name": h, "a": 1.0, "b": 0.0} for h in heads],
        "threshold": 0.5,
        "untrained": True,
    }
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))
    return folder / "model_card.json"


if __name__ == "__main__":  # manual check
    import onnxruntime as ort

    p = build_tiny_model(Path("/tmp/tiny"))
    s = ort.InferenceSession(str(p.parent / "tiny.onnx"))
    out = s.run(None, {"image": np.random.randint(0, 255, (2, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)})
    print([o.shape for o in out])
