"""CLI commands of the evaluation front end: ``evaluate``, ``robustness``, ``compare``, ``calibrate``, ``heads``, ``frames`` and ``localisation``.

One top-level function per command; :func:`register` adds them to the ``deepdetector`` app.
Exit codes: :mod:`deepdetector.cli_errors` (0 done, 1 the run could not start or was interrupted:
bad option, manifest, model, output; Ctrl-C keeps everything written so far, the message says how
to resume).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from deepdetector import scan_options as opts
from deepdetector.cli_errors import fail
from deepdetector.config import ScanConfig


def _progress(quiet: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=True,
    )


def _console():
    """Tables go to stdout; when it is not a terminal (a pipe, a log file) use a wide page so
    the metric tables are not folded into narrow columns."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    return console


def _selection(manifest, subset: list[str], kind: list[str], split, limit: Optional[int], seed: int, part: str = "all"):
    from deepdetector.datasets.manifest import select

    if limit is not None and limit < 1:
        raise fail("--limit must be at least 1")
    if part != "all" and not split:
        raise fail(f"--part {part} picks a part of a model card's validation groups: give the card with --split")
    return select(manifest, subsets=subset, kinds=kind, split=split, limit=limit, seed=seed, part=part)


def _table_command(compute, write_json, show, output: Optional[Path], what: str) -> None:
    """Run a table-making command: compute, optionally write its JSON, print it; errors become one line."""
    from deepdetector.errors import DeepDetectorError

    try:
        result = compute()
        if output is not None:
            write_json(result, output)
    except DeepDetectorError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc}") from None
    show(_console(), result)
    if output is not None:
        typer.echo(f"{what}: {output}")


