"""The ``deepdetector`` command. Each front end adds its sub-commands through ``register(app)``.

Sub-command modules import heavy dependencies (torch, fastapi, ray) inside their functions, so
``deepdetector --help`` and ``deepdetector scan`` stay fast and work on the core install.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="deepdetector",
    help="Find manipulated faces (face swaps, reenactment, GAN and diffusion faces) in images and videos, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Front ends, in the order their commands appear in --help.
FRONT_ENDS = (
    "deepdetector.scan_cli",  # scan, demo, detectors, aggregations, info
    "deepdetector.training.cli",  # train, synth, export
    "deepdetector.evaluation.cli",  # evaluate, robustness
    "deepdetector.web.cli",  # serve
    "deepdetector.batch.cli",  # batch
)

for _module in FRONT_ENDS:
    importlib.import_module(_module).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
