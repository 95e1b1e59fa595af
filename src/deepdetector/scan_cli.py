"""CLI commands of the scanner: ``scan``, ``demo``, ``detectors``, ``aggregations``, ``info``.

Exit codes of ``scan``: 0 every file was analysed (whatever the verdicts), 1 the scan could not
start (bad option value, no model, an output path that cannot be written) or an output could not be
written after it (the others still are), 2 the command line itself is wrong (unknown option, missing
argument: Typer's usage error), 3 some files could not be read (their error entries are in every
output, and the other files were still scanned), 130 interrupted by Ctrl-C (the outputs hold the
files finished before it).
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import typer

from deepdetector import scan_options as opts
from deepdetector.cli_errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_ERRORS
from deepdetector.cli_errors import fail as _fail
from deepdetector.config import ScanConfig


@dataclass
class Listing:
    """What ``scan`` will look at, from the paths on its command line.

    ``paths``: every file to report on, in order (named files as given, folders' media files
    sorted). ``unreadable``: those of ``paths`` that cannot be scanned at all (a folder that cannot
    be listed), with why; each gets an ``error`` entry like any unreadable file. ``skipped``: what a
    folder held that is not scanned (a name that is not an image or video, a link to a folder, a
    special file), as ``(path, reason)``.
    """

    paths: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _list_folder(folder: str, listing: Listing) -> None:
    """Media files below ``folder`` (sorted) into ``listing``; everything else it holds is skipped with a reason."""
    from deepdetector.media.kinds import is_media_name

    found: list[str] = []

    def cannot_list(exc: OSError) -> None:
        where = exc.filename if exc.filename is not None else folder
        listing.unreadable[str(where)] = f"cannot list this folder ({exc.strerror or exc}): the files in it were not scanned"
        found.append(str(where))

    for root, dirs, files in os.walk(folder, onerror=cannot_list):
        for d in list(dirs):
            if os.path.islink(os.path.join(root, d)):
                dirs.remove(d)
                listing.skipped.append((os.path.join(root, d), "a link to a folder: not followed (name it to scan it)"))
        dirs.sort()
        for name in files:
            path = os.path.join(root, name)
            if not is_media_name(name):
                listing.skipped.append((path, "not an image or video name"))
                continue
            try:
                regular = stat.S_ISREG(os.stat(path).st_mode)
            except OSError:  # a dangling link or a file that cannot be read: an error entry says why
                regular = True
            if regular:
                found.append(path)
            else:
                listing.skipped.append((path, "not a regular file"))
    listing.paths.extend(sorted(found))


def expand_inputs(inputs: list[Path]) -> Listing:
    """Files as given, folders expanded recursively to their media files (sorted; kinds.MEDIA_EXTENSIONS).
    Missing and unreadable paths are kept so that they get an error entry of their own."""
    listing = Listing()
    for item in inputs:
        try:
            is_dir = item.is_dir()
        except OSError:  # e.g. inside a folder that cannot be searched: the scan says why
            is_dir = False
        if is_dir:
            _list_folder(str(item), listing)
        else:
            listing.paths.append(str(item))
    listing.skipped.sort()
    return listing


def same_file_as_input(target: Path, inputs: list[str]) -> str | None:
    """The input that ``target`` (an output path) is, or None: the same path once links and ``..``
    are resolved (even where folders on the way do not exist yet), or the same file (a hard link)."""
    resolved = os.path.realpath(target)
    exists = os.path.exists(target)
    for path in inputs:
        if os.path.realpath(path) == resolved:
            return path
        try:
            if exists and os.path.samefile(target, path):
                return path
        except OSError:
            continue
    return None


def _make_detector(config: ScanConfig):
    from deepdetector.api import Detector
    from deepdetector.errors import DeepDetectorError

    try:
        return Detector(config)
    except DeepDetectorError as exc:
        raise _fail(str(exc)) from None


def _scan_with_progress(detector, listing: Listing, quiet: bool):
    """Scan every path with a progress bar over files and, for videos, over frames.

    Returns ``(results, interrupted)``: on Ctrl-C the scan stops and the files finished so far are
    returned with ``interrupted=True``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from deepdetector.types import FileResult, Verdict
    from deepdetector.verdict.explain import explain

    console = Console(stderr=True)
    results = []
    interrupted = False
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
        transient=True,
    ) as progress:
        files_task = progress.add_task("files", total=len(listing.paths))
        frames_task = progress.add_task("frames", total=None, visible=False)
        try:
            for path in listing.paths:
                if path in listing.unreadable:
                    unread = FileResult(path=path, verdict=Verdict.ERROR, error=listing.unreadable[path], model=detector.model_label)
                    unread.explanation = explain(unread, detector.config.aggregation)
                    results.append(unread)
                    progress.advance(files_task)
                    continue
                name = os.path.basename(path)
                progress.update(frames_task, description=name[:40], completed=0, total=None, visible=False)

                def on_progress(done: int, total: int, _task=frames_task) -> None:
                    if total > 1:
                        progress.update(_task, completed=done, total=total, visible=True)

                results.append(detector.scan(path, on_progress=on_progress))
                progress.advance(files_task)
        except KeyboardInterrupt:
            interrupted = True
    return results, interrupted


