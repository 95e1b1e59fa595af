"""Manifests and dataset folders: which files there are, what they really are, and how they split.

The one reader of labelled data, used by training (``deepdetector train``) and evaluation
(``deepdetector evaluate`` and the other evaluation commands), so both read a manifest with the
same rules, the same label words, the same image/video rule (:func:`deepdetector.media.kinds.media_kind`:
a row's ``kind`` wins over the extension) and the same split groups.

A manifest is a CSV with the columns ``path,label`` (required) and ``kind,source_dataset,group``
(optional; other columns are ignored). ``path`` is relative to the manifest's folder (or
absolute); ``label`` is ``real`` or ``fake`` (see :data:`REAL_LABELS`, :data:`FAKE_LABELS`). This
is the format of ``shared/data/*_manifest.csv``.

- :func:`read_manifest` reads the rows (:class:`ManifestItem`: the path as written, the file on
  disk, the label as ``0``/``1``);
- :func:`read_source` reads a manifest or a dataset folder (labelled ``real/``/``fake/`` folders,
  FaceForensics++, Celeb-DF v2, DFDC) as training samples (:class:`MediaItem`: absolute path,
  ``real``/``fake``, a subset name for per-subset metrics and a split group that is never empty);
- :func:`resolve_groups` merges groups that share a person and :func:`split_by_group` makes the
  train/validation split; :func:`training_groups` gives evaluation the same groups;
- selections narrow a manifest down for evaluation: a source-dataset / kind substring, a split file
  (the validation groups or paths shipped with a trained model) and a seeded, label-balanced sample.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from deepdetector.errors import ConfigError
from deepdetector.media.kinds import media_kind

REQUIRED_COLUMNS = ("path", "label")
OPTIONAL_COLUMNS = ("kind", "source_dataset", "origin_repo", "group")
REAL_LABELS = frozenset({"real", "0", "original", "pristine"})
"""Label words read as real (case-insensitive)."""
FAKE_LABELS = frozenset({"fake", "1", "manipulated", "synthetic"})
"""Label words read as fake (case-insensitive)."""

# Groups that hold many unrelated subjects in one folder are split by the subject id in the file
# name instead (documented in docs/model-card.md). Stable Diffusion faces of the SDFD set are named
# ``..._allImages_<subject>_<n>.jpg``.
SUBJECT_SPLIT_GROUPS: dict[str, re.Pattern[str]] = {
    "sdfd_sd21": re.compile(r"allImages_(?P<subject>.+?)_\d+\.[A-Za-z]+$"),
}


class ManifestError(ConfigError):
    """A manifest, dataset folder or split file cannot be used; the message says which line and why."""


@dataclass(frozen=True)
class ManifestItem:
    """One labelled file of a manifest (one row)."""

    path: str  # as written in the manifest: the key of a prediction row
    file: Path  # absolute path on disk
    label: int  # 1 = fake, 0 = real
    kind: str = ""  # e.g. "image", "video", "faceswap-video", "gan-image"
    source_dataset: str = ""
    group: str = ""  # split unit (identity pair, source clip); may be empty
    origin_repo: str = ""  # where the file came from (a repository), when the manifest says

    @property
    def label_name(self) -> str:
        return "fake" if self.label == 1 else "real"

    @property
    def is_video(self) -> bool:
        """Judged by the ``kind`` when it says, else by the file extension (GIFs are videos)."""
        return media_kind(self.file, self.kind) == "video"


@dataclass(frozen=True)
class MediaItem:
    """One labelled image or video file, as training uses it."""

    path: str  # absolute path
    label: str  # "real" or "fake"
    kind: str  # "image" or "video" (manifests may be more specific: "gan-image", "faceswap-video", ...)
    subset: str  # name used for per-subset metrics, e.g. "FaceForensics++ c23 Deepfakes"
    group: str  # split unit; never empty (an empty manifest group becomes the file's own path)
    source: str = ""  # where the item was read from (manifest file or dataset root)

    @property
    def is_video(self) -> bool:
        """Judged by the ``kind`` when it says, else by the file extension (GIFs are videos)."""
        return media_kind(self.path, self.kind) == "video"

    @property
    def y(self) -> int:
        return 1 if self.label == "fake" else 0

    @classmethod
    def from_manifest(cls, item: ManifestItem, manifest: str | Path) -> MediaItem:
        """The training sample of a manifest row: an empty ``kind`` is filled from the extension, an
        empty ``source_dataset`` becomes ``<manifest name>:<label>`` and the group is
        :func:`split_group`'s."""
        path = str(item.file)
        return cls(
            path=path,
            label=item.label_name,
            kind=item.kind or media_kind(path),
            subset=item.source_dataset or f"{Path(manifest).stem}:{item.label_name}",
            group=split_group(item.group, path),
            source=str(manifest),
        )


