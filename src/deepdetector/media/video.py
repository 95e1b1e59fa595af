"""Videos via PyAV: evenly spaced frames, decoded lazily, fast whatever the keyframe spacing.

How sampling works (one read of the file, no seeking):

1. **Index pass.** The packets are demuxed without decoding (a few milliseconds for a 10-s clip:
   it only reads bytes). This gives the exact number of frames, their presentation timestamps and
   which packets are keyframes, for every container, including those whose header has no frame count.
2. **Plan.** The sampled frames are evenly spaced positions in presentation order. For each one the
   decoder must start at the last keyframe before it (in decode order, with a timestamp not after it).
3. **Decode pass.** The packets are read again in order; a packet is sent to the decoder only while
   some wanted frame has been reached (its keyframe passed) and not yet produced. Whole groups of
   pictures with no wanted frame are skipped unread by the decoder, and only wanted frames are
   converted to RGB.

With frequent keyframes this decodes little more than the wanted frames (like seeking, without the
cost of a seek per frame); with rare keyframes (FaceForensics++: 1-2 in 12 s) it is one sequential
pass that stops after the last wanted frame. ``benchmarks/bench_media.py`` measures both against
plain seeking and full decoding.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import av
import cv2
import numpy as np

from deepdetector.config import ScanConfig
from deepdetector.errors import MediaError
from deepdetector.media.sampling import sample_count, sample_indices, window_indices
from deepdetector.types import Frame, MediaInfo

# Containers FFmpeg opens that are not videos a person would scan.
REFUSED_FORMATS = {"tty": "a text file", "srt": "subtitles", "ass": "subtitles", "webvtt": "subtitles"}

AV_ERRORS: tuple[type[BaseException], ...] = (av.FFmpegError, OSError, ValueError, MemoryError, EOFError)

# A wanted frame not produced this many packets after its own packet was sent is given up
# (the decoder dropped it as corrupt); the reorder delay of real codecs is far below this.
GIVE_UP_AFTER_PACKETS = 64


NOT_MEDIA = "not a readable image or video (damaged, or not the format its name says)"


def _is_image_demuxer(fmt_name: str) -> bool:
    """FFmpeg's single-image readers: used here only after Pillow failed, so the file is bad."""
    return fmt_name == "image2" or fmt_name.endswith("_pipe")


@dataclass
class _Packet:
    pts: int | None
    keyframe: bool


