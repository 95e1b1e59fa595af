"""MediaPipe FaceMesh (468 points) in onnxruntime: the weights ship inside this package.

The model is MediaPipe's ``face_landmark.tflite`` (Apache-2.0, "Real-time Facial Surface Geometry
from Monocular Video on Mobile GPUs", Kartynnik et al. 2019) converted to ONNX by
``scripts/convert_facemesh.py`` (largest difference from the TFLite interpreter: 2e-4 of a pixel
of its 192-pixel input). It sees a 192x192 square around the face, turned so that the eyes are
level, and returns 468 points (x, y, depth) in that square plus a face-presence score.

Where the square comes from follows MediaPipe's pipeline: the detector's box, enlarged 1.5x about
its centre (the longer side), rotated by the angle of the line through the eyes (the detector's
5 landmarks; no rotation when a backend gives none).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import cv2
import numpy as np

from deepdetector.errors import ModelError
from deepdetector.landmarks.base import LANDMARKERS, DenseLandmarks, Landmarker
from deepdetector.landmarks.topology import MESH_POINTS
from deepdetector.types import Face

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "facemesh.onnx"
SHA256 = "45ff0d61f73cd35c0e40b4dad8915fdcf7659a268ec09f8fd94540425230bf36"
INPUT = 192
ROI_SCALE = 1.5
MIN_PRESENCE = 0.5  # MediaPipe's own threshold on the face-presence score


def roi_matrix(face: Face, scale: float = ROI_SCALE, size: int = INPUT) -> np.ndarray:
    """The 2x3 affine map from frame pixels to the model's ``size`` square for ``face``."""
    cx, cy = face.box.center
    side = max(face.box.width, face.box.height) * scale
    angle = 0.0
    if face.landmarks is not None and len(face.landmarks) >= 2:
        (lx, ly), (rx, ry) = face.landmarks[0], face.landmarks[1]
        angle = math.degrees(math.atan2(float(ry - ly), float(rx - lx)))  # image-left eye to image-right eye
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, size / max(side, 1e-3))
    m[0, 2] += size / 2.0 - cx
    m[1, 2] += size / 2.0 - cy
    return m


@LANDMARKERS.register("facemesh", description="MediaPipe FaceMesh, 468 points, ONNX in this package (Apache-2.0)")
class FaceMesh(Landmarker):
    name = "facemesh"
    n_points = MESH_POINTS

    def __init__(self, threads: int = 0, batch_size: int = 32, verify: bool = True) -> None:
        import onnxruntime as ort

        if not WEIGHTS.is_file():
            raise ModelError(f"the FaceMesh model is missing ({WEIGHTS}); reinstall deepdetector")
        if verify:
            digest = hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
            if digest != SHA256:
                raise ModelError(f"the FaceMesh model {WEIGHTS} does not match its checksum (damaged install?)")
        options = ort.SessionOptions()
        # one thread by default: inside a scan (decoding and the detector busy on the other core) every
        # core made whole scans slower (12-s 720p clip: x1.44-1.52 of the time without evidence on one
        # thread, x1.50-1.71 on two; benchmarks/bench_evidence.py)
        options.intra_op_num_threads = threads if threads > 0 else 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(WEIGHTS), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.batch_size = max(1, int(batch_size))

    def locate(self, image: np.ndarray, faces: list[Face]) -> list[DenseLandmarks | None]:
        return self.locate_many([(image, face) for face in faces])

    def locate_many(self, items: list[tuple[np.ndarray, Face]]) -> list[DenseLandmarks | None]:
        out: list[DenseLandmarks | None] = []
        for start in range(0, len(items), self.batch_size):
            out.extend(self._run(items[start : start + self.batch_size]))
        return out

    def _run(self, items: list[tuple[np.ndarray, Face]]) -> list[DenseLandmarks | None]:
        if not items:
            return []
        matrices = [roi_matrix(face) for _, face in items]
        crops = np.stack(
            [cv2.warpAffine(image, m, (INPUT, INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
             for (image, _), m in zip(items, matrices)]
        )  # fmt: skip
        tensor = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        raw, flag = self.session.run(None, {self.input_name: tensor})
        raw = raw.reshape(len(items), MESH_POINTS, 3)
        presence = 1.0 / (1.0 + np.exp(-flag.reshape(len(items)).astype(np.float64)))
        results: list[DenseLandmarks | None] = []
        for pts, m, p in zip(raw, matrices, presence):
            if p < MIN_PRESENCE:
                results.append(None)
                continue
            inverse = cv2.invertAffineTransform(m)
            xy = pts[:, :2] @ inverse[:, :2].T + inverse[:, 2]
            z = pts[:, 2:3] / math.sqrt(abs(float(np.linalg.det(m[:, :2]))))  # depth in frame pixels
            results.append(DenseLandmarks(points=np.hstack([xy, z]).astype(np.float32), presence=float(p)))
        return results
