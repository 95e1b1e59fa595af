"""CLI commands of the scanner: scan, demo, detectors, aggregations."""

import typer


def register(app: typer.Typer) -> None:
    """Add the scanner's commands to ``app``."""
