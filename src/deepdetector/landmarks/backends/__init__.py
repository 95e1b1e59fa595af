"""Landmark backends: each module registers one with ``@LANDMARKERS.register``."""
