"""The provenance reader interface and its registry."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from deepdetector.provenance.source import Source
from deepdetector.registry import Registry
from deepdetector.types import Finding


class Skip(Exception):
    """Raised by a reader that does not apply to this file; the message says why (kept in
    ``ProvenanceRecord.skipped``, not a warning)."""


class ProvenanceReader:
    """One source of provenance. Subclasses set ``name`` and ``kinds`` and implement :meth:`read`.

    ``read`` returns the findings; it may call ``src.warn(...)`` for problems that do not stop it,
    raise :class:`Skip` when the file is not its business, and may raise anything else on bad
    input: :func:`deepdetector.provenance.read_provenance` turns that into a warning.
    """

    name: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ("image", "video")

    def read(self, src: Source) -> Iterable[Finding]:  # pragma: no cover - interface
        raise NotImplementedError


PROVENANCE_READERS: Registry[type[ProvenanceReader]] = Registry("provenance reader", discover="deepdetector.provenance.readers")
