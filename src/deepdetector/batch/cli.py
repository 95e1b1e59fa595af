"""CLI of the batch front end: ``deepdetector batch`` (registered on the main app by ``register``).

Exit codes: 0 every file was analysed, 1 the batch could not start (bad option, no model, job
locked), 3 some files could not be read (they are error rows in the output; the rest was scanned),
130 interrupted (Ctrl-C or SIGTERM; run the same command again to resume).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from deepdetector import scan_options as opts
from deepdetector.cli_errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_ERRORS  # noqa: F401 (the documented codes)


def _progress_display(quiet: bool):
    """A rich progress bar (files done / total, files per second, elapsed, ETA) and its callback."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("-- files/s" if speed is None else f"{speed:.1f} files/s", style="progress.data.speed")

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
        speed_estimate_period=60.0,
    )
    state: dict[str, int] = {}

    def on_progress(finished: int, total: int | None) -> None:
        if "task" not in state:  # files finished by earlier runs do not count towards the rate
            state["task"] = progress.add_task("listing" if total is None else "scanning", total=total, completed=finished)
            return
        progress.update(state["task"], completed=finished, total=total, description="listing + scanning" if total is None else "scanning")

    return progress, on_progress


def _files(n: int, word: str = "file") -> str:
    """``"1 file"``, ``"2 files"`` (or another ``word``)."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _print_summary(summary, quiet: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    if summary.interrupted:
        console.print(
            f"[yellow]interrupted[/]: {sum(summary.counts.values())} of {summary.total} files done; "
            f"run the same command again to resume (job: {summary.job})"
        )
        return
    if quiet:
        return
    order = ("fake", "real", "no_face", "error")
    counts = ", ".join(f"{summary.counts.get(v, 0)} {v.replace('_', ' ')}" for v in order)
    console.print(f"[bold]{_files(summary.total)}[/]: {counts}")
    console.print(
        f"{summary.scans} distinct files scanned, {summary.reused} duplicates reused; this run: "
        f"{_files(summary.finished_this_run)} in {summary.seconds:.1f} s ({summary.files_per_second:.1f} files/s, "
        f"{summary.engine} engine, {_files(summary.workers, 'worker')})"
    )
    if summary.top:
        table = Table("probability", "verdict", "path", title="most suspicious files", title_justify="left")
        for path, prob, verdict in summary.top:
            table.add_row(f"{prob:.3f}", verdict, path)
        console.print(table)
    if summary.errors:
        console.print(
            f"[red]{_files(summary.n_errors)} could not be analysed[/]" + (", first ones:" if summary.n_errors > len(summary.errors) else ":")
        )
        for path, message in summary.errors:
            console.print(f"  {path}: {message}")
    console.print(f"wrote {_files(summary.rows_written, 'row')} to {summary.out} (job store: {summary.job})")


def batch(
    sources: list[Path] = typer.Argument(
        ...,
        metavar="SOURCE",
        readable=False,
        help="Folders (searched recursively), text files of paths (one per line), or manifest CSVs (a 'path' column).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .jsonl, .csv or .parquet."),
    job: Optional[Path] = typer.Option(None, help="Job store (SQLite) that makes the batch resumable. Default: OUT.job.sqlite next to the output."),
    workers: Optional[int] = typer.Option(None, help="Worker processes (local) or actors (ray). Default: one per core / per cluster CPU."),
    engine: str = typer.Option("local", help="local (processes on this machine) or ray (a Ray cluster; needs the ray extra)."),
    address: Optional[str] = typer.Option(None, help="Ray cluster to join (auto, HOST:PORT, ray://HOST:10001). Default: start a local Ray."),
    min_score: Optional[float] = typer.Option(None, help="Keep only files whose probability of fake is at least this in the output."),
    frames: opts.Frames = opts.DEFAULTS.frames,
    fps: opts.Fps = opts.DEFAULTS.fps,
    detector: opts.DetectorName = opts.DEFAULTS.detector,
    margin: opts.Margin = opts.DEFAULTS.margin,
    aggregation: opts.Aggregation = opts.DEFAULTS.aggregation,
    threshold: opts.Threshold = opts.DEFAULTS.threshold,
    model: opts.ModelPath = None,
    threads: int = typer.Option(1, help="Threads per worker (onnxruntime, OpenCV, OpenMP)."),
    flip_tta: opts.FlipTta = opts.DEFAULTS.flip_tta,
    stills: opts.Stills = opts.DEFAULTS.stills,
    landmarks: opts.Landmarks = opts.LANDMARKS_DEFAULT,
    cues: opts.Cues = opts.DEFAULTS.cues,
    max_pixels: opts.MaxPixels = opts.MAX_PIXELS_DEFAULT,
    pixels: opts.Pixels = opts.DEFAULTS.pixels,
    provenance: opts.Provenance = opts.DEFAULTS.provenance,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Scan a whole archive: resumable (rerun the same command after an interruption), identical files scanned once, on local processes or Ray."""
    import math

    from deepdetector.batch.runner import BatchOptions, run_batch
    from deepdetector.errors import DeepDetectorError

    if min_score is not None and not (math.isfinite(min_score) and 0.0 <= min_score <= 1.0):
        typer.echo(f"error: --min-score {min_score} is not possible: it is a probability of fake, from 0 to 1", err=True)
        raise typer.Exit(1)
    options = BatchOptions(
        sources=sources,
        out=out,
        job=job,
        engine=engine,
        workers=workers,
        address=address,
        min_score=min_score,
        config=opts.from_options(locals(), threads=threads),
    )
    progress, on_progress = _progress_display(quiet)
    try:
        with progress:
            summary = run_batch(options, on_progress=on_progress)
    except DeepDetectorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    except KeyboardInterrupt:
        typer.echo("interrupted; run the same command again to resume", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _print_summary(summary, quiet)
    if summary.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.n_errors:
        raise typer.Exit(EXIT_SOME_ERRORS)


def register(app: typer.Typer) -> None:
    """Add the ``batch`` command to ``app``."""
    app.command()(batch)
