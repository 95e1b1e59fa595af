"""CLI commands of the web front end: ``deepdetector serve``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from deepdetector import scan_options as opts
from deepdetector.web.settings import MB, default_data_dir


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``deepdetector`` command."""
    app.command("serve")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on. Anything but loopback needs --token (or --insecure)."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=0, help="Files analysed at the same time (each worker loads the model once; 0 only queues uploads)."),
    db: Optional[Path] = typer.Option(None, help=f"SQLite database of scans and results (default: {default_data_dir() / 'scans.sqlite3'})."),
    data_dir: Optional[Path] = typer.Option(None, help="Folder for uploads waiting to be scanned (default: 'uploads' beside --db)."),
    max_upload_mb: float = typer.Option(500, help="Largest accepted upload, in MB (1 MB = 2^20 bytes)."),
    queue_size: int = typer.Option(16, min=1, help="Scans that may wait for a worker; more uploads get HTTP 429."),
    token: Optional[str] = typer.Option(
        None,
        envvar="DEEPDETECTOR_TOKEN",
        help="Bearer token required by the API and the page, at least 8 characters (prefer the environment variable).",
    ),
    insecure: bool = typer.Option(False, "--insecure", help="Allow a non-loopback --host without --token."),
    model: opts.ModelPath = None,
    frames: opts.Frames = opts.DEFAULTS.frames,
    fps: opts.Fps = opts.DEFAULTS.fps,
    detector: opts.DetectorName = opts.DEFAULTS.detector,
    margin: opts.Margin = opts.DEFAULTS.margin,
    aggregation: opts.Aggregation = opts.DEFAULTS.aggregation,
    threshold: opts.Threshold = opts.DEFAULTS.threshold,
    flip_tta: opts.FlipTta = opts.DEFAULTS.flip_tta,
    stills: opts.Stills = opts.DEFAULTS.stills,
    landmarks: opts.Landmarks = opts.LANDMARKS_DEFAULT,
    cues: opts.Cues = opts.DEFAULTS.cues,
    max_pixels: opts.MaxPixels = opts.MAX_PIXELS_DEFAULT,
    pixels: opts.Pixels = opts.DEFAULTS.pixels,
    provenance: opts.Provenance = opts.DEFAULTS.provenance,
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Start the web page and REST API (http://127.0.0.1:8000 by default); Ctrl+C stops it.

    Scans survive restarts: results stay in the database, and scans that were waiting or being analysed are analysed when the service starts again.
    """
    try:
        import uvicorn

        from deepdetector.web.app import create_app
    except ImportError as exc:
        typer.echo(f"error: the web service needs the 'web' extra ({exc.name} is missing): pip install 'deepdetector[web]'", err=True)
        raise typer.Exit(1) from None
    from deepdetector.errors import DeepDetectorError
    from deepdetector.web.settings import WebSettings

    settings = WebSettings(
        host=host,
        port=port,
        workers=workers,
        max_upload_bytes=int(max_upload_mb * MB),
        queue_size=queue_size,
        token=token or None,
        insecure=insecure,
        data_dir=data_dir,
        scan=opts.from_options(locals()),
    )
    if db is not None:
        settings.db_path = db
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        # The face detector's OpenMP pool would otherwise start one thread per core in every worker;
        # oversubscribed OpenMP threads spin and slow detection down many times. Must be set
        # before the detector's library is loaded (create_app loads it).
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    try:
        application = create_app(settings)
    except DeepDetectorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"DeepDetector on http://{shown}:{port}  (scans in {settings.db_path})", err=True)
    uvicorn.run(application, host=host, port=port, log_level=log_level, proxy_headers=False, server_header=False)
