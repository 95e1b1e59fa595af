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
    "deepdetector.training.fusion_cli",  # fuse
    "deepdetector.training.pixels_cli",  # fit-pixels
    "deepdetector.training.temporal_cli",  # fit-temporal
    "deepdetector.web.cli",  # serve
    "deepdetector.batch.cli",  # batch
)


def _show_version(value: bool) -> None:
    if value:
        from deepdetector import __version__

        typer.echo(f"deepdetector {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Find manipulated faces (face swaps, reenactment, GAN and diffusion faces) in images and videos, offline."""


for _module in FRONT_ENDS:
    importlib.import_module(_module).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
