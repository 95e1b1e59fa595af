"""``deepdetector fit-pixels``: fit the photo pixel heads and their image threshold, measured on held-out files."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("fit-pixels")
    def fit_pixels(
        manifests: list[Path] = typer.Argument(..., help="Manifest CSVs with generated photos (gan-image, diffusion-image) and real photos."),
        out: Path = typer.Option(Path("runs/pixels"), help="Folder for features.jsonl (resumable), pixel_heads.json and report.md."),
        fpr: float = typer.Option(0.02, help="False alarms allowed on EVERY real source (0-0.5), on the fit half's out-of-fold scores."),
        cap: int = typer.Option(150, help="At most this many photos per real source (files the face classifier never trained on first)."),
        variants: int = typer.Option(2, help="Each photo as given plus variants-1 augmented copies (JPEG 60-100, several tables, resizing, blur)."),
        strength: list[float] = typer.Option(
            [0.01, 0.03, 0.1, 0.3, 1.0],
            help="Inverse L2 penalties tried per head (repeat the option); the best out-of-fold AUC on the fit half wins.",
        ),
        threads: int = typer.Option(0, help="onnxruntime threads while scanning (0 = all cores)."),
    ) -> None:
        """Scan and measure the manifests' photos (once, resumable), fit the GAN and diffusion heads on one half, choose the
        thresholds so no real source exceeds --fpr, score the held-out half, write the model and the report."""
        from deepdetector.config import ScanConfig
        from deepdetector.datasets.manifest import read_split
        from deepdetector.errors import DeepDetectorError
        from deepdetector.model import ModelCard, default_card_path
        from deepdetector.model.stills import stills_card_path
        from deepdetector.training import pixels as tp
        from deepdetector.training.pixels_report import report

        if not 0.0 < fpr <= 0.5 or cap < 10 or variants < 1 or min(strength) <= 0:
            typer.echo("error: --fpr must be in (0, 0.5], --cap at least 10, --variants at least 1, --strength above 0", err=True)
            raise typer.Exit(1)
        command = (
            "deepdetector fit-pixels "
            + " ".join(str(m) for m in manifests)
            + f" --out {out} --fpr {fpr} --cap {cap} --variants {variants}"
            + "".join(f" --strength {c:g}" for c in strength)
        )
        try:
            card_path = default_card_path()
            card = ModelCard.load(card_path)
            stills_path = stills_card_path(card)
            stills_sha = ModelCard.load(stills_path).sha256 if stills_path is not None else None
            validation = read_split(card_path)
            unseen = tp.classifier_unseen(card_path)
            photos = tp.select(manifests, validation, unseen, cap)
            n = tp.collect(photos, out / "features.jsonl", variants, ScanConfig(threads=threads),
                           on_progress=lambda i, total: typer.echo(f"\rmeasured {i}/{total} photos", nl=False, err=True))  # fmt: skip
            if n:
                typer.echo("", err=True)
            rows = tp.load_rows(out / "features.jsonl")
            tp.check_enough(rows)
        except DeepDetectorError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        extra = {"fitted_on": [str(m) for m in manifests], "classifier": card.label, "classifier_sha256": card.sha256,
                 "stills_sha256": stills_sha, "fpr_target": fpr, "command": command}  # fmt: skip
        model, lines = report(rows, fpr, list(strength), extra)
        out.mkdir(parents=True, exist_ok=True)
        model.save(out / "pixel_heads.json")
        (out / "report.md").write_text("\n".join(lines) + "\n")
        typer.echo("\n".join(lines))
        typer.echo(f"\nheads: {out / 'pixel_heads.json'}\nreport: {out / 'report.md'}")
