"""Run every provenance reader that applies to a file; never raise."""

from __future__ import annotations

import os

import numpy as np

from deepdetector.provenance.base import PROVENANCE_READERS, Skip
from deepdetector.provenance.source import Source
from deepdetector.types import ProvenanceRecord

MAX_FINDINGS_PER_READER = 64
"""A reader's findings beyond this many are dropped (with a warning): a record stays readable."""


def read_provenance(
    path: str | os.PathLike[str], kind: str | None = None, image: np.ndarray | None = None, max_image_pixels: int = 80_000_000
) -> ProvenanceRecord:
    """The :class:`ProvenanceRecord` of ``path``.

    Args:
        path: the file.
        kind: ``"image"`` or ``"video"`` when known (readers for the other kind are skipped);
            None runs every reader.
        image: the decoded RGB picture of a photo when the caller has it (saves decoding it again
            for the watermark reader).
        max_image_pixels: the watermark reader refuses to decode larger pictures itself.
    """
    src = Source(str(path), kind=kind, image=image, max_image_pixels=max_image_pixels)
    record = ProvenanceRecord()
    try:
        src.size  # noqa: B018 - an unreadable file is one warning, not one per reader
    except OSError as exc:
        record.warnings.append(f"provenance not read: {exc.strerror or exc}")
        return record
    for entry in PROVENANCE_READERS.entries():
        reader_cls = entry.obj
        if kind is not None and kind not in reader_cls.kinds:
            continue
        try:
            found = list(reader_cls().read(src))
        except Skip as why:
            record.skipped[entry.name] = str(why)
            continue
        except MemoryError:
            src.warn(f"{entry.name}: out of memory while reading provenance")
            continue
        except Exception as exc:  # a hostile file must never stop the scan: one warning per failure
            src.warn(f"{entry.name}: could not be read ({type(exc).__name__}: {str(exc)[:200]})")
            continue
        record.checked.append(entry.name)
        if len(found) > MAX_FINDINGS_PER_READER:
            src.warn(f"{entry.name}: {len(found)} findings, only the first {MAX_FINDINGS_PER_READER} are kept")
            found = found[:MAX_FINDINGS_PER_READER]
        record.findings.extend(found)
    record.c2pa = src.c2pa_state
    record.warnings.extend(src.warnings)
    return record
