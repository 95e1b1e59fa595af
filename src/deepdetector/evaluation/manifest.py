"""Evaluation manifests: which files to scan and what they really are.

A manifest is a CSV with the columns ``path,label`` (required) and ``kind,source_dataset,group``
(optional; other columns are ignored). ``path`` is relative to the manifest's folder (or
absolute); ``label`` is ``real`` or ``fake``. This is the format of ``shared/data/*_manifest.csv``.

Selections narrow a manifest down: a source-dataset / kind substring, a split file (the
validation groups or paths shipped with a trained model) and a seeded, label-balanced sample.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deepdetector.errors import ConfigError

REQUIRED_COLUMNS = ("path", "label")
OPTIONAL_COLUMNS = ("kind", "source_dataset", "group")
REAL_LABELS = {"real", "0", "original", "pristine"}
FAKE_LABELS = {"fake", "1", "manipulated", "synthetic"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".gif", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}


class ManifestError(ConfigError):
    """A manifest or split file cannot be used; the message says which line and why."""


@dataclass(frozen=True)
class ManifestItem:
    """One labelled file of a manifest."""

    path: str  # as written in the manifest: the key of a prediction row
    file: Path  # absolute path on disk
    label: int  # 1 = fake, 0 = real
    kind: str = ""  # e.g. "image", "video", "faceswap-video", "gan-image"
    source_dataset: str = ""
    group: str = ""  # split unit (identity pair, source clip); may be empty

    @property
    def label_name(self) -> str:
        return "fake" if self.label == 1 else "real"

    @property
    def is_video(self) -> bool:
        """Judged by the ``kind`` when it says, else by the file extension (GIFs are videos)."""
        kind = self.kind.lower()
        if "video" in kind:
            return True
        if "image" in kind:
            return False
        return self.file.suffix.lower() in VIDEO_EXTS


def parse_label(value: str, where: str) -> int:
    """``1`` for fake, ``0`` for real; anything else is a :class:`ManifestError`."""
    v = (value or "").strip().lower()
    if v in FAKE_LABELS:
        return 1
    if v in REAL_LABELS:
        return 0
    raise ManifestError(f"{where}: label {value!r} is neither 'real' nor 'fake'")


def read_manifest(manifest: str | Path) -> list[ManifestItem]:
    """Read every row of a manifest CSV.

    Raises:
        ManifestError: missing file, missing ``path``/``label`` columns, an empty path, a bad
            label, a path listed twice, or no rows at all.
    """
    manifest = Path(manifest).expanduser()
    if not manifest.is_file():
        raise ManifestError(f"manifest {manifest} does not exist")
    root = manifest.resolve().parent
    items: list[ManifestItem] = []
    seen: dict[str, int] = {}
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise ManifestError(
                    f"manifest {manifest} lacks the column(s) {', '.join(missing)}: the first line must name at least "
                    f"'path,label' (optional: {','.join(OPTIONAL_COLUMNS)}); found {','.join(columns) or 'nothing'}"
                )
            reader.fieldnames = columns
            for lineno, row in enumerate(reader, start=2):
                where = f"{manifest}:{lineno}"
                rel = (row.get("path") or "").strip()
                if not rel:
                    if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                        continue  # blank line
                    raise ManifestError(f"{where}: empty path")
                label = parse_label(row.get("label") or "", where)
                if rel in seen:
                    raise ManifestError(f"{where}: {rel} is already listed on line {seen[rel]}")
                seen[rel] = lineno
                items.append(
                    ManifestItem(
                        path=rel,
                        file=(root / rel).resolve(),
                        label=label,
                        kind=(row.get("kind") or "").strip(),
                        source_dataset=(row.get("source_dataset") or "").strip(),
                        group=(row.get("group") or "").strip(),
                    )
                )
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest {manifest} is not UTF-8 text: {exc}") from None
    except csv.Error as exc:
        raise ManifestError(f"manifest {manifest} is not a valid CSV file: {exc}") from None
    if not items:
        raise ManifestError(f"manifest {manifest} lists no files")
    return items


# --- selections -------------------------------------------------------------------------------


def filter_items(items: Iterable[ManifestItem], subsets: Sequence[str] = (), kinds: Sequence[str] = ()) -> list[ManifestItem]:
    """Keep items whose ``source_dataset`` contains any of ``subsets`` and whose ``kind`` contains
    any of ``kinds`` (case-insensitive substrings; an empty list keeps everything)."""
    subs = [s.lower() for s in subsets if s]
    ks = [k.lower() for k in kinds if k]
    return [
        it
        for it in items
        if (not subs or any(s in it.source_dataset.lower() for s in subs)) and (not ks or any(k in it.kind.lower() for k in ks))
    ]


def read_split(path: str | Path) -> set[str]:
    """The entries (groups or file paths) of a split file, to keep.

    Accepted formats:

    - text: one group or path per line; blank lines and ``#`` comments are skipped;
    - JSON: a list of strings, or an object whose validation list is under a key such as
      ``validation``, ``val``, ``val_groups``, ``validation_groups``, ``groups`` or ``paths``
      (several such keys are merged); a model card whose ``training`` record (or its ``split``)
      holds such a list also works;
    - CSV with a header holding ``group`` and/or ``path``; with a ``split`` column only rows whose
      split is ``val``/``valid``/``validation``/``test`` are kept.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ManifestError(f"split file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read split file {path}: {exc}") from None
    suffix = path.suffix.lower()
    entries: set[str] = set()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ManifestError(f"split file {path} is not valid JSON: {exc}") from None
        lists: list[object] = []
        if isinstance(data, list):
            lists = [data]
        elif isinstance(data, dict):
            # a split file, or a model card whose "training" record lists its validation groups
            for obj in (data, data.get("training"), (data.get("training") or {}).get("split") if isinstance(data.get("training"), dict) else None):
                if isinstance(obj, dict):
                    lists += [v for k, v in obj.items() if (k.lower() in _SPLIT_KEYS or "val" in k.lower()) and isinstance(v, list)]
        if not lists or not all(isinstance(v, list) for v in lists):
            raise ManifestError(
                f"split file {path}: expected a JSON list of groups/paths, or an object with a 'validation' "
                f"(or 'val', 'val_groups', 'groups', 'paths') list"
            )
        for v in lists:
            entries.update(str(x).strip() for x in v if str(x).strip())  # type: ignore[union-attr]
    elif suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        cols = [c.strip().lower() for c in reader.fieldnames or []]
        if "group" not in cols and "path" not in cols:
            raise ManifestError(f"split file {path}: a CSV split needs a 'group' or 'path' column")
        reader.fieldnames = cols
        for row in reader:
            split = (row.get("split") or "").strip().lower()
            if "split" in cols and split not in {"val", "valid", "validation", "test"}:
                continue
            for col in ("group", "path"):
                value = (row.get(col) or "").strip()
                if value:
                    entries.add(value)
    else:
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                entries.add(line)
    if not entries:
        raise ManifestError(f"split file {path} lists no groups or paths")
    return entries


