"""Face detector backends: each module registers one backend with ``FACE_DETECTORS``."""
