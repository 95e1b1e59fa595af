"""Which frames of a video to analyse: evenly spaced over its length, by count or by rate."""

from __future__ import annotations

import numpy as np

from deepdetector.config import ScanConfig


def sample_count(total_frames: int, duration: float | None, config: ScanConfig) -> int:
    """How many frames to analyse in a video of ``total_frames`` frames lasting ``duration`` seconds.

    ``config.fps`` (frames per second) wins over ``config.frames`` (a fixed count); both are capped
    by ``config.max_frames`` and by the number of frames there are.
    """
    if total_frames <= 0:
        return 0
    if config.fps is not None and config.fps > 0 and duration is not None and duration > 0:
        wanted = int(np.floor(duration * config.fps + 1e-6))
    else:
        wanted = int(config.frames)
    wanted = max(1, min(wanted, int(config.max_frames)))
    return min(wanted, total_frames)


def sample_indices(total_frames: int, count: int) -> list[int]:
    """``count`` distinct frame positions in ``range(total_frames)``, evenly spaced.

    The first and last frames are included (``count >= 2``), so the whole clip is covered.
    """
    if total_frames <= 0 or count <= 0:
        return []
    if count >= total_frames:
        return list(range(total_frames))
    if count == 1:
        return [total_frames // 2]
    positions = np.linspace(0, total_frames - 1, count)
    # distinct by construction: the spacing is >= 1 frame because count < total_frames, and
    # floor(x + 0.5) (unlike Python's round-half-to-even) maps points >= 1 apart to distinct integers
    return [int(np.floor(p + 0.5)) for p in positions]