_SPLIT_KEYS = {"validation", "val", "valid", "val_groups", "validation_groups", "groups", "paths", "val_paths", "validation_paths"}


def _training_groups(manifest: Path | None) -> dict[str, str]:
    """The split group the training code gives each file (absolute path -> group), when available.

    The trainer merges FF++ groups that share a person and splits some folders by subject; a split
    file it writes names those groups. Reading them through the training module keeps both sides
    in agreement. Returns an empty mapping if that module cannot read the manifest.
    """
    if manifest is None:
        return {}
    try:
        from deepdetector.training.datasets import read_manifest as read_training_manifest
        from deepdetector.training.datasets import resolve_groups

        return {it.path: it.group for it in resolve_groups(read_training_manifest(manifest))}
    except Exception:  # the training module is optional here; fall back to the manifest's groups
        return {}


def apply_split(items: Sequence[ManifestItem], entries: set[str], manifest: str | Path | None = None) -> list[ManifestItem]:
    """Keep items named by the split entries: by manifest path, absolute path, manifest ``group``,
    or the group the training code derives from it (see :func:`_training_groups`)."""
    trainer_groups = _training_groups(Path(manifest) if manifest is not None else None)
    kept = []
    for it in items:
        keys = {it.path, str(it.file)}
        if it.group:
            keys.add(it.group)
        tg = trainer_groups.get(str(it.file))
        if tg:
            keys.add(tg)
        if keys & entries:
            kept.append(it)
    return kept