def parse_label(value: str, where: str) -> int:
    """``1`` for fake, ``0`` for real; anything else is a :class:`ManifestError`."""
    v = (value or "").strip().lower()
    if v in FAKE_LABELS:
        return 1
    if v in REAL_LABELS:
        return 0
    raise ManifestError(f"{where}: label {value!r} is neither 'real' nor 'fake'")


def split_group(group: str, path: str) -> str:
    """The split unit of a file: its manifest ``group``, split by subject for the groups of
    :data:`SUBJECT_SPLIT_GROUPS`; an empty group makes the file its own group (its path)."""
    if not group:
        return path
    pattern = SUBJECT_SPLIT_GROUPS.get(group)
    if pattern is None:
        return group
    m = pattern.search(Path(path).name)
    return f"{group}:{m.group('subject')}" if m else f"{group}:{Path(path).stem}"


def read_manifest(manifest: str | Path) -> list[ManifestItem]:
    """Read every row of a manifest CSV (UTF-8, a byte-order mark allowed; blank lines skipped).

    Paths are relative to the manifest's folder (or absolute) and resolved to absolute files.

    Raises:
        ManifestError: missing file, missing ``path``/``label`` columns, an empty path, a bad
            label, a path listed twice, or no rows at all.
    """
    manifest = Path(manifest).expanduser()
    if not manifest.is_file():
        raise ManifestError(f"manifest {manifest} does not exist")
    root = manifest.parent
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
                    raise ManifestError(f"{where}: {rel} is listed twice in this manifest (already listed on line {seen[rel]})")
                seen[rel] = lineno
                items.append(
                    ManifestItem(
                        path=rel,
                        file=(root / rel).resolve(),
                        label=label,
                        kind=(row.get("kind") or "").strip(),
                        source_dataset=(row.get("source_dataset") or "").strip(),
                        group=(row.get("group") or "").strip(),
                        origin_repo=(row.get("origin_repo") or "").strip(),
                    )
                )
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest {manifest} is not UTF-8 text: {exc}") from None
    except csv.Error as exc:
        raise ManifestError(f"manifest {manifest} is not a valid CSV file: {exc}") from None
    if not items:
        raise ManifestError(f"manifest {manifest} lists no files")
    return items


def write_manifest(manifest: str | Path, rows: Iterable[dict[str, str]], extra: Sequence[str] = ()) -> Path:
    """Write rows (dicts with at least ``path`` and ``label``) as a manifest :func:`read_manifest` reads:
    the columns ``path,label,kind,source_dataset,origin_repo,group`` then ``extra`` (missing values
    empty), UTF-8, written to a temporary name and renamed so a reader never sees half a file.

    Raises:
        ManifestError: a row without a path or with a label that is neither real nor fake.
    """
    manifest = Path(manifest)
    columns = [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *[c for c in extra if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]]
    rows = list(rows)
    for n, row in enumerate(rows, start=1):
        if not str(row.get("path") or "").strip():
            raise ManifestError(f"row {n} for {manifest} has no path")
        parse_label(str(row.get("label") or ""), f"row {n} for {manifest}")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_name(manifest.name + ".part")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    tmp.replace(manifest)
    return manifest


# --- dataset folders (training) ------------------------------------------------------------------


def _walk_media(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and media_kind(p) != "unknown")


def read_labelled_folder(root: str | Path) -> list[MediaItem]:
    """A folder with ``real/`` and ``fake/`` sub-folders (any depth below them). Each file is its own group."""
    root = Path(root)
    items: list[MediaItem] = []
    for label in ("real", "fake"):
        sub = root / label
        if not sub.is_dir():
            continue
        for p in _walk_media(sub):
            items.append(MediaItem(str(p.resolve()), label, media_kind(p), f"{root.name}:{label}", str(p.resolve()), str(root)))
    if not items:
        raise ManifestError(f"{root} has no media files under real/ or fake/")
    return items