def scan(
    # readable=False: an unreadable file gets its error entry and exit status 3, not a usage error
    inputs: list[Path] = typer.Argument(..., readable=False, help="Images, videos or folders (searched recursively)."),
    json_out: Optional[str] = typer.Option(None, "--json", help="Write results as JSON to this file ('-' for stdout)."),
    csv_out: Optional[str] = typer.Option(None, "--csv", help="Write one CSV row per file to this file ('-' for stdout)."),
    heatmaps: Optional[Path] = typer.Option(None, "--heatmaps", help="Write heatmap overlays (PNG) into this folder."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report."),
    frames: opts.Frames = opts.DEFAULTS.frames,
    fps: opts.Fps = opts.DEFAULTS.fps,
    detector: opts.DetectorName = opts.DEFAULTS.detector,
    margin: opts.Margin = opts.DEFAULTS.margin,
    aggregation: opts.Aggregation = opts.DEFAULTS.aggregation,
    threshold: opts.Threshold = opts.DEFAULTS.threshold,
    model: opts.ModelPath = None,
    threads: int = typer.Option(0, help="onnxruntime threads (0 = all cores)."),
    flip_tta: opts.FlipTta = opts.DEFAULTS.flip_tta,
    stills: opts.Stills = opts.DEFAULTS.stills,
    landmarks: opts.Landmarks = opts.LANDMARKS_DEFAULT,
    cues: opts.Cues = opts.DEFAULTS.cues,
    max_pixels: opts.MaxPixels = opts.MAX_PIXELS_DEFAULT,
    pixels: opts.Pixels = opts.DEFAULTS.pixels,
    provenance: opts.Provenance = opts.DEFAULTS.provenance,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No table or progress, only the files asked for."),
) -> None:
    """Judge images and videos: verdict, calibrated probability, faces, timeline and heatmaps."""
    from deepdetector import report as rep
    from deepdetector.errors import DeepDetectorError

    config = opts.from_options(locals(), threads=threads, heatmaps=True)
    try:
        config.validate()
    except DeepDetectorError as exc:
        raise _fail(str(exc)) from None
    if json_out == "-" and csv_out == "-":
        raise _fail("only one of --json and --csv can go to stdout ('-')")
    # outputs that plainly cannot be written are refused before the scan, not after it
    targets = [("JSON report", json_out, False), ("CSV report", csv_out, False), ("heatmaps", heatmaps, True), ("HTML report", report, False)]
    try:
        for what, target, folder in targets:
            if target is not None and target != "-":
                rep.check_writable(Path(target), what, folder=folder)
    except DeepDetectorError as exc:
        raise _fail(str(exc)) from None
    listing = expand_inputs(inputs)
    if not listing.paths:
        raise _fail("no image or video files found in the given folders")
    # an output that is one of the inputs would destroy the evidence: refuse before scanning
    for what, target, folder in targets:
        if target is None or target == "-":
            continue
        victim = same_file_as_input(Path(target), listing.paths)
        if victim is not None:
            raise _fail(
                f"the {what} {target} is the input file {victim}: writing it would replace the file being examined; choose another output path"
            )
    det = _make_detector(config)
    results, interrupted = _scan_with_progress(det, listing, quiet)
    skipped = listing.skipped

    to_stdout = "-" in (json_out, csv_out)
    if not quiet:
        from rich.console import Console

        console = Console(stderr=to_stdout)
        rep.print_table(results, console, skipped=skipped)

    # each output is written even if another fails: the results are never lost to one bad path
    failed = []

    def attempt(label: str, target, write) -> None:
        try:
            write()
        except (DeepDetectorError, OSError) as exc:
            failed.append(label)
            typer.echo(f"error: {exc}", err=True)
            return
        if not quiet and target is not None and target != "-":
            console.print(f"{label}: {target}")

    if heatmaps is not None:

        def write_heatmaps() -> None:
            try:
                heatmaps.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise rep.ReportError(f"cannot create the heatmap folder {heatmaps}: {exc.strerror or exc}") from exc
            for res in results:
                if res.ok:
                    rep.write_heatmaps(res, heatmaps)

        attempt("heatmaps", heatmaps, write_heatmaps)
    if json_out is not None:
        attempt("JSON", json_out, lambda: rep.write_json(results, sys.stdout if json_out == "-" else Path(json_out), skipped=skipped))
    if csv_out is not None:
        attempt("CSV", csv_out, lambda: rep.write_csv(results, sys.stdout if csv_out == "-" else Path(csv_out)))
    if report is not None:
        attempt("report", report, lambda: rep.write_html_report(results, report, skipped=skipped))
    if interrupted:
        n = len(results)
        typer.echo(f"interrupted after {n} of {len(listing.paths)} files; outputs hold those {n}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED)
    if failed:
        raise typer.Exit(EXIT_FAILED)
    if any(r.error for r in results):
        raise typer.Exit(EXIT_SOME_ERRORS)


def demo(
    out: Path = typer.Option(Path("demo-output"), help="Folder for the demo's pictures and report."),
    model: Optional[Path] = typer.Option(None, help="Model folder (default: the shipped model)."),
) -> None:
    """Make a self-blended fake of a real photo that ships with scikit-image, scan both, write the report."""
    from deepdetector.demo import run_demo
    from deepdetector.errors import DeepDetectorError

    try:
        ok = run_demo(out, model)
    except DeepDetectorError as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


def detectors() -> None:
    """List the face detector backends and whether each can run here."""
    from rich.console import Console
    from rich.table import Table

    from deepdetector.faces import FACE_DETECTORS, create_detector

    table = Table("name", "available", "description")
    for entry in FACE_DETECTORS.entries():
        try:
            create_detector(entry.name)
            status = "[green]yes[/]"
        except Exception as exc:  # report why a backend cannot run, keep listing
            status = f"[red]no[/]: {exc}"
        default = " (default)" if entry.name == ScanConfig.detector else ""
        table.add_row(entry.name + default, status, entry.description)
    Console().print(table)


def aggregations() -> None:
    """List the video aggregation strategies."""
    from deepdetector.verdict import AGGREGATIONS

    for entry in AGGREGATIONS.entries():
        default = " (default)" if entry.name == ScanConfig.aggregation else ""
        typer.echo(f"{entry.name}{default}: {entry.description}")


def info(model: Optional[Path] = typer.Option(None, help="Model folder (default: the shipped model).")) -> None:
    """Show the model card of the shipped (or given) model and check its checksum."""
    import json

    from deepdetector.errors import DeepDetectorError
    from deepdetector.model import ModelCard, default_card_path
    from deepdetector.model.stills import StillsModel, stills_card_path

    try:
        card = ModelCard.load(model if model is not None else default_card_path())
        card.verify()
        stills_path = stills_card_path(card)
        stills = StillsModel(stills_path) if stills_path is not None else None
    except DeepDetectorError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"model: {card.label}\nfile: {card.file}\nsha256: {card.sha256} (verified)")
    typer.echo(f"input: {card.input_size} px, crop margin {card.margin}x, heads: {', '.join(h.name for h in card.heads)}")
    if stills is not None:
        sc = stills.card
        typer.echo(
            f"stills model (photos only): {sc.label}, file {sc.file}, sha256 {sc.sha256} (verified); "
            f"{stills.grid}x{stills.grid} patches of {sc.input_size} px at native resolution, head: {sc.heads[0].name}"
        )
    typer.echo(f"threshold: {card.thresholds.describe()}" + ("" if card.thresholds.single else f" (other media {card.threshold})"))
    if card.extra.get("metrics"):
        typer.echo("metrics: " + json.dumps(card.extra["metrics"], indent=2)[:4000])


def register(app: typer.Typer) -> None:
    """Add the scanner's commands to ``app``."""
    app.command()(scan)
    app.command()(demo)
    app.command()(detectors)
    app.command()(aggregations)
    app.command()(info)