def sample_items(items: Sequence[ManifestItem], limit: int | None, seed: int = 0) -> list[ManifestItem]:
    """A reproducible, label-balanced sample of at most ``limit`` items (all items when ``None``).

    Half the sample is fake and half real where both are available; within a label the items
    are drawn at random (seeded), then the sample is returned in manifest order.
    """
    if limit is None or limit >= len(items):
        return list(items)
    if limit <= 0:
        raise ManifestError(f"--limit must be positive, got {limit}")
    rng = random.Random(seed)
    by_label: dict[int, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_label[it.label].append(i)
    fakes, reals = by_label.get(1, []), by_label.get(0, [])
    n_fake = min(len(fakes), max(limit - len(reals), (limit + 1) // 2))
    n_real = min(len(reals), limit - n_fake)
    chosen = rng.sample(fakes, n_fake) + rng.sample(reals, n_real)
    return [items[i] for i in sorted(chosen)]


@dataclass(frozen=True)
class Selection:
    """The items to evaluate and how they were chosen (shown in reports)."""

    items: list[ManifestItem]
    manifest: Path  # the first (or only) manifest
    total: int  # rows in the manifests
    notes: list[str]
    manifests: list[Path] = field(default_factory=list)  # every manifest, in the order given
    splits: list[str] = field(default_factory=list)  # the split files applied

    @property
    def manifest_text(self) -> str:
        return " ".join(str(m) for m in (self.manifests or [self.manifest]))


def select(
    manifest: str | Path | Sequence[str | Path],
    subsets: Sequence[str] = (),
    kinds: Sequence[str] = (),
    split: str | Path | Sequence[str | Path] | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> Selection:
    """Read one or more manifests and apply the filters in order: subset/kind, split, seeded sample.

    Several manifests are evaluated as one set (each item's path stays relative to its own
    manifest); a file listed twice, or one path text naming two files, is refused. Several split files keep the items any of
    them names, so ``--split model_card.json --split held_out.csv`` keeps a model's validation
    groups of one manifest and every file listed for another.
    """
    manifests = [Path(m).expanduser() for m in ([manifest] if isinstance(manifest, (str, Path)) else manifest)]
    if not manifests:
        raise ManifestError("no manifest given")
    splits = [] if split is None else [split] if isinstance(split, (str, Path)) else list(split)
    entries: set[str] = set()
    for sp in splits:
        entries |= read_split(sp)
    split_text = " + ".join(str(sp) for sp in splits)
    items: list[ManifestItem] = []
    total = 0
    notes: list[str] = []
    seen: dict[str, tuple[Path, Path]] = {}  # path text -> (manifest, file)
    files: dict[Path, tuple[Path, str]] = {}  # file on disk -> (manifest, path text)
    for m in manifests:
        part = read_manifest(m)
        total += len(part)
        where = "" if len(manifests) == 1 else f"{m}: "
        n_read = len(part)
        if subsets or kinds:
            part = filter_items(part, subsets, kinds)
            what = ", ".join([f"source_dataset ~ {s!r}" for s in subsets] + [f"kind ~ {k!r}" for k in kinds])
            notes.append(f"{where}filter {what}: {len(part)} of {n_read} items")
            if not part and len(manifests) == 1:
                raise ManifestError(f"no item of {m} matches {what}")
        if splits:
            before = len(part)
            part = apply_split(part, entries, m)
            notes.append(f"{where}split {split_text}: kept {len(part)} of {before} items")
            if not part and len(manifests) == 1:
                raise ManifestError(f"no item of {m} is named by the split file {split_text} (it lists groups or paths to keep)")
        for it in part:
            if it.file in files:
                other_m, other_path = files[it.file]
                raise ManifestError(f"{it.file} is listed twice ({other_path} in {other_m}, {it.path} in {m}): give each file once")
            if it.path in seen:
                raise ManifestError(
                    f"the path {it.path} names two files ({seen[it.path][1]} in {seen[it.path][0]}, {it.file} in {m}): "
                    "predictions are keyed by the path as written, so give one of them another relative path (or an absolute one)"
                )
            seen[it.path] = (m, it.file)
            files[it.file] = (m, it.path)
        items += part
    if not items:
        raise ManifestError(f"no item of {', '.join(map(str, manifests))} is left after the filters")
    if limit is not None and limit < len(items):
        before = len(items)
        items = sample_items(items, limit, seed)
        notes.append(f"sample: {len(items)} of {before} items (seed {seed}, balanced by label)")
    return Selection(items=items, manifest=manifests[0], total=total, notes=notes, manifests=manifests, splits=[str(sp) for sp in splits])