def read_faceforensics(root: str | Path, compressions: tuple[str, ...] = ("c23", "c40", "raw")) -> list[MediaItem]:
    """The official FaceForensics++ layout.

    ``original_sequences/{youtube,actors}/<c>/videos/*.mp4`` (real) and
    ``manipulated_sequences/<method>/<c>/videos/*.mp4`` (fake). Groups: the target/source id pair
    (``033_097``); a real video ``033`` joins the pair's group through :func:`resolve_groups`.
    """
    root = Path(root)
    items: list[MediaItem] = []
    for label, top in (("real", "original_sequences"), ("fake", "manipulated_sequences")):
        base = root / top
        if not base.is_dir():
            continue
        for method_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            for comp in compressions:
                vids = method_dir / comp / "videos"
                if not vids.is_dir():
                    continue
                for p in sorted(vids.glob("*.mp4")):
                    stem = p.stem
                    if method_dir.name == "actors" or method_dir.name == "DeepFakeDetection":
                        group = "dfd:" + stem.split("__")[0].split("_")[0]
                    else:
                        group = "_".join(sorted(stem.split("_")[:2]))
                    subset = f"FaceForensics++ {comp} {method_dir.name if label == 'fake' else 'original ' + method_dir.name}"
                    items.append(MediaItem(str(p.resolve()), label, "video", subset, group, str(root)))
    if not items:
        raise ManifestError(f"{root} does not look like FaceForensics++ (no original_sequences/ or manipulated_sequences/ videos)")
    return items


def read_celebdf(root: str | Path) -> list[MediaItem]:
    """The official Celeb-DF v2 layout: ``Celeb-real/``, ``YouTube-real/`` (real), ``Celeb-synthesis/`` (fake).

    Groups follow identities: ``id0_0000`` is identity ``id0``, ``id0_id16_0000`` joins ``id0`` and ``id16``.
    """
    root = Path(root)
    items: list[MediaItem] = []
    for folder, label in (("Celeb-real", "real"), ("YouTube-real", "real"), ("Celeb-synthesis", "fake")):
        d = root / folder
        if not d.is_dir():
            continue
        for p in sorted(d.glob("*.mp4")):
            ids = [t for t in p.stem.split("_") if t.startswith("id")]
            group = "_".join(sorted(ids)) if ids else f"yt:{p.stem}"
            items.append(MediaItem(str(p.resolve()), label, "video", f"Celeb-DF {folder}", group, str(root)))
    if not items:
        raise ManifestError(f"{root} does not look like Celeb-DF v2 (no Celeb-real/, YouTube-real/ or Celeb-synthesis/ videos)")
    return items


def read_dfdc(root: str | Path) -> list[MediaItem]:
    """The official DFDC layout: folders holding ``metadata.json`` (``{"x.mp4": {"label": "FAKE", "original": "y.mp4"}}``).

    A fake's group is its original video, so a source clip and all its fakes stay together.
    """
    root = Path(root)
    items: list[MediaItem] = []
    metas = sorted(root.rglob("metadata.json"))
    for meta in metas:
        try:
            data = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ManifestError(f"cannot read DFDC metadata {meta}: {exc}") from None
        for name, info in sorted(data.items()):
            p = meta.parent / name
            if not p.is_file():
                continue
            label = "fake" if parse_label(str(info.get("label", "")), str(meta)) == 1 else "real"
            original = info.get("original") or name
            group = "dfdc:" + Path(original if label == "fake" else name).stem
            items.append(MediaItem(str(p.resolve()), label, "video", "DFDC", group, str(root)))
    if not items:
        raise ManifestError(f"{root} does not look like DFDC (no metadata.json listing existing videos)")
    return items


def detect_layout(root: Path) -> str:
    """Guess the layout of a dataset folder: ``faceforensics``, ``celebdf``, ``dfdc`` or ``folder``."""
    if (root / "original_sequences").is_dir() or (root / "manipulated_sequences").is_dir():
        return "faceforensics"
    if any((root / d).is_dir() for d in ("Celeb-real", "Celeb-synthesis", "YouTube-real")):
        return "celebdf"
    if next(iter(root.rglob("metadata.json")), None) is not None:
        return "dfdc"
    if (root / "real").is_dir() or (root / "fake").is_dir():
        return "folder"
    raise ManifestError(f"{root}: unknown dataset layout (expected real/ and fake/ folders, FaceForensics++, Celeb-DF v2 or DFDC)")


READERS = {
    "folder": read_labelled_folder,
    "faceforensics": read_faceforensics,
    "celebdf": read_celebdf,
    "dfdc": read_dfdc,
}


