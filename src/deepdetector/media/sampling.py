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


def window_indices(total_frames: int, rate: float | None, config: ScanConfig) -> list[list[int]]:
    """Frame positions of the dense windows of a video: contiguous stretches for evidence across
    frames (landmark motion, blinks), beside the evenly spaced samples the face classifier judges.

    Each window lasts ``config.window_seconds`` at most (a shorter video is one window over all of
    it), taking every k-th frame so that the rate is at most ``config.window_fps``. A video gets one
    window per ``config.window_spacing`` seconds, at most ``config.max_windows``, centred in equal
    parts of the video. Empty when windows are off (``config.cues`` False) or the rate is unknown.
    """
    if not config.cues or total_frames <= 1 or not rate or rate <= 0:
        return []
    step = max(1, int(round(rate / config.window_fps)))
    length = max(2, int(round(config.window_seconds * rate)))  # frames a window spans, at the native rate
    duration = total_frames / rate
    n = max(1, min(config.max_windows, int(duration // config.window_spacing) + 1))
    if length >= total_frames:
        return [list(range(0, total_frames, step))]
    windows = []
    for k in range(n):
        centre = (k + 0.5) * total_frames / n
        start = int(min(max(0, round(centre - length / 2)), total_frames - length))
        windows.append(list(range(start, start + length, step)))
    return windows
