"""Linking faces across sampled frames into tracks, so that a video is judged per person.

    tracker = Tracker(iou_threshold=config.track_iou)
    for frame in frames:
        faces = detect_faces(detector, frame.image, config)
        ids = tracker.update(faces)          # one track id per face, same order

Matching is greedy on box overlap (IoU) with each track's last box, best pairs first. Frames are
sampled sparsely (32 frames over a minute is one every 2 s), so a face may have moved further than
its own width: pairs that do not overlap enough are then matched on centre distance, relative to
the face size, if the sizes are similar. A track not seen for ``max_gap`` updates is closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepdetector.types import Box, Face


@dataclass
class Track:
    """One person's face over time (the tracker's memory of it)."""

    track_id: int
    box: Box  # last box seen
    last_seen: int  # update number when last matched
    hits: int = 1


def _centre_distance(a: Box, b: Box) -> float:
    """Distance between centres in units of the boxes' mean size (0 = same centre)."""
    (ax, ay), (bx, by) = a.center, b.center
    scale = (max(a.width, a.height) + max(b.width, b.height)) / 2.0
    return float(np.hypot(ax - bx, ay - by) / max(scale, 1e-6))


def _size_ratio(a: Box, b: Box) -> float:
    sa, sb = max(a.width, a.height), max(b.width, b.height)
    return max(sa, sb) / max(min(sa, sb), 1e-6)


class Tracker:
    """Greedy IoU tracker with a centre-distance fallback; ids start at 0 and are never reused."""

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_gap: int = 4,
        max_centre_distance: float = 1.5,
        max_size_ratio: float = 1.6,
    ) -> None:
        """
        Args:
            iou_threshold: minimum IoU with a track's last box to continue it.
            max_gap: a track unmatched for more than this many updates is closed.
            max_centre_distance: fallback match if the centres are at most this many face sizes apart...
            max_size_ratio: ...and the box sizes differ by at most this factor.
        """
        self.iou_threshold = iou_threshold
        self.max_gap = max_gap
        self.max_centre_distance = max_centre_distance
        self.max_size_ratio = max_size_ratio
        self.tracks: list[Track] = []
        self._next_id = 0
        self._step = -1

    def reset(self) -> None:
        self.tracks.clear()
        self._next_id = 0
        self._step = -1

    def update(self, faces: list[Face] | list[Box]) -> list[int]:
        """Assign a track id to each face of the next sampled frame (same order as ``faces``)."""
        self._step += 1
        boxes = [f.box if isinstance(f, Face) else f for f in faces]
        self.tracks = [t for t in self.tracks if self._step - t.last_seen <= self.max_gap]
        ids: list[int | None] = [None] * len(boxes)
        free_tracks = set(range(len(self.tracks)))
        free_faces = set(range(len(boxes)))

        # 1) overlap, best pairs first
        pairs = sorted(
            ((boxes[f].iou(self.tracks[t].box), f, t) for f in free_faces for t in free_tracks),
            reverse=True,
        )
        for iou, f, t in pairs:
            if iou < self.iou_threshold:
                break
            if f in free_faces and t in free_tracks:
                self._assign(ids, boxes, f, t, free_faces, free_tracks)

        # 2) fast motion over sparse sampling: nearest centre among similar-sized boxes
        pairs2 = sorted(
            (_centre_distance(boxes[f], self.tracks[t].box), f, t)
            for f in free_faces
            for t in free_tracks
            if _size_ratio(boxes[f], self.tracks[t].box) <= self.max_size_ratio
        )
        for dist, f, t in pairs2:
            if dist > self.max_centre_distance:
                break
            if f in free_faces and t in free_tracks:
                self._assign(ids, boxes, f, t, free_faces, free_tracks)

        # 3) new people
        for f in sorted(free_faces):
            track = Track(self._next_id, boxes[f], self._step)
            self._next_id += 1
            self.tracks.append(track)
            ids[f] = track.track_id
        return [int(i) for i in ids]  # type: ignore[arg-type]

    def _assign(self, ids: list[int | None], boxes: list[Box], f: int, t: int, free_faces: set[int], free_tracks: set[int]) -> None:
        track = self.tracks[t]
        track.box, track.last_seen, track.hits = boxes[f], self._step, track.hits + 1
        ids[f] = track.track_id
        free_faces.discard(f)
        free_tracks.discard(t)