def read_source(spec: str | Path, layout: str = "auto") -> list[MediaItem]:
    """Read a manifest CSV file or a dataset folder (``layout``: auto, folder, faceforensics, celebdf, dfdc)."""
    p = Path(spec)
    if p.is_file() and p.suffix.lower() == ".csv":
        return [MediaItem.from_manifest(it, p) for it in read_manifest(p)]
    if not p.exists():
        raise ManifestError(f"{p} does not exist (give a manifest .csv or a dataset folder)")
    if not p.is_dir():
        raise ManifestError(f"{p} is neither a manifest .csv nor a dataset folder")
    if layout == "auto":
        layout = detect_layout(p)
    if layout not in READERS:
        raise ManifestError(f"unknown layout {layout!r}; choose one of auto, {', '.join(READERS)}")
    return READERS[layout](p)


# --- groups and splits ---------------------------------------------------------------------------

_ID_TOKEN = re.compile(r"^(\d+|id\d+)$")


def _id_tokens(group: str) -> list[str] | None:
    tokens = group.split("_")
    if all(_ID_TOKEN.match(t) for t in tokens):
        return tokens
    return None


def resolve_groups(items: list[MediaItem]) -> list[MediaItem]:
    """Merge groups that share a person: FF++ ``033_097``, ``097_033``, ``033`` and ``097`` become one.

    Groups made only of numeric / ``idN`` tokens joined by ``_`` are linked through their tokens
    (union-find); every other group is kept as it is.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for it in items:
        toks = _id_tokens(it.group)
        if toks:
            for t in toks[1:]:
                union("id:" + toks[0], "id:" + t)
    members: dict[str, set[str]] = defaultdict(set)
    for key in list(parent):
        members[find(key)].add(key[3:])
    out = []
    for it in items:
        toks = _id_tokens(it.group)
        if toks:
            root = find("id:" + toks[0])
            out.append(replace(it, group="_".join(sorted(members[root]))))
        else:
            out.append(it)
    return out


def training_groups(manifest: str | Path) -> dict[str, str]:
    """The split group training gives each file of a manifest (absolute path -> group): the
    manifest's groups split by subject, then merged by :func:`resolve_groups` over the whole manifest.
    A split file written by the trainer names these groups."""
    items = [MediaItem.from_manifest(it, manifest) for it in read_manifest(manifest)]
    return {it.path: it.group for it in resolve_groups(items)}


def _hash01(seed: int, key: str) -> float:
    h = hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()
    return int(h[:12], 16) / float(1 << 48)


def split_by_group(
    items: list[MediaItem],
    val_fraction: float,
    seed: int,
    force_train_groups: set[str] | None = None,
) -> tuple[list[MediaItem], list[MediaItem]]:
    """Split items into (train, validation) so that no group is on both sides.

    Groups are first merged with :func:`resolve_groups`. Within each stratum (the kinds of fakes a
    group holds, e.g. FF++ c23 pairs, FF++ c23+c40 pairs, GAN faces, talking heads; or, for groups
    without fakes, the kinds of reals) groups are ordered by a seeded hash and
    ``round(val_fraction * n)`` of them (at least one, never all, when a stratum has two or more)
    go to validation.
    Groups in ``force_train_groups`` always stay on the training side (used for groups that also
    appear in the training-only data).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"validation fraction must be in [0, 1), got {val_fraction}")
    items = resolve_groups(items)
    force = force_train_groups or set()
    fakes_of: dict[str, set[str]] = defaultdict(set)
    reals_of: dict[str, set[str]] = defaultdict(set)
    for it in items:
        (fakes_of if it.label == "fake" else reals_of)[it.group].add(_family(it))
    strata: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for g in set(fakes_of) | set(reals_of):
        if g in force or g.split(":")[0] in force:
            continue
        key = tuple(sorted(fakes_of[g])) if fakes_of.get(g) else ("real-only",) + tuple(sorted(reals_of[g]))
        strata[key].append(g)
    val_groups: set[str] = set()
    for _, groups in sorted(strata.items()):
        groups.sort(key=lambda g: _hash01(seed, g))
        n_val = int(round(val_fraction * len(groups)))
        if len(groups) >= 2:
            n_val = min(max(n_val, 1 if val_fraction > 0 else 0), len(groups) - 1)
        val_groups.update(groups[:n_val])
    train = [it for it in items if it.group not in val_groups]
    val = [it for it in items if it.group in val_groups]
    return train, val


_FF_COMP = re.compile(r"faceforensics\+\+ (c\d+|raw)", re.I)


