"""Landmarks stage: dense face landmarks (468 FaceMesh points) for each detected face.

Sits between face detection and the evidence that needs face geometry over time (eye and mouth
opening, head pose, landmark jitter) and the training cache's blend masks. Backends are plugins,
one file each in ``landmarks/backends/``:

    from deepdetector.landmarks import create_landmarker
    mesh = create_landmarker("facemesh")
    points = mesh.locate(image, faces)   # one DenseLandmarks (or None) per face
"""

from deepdetector.landmarks.base import LANDMARKERS, DenseLandmarks, Landmarker, create_landmarker
from deepdetector.landmarks.topology import MESH_POINTS

__all__ = ["LANDMARKERS", "DenseLandmarks", "Landmarker", "create_landmarker", "MESH_POINTS"]
