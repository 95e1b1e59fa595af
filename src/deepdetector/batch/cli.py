"""CLI commands of the batch front end (registered on the main app by ``register``)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this front end's commands to ``app`` (filled in as the front end is built)."""
