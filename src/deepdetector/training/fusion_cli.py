"""``deepdetector fuse``: fit the video fusion of the face classifier and the cues, measured with sources left out."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from deepdetector.cli_errors import fail


def fuse(
    manifests: list[Path] = typer.Argument(..., help="Manifest CSVs whose videos (real and fake) the fusion learns from."),
    out: Path = typer.Option(Path("runs/fusion"), help="Folder for features.jsonl (resumable), video_fusion.json and report.md."),
    fpr: float = typer.Option(
        0.03,
        help="False alarms on the training real videos the threshold allows (0-0.5); each real source weighs the same. "
        "Sources left out got about three times this rate (docs/evidence.md), hence 3% for a 10% target.",
    ),
    split: Optional[Path] = typer.Option(
        None,
        help="The face classifier's model card (default: the shipped one): the files it trained on are marked, so the report can leave them out.",
    ),
    strength: float = typer.Option(0.3, help="Inverse L2 penalty of the logistic fusion (smaller = simpler model)."),
    threads: int = typer.Option(0, help="onnxruntime threads while scanning (0 = all cores)."),
    augment: int = typer.Option(
        0,
        help="Also scan this many changed copies of every video (smaller, recompressed, another window frame "
        "rate; the same for real and fake) and fit on them too, so that how a source was recorded is no cue (0 to 3).",
    ),
) -> None:
    """Scan the manifests' videos (once, resumable), measure the fusion leaving each source out, fit it on all, write the report."""
    from deepdetector.config import ScanConfig
    from deepdetector.datasets.manifest import read_split
    from deepdetector.errors import DeepDetectorError
    from deepdetector.model import ModelCard, default_card_path
    from deepdetector.training import fusion as fu

    if not 0.0 < fpr <= 0.5:
        raise fail(f"--fpr {fpr} is not possible: it is a share of real videos, above 0 and at most 0.5")
    if strength <= 0:
        raise fail(f"--strength {strength} is not possible: it must be above 0")
    if not 0 <= augment <= 3:
        raise fail(f"--augment {augment} is not possible: from 0 to 3 changed copies of each video")
    try:
        card = ModelCard.load(split if split is not None else default_card_path())
        validation = read_split(card_path := (split if split is not None else default_card_path()))
        settings = (card.extra.get("training") or {}).get("settings") or {}
        split_names = {Path(p).name for p in settings.get("data") or []}  # split by group: validation groups unseen
        trained_names = {Path(p).name for p in settings.get("train_only") or []}  # trained on every file
        features = out / "features.jsonl"
        n = fu.collect(manifests, features, ScanConfig(threads=threads).validate(), augment=augment,
                       on_progress=lambda i, total: typer.echo(f"\rscanned {i}/{total} videos", nl=False, err=True))  # fmt: skip
        if n:
            typer.echo("", err=True)
        records = fu.load_records(features, validation, split_names, trained_names)
        records = [r for r in records if r.variant is None or int(r.variant_index) <= augment]
    except DeepDetectorError as exc:
        raise fail(exc) from None
    if len({r.label for r in records}) < 2 or len({r.source for r in records}) < 3:
        raise fail("the fusion needs real and fake videos from at least three sources")
    inputs = fu.input_names()
    loso = fu.leave_one_source_out(records, inputs, fpr, strength)
    model = fu.fit(records, inputs, fpr, strength)
    model.extra = {
        "fitted_on": [str(m) for m in manifests], "videos": len(records), "augment": augment,
        "sources": sorted({r.source for r in records}), "fpr_target": fpr, "strength": strength,
        "classifier": card.label, "classifier_sha256": card.sha256, "classifier_card": str(card_path),
        "command": "deepdetector fuse " + " ".join(str(m) for m in manifests) + f" --out {out} --fpr {fpr} --strength {strength} --augment {augment}",
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "video_fusion.json")
    n_copies = sum(r.variant is not None for r in records)
    lines = ["# Video fusion: leave one source out", "", f"Command: `{model.extra['command']}`", "",
             f"{len(records) - n_copies} videos (and {n_copies} changed copies), {len(model.extra['sources'])} sources.", "",
             "## Videos the face classifier never trained on", ""]  # fmt: skip
    lines += fu.loso_report(records, loso, fpr, only_unseen=True)
    lines += ["", "## Every video (the face classifier trained on some: its scores there are optimistic)", ""]
    lines += fu.loso_report(records, loso, fpr, only_unseen=False)
    lines += ["", "## Each input alone (videos the face classifier never trained on)", ""] + fu.single_input_report(records, inputs)
    lines += ["", "## Confounds", ""] + fu.confound_report(records)
    lines += ["", "## Changed copies (smaller, recompressed, another window frame rate), sources left out", ""] + fu.variant_report(records, loso)
    lines += ["", "## The fitted fusion", "", "| input | weight (per standard deviation) | real range (5-95%) |", "|---|---|---|"]
    for name, c in zip(model.inputs, model.coef):
        rng = model.real_ranges.get(name)
        lines.append(f"| {name} | {c:+.3f} | {'-' if rng is None else f'{rng[0]:.4g} - {rng[1]:.4g}'} |")
    lines += ["", f"Threshold: {model.threshold:.4f} (fused probability)."]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    typer.echo("\n".join(lines))
    typer.echo(f"\nfusion: {out / 'video_fusion.json'}\nreport: {out / 'report.md'}")


def register(app: typer.Typer) -> None:
    app.command()(fuse)
