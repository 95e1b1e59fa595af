"""``deepdetector fit-temporal``: train the temporal model and measure it with generators left out."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from deepdetector.cli_errors import fail

SCHEMES = ("made", "judged", "made+judged")


def fit_temporal(
    judge: list[Path] = typer.Option(
        ...,
        "--judge",
        help="Manifest whose videos are measured, each source left out in turn (and, with a scheme that says so, trained on when not left out).",
    ),
    train: list[Path] = typer.Option(
        [],
        "--train",
        help="Manifest whose videos are always available for training: real clips, and self-made fakes (`deepdetector temporal-fakes`) with their re-encoded reals.",
    ),
    out: Path = typer.Option(Path("runs/temporal"), help="Folder for series/ (resumable), report.md, results.json and the fitted model."),
    seeds: str = typer.Option("0,1,2", help="Seeds; every figure is given as the seed mean and range."),
    schemes: str = typer.Option(
        "made,judged,made+judged",
        help="What a fold trains on: made (self-made fakes and real clips only), judged (the judged videos of the other sources and the real clips), made+judged (both).",
    ),
    ship: str = typer.Option("", help="Scheme to fit on all its data and export (model + card) to OUT/model; empty: measure only."),
    fpr: float = typer.Option(
        0.05, help="False alarms on a fold's training real videos its threshold allows (0-0.5), each real source weighing the same."
    ),
    epochs: int = typer.Option(40, help="Training passes (1 to 500)."),
) -> None:
    """Collect the videos' face series (once), leave each source out in turn for each seed and scheme, compare with the hand-made cues, write the report."""
    from deepdetector.errors import DeepDetectorError
    from deepdetector.training import temporal as tm

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise fail(f"--seeds {seeds!r} must be whole numbers separated by commas") from None
    chosen = [s.strip() for s in schemes.split(",") if s.strip()]
    for name in chosen + ([ship] if ship else []):
        if name not in SCHEMES:
            raise fail(f"unknown scheme {name!r}; choose from {', '.join(SCHEMES)}")
    if not seed_list or any(s < 0 for s in seed_list):
        raise fail("--seeds needs at least one seed, each 0 or more")
    if not 0.0 < fpr <= 0.5:
        raise fail(f"--fpr {fpr} is not possible: it is a share of real videos, above 0 and at most 0.5")
    if not 1 <= epochs <= 500:
        raise fail(f"--epochs {epochs} is not possible: 1 to 500")
    settings = tm.FitSettings(epochs=epochs)
    started = time.perf_counter()

    def progress(i: int, total: int) -> None:
        typer.echo(f"\rcollected {i}/{total} videos", nl=False, err=True)

    try:
        judged = tm.collect(list(judge), out / "series", on_progress=progress, log=lambda m: typer.echo(m, err=True))
        pool = tm.collect(list(train), out / "series", on_progress=progress, log=lambda m: typer.echo(m, err=True)) if train else []
    except DeepDetectorError as exc:
        raise fail(exc) from None
    typer.echo("", err=True)
    if len({v.label for v in judged}) < 2:
        raise fail("the judged manifests need real and fake videos")
    results: dict[str, list[dict]] = {}
    for name in chosen:
        scheme = tm.Scheme(name, use_made="made" in name.split("+"), use_judged="judged" in name.split("+"))
        for i, seed in enumerate(seed_list):
            typer.echo(f"scheme {name}, seed {seed}", err=True)
            o = tm.leave_sources_out(judged, pool, scheme, seed, fpr, settings)
            results.setdefault(f"{name}: network", []).append(tm.summarise(o["videos"], o["net"], o["net_threshold"]))
            if i == 0:  # the logistic regression on the cues does not depend on the seed
                results.setdefault(f"{name}: hand-made cues", []).append(tm.summarise(o["videos"], o["cues"], o["cues_threshold"]))
    command = ("deepdetector fit-temporal " + " ".join(f"--judge {m}" for m in judge) + "".join(f" --train {m}" for m in train)
               + f" --out {out} --seeds {seeds} --schemes {schemes} --fpr {fpr} --epochs {epochs}" + (f" --ship {ship}" if ship else ""))  # fmt: skip
    lines = ["# Temporal model: sources left out", "", f"Command: `{command}`", "",
             f"{len(judged)} judged videos, {len(pool)} always-available training videos "
             f"({sum(v.source.startswith(tm.MADE_PREFIX) for v in pool)} self-made), seeds {seeds}; {time.perf_counter() - started:.0f} s.", "",
             "Every figure: seed mean (range). Reals: every real video, each scored by a model that never saw its source.", ""]  # fmt: skip
    lines += tm.seed_table(results) + ["", "## Each talking-head generator family left out, against every real video (AUC, seed mean)", ""]
    lines += tm.generator_table(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    if ship:
        scheme = tm.Scheme(ship, use_made="made" in ship.split("+"), use_judged="judged" in ship.split("+"))
        data = (pool if scheme.use_made else [v for v in pool if not v.source.startswith(tm.MADE_PREFIX)]) + (judged if scheme.use_judged else [])
        fitted = tm.fit_network([v for v in data if v.sequences], seed_list[0], settings)
        path = tm.export(fitted, out / "model" / "temporal.onnx", tm.card_for(fitted, data, scheme, command, results, fpr))
        lines += ["", f"Model ({ship}, seed {seed_list[0]}): {path}"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("fit-temporal")(fit_temporal)
