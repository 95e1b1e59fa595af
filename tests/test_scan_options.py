"""The scan settings are one set of options: scan, evaluate, batch and serve declare them alike."""

from __future__ import annotations

import typer

from deepdetector import scan_options as opts
from deepdetector.cli import app
from deepdetector.config import ScanConfig

SHARED = opts.SHARED


def test_every_scanning_command_offers_the_same_scan_options():
    commands = typer.main.get_command(app).commands
    reference = {p.name: p for p in commands["scan"].params}
    for name in ("evaluate", "batch", "serve"):
        params = {p.name: p for p in commands[name].params}
        for option in SHARED:
            assert option in params, f"{name} lacks --{option.replace('_', '-')}"
            mine, theirs = params[option], reference[option]
            assert (mine.default, mine.help, mine.opts, mine.secondary_opts) == (theirs.default, theirs.help, theirs.opts, theirs.secondary_opts), (
                name,
                option,
            )


def test_the_options_build_the_documented_config():
    assert opts.scan_config() == ScanConfig()
    cfg = opts.scan_config(landmarks="none", max_pixels=12.5, model=None, frames=8, threads=2)
    assert cfg.landmarks is None and cfg.max_image_pixels == 12_500_000 and cfg.frames == 8 and cfg.threads == 2


def test_a_commands_parameters_become_the_config_by_name():
    cfg = opts.from_options({"frames": 8, "landmarks": "none", "quiet": True, "inputs": [], "model": None}, threads=2, heatmaps=False)
    assert cfg == opts.scan_config(frames=8, landmarks="none", threads=2, heatmaps=False)
