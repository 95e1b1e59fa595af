"""Web front end: ``deepdetector serve`` runs a FastAPI service with a page and a REST API.

    from deepdetector.web import WebSettings, create_app
    app = create_app(WebSettings(db_path=Path("scans.sqlite3"), workers=2))

FastAPI is imported only when :func:`create_app` is first used, so the package stays importable
on the core install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deepdetector.web.settings import WebSettings

if TYPE_CHECKING:
    from deepdetector.web.app import create_app

__all__ = ["WebSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from deepdetector.web.app import create_app

        return create_app
    raise AttributeError(f"module 'deepdetector.web' has no attribute {name!r}")
