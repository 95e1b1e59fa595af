"""Settings of the web service (``deepdetector serve``), in one typed record.

The CLI builds a :class:`WebSettings` from its options; tests build one directly and pass it to
:func:`deepdetector.web.create_app`. Nothing here reads the environment.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from deepdetector.config import ScanConfig
from deepdetector.errors import ConfigError

MB = 1024 * 1024


def default_data_dir() -> Path:
    """Where scans are kept when ``--db`` is not given: ``$XDG_DATA_HOME/deepdetector/web``
    (``~/.local/share/deepdetector/web`` by default), outside any source checkout."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "deepdetector" / "web"


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything: treat it as public


@dataclass
class WebSettings:
    """Everything the web service needs; every field has a safe default."""

    host: str = "127.0.0.1"
    """Address to bind. Loopback by default; any other address needs ``token`` (or ``insecure``)."""
    port: int = 8000
    workers: int = 1
    """Scans analysed at the same time (threads, one Detector each). 0 accepts uploads but analyses nothing."""
    db_path: Path = field(default_factory=lambda: default_data_dir() / "scans.sqlite3")
    """SQLite database of scans and results."""
    data_dir: Path | None = None
    """Folder for uploads waiting to be scanned; ``None``: an ``uploads`` folder beside ``db_path``."""
    max_upload_bytes: int = 500 * MB
    """Uploads larger than this are refused (HTTP 413) while they stream in."""
    queue_size: int = 16
    """Scans that may wait for a worker; further uploads get HTTP 429 until one finishes."""
    token: str | None = None
    """Bearer token required by the API and page; ``None``: no authentication."""
    insecure: bool = False
    """Allow a non-loopback ``host`` without a token (only behind your own authenticating proxy)."""
    scan: ScanConfig = field(default_factory=ScanConfig)
    """Settings of every scan (model path, frames per video, ...)."""
    max_heatmaps: int = 24
    """Heatmap pictures kept per scan (the most suspicious faces first)."""
    history_limit: int = 200
    """Most scans listed by ``GET /api/v1/scans`` in one page."""
    max_attempts: int = 3
    """A scan interrupted this many times (server killed while analysing it) is marked as an error
    instead of being retried again, so one file that crashes the decoder cannot crash every restart."""

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir if self.data_dir is not None else Path(self.db_path).parent / "uploads"

    def validate(self) -> None:
        """Raise :class:`ConfigError` with a message for a person when a setting is unusable."""
        if self.workers < 0:
            raise ConfigError("--workers must be 0 or more")
        if self.queue_size < 1:
            raise ConfigError("--queue-size must be at least 1")
        if self.max_upload_bytes < 1:
            raise ConfigError("--max-upload-mb must be positive")
        if not 0 < self.port < 65536:
            raise ConfigError(f"--port {self.port} is not a TCP port (1-65535)")
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("the token must be at least 8 characters long")
        if not is_loopback(self.host) and not self.token and not self.insecure:
            raise ConfigError(
                f"refusing to listen on {self.host} without authentication: anyone on the network could "
                "upload files and read results. Give --token TOKEN (or set DEEPDETECTOR_TOKEN), or "
                "--insecure if an authenticating proxy stands in front."
            )