def _open_container(path: str) -> av.container.InputContainer:
    try:
        return av.open(path, mode="r", metadata_errors="ignore")
    except AV_ERRORS as exc:
        raise MediaError(f"not a readable image or video ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().rstrip(".")


def _index_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> list[_Packet]:
    packets: list[_Packet] = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's end-of-stream marker
                continue
            packets.append(_Packet(packet.pts, bool(packet.is_keyframe)))
    except AV_ERRORS:
        pass  # a truncated file: keep the packets read before the damage
    return packets


def _rotation(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns needed to show the frame upright (display matrix side data)."""
    try:
        degrees = frame.rotation
    except AV_ERRORS + (AttributeError, KeyError):
        return 0
    return int(round((degrees or 0) / 90.0)) % 4


# BT.601 limited-range YUV -> RGB, the matrix FFmpeg's swscale applies by default, as a 3x4 affine map.
_BT601 = np.array([[1.164383, 0.0, 1.596027], [1.164383, -0.391762, -0.812968], [1.164383, 2.017232, 0.0]])
_YUV444_TO_RGB = np.hstack([_BT601, (-_BT601 @ np.array([16.0, 128.0, 128.0]))[:, None]]).astype(np.float32)


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    if frame.format.name == "yuv444p":
        # swscale has no fast path for 4:4:4 (FaceForensics++ c23 uses it): 6 ms vs 2 ms at 480p
        rgb = cv2.transform(frame.to_ndarray(channel_last=True), _YUV444_TO_RGB)
    else:
        rgb = frame.to_ndarray(format="rgb24")
    turns = _rotation(frame)
    if turns:
        rgb = np.rot90(rgb, k=turns)
    return np.ascontiguousarray(rgb)


class VideoSampler:
    """Plans and decodes the sampled frames of one video file."""

    def __init__(self, path: str, config: ScanConfig, windows: bool = False):
        self.path = path
        self.config = config
        self.with_windows = windows  # also decode the dense windows (evidence across frames)
        self.decoded_packets = 0  # packets sent to the decoder by the last frames() pass (benchmarks, tests)
        container = _open_container(path)
        try:
            fmt_name = container.format.name.split(",")[0]
            if fmt_name in REFUSED_FORMATS:
                raise MediaError(f"not an image or video: FFmpeg reads it as {REFUSED_FORMATS[fmt_name]}")
            if not container.streams.video:
                kinds = sorted({s.type for s in container.streams}) or ["nothing"]
                raise MediaError(f"the file has no video stream (it holds {', '.join(kinds)})")
            stream = container.streams.video[0]
            self.format_name = fmt_name
            self.codec = stream.codec_context.name
            self.width, self.height = int(stream.width or 0), int(stream.height or 0)
            if self.width <= 0 or self.height <= 0:
                if _is_image_demuxer(fmt_name):
                    raise MediaError(NOT_MEDIA)
                raise MediaError("the video stream has no picture size (damaged header)")
            if self.width * self.height > config.max_image_pixels:
                raise MediaError(
                    f"the video frames are {self.width}x{self.height}, over the limit of "
                    f"{config.max_image_pixels / 1e6:.0f} megapixels (max_image_pixels)"
                )
            self.time_base = stream.time_base
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.rate = float(rate) if rate else None
            self.packets = _index_packets(container, stream)
        finally:
            container.close()
        if not self.packets:
            raise MediaError("the video holds no frames (empty or truncated file)")
        self._plan()

    # -- planning -------------------------------------------------------------------------------
    def _plan(self) -> None:
        pts = [p.pts for p in self.packets]
        self.total = len(pts)
        # Exact mode needs every packet's timestamp, all distinct; otherwise frames are counted.
        self.exact = all(p is not None for p in pts) and len(set(pts)) == len(pts)
        if self.exact:
            self.sorted_pts: list[int] = sorted(pts)  # type: ignore[arg-type]
            first, last = self.sorted_pts[0], self.sorted_pts[-1]
            step = (last - first) / (self.total - 1) if self.total > 1 else 0
            span = (last - first + step) * float(self.time_base) if self.time_base else 0.0
            self.duration = span if span > 0 else None
        else:
            self.sorted_pts = []
            self.duration = self.total / self.rate if self.rate else None
        if self.rate is None and self.duration:
            self.rate = self.total / self.duration
        self.sampled = sample_indices(self.total, sample_count(self.total, self.duration, self.config))
        self.windows = window_indices(self.total, self.rate, self.config) if self.with_windows else []
        self.window_of = {i: w for w, members in enumerate(self.windows) for i in members}
        self._sampled_set = set(self.sampled)
        self.indices = sorted(self._sampled_set | set(self.window_of))  # every frame to decode
        if self.exact:
            self.targets = [self.sorted_pts[i] for i in self.indices]
            decode_pos = {p.pts: i for i, p in enumerate(self.packets)}
            keys = [i for i, p in enumerate(self.packets) if p.keyframe] or [0]
            self.start_of: dict[int, int] = {}
            self.packet_of: dict[int, int] = {}
            for t in self.targets:
                pos = decode_pos[t]
                k = bisect.bisect_right(keys, pos) - 1
                while k > 0 and self.packets[keys[k]].pts > t:  # type: ignore[operator]
                    k -= 1  # a leading picture shown before its keyframe: start one group earlier
                self.start_of[t] = keys[k] if k >= 0 else 0
                self.packet_of[t] = pos

    @property
    def keyframes(self) -> int:
        return sum(p.keyframe for p in self.packets)

    def info(self) -> MediaInfo:
        return MediaInfo(
            path=self.path,
            kind="video",
            width=self.width,
            height=self.height,
            format=self.codec,
            duration=None if self.duration is None else round(self.duration, 3),
            fps=None if self.rate is None else round(self.rate, 3),
            frame_count=self.total,
            sampled_frames=len(self.sampled),
        )

    # -- decoding -------------------------------------------------------------------------------
    def _timestamp(self, pts: int) -> float:
        return round((pts - self.sorted_pts[0]) * float(self.time_base), 4)

    def _frame(self, index: int, timestamp: float | None, frame: av.VideoFrame) -> Frame:
        return Frame(index=index, timestamp=timestamp, image=_to_rgb(frame), sampled=index in self._sampled_set,
                     window=self.window_of.get(index))  # fmt: skip

    def frames(self) -> Iterator[Frame]:
        """Decode the planned frames in order. Damaged packets are skipped; frames before damage are kept."""
        container = _open_container(self.path)
        self.decoded_packets = 0
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if self.exact:
                yield from self._frames_exact(container, stream)
            else:
                yield from self._frames_counted(container, stream)
        finally:
            container.close()

    def _decode(self, stream: av.video.stream.VideoStream, packet: av.Packet | None) -> list[av.VideoFrame]:
        if packet is not None:
            self.decoded_packets += 1
        try:
            return stream.decode(packet)
        except AV_ERRORS:
            return []

    def _frames_exact(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator[Frame]:
        pending = list(self.targets)  # ascending presentation timestamps
        wanted = set(self.targets)
        head = 0
        i = -1
        skip = "DEFAULT"

        def take(frame: av.VideoFrame) -> Iterator[Frame]:
            nonlocal head
            if frame.pts is None:
                return
            while head < len(pending) and pending[head] < frame.pts:
                head += 1  # the decoder never produced it (corrupt): give up on it
            if head < len(pending) and pending[head] == frame.pts:
                head += 1
                yield self._frame(bisect.bisect_left(self.sorted_pts, frame.pts), self._timestamp(frame.pts), frame)

        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                i += 1
                if head >= len(pending):
                    break
                target = pending[head]
                if i < self.start_of[target]:
                    continue  # nothing wanted before the next keyframe we need: skip without decoding
                if i > self.packet_of[target] + GIVE_UP_AFTER_PACKETS:
                    head += 1
                # Pictures no other picture refers to are decoded only if wanted (35% less work on
                # FF++ clips). FFmpeg copies this setting when the packet is submitted, so it is
                # exact per packet even with frame threading.
                mode = "DEFAULT" if packet.pts in wanted else "NONREF"
                if mode != skip:
                    stream.codec_context.skip_frame = skip = mode
                for frame in self._decode(stream, packet):
                    yield from take(frame)
        except AV_ERRORS:
            pass  # truncated: flush what the decoder holds
        if head < len(pending):
            stream.codec_context.skip_frame = "DEFAULT"
            for frame in self._decode(stream, None):
                yield from take(frame)

    def _frames_counted(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator[Frame]:
        """Fallback when packets lack timestamps: decode in order and count frames."""
        wanted = set(self.indices)
        last = self.indices[-1] if self.indices else -1
        n = 0

        def take(frame: av.VideoFrame) -> Iterator[Frame]:
            nonlocal n
            if n in wanted:
                ts = round(n / self.rate, 4) if self.rate else None
                yield self._frame(n, ts, frame)
            n += 1

        try:
            for packet in container.demux(stream):
                if n > last:
                    return
                for frame in self._decode(stream, packet):
                    yield from take(frame)
        except AV_ERRORS:
            pass
        if n <= last:
            for frame in self._decode(stream, None):
                yield from take(frame)


def read_video(path: str, config: ScanConfig, windows: bool = False) -> tuple[MediaInfo, Iterator[Frame]]:
    """Open a video: the plan is made and the first sampled frame decoded now, the rest lazily.

    With ``windows`` the frames of the dense windows (``config.window_seconds`` ...) come too,
    marked with ``Frame.window`` (and ``Frame.sampled`` False unless also an even sample).

    Decoding the first frame up front means a file that opens but cannot be decoded fails here,
    with a :class:`MediaError`, rather than in the middle of a scan.
    """
    sampler = VideoSampler(path, config, windows)
    info = sampler.info()
    frames = sampler.frames()
    try:
        first = next(frames)
    except StopIteration:
        if _is_image_demuxer(sampler.format_name):
            raise MediaError(NOT_MEDIA) from None
        raise MediaError(f"no frame of the {sampler.codec} video could be decoded (damaged file)") from None
    info.width, info.height = first.image.shape[1], first.image.shape[0]  # upright size

    def counted() -> Iterator[Frame]:
        done = 0  # frames of the even sample (the frames of dense windows are extra)
        try:
            for frame in itertools.chain([first], frames):
                done += frame.sampled
                yield frame
        finally:
            info.sampled_frames = done
            frames.close()

    return info, counted()
