"""Errors users see. Each carries a message meant for a person, never a traceback."""


class DeepDetectorError(Exception):
    """Base class: anything the CLI reports as a one-line error."""


class MediaError(DeepDetectorError):
    """The file could not be read as an image or video (corrupt, empty, truncated, unsupported, too large)."""


class ModelError(DeepDetectorError):
    """The model file is missing, damaged (sha256 mismatch) or incompatible."""


class ConfigError(DeepDetectorError):
    """A setting or plugin name is invalid."""
