"""Explanation stage: class-activation heatmaps upsampled onto frames, overlays and face panels."""

from deepdetector.explanation.heatmap import face_panel, heat_patch, heatmap_from_cam, heatmap_on_frame, overlay_heatmaps

__all__ = ["face_panel", "heat_patch", "heatmap_from_cam", "heatmap_on_frame", "overlay_heatmaps"]
