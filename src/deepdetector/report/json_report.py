"""The JSON report (``deepdetector scan --json``) and its schema (``report/schema.json``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import IO, Any

import numpy as np

from deepdetector.report._common import ReportError, ensure_parent, model_name, summary_counts
from deepdetector.types import FileResult

#: Version of the JSON layout; bumped when a field changes meaning or disappears.
JSON_VERSION = 1


def to_json(results: Iterable[FileResult], model: str | None = None, skipped: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """The JSON document for ``results``, as described by ``report/schema.json``.

    ``{"version": 1, "model": ..., "results": [FileResult.to_dict(), ...], "skipped": [...], "summary": {...}}``;
    ``model`` defaults to the model named in the results; ``skipped`` lists ``(path, reason)`` of
    what the given folders held that was not scanned.
    """
    results = list(results)
    summary = summary_counts(results)
    summary["skipped"] = len(skipped)
    return {
        "version": JSON_VERSION,
        "model": model if model is not None else model_name(results),
        "results": [r.to_dict() for r in results],
        "skipped": [{"path": path, "reason": reason} for path, reason in skipped],
        "summary": summary,
    }


def _plain(obj: Any) -> Any:
    """json.dump fallback for numpy scalars and arrays that slipped into a record."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(results: Iterable[FileResult], indent: int | None = 2, model: str | None = None, skipped: Sequence[tuple[str, str]] = ()) -> str:
    """The JSON report as a string."""
    return json.dumps(to_json(results, model, skipped), indent=indent, ensure_ascii=False, default=_plain)


def write_json(
    results: Iterable[FileResult], path_or_stream: str | Path | IO[str], indent: int | None = 2, model: str | None = None,
    skipped: Sequence[tuple[str, str]] = (),
) -> None:  # fmt: skip
    """Write the JSON report to a file path or an open text stream (e.g. ``sys.stdout``)."""
    text = dumps(results, indent=indent, model=model, skipped=skipped) + "\n"
    if hasattr(path_or_stream, "write"):
        path_or_stream.write(text)  # type: ignore[union-attr]
        return
    path = Path(path_or_stream)  # type: ignore[arg-type]
    ensure_parent(path)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the JSON report {path}: {exc.strerror or exc}") from exc


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files("deepdetector.report").joinpath("schema.json").read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :func:`to_json`'s document."""
    return json.loads(_schema_text())


def validate_json(document: dict[str, Any]) -> None:
    """Check a JSON report against the schema; raises ``jsonschema.ValidationError`` when it does not fit.

    Needs the ``jsonschema`` package (in the ``dev`` extra); the scanner itself never calls this.
    """
    try:
        import jsonschema
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ReportError("validating a report needs the jsonschema package: pip install jsonschema") from exc
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(document)