def _family(item: MediaItem) -> str:
    """Coarse family of an item for stratification: FF++ by compression, everything else by kind."""
    m = _FF_COMP.search(item.subset)
    if m:
        return "ffpp-" + m.group(1).lower()
    return item.kind.lower()


# --- selections -------------------------------------------------------------------------------


def filter_items(items: Iterable[ManifestItem], subsets: Sequence[str] = (), kinds: Sequence[str] = ()) -> list[ManifestItem]:
    """Keep items whose ``source_dataset`` contains any of ``subsets`` and whose ``kind`` contains
    any of ``kinds`` (case-insensitive substrings; an empty list keeps everything)."""
    subs = [s.lower() for s in subsets if s]
    ks = [k.lower() for k in kinds if k]
    return [
        it for it in items if (not subs or any(s in it.source_dataset.lower() for s in subs)) and (not ks or any(k in it.kind.lower() for k in ks))
    ]


SPLIT_PARTS = ("all", "selection", "test")


def read_split(path: str | Path, part: str = "all") -> set[str]:
    """The entries (groups or file paths) of a split file, to keep.

    ``part`` (model cards of runs trained with ``--test-fraction`` only): ``all`` keeps every
    validation group; ``test`` only the test groups no choice of the run saw; ``selection`` the
    others (those that chose the epoch, the calibration and the thresholds).

    Accepted formats:

    - text: one group or path per line; blank lines and ``#`` comments are skipped;
    - JSON: a list of strings, or an object whose validation list is under a key such as
      ``validation``, ``val``, ``val_groups``, ``validation_groups``, ``groups`` or ``paths``
      (several such keys are merged); a model card whose ``training`` record (or its ``split``)
      holds such a list also works;
    - CSV with a header holding ``group`` and/or ``path``; with a ``split`` column only rows whose
      split is ``val``/``valid``/``validation``/``test`` are kept.
    """
    if part not in SPLIT_PARTS:
        raise ManifestError(f"unknown split part {part!r}; choose one of {', '.join(SPLIT_PARTS)}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise ManifestError(f"split file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read split file {path}: {exc}") from None
    suffix = path.suffix.lower()
    if part != "all":
        return _card_part(path, text, part)
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


def _card_part(path: Path, text: str, part: str) -> set[str]:
    """The test groups of a model card (``part`` "test"), or its other validation groups ("selection")."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    split = ((data or {}).get("training") or {}).get("split") if isinstance(data, dict) else None
    if not isinstance(split, dict) or not isinstance(split.get("validation_groups"), list):
        raise ManifestError(f"--part {part} needs a model card as the split file; {path} is not one")
    test = split.get("test_groups")
    if not isinstance(test, list) or not test:
        raise ManifestError(f"{path} lists no test groups: its model was trained without --test-fraction, so only --part all applies")
    entries = {str(g) for g in test} if part == "test" else {str(g) for g in split["validation_groups"]} - {str(g) for g in test}
    if not entries:
        raise ManifestError(f"{path}: the {part} part lists no groups")
    return entries


_SPLIT_KEYS = {"validation", "val", "valid", "val_groups", "validation_groups", "groups", "paths", "val_paths", "validation_paths"}


def apply_split(items: Sequence[ManifestItem], entries: set[str], manifest: str | Path | None = None) -> list[ManifestItem]:
    """Keep items named by the split entries: by manifest path, absolute path, manifest ``group``,
    or the group training gives it (:func:`training_groups` of ``manifest``, when given; a manifest
    it cannot read is an error, never a silent fallback to the manifest's own groups)."""
    trainer_groups = training_groups(manifest) if manifest is not None else {}
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
    part: str = "all",
) -> Selection:
    """Read one or more manifests and apply the filters in order: subset/kind, split, seeded sample.

    Several manifests are evaluated as one set (each item's path stays relative to its own
    manifest); a file listed twice, or one path text naming two files, is refused. Several split files keep the items any of
    them names, so ``--split model_card.json --split held_out.csv`` keeps a model's validation
    groups of one manifest and every file listed for another. ``part`` picks the part of each
    model card's validation groups (:func:`read_split`).
    """
    manifests = [Path(m).expanduser() for m in ([manifest] if isinstance(manifest, (str, Path)) else manifest)]
    if not manifests:
        raise ManifestError("no manifest given")
    splits = [] if split is None else [split] if isinstance(split, (str, Path)) else list(split)
    entries: set[str] = set()
    for sp in splits:
        entries |= read_split(sp, part)
    split_text = " + ".join(str(sp) for sp in splits) + ("" if part == "all" else f" (part {part})")
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
