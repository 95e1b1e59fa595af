"""Explanation stage: a face's heatmap from the model's class-activation map, and where it lies on its
frame. Drawing heatmaps (colours, overlays, face panels) is in ``report/drawing.py``."""

from deepdetector.explanation.heatmap import heat_patch, heatmap_from_cam, heatmap_on_frame

__all__ = ["heat_patch", "heatmap_from_cam", "heatmap_on_frame"]
