"""Dataset readers: manifests, labelled folders and the official FaceForensics++, Celeb-DF v2 and DFDC layouts.

Every reader returns :class:`MediaItem` records (one per image or video file) with an absolute
path, a label (``real``/``fake``), a kind, a subset name used for per-subset metrics, and a
``group``: the unit that must stay on one side of a train/validation split (an identity pair, a
source video, a source clip and its lip-synced versions). :func:`split_by_group` makes the split.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from deepdetector.errors import ConfigError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".gif", ".mpg", ".mpeg", ".wmv", ".flv"}

# Groups that hold many unrelated subjects in one folder are split by the subject id in the file
# name instead (documented in docs/model-card.md). Stable Diffusion faces of the SDFD set are named
# ``..._allImages_<subject>_<n>.jpg``.
SUBJECT_SPLIT_GROUPS: dict[str, re.Pattern[str]] = {
    "sdfd_sd21": re.compile(r"allImages_(?P<subject>.+?)_\d+\.[A-Za-z]+$"),
}


@dataclass(frozen=True)
class MediaItem:
    """One labelled image or video file."""

    path: str  # absolute path
    label: str  # "real" or "fake"
    kind: str  # "image" or "video" (manifests may be more specific: "gan-image", "faceswap-video", ...)
    subset: str  # name used for per-subset metrics, e.g. "FaceForensics++ c23 Deepfakes"
    group: str  # split unit; never empty (an empty manifest group becomes the file's own path)
    source: str = ""  # where the item was read from (manifest file or dataset root)

    @property
    def is_video(self) -> bool:
        return media_kind(self.path) == "video"

    @property
    def y(self) -> int:
        return 1 if self.label == "fake" else 0


def media_kind(path: str | Path) -> str:
    """``"image"`` or ``"video"`` from the file extension (GIFs count as videos)."""
    ext = Path(path).suffix.lower()
    if ext in VIDEO_EXTS:
        return "video"
    if ext in IMAGE_EXTS:
        return "image"
    return "unknown"


def _norm_label(value: str, where: str) -> str:
    v = value.strip().lower()
    if v in {"real", "0", "original", "pristine"}:
        return "real"
    if v in {"fake", "1", "manipulated", "synthetic"}:
        return "fake"
    raise ConfigError(f"{where}: label {value!r} is neither 'real' nor 'fake'")


def _subject_group(group: str, path: str) -> str:
    pattern = SUBJECT_SPLIT_GROUPS.get(group)
    if pattern is None:
        return group
    m = pattern.search(Path(path).name)
    return f"{group}:{m.group('subject')}" if m else f"{group}:{Path(path).stem}"


def read_manifest(manifest: str | Path) -> list[MediaItem]:
    """Read a manifest CSV (``path,label[,kind,source_dataset,origin_repo,group]``), paths relative to its folder."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise ConfigError(f"manifest {manifest} does not exist")
    items: list[MediaItem] = []
    with manifest.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "path" not in reader.fieldnames or "label" not in reader.fieldnames:
            raise ConfigError(f"manifest {manifest} needs at least the columns 'path' and 'label'")
        for lineno, row in enumerate(reader, start=2):
            rel = (row.get("path") or "").strip()
            if not rel:
                continue
            path = str((manifest.parent / rel).resolve())
            label = _norm_label(row.get("label") or "", f"{manifest}:{lineno}")
            kind = (row.get("kind") or "").strip() or media_kind(path)
            subset = (row.get("source_dataset") or "").strip() or f"{manifest.stem}:{label}"
            group = (row.get("group") or "").strip()
            group = _subject_group(group, path) if group else path
            items.append(MediaItem(path, label, kind, subset, group, str(manifest)))
    return items


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
        raise ConfigError(f"{root} has no media files under real/ or fake/")
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
        raise ConfigError(f"{root} does not look like FaceForensics++ (no original_sequences/ or manipulated_sequences/ videos)")
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
        raise ConfigError(f"{root} does not look like Celeb-DF v2 (no Celeb-real/, YouTube-real/ or Celeb-synthesis/ videos)")
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
            raise ConfigError(f"cannot read DFDC metadata {meta}: {exc}") from None
        for name, info in sorted(data.items()):
            p = meta.parent / name
            if not p.is_file():
                continue
            label = _norm_label(str(info.get("label", "")), str(meta))
            original = info.get("original") or name
            group = "dfdc:" + Path(original if label == "fake" else name).stem
            items.append(MediaItem(str(p.resolve()), label, "video", "DFDC", group, str(root)))
    if not items:
        raise ConfigError(f"{root} does not look like DFDC (no metadata.json listing existing videos)")
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
    raise ConfigError(
        f"{root}: unknown dataset layout (expected real/ and fake/ folders, FaceForensics++, Celeb-DF v2 or DFDC)"
    )


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
        return read_manifest(p)
    if not p.exists():
        raise ConfigError(f"{p} does not exist (give a manifest .csv or a dataset folder)")
    if not p.is_dir():
        raise ConfigError(f"{p} is neither a manifest .csv nor a dataset folder")
    if layout == "auto":
        layout = detect_layout(p)
    if layout not in READERS:
        raise ConfigError(f"unknown layout {layout!r}; choose one of auto, {', '.join(READERS)}")
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
