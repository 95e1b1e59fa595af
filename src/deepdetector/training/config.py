"""Every setting of a training run, with its default: :class:`TrainConfig` (the face classifier)
and :class:`StillsConfig` (the generated-stills model).

The one home of the training defaults: ``deepdetector train`` and ``train-stills`` take their
option defaults from here, and the model card records the settings a model was trained with. Light on purpose (no
torch), so the command line can read the defaults at start-up.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field

from deepdetector.faces.crop import DEFAULT_MARGIN
from deepdetector.model.stills import DEFAULT_GRID, DEFAULT_REGION_MARGIN
from deepdetector.training.backbones import DEFAULT_BACKBONE


@dataclass
class TrainConfig:
    """Every setting of a training run (recorded in the model card)."""

    data: list[str] = field(default_factory=list)  # sources split by group into train / validation
    train_only: list[str] = field(default_factory=list)  # sources used for training only (e.g. real-only pools)
    out: str = "src/deepdetector/model/weights"
    cache_dir: str = "cache/faces"
    run_dir: str = "runs/train"
    name: str = "deepdetector-lite0"
    version: str = "1"
    input_size: int = 192
    margin: float = DEFAULT_MARGIN
    cache_size: int = 288  # cached crop side at cache_margin: must hold the model's region at input_size (see cache_size_for)
    cache_margin: float = 2.0
    detector: str = "yunet"
    video_frames: int = 16  # frames sampled per video
    real_video_frames: int = 32  # frames per REAL video of the --data sources (few files: more faces from each)
    max_per_subset: int | None = None  # keep at most this many files per subset of the --train-only sources (seeded)
    val_fraction: float = 0.5
    test_fraction: float = (
        0.0  # share of the VALIDATION groups set aside as test groups: no choice (epoch, calibration, threshold) sees them (0: none)
    )
    val_frames: int = 4  # frames per video used by the per-epoch validation (all frames for the final metrics)
    val_files_per_subset: int = 40  # files per subset used by the per-epoch validation (all for the final metrics)
    seed: int = 0
    split_seed: int | None = None  # seed of the train/validation split and the --max-per-subset choice; None: ``seed``
    epochs: int = 12
    steps_per_epoch: int = 60
    pairs: int = 6
    synthetic: int = 3
    supervised: int = 3
    lr: float = 3e-4  # peak learning rate, reached after the warm-up
    lr_schedule: str = "constant"  # after warm-up: "constant" (a run stopped after k epochs equals the first k of a longer one) or "cosine" (decays to 2% over all epochs)
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    freeze_blocks: int = 5
    ema: float = 0.0  # fine-tune: validate and ship a moving average of the weights with this decay (0: the raw weights; 0.998 measured no better)
    backbone: str = DEFAULT_BACKBONE  # an entry of training.backbones.BACKBONES (its block numbers are what --taps and --freeze-blocks count)
    taps: tuple[int, ...] = (2, 4, 7, 10, 14, 15)  # blocks whose rectified outputs also feed the CAM head
    synthetic_reals: str = "mixed"  # real images beside generated ones for the synthetic head (see build_pools)
    sbi_smooth: float = 0.0  # probability of edge-preserving smoothing as the self-blend's frequency transform (0: published recipe)
    sbi_mask: str = "normalised"  # self-blend masks as published ("normalised"), as trained before 2026-12-02 ("legacy": see SBIConfig.normalise),
    # or published but drawn from the 468 FaceMesh points with lower-face and mouth masks ("dense": see SBIConfig.dense)
    sbi_cross_frame: float = 0.0  # probability that a real video face is blended with another frame of its video (0: published recipe)
    h264: float = 0.35  # probability that a training pair is re-encoded with H.264 (CRF 18-40) instead of JPEG or nothing
    patience: int = 4
    threads: int = 2
    workers: int = 1
    pretrained: bool = True
    max_minutes: float | None = None  # stop starting new epochs (probe: new feature chunks) after this much time
    method: str = "finetune"  # "finetune" (train the network) or "probe" (frozen backbone, linear CAM heads)
    probe_chunks: int = 200  # probe: training batches whose features are extracted (each is one make_batch draw)
    probe_val_frames: int = 8  # probe: frames per validation video
    device: str = "cpu"  # "cpu", or "cuda" (a GPU: bf16 mixed precision); not part of what is trained, so a run may resume on either
    packed: str | None = None  # train from a packed face cache (training.pack) instead of --data/--train-only and the face cache
    progress: bool = True

    @property
    def data_seed(self) -> int:
        """The seed of the split and of the per-subset caps: ``split_seed``, else ``seed``. A second
        run with another ``seed`` and the same ``split_seed`` trains on the same files, so the two
        can be compared (or averaged) on the same validation groups."""
        return self.seed if self.split_seed is None else self.split_seed

    def fingerprint(self, keep_later: frozenset[str] = frozenset()) -> str:
        """Hash of the settings that change what is trained (resume refuses a different run).

        Options added in later versions are left out while they hold their old behaviour
        (``keep_later`` names ones to hash anyway: see :meth:`fingerprints`).
        """
        skip = {"out", "run_dir", "progress", "max_minutes", "workers", "threads", "epochs", "patience", "probe_chunks", "device"}
        skip |= {k for k, v in _LATER_OPTIONS.items() if getattr(self, k) == v and k not in keep_later}
        if self.lr_schedule != "constant":
            skip.discard("epochs")  # a decaying schedule depends on the planned length
        keep = {k: v for k, v in asdict(self).items() if k not in skip}
        return hashlib.sha1(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]

    def fingerprints(self) -> set[str]:
        """Every fingerprint a checkpoint of these settings may carry: versions that hashed some of the
        later options at their old behaviour wrote those (runs made between two options' arrival)."""
        at_old = [k for k, v in _LATER_OPTIONS.items() if getattr(self, k) == v]
        out = set()
        for r in range(len(at_old) + 1):
            for combo in itertools.combinations(at_old, r):
                out.add(self.fingerprint(frozenset(combo)))
        return out


_LATER_OPTIONS = {
    "ema": 0.0,
    "lr_schedule": "constant",
    "sbi_smooth": 0.0,
    "split_seed": None,
    "sbi_mask": "legacy",
    "backbone": DEFAULT_BACKBONE,
    "sbi_cross_frame": 0.0,
    "h264": 0.35,
    "test_fraction": 0.0,
    "packed": None,
}  # option -> the behaviour before it existed


@dataclass
class StillsConfig:
    """Every setting of a stills training run (recorded in its model card)."""

    data: list[str] = field(default_factory=list)
    train_only: list[str] = field(default_factory=list)
    out: str = "src/deepdetector/model/weights/stills"
    name: str = "deepdetector-stills-lite0"
    version: str = "1"
    max_per_subset: int | None = None
    val_fraction: float = 0.5
    seed: int = 0
    split_seed: int | None = None  # seed of the split and the --max-per-subset choice; None: ``seed`` (as in TrainConfig)
    patch: int = 128
    region_margin: float = DEFAULT_REGION_MARGIN
    patch_grid: int = DEFAULT_GRID  # validation and scanning: grid x grid patches per face, logits averaged
    detector: str = "yunet"
    epochs: int = 24
    steps_per_epoch: int = 60
    fakes_per_step: int = 12
    lr: float = 3e-4
    weight_decay: float = 1e-4
    freeze_blocks: int = 3
    taps: tuple[int, ...] = (2, 4, 7, 10, 14, 15)
    jpeg_probability: float = 0.5
    # share of training regions first resized by a random factor (log-uniform in rescale_range) and
    # then capped like the scanner caps them: the same photo stored smaller or larger (0: off)
    rescale_probability: float = 0.0
    rescale_range: tuple[float, float] = (0.5, 2.0)
    threads: int = 2
    pretrained: bool = True
    progress: bool = True
