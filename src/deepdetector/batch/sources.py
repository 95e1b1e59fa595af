"""Where a batch's files come from: folders, text files of paths, manifest CSVs.

Every source is read lazily, one entry at a time, so that a tree of a million files never sits in
memory: folders are walked with :func:`os.scandir` (one open directory per level of depth), text
files and CSVs are read line by line.

A SOURCE argument is understood as:

- a folder: every media file below it (recursively), recognised by its extension;
- a ``.csv`` file: a manifest with a ``path`` column (relative paths are relative to the CSV's folder);
- a media file (by extension): that one file;
- any other file: a text file with one path per line (blank lines and lines starting with ``#`` are
  skipped; relative paths are relative to the text file's folder).

Paths listed in a text file or manifest are taken whatever their extension (the scanner recognises
media by content); only folder enumeration filters by extension.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deepdetector.errors import ConfigError
from deepdetector.media.kinds import MEDIA_EXTENSIONS, is_media_name  # noqa: F401 (the one list; re-exported)

MANIFEST_PATH_COLUMN = "path"


@dataclass(frozen=True)
class SourceFile:
    """One file to scan, with what ``stat`` said when it was listed (None when it cannot be read)."""

    path: str  # absolute, normalised
    size: int | None
    mtime: float | None
    error: str | None = None  # set when the entry cannot be scanned at all (a folder that cannot be listed)


def describe_source(source: Path) -> str:
    """The kind of a SOURCE argument: ``folder``, ``manifest``, ``file`` or ``list``.

    Raises:
        ConfigError: the source does not exist.
    """
    if source.is_dir():
        return "folder"
    if not source.exists():
        raise ConfigError(f"source {source} does not exist (give a folder, a text file of paths, or a manifest CSV)")
    if source.suffix.lower() == ".csv":
        return "manifest"
    if is_media_name(source.name):
        return "file"
    return "list"


def iter_sources(sources: Iterable[Path]) -> Iterator[SourceFile]:
    """Every file of every source, in source order, each listed with its size and mtime."""
    for source in sources:
        kind = describe_source(source)
        if kind == "folder":
            paths: Iterator[str] = walk_folder(source)
        elif kind == "manifest":
            paths = manifest_paths(source)
        elif kind == "file":
            paths = iter([str(source)])
        else:
            paths = read_path_list(source)
        for path in paths:
            yield path if isinstance(path, SourceFile) else stat_file(path)


def stat_file(path: str) -> SourceFile:
    """``path`` made absolute, with its size and mtime (None for both when it cannot be stat-ed:
    the scan will then record why)."""
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
    except OSError:
        return SourceFile(path, None, None)
    return SourceFile(path, st.st_size, st.st_mtime)


def walk_folder(folder: Path) -> Iterator[str | SourceFile]:
    """Media files below ``folder`` (by name: :mod:`deepdetector.media.kinds`), depth first,
    streamed with :func:`os.scandir`.

    A sub-folder that cannot be listed comes as a :class:`SourceFile` with ``error`` set (an error
    row in the output, so that nothing is left out without a word). Symbolic links to folders are
    not followed (no loops); links to files are listed, dangling ones too (their row says the link
    is broken).
    """
    try:
        it = os.scandir(folder)
    except OSError as exc:
        raise ConfigError(f"cannot read the folder {folder}: {exc.strerror or exc}") from None
    yield from _walk(it)


def _walk(it: "os._ScandirIterator[str]") -> Iterator[str | SourceFile]:
    with it:
        for entry in it:
            try:
                if entry.is_dir(follow_symlinks=False):
                    try:
                        sub = os.scandir(entry.path)
                    except OSError as exc:
                        message = f"cannot list this folder ({exc.strerror or exc}): the files in it were not scanned"
                        yield SourceFile(os.path.abspath(entry.path), None, None, error=message)
                        continue
                    yield from _walk(sub)
                elif is_media_name(entry.name) and (entry.is_file() or entry.is_symlink()):
                    yield entry.path  # a dangling link too: its row says why it cannot be read
            except OSError:
                continue


def read_path_list(list_file: Path) -> Iterator[str]:
    """Paths in a text file, one per line; relative paths are resolved against the file's folder."""
    base = list_file.parent
    try:
        fh = list_file.open(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the list of paths {list_file}: {exc.strerror or exc}") from None
    with fh:
        try:
            for line in fh:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                yield str(base / line)  # an absolute `line` replaces `base`
        except UnicodeDecodeError:
            raise ConfigError(f"{list_file} is not a UTF-8 text file of paths (one per line)") from None


def manifest_paths(manifest: Path) -> Iterator[str]:
    """The ``path`` column of a manifest CSV, streamed (an archive's manifest may list millions of files;
    labels are not needed to scan, so this is not the labelled reader of ``datasets/manifest.py``);
    relative paths are resolved against the CSV's folder."""
    base = manifest.parent
    try:
        fh = manifest.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the manifest {manifest}: {exc.strerror or exc}") from None
    with fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or MANIFEST_PATH_COLUMN not in reader.fieldnames:
            raise ConfigError(f"manifest {manifest} has no '{MANIFEST_PATH_COLUMN}' column (columns: {', '.join(reader.fieldnames or []) or 'none'})")
        try:
            for row in reader:
                value = (row.get(MANIFEST_PATH_COLUMN) or "").strip()
                if value:
                    yield str(base / value)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"manifest {manifest} is not a readable CSV: {exc}") from None
