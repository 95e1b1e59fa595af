"""Provenance stage: what a file says about its own origin, read offline and never trusted blindly.

One small reader per source, each in its own file under ``provenance/readers/`` and registered
with :data:`PROVENANCE_READERS` (adding a source is adding a file):

========================  ==========================================================  ==========
reader                    what it reads                                               trust
========================  ==========================================================  ==========
``c2pa``                  C2PA manifest (Content Credentials): validation state,      verified
                          signer, claim generator, actions, digitalSourceType,        (signature
                          ingredients (``c2pa-python``)                               checked)
``xmp``                   XMP packet: IPTC ``DigitalSourceType``, ``CreatorTool``     claimed
``exif``                  EXIF Make, Model, Software, dates                          claimed
``png-text``              PNG tEXt/zTXt/iTXt: Stable Diffusion web UI ``parameters``, claimed
                          ComfyUI ``prompt``/``workflow``, ``Software``, ...
``sd-watermark``          the invisible DWT-DCT watermark the Stable Diffusion        verified
                          reference scripts embed (SD 1.x/2.x and SDXL payloads)      (decoded)
``video-tags``            container and stream tags of videos (encoder, software...)  claimed
========================  ==========================================================  ==========

:func:`read_provenance` runs every reader that applies to the file's kind and returns a
:class:`~deepdetector.types.ProvenanceRecord`. It never raises: a reader's failure (a malformed
manifest, a huge XMP packet, 10,000 PNG text chunks, a truncated box, an odd encoding) becomes a
warning in the record, and every reader's work is bounded (see :mod:`deepdetector.provenance.source`).
The verdict policy that acts on the record lives in :mod:`deepdetector.verdict.provenance`.
"""

from __future__ import annotations

from deepdetector.provenance.base import PROVENANCE_READERS, ProvenanceReader, Skip
from deepdetector.provenance.read import read_provenance
from deepdetector.provenance.source import Source

__all__ = ["PROVENANCE_READERS", "ProvenanceReader", "Skip", "Source", "read_provenance"]