def calibrate(
    predictions: Path = typer.Argument(..., help="predictions.csv written by `deepdetector evaluate` with this model."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the calibrated copy of the model (same ONNX, new thresholds in its card)."),
    fpr: Optional[float] = typer.Option(
        None, help="Lowest threshold calling at most this share of each media type's real files fake (e.g. 0.05); needs real files only."
    ),
    balanced: bool = typer.Option(
        False, "--balanced", help="Maximise balanced accuracy instead (the default when --fpr is not given); needs fakes and reals."
    ),
    model: Optional[Path] = typer.Option(None, help="Model folder or model_card.json (default: the shipped model)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model card already in --out."),
    media: list[str] = typer.Option(["image", "video"], "--media", help="Refit the threshold of this media type only (repeatable; default both)."),
) -> None:
    """Fit the decision thresholds to your own labelled files; writes a calibrated copy of the model."""
    from deepdetector.errors import DeepDetectorError
    from deepdetector.evaluation.calibrate import build_checked, check_rows, fit_thresholds, write_calibrated
    from deepdetector.evaluation.predictions import load_predictions
    from deepdetector.model.card import WEIGHTS_DIR, ModelCard

    if fpr is not None and balanced:
        raise fail("choose --fpr or --balanced, not both")
    if not media or any(m not in ("image", "video") for m in media):
        raise fail("--media takes image or video")
    if fpr is not None and not 0.0 <= fpr < 1.0:  # nan fails this too
        raise fail(f"--fpr is a rate: at least 0 and below 1, got {fpr}")
    try:
        card = ModelCard.load(model or WEIGHTS_DIR)
        card.verify()
        from deepdetector.model.stills import StillsModel, stills_card_path

        if stills_card_path(card) is not None:
            StillsModel(stills_card_path(card))  # a damaged stills model is refused before anything is written
        rows = load_predictions(predictions)
        check_rows(rows, card, predictions)
        fits = fit_thresholds(rows, card, fpr, tuple(media))
        if all(f.note for f in fits):
            raise DeepDetectorError("nothing to calibrate, no model written: " + "; ".join(f.note for f in fits))
        rule = f"fpr <= {fpr}" if fpr is not None else "balanced accuracy"
        written = write_calibrated(card, out, fits, rule, predictions, overwrite)
    except DeepDetectorError as exc:
        raise fail(str(exc)) from None
    for f in fits:
        rates = (
            ""
            if f.tpr is None and f.fpr is None
            else (f"; on these files TPR {'n/a' if f.tpr is None else f'{f.tpr:.1%}'}, FPR {'n/a' if f.fpr is None else f'{f.fpr:.1%}'}")
        )
        typer.echo(f"{f.media}: threshold {f.old:.4f} -> {f.new:.4f} ({f.n_fake} fake, {f.n_real} real){rates}{'; ' + f.note if f.note else ''}")
    if not build_checked(card, predictions):
        typer.echo(
            f"warning: no {predictions.stem}.metrics.json beside {predictions}: the predictions were checked against "
            f"the model's name ({card.label}) only, not its sha256; make sure this model scored them",
            err=True,
        )
    typer.echo(
        f"wrote {written} (rule: {rule}); rates measured on the files the thresholds were fitted to are optimistic. Use it with --model {written}"
    )


def compare(
    a: Path = typer.Argument(..., help="predictions.csv of model A (from `deepdetector evaluate`)."),
    b: Path = typer.Argument(..., help="predictions.csv of model B, on the same manifest."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Also write the table as JSON (`python -m deepdetector.markdown` renders it)."
    ),
    seed: int = typer.Option(0, help="Seed of the bootstrap resamples."),
) -> None:
    """Paired comparison of two evaluations: AUC(A) - AUC(B) per subset and target, with a 95% bootstrap interval."""
    from deepdetector.evaluation.compare import compare_predictions, print_comparison, write_json

    _table_command(lambda: compare_predictions(a, b, seed=seed), write_json, print_comparison, output, "comparison")


def frames(
    manifest: Path = typer.Argument(..., help="CSV with path,label[,kind,source_dataset,group]; its videos are sampled."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the PNG stills and their manifest (frames.csv)."),
    per_video: int = typer.Option(4, help="Evenly spaced frames saved per video."),
    split: list[Path] = typer.Option(
        [], help="Keep only the groups or paths listed in this file (repeatable), e.g. a model card's validation groups."
    ),
    subset: list[str] = typer.Option([], help="Keep videos whose source_dataset contains this text (repeatable)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing frames.csv (and delete the stills it listed that the new run does not write)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Save frames of a manifest's videos as PNG stills with a manifest: fake videos in photo form (screenshots)."""
    from deepdetector.errors import DeepDetectorError
    from deepdetector.evaluation.frames import write_stills

    progress = _progress(quiet)
    try:
        selection = _selection(manifest, subset, [], split or None, None, 0)
        videos = [it for it in selection.items if it.is_video]
        with progress:
            task = progress.add_task("frames", total=len(videos))
            result = write_stills(
                selection.items, output, per_video=per_video, overwrite=overwrite, on_video=lambda it: progress.update(task, advance=1)
            )
    except KeyboardInterrupt:
        raise fail("interrupted; rerun with --overwrite") from None
    except DeepDetectorError as exc:
        raise fail(str(exc)) from None
    for path, reason in result.failed:
        typer.echo(f"skipped {path}: {reason}", err=True)
    typer.echo(
        f"wrote {result.manifest}: {result.n_stills} stills of {result.n_videos - len(result.failed)} videos"
        + (f" ({len(result.failed)} could not be decoded)" if result.failed else "")
    )


def localisation(
    manifest: Path = typer.Argument(..., help="CSV with path,label[,kind,source_dataset,group]; its REAL photos are made into known-mask fakes."),
    output: Path = typer.Option(
        Path("localisation"), "--output", "-o", help="Folder for localisation.json (every case and the tables) and examples.png."
    ),
    limit: Optional[int] = typer.Option(100, help="Seeded sample of this many real photos (each gives one fake per variant); 0: all of them."),
    seed: int = typer.Option(
        0,
        min=0,
        help="Seed of the sample and of the self-blends (a photo's self-blends depend on it, its path and the variant only; a swap's donor on the sample too).",
    ),
    variants: Optional[str] = typer.Option(
        None,
        help="Comma-separated manipulations (default all): full,inner,lower (self-blends of the whole face, eyes-nose-mouth, mouth-chin) and swap (another photo's face).",
    ),
    examples: int = typer.Option(3, help="Examples per variant drawn in examples.png (0: none)."),
    model: Optional[Path] = typer.Option(None, help="Model folder or model_card.json (default: the shipped model)."),
    detector: str = typer.Option(ScanConfig.detector, help="Face detector."),
    stills: bool = typer.Option(
        True, "--stills/--no-stills", help="Also run the model's generated-stills model (head 'generated'), as photo scans do."
    ),
    split: list[Path] = typer.Option([], help="Keep only the groups or paths listed in this file (repeatable)."),
    subset: list[str] = typer.Option([], help="Keep items whose source_dataset contains this text (repeatable)."),
    threads: int = typer.Option(0, help="onnxruntime threads (0 = all cores)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or tables."),
) -> None:
    """Does the heatmap point at the changed pixels? Fakes with known masks made from real photos, scanned and measured."""
    import json

    from deepdetector.api import Detector
    from deepdetector.datasets.manifest import sample_items
    from deepdetector.errors import DeepDetectorError
    from deepdetector.evaluation import localisation as L

    if limit is not None and limit < 0:
        raise fail("--limit must be 0 (all) or more")
    if examples < 0:
        raise fail("--examples must be 0 or more")
    if output.exists() and not output.is_dir():
        raise fail(f"--output {output} is a file; give a folder")
    chosen = list(dict.fromkeys(v.strip() for v in variants.split(",") if v.strip())) if variants is not None else list(L.VARIANTS)
    bad = [v for v in chosen if v not in L.VARIANTS]
    if bad or not chosen:
        raise fail(f"unknown variant {', '.join(bad) or '(none given)'}; available: {', '.join(L.VARIANTS)}")
    progress = _progress(quiet)
    try:
        selection = _selection(manifest, subset, [], split or None, None, seed)
        photos = [it for it in selection.items if it.label == 0 and not it.is_video]
        if not photos:
            raise fail("the selection holds no real photo: this study makes its fakes from real photos")
        photos = sample_items(photos, limit or None, seed)
        det = Detector(L.study_config(ScanConfig(model_path=model, detector=detector, threads=threads, stills=stills)))
        with progress:
            task = progress.add_task("localisation", total=len(photos) * len(chosen))
            cases, skipped, shown = L.run_study(
                det, photos, chosen, seed=seed, examples=examples, on_case=lambda path, variant: progress.update(task, advance=1, description=variant)
            )
        summary = L.summarise(cases)
        info = {
            "manifest": str(selection.manifest),
            "model": det.model_label,
            "model_sha256": det.card.sha256[:16],
            "threshold": det.thresholds.for_media("image"),
            "detector": detector,
            "margin": det.margin,
            "photos": len({c.path for c in cases}),
            "photos_sampled": len(photos),
            "skipped": len(skipped),
            "seed": seed,
            "variants": chosen,
            "selection": selection.notes,
            "tolerance": L.TOLERANCE,
            "truth_level": L.TRUTH_LEVEL,
            "grid": L.GRID,
            "centre_sigma": L.CENTRE_SIGMA,
            "max_pixels": L.MAX_STUDY_PIXELS,
        }
        output.mkdir(parents=True, exist_ok=True)
        (output / "localisation.json").write_text(
            json.dumps(
                {
                    "info": info,
                    "summary": summary,
                    "cases": [c.to_dict() for c in cases],
                    "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        sheet = L.example_sheet(shown)
        if sheet is not None:
            from PIL import Image

            Image.fromarray(sheet).save(output / "examples.png")
    except KeyboardInterrupt:
        raise fail("interrupted; nothing was written (rerun the command)") from None
    except DeepDetectorError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot read or write a file: {exc}") from None
    for s in skipped:
        typer.echo(f"skipped {s.path}: {s.reason}", err=True)
    if not quiet:
        L.print_summary(_console(), summary, info)
    typer.echo(f"wrote {output / 'localisation.json'}" + (f" and {output / 'examples.png'}" if sheet is not None else ""))


def heads(
    predictions: list[Path] = typer.Argument(..., help="predictions.csv file(s) from `deepdetector evaluate` to fit and cross-fit on."),
    judge: list[Path] = typer.Option(
        [], "--judge", help="predictions.csv whose files are only judged, never fitted on (e.g. real photos of other sources; repeatable)."
    ),
    media: str = typer.Option("image", help="Media type studied: image, video or all."),
    folds: int = typer.Option(5, help="Group folds of the cross-fit."),
    seed: int = typer.Option(0, help="Seed of the folds and the bootstrap."),
    exclude: list[str] = typer.Option([], help="Leave out files whose kind or source_dataset contains this text (repeatable)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the table as JSON."),
) -> None:
    """Which head ranks what, and whether a learnt soft OR of the heads (cross-fitted by group) beats their maximum."""
    from deepdetector.evaluation.heads import print_study, study_heads, write_json

    if media not in ("image", "video", "all"):
        raise fail(f"--media must be image, video or all, got {media!r}")
    if any(not text.strip() for text in exclude):
        raise fail("--exclude '' would leave out every file: give a text that kinds or sources contain")
    _table_command(
        lambda: study_heads(predictions, judge, media=None if media == "all" else media, folds=folds, seed=seed, exclude=exclude),
        write_json,
        print_study,
        output,
        "study",
    )


def evaluate(
    manifest: list[Path] = typer.Argument(
        ..., help="CSV(s) with path,label[,kind,source_dataset,group]; paths relative to each CSV's folder. Several are evaluated as one set."
    ),
    output: Path = typer.Option(
        Path("predictions.csv"), "--output", "-o", help="Predictions CSV (one row per item); metrics go to <output>.metrics.json beside it."
    ),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write a self-contained HTML report with tables and plots."),
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
    model: opts.ModelPath = None,
    split: list[Path] = typer.Option(
        [], help="Keep only the groups or paths listed in this file (e.g. the validation split shipped with a model); repeatable: items named by any."
    ),
    part: str = typer.Option(
        "all",
        help="With a model card as --split: all its validation groups (all), only the test groups no choice of its training saw (test; cards of `train --test-fraction`), or the others (selection).",
    ),
    subset: list[str] = typer.Option([], help="Keep items whose source_dataset contains this text (repeatable)."),
    kind: list[str] = typer.Option([], help="Keep items whose kind contains this text (repeatable), e.g. video."),
    limit: Optional[int] = typer.Option(None, help="Evaluate a seeded, label-balanced sample of this many items."),
    seed: int = typer.Option(0, help="Seed of the --limit sample."),
    resume: bool = typer.Option(False, "--resume", help="Keep the rows already in --output and scan only the rest."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --output."),
    threads: int = typer.Option(0, help="onnxruntime threads (0 = all cores)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or tables."),
) -> None:
    """Measure accuracy on a labelled manifest: predictions CSV, metrics JSON, tables, HTML report."""
    from deepdetector.errors import DeepDetectorError
    from deepdetector.evaluation.evaluate import evaluate as run_evaluate
    from deepdetector.evaluation.evaluate import metrics_path_for, print_tables

    if frames < 1:
        raise fail("--frames must be at least 1")
    if resume and overwrite:
        raise fail("choose --resume or --overwrite, not both")
    config = opts.from_options(locals(), threads=threads, heatmaps=False)
    progress = _progress(quiet)
    try:
        from deepdetector.api import Detector
        from deepdetector.report import check_writable

        check_writable(output, "predictions CSV")  # mistyped paths cost nothing: checked before the scans
        if report is not None:
            check_writable(report, "HTML report")
        selection = _selection(manifest, subset, kind, split or None, limit, seed, part)
        det = Detector(config)
        with progress:
            task = progress.add_task("evaluate", total=None)

            def on_start(todo: int) -> None:
                progress.update(task, total=todo)

            def on_item(item, row) -> None:
                progress.update(task, advance=1, description=item.file.name[:40])

            rows, metrics, info = run_evaluate(det, selection, output, report, resume, overwrite, on_item=on_item, on_start=on_start)
    except KeyboardInterrupt:
        raise fail(f"interrupted; the rows written so far are in {output}: rerun with --resume to continue") from None
    except DeepDetectorError as exc:
        raise fail(str(exc)) from None
    if not quiet:
        console = _console()
        for note in info.selection_notes:
            console.print(f"[dim]{note}[/dim]")
        print_tables(console, metrics)
        console.print(f"predictions: {output} ({len(rows)} rows, {info.n_scanned_now} scanned now, {info.seconds:.0f} s)")
        console.print(f"metrics: {metrics_path_for(output)}")
        if report is not None:
            console.print(f"report: {report}")


def robustness(
    manifest: Path = typer.Argument(..., help="CSV with path,label[,kind,source_dataset,group]; paths relative to its folder."),
    report: Path = typer.Option(
        Path("robustness.html"), "--report", help="Self-contained HTML report (a JSON with the same numbers is written beside it)."
    ),
    limit: Optional[int] = typer.Option(40, help="Seeded, label-balanced sample of this many items (each is scanned once per level)."),
    seed: int = typer.Option(0, help="Seed of the sample."),
    workdir: Optional[Path] = typer.Option(
        None, help="Cache of per-level results (JSON lines); default: <report>-work beside the report. Rerunning resumes."
    ),
    experiments: Optional[str] = typer.Option(
        None, help="Comma-separated experiments (default all): brightness,detector,margin,resolution,size,rotation,scale,jpeg."
    ),
    levels: Optional[str] = typer.Option(None, help="Comma-separated levels for a single experiment, e.g. --experiments jpeg --levels 90,50."),
    frames: int = typer.Option(8, help="Frames sampled per video (small: every item is scanned once per level)."),
    detector: str = typer.Option(ScanConfig.detector, help="Face detector of the baseline."),
    model: Optional[Path] = typer.Option(None, help="Model folder or model_card.json (default: the shipped model)."),
    split: Optional[Path] = typer.Option(None, help="Keep only the groups or paths listed in this file."),
    subset: list[str] = typer.Option([], help="Keep items whose source_dataset contains this text (repeatable)."),
    kind: list[str] = typer.Option([], help="Keep items whose kind contains this text (repeatable)."),
    threads: int = typer.Option(0, help="onnxruntime threads (0 = all cores)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or tables."),
) -> None:
    """Robustness study: brightness, face detector, crop margin, resolution, size, rotation, scale and JPEG sweeps."""
    from deepdetector.errors import DeepDetectorError
    from deepdetector.evaluation import robustness_output as rr
    from deepdetector.evaluation.robustness import RobustnessStudy, choose

    if frames < 1:
        raise fail("--frames must be at least 1")
    workdir = workdir or report.with_name(report.stem + "-work")
    config = ScanConfig(frames=frames, detector=detector, model_path=model, threads=threads, heatmaps=False)
    progress = _progress(quiet)
    try:
        from deepdetector.report import check_writable

        check_writable(report, "robustness report")  # before the study, not after it
        selection = _selection(manifest, subset, kind, split, limit, seed)
        study = RobustnessStudy(config, selection.items, workdir)
        chosen = choose(study.experiments(), experiments.split(",") if experiments else None, levels.split(",") if levels else None)
        plan = study.plan(chosen)
        with progress:
            task = progress.add_task("robustness", total=plan.todo)

            def on_unit(experiment: str, level: str, item) -> None:
                progress.update(task, advance=1, description=f"{experiment} {level}")

            results = study.run(chosen, on_unit)
        info = {
            "manifest": str(selection.manifest),
            "model": study.base.card.label,
            "model_sha256": study.base.card.sha256[:16],
            "threshold": study.threshold,
            "thresholds": study.thresholds.to_dict(),
            "items": len(selection.items),
            "frames_per_video": frames,
            "baseline_detector": detector,
            "baseline_margin": study.base.margin,
            "seed": seed,
            "workdir": str(workdir),
            "scans_this_run": plan.todo,
            "scans_from_cache": plan.cached,
            "selection": selection.notes,
        }
        rr.write_json(results, report.with_suffix(".json"), info)
        rr.write_html(results, report, info)
    except KeyboardInterrupt:
        raise fail(f"interrupted; finished scans are cached in {workdir}: rerun the same command to resume") from None
    except DeepDetectorError as exc:
        raise fail(str(exc)) from None
    if not quiet:
        console = _console()
        rr.print_results(console, results, study.thresholds.describe())
        if study.cache.ignored:
            console.print(f"[dim]{study.cache.ignored} cached results from another model or settings were ignored[/dim]")
        console.print(f"report: {report}  (numbers: {report.with_suffix('.json')})")


def register(app: typer.Typer) -> None:
    """Add the evaluation commands to ``app`` (in this order in ``--help``)."""
    app.command()(calibrate)
    app.command()(compare)
    app.command()(frames)
    app.command()(localisation)
    app.command()(heads)
    app.command()(evaluate)
    app.command()(robustness)
