"""The HTML report (``deepdetector scan --report FILE.html``): one self-contained page.

Everything is inside the one file: pictures are base64 ``data:`` URIs, the style is inline, the
probability-over-time plots are inline SVG, and there is no script. A Content-Security-Policy
forbids loading anything from elsewhere, so the page works offline and cannot leak what was
scanned. Every string that comes from the input (file names, error messages) is HTML-escaped.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from deepdetector.report._common import (
    ReportError,
    ensure_parent,
    model_name,
    summary_counts,
    summary_line,
    total_seconds,
)
from deepdetector.report.drawing import face_panel
from deepdetector.report.heatmaps import DEFAULT_THRESHOLD, encode_image, keyframe_overlay
from deepdetector.types import FaceResult, FileResult, FrameResult, Verdict
from deepdetector.verdict.explain import fused_face_score

THUMB_MAX_SIDE = 560
PANEL_SIZE = 128
MAX_PANELS = 8

_VERDICT_TEXT = {
    Verdict.FAKE: "fake",
    Verdict.REAL: "real",
    Verdict.NO_FACE: "no face",
    Verdict.ERROR: "error",
}

_CSS = """
:root { --fake:#c62828; --real:#2e7d32; --noface:#8d6e00; --error:#6a1b9a; --muted:#666; --line:#ddd; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f4f5f7; color: #1b1b1b; }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 16px 20px; }
h1 { margin: 8px 0 4px; font-size: 24px; }
h2 { margin: 0; font-size: 17px; word-break: break-all; }
h3 { margin: 14px 0 6px; font-size: 14px; color: #333; }
.meta { color: var(--muted); margin: 0 0 10px; }
.chips { display: flex; gap: 8px; flex-wrap: wrap; margin: 10px 0; }
.chip { padding: 4px 12px; border-radius: 14px; background: #fff; border: 1px solid var(--line); }
.chip b { margin-right: 4px; }
details.howto { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; }
details.howto summary { cursor: pointer; font-weight: 600; }
.card { background: #fff; border: 1px solid var(--line); border-left: 6px solid var(--line); border-radius: 8px; padding: 14px 18px; margin: 0 0 16px; }
.card.fake { border-left-color: var(--fake); } .card.real { border-left-color: var(--real); }
.card.no_face { border-left-color: var(--noface); } .card.error { border-left-color: var(--error); }
.head { display: flex; align-items: center; gap: 12px; }
.path { color: var(--muted); font-size: 12px; word-break: break-all; margin: 2px 0 8px; }
.badge { color: #fff; font-weight: 700; text-transform: uppercase; font-size: 12px; padding: 3px 10px; border-radius: 4px; white-space: nowrap; }
.badge.fake { background: var(--fake); } .badge.real { background: var(--real); }
.badge.no_face { background: var(--noface); } .badge.error { background: var(--error); }
.prob { display: flex; align-items: center; gap: 12px; margin: 6px 0 10px; }
.bar { position: relative; width: 260px; height: 12px; background: #e8e8e8; border-radius: 6px; overflow: hidden; flex: none; }
.fill { height: 100%; }
.fill.fake { background: var(--fake); } .fill.real { background: var(--real); }
.thr { position: absolute; top: 0; bottom: 0; width: 2px; background: #111; }
.body { display: flex; gap: 18px; flex-wrap: wrap; align-items: flex-start; }
figure { margin: 0; }
figure img { display: block; max-width: 100%; border-radius: 4px; border: 1px solid var(--line); }
figcaption { font-size: 12px; color: var(--muted); margin-top: 4px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
table.grid td, table.grid th { border-bottom: 1px solid #eee; padding-right: 14px; }
.muted { color: var(--muted); }
.push { display: inline-block; height: 9px; border-radius: 2px; vertical-align: middle; }
.push.fake { background: var(--fake, #c62828); } .push.real { background: var(--real, #2e7d32); }
.panels { display: flex; gap: 12px; flex-wrap: wrap; }
.panels figure { width: 260px; }
.errmsg { background: #f7eefa; border: 1px solid #e1c8ea; color: #4a148c; padding: 8px 12px; border-radius: 6px; white-space: pre-wrap; word-break: break-word; }
.note { color: var(--muted); font-size: 13px; }
.explain { margin: 4px 0 12px; }
ul.skipped { font-size: 13px; word-break: break-all; }
svg.timeline { display: block; max-width: 100%; height: auto; background: #fcfcfc; border: 1px solid var(--line); border-radius: 4px; }
footer { color: var(--muted); font-size: 12px; }
ul.reasons { margin: 4px 0 8px; padding-left: 18px; font-size: 13px; }
table.prov td.val { max-width: 340px; word-break: break-word; }
.trust { font-size: 11px; font-weight: 700; padding: 1px 6px; border-radius: 3px; border: 1px solid var(--line); }
.trust.verified { background: #e8f0fe; border-color: #9ab4e8; }
ul.provwarn { color: #8d6e00; font-size: 13px; margin: 6px 0; padding-left: 18px; }
"""

_HOW_TO_READ = """
<details class="howto" open><summary>How to read this report</summary>
<ul>
<li><b>Verdict</b>: <i>fake</i> when the calibrated probability of manipulation reaches the model's
threshold, <i>real</i> below it. <i>No face</i> means nothing could be judged (it is <b>not</b> a
statement that the file is genuine). <i>Error</i> means the file could not be read; the reason is shown.</li>
<li><b>Probability</b>: the model's calibrated probability that a face is fake; the file gets the
value of its most suspicious person (track). In a video, that person's frame scores are combined by
the aggregation rule, so the verdict follows the combined score, not single frames; each file's
explanation says how its value was made. The black mark on the bar is the threshold.</li>
<li><b>Heatmaps</b> show where in the face the model found the evidence it used (red = strongest).
They help you look closer; they are not proof, and a heatmap on a real face is not a finding.</li>
<li><b>Timeline</b> (videos): the frame score (highest face probability) of each analysed frame; the
dashed line is the threshold and red points are frames at or above it on their own. A video can be
<i>real</i> with some red points: its verdict combines all frames of a person.</li>
<li><b>Per-head scores</b> (<i>swap</i>, <i>synthetic</i>, <i>generated</i>) are each combined over the
frames on their own, so in a video they need not lie on either side of the file's probability.</li>
<li><b>Evidence across frames</b> (videos): cues measured over consecutive frames of the main face
(eyes, mouth, expression, head, jitter), each with its range in real videos and how far it pushed the
score; the video's probability fuses them with the face classifier's score.</li>
<li><b>Provenance</b>: what the file says about its own origin. <i>Verified</i> findings (a C2PA
manifest whose signature and hashes check offline, or Stable Diffusion's decoded watermark) that
declare the file generated make it <i>fake</i>; <i>claimed</i> ones (metadata anyone can write or
strip) are shown and change nothing. A valid capture credential never makes a file real, and a
signer is not checked against any trust list.</li>
<li>No detector is perfect: new manipulation methods, heavy compression, very small faces and
unusual lighting can fool it either way. Treat a result as a lead, not a conclusion.</li>
</ul>
</details>
"""


def _e(value: object) -> str:
    """HTML-escape any value (quotes included)."""
    return html.escape(str(value), quote=True)


def _pct(p: float | None) -> str:
    return "n/a" if p is None else f"{100.0 * p:.1f}%"


def _data_uri(rgb: np.ndarray, max_side: int | None = None, fmt: str = ".jpg") -> str:
    """A picture as a ``data:`` URI (JPEG by default), downscaled so its longer side is at most ``max_side``."""
    if max_side is not None and max(rgb.shape[:2]) > max_side:
        scale = max_side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    mime = "image/png" if fmt == ".png" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(encode_image(rgb, fmt)).decode('ascii')}"


def _when(face: FaceResult, kind: str | None) -> str:
    """``"frame 12 (0.50 s)"`` for a face in a video, ``""`` for an image."""
    if kind != "video":
        return ""
    ts = face.timestamp
    return f"frame {face.frame_index}" + (f" ({ts:.2f} s)" if ts is not None else "")


# ----------------------------------------------------------------------------------------------
# Timeline plot


def timeline_svg(frames: list[FrameResult], threshold: float | None, width: int = 720, height: int = 190) -> str:
    """An inline SVG plot of the per-frame probability of fake over time.

    x: timestamp in seconds (frame index when timestamps are missing); y: probability 0..1.
    The line breaks at frames without a face (marked as grey ticks on the axis); a dashed line
    marks the threshold; frames at or above it are red dots (hover for details). ``threshold`` None
    draws neither (a fused video: its threshold is on another scale than the frame scores).
    """
    if not frames:
        return ""
    use_time = all(f.timestamp is not None for f in frames)
    xs = [float(f.timestamp) if use_time else float(f.index) for f in frames]  # type: ignore[arg-type]
    x0, x1 = min(xs), max(xs)
    if x1 - x0 < 1e-9:
        x0, x1 = x0 - 0.5, x1 + 0.5
    left, right, top, bottom = 46, 14, 12, 34
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(p: float) -> float:
        return top + (1.0 - min(max(p, 0.0), 1.0)) * ph

    unit = "s" if use_time else ""
    parts: list[str] = [
        f'<svg class="timeline" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="probability of fake over time">',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#ccc"/>',
    ]
    for p in (0.0, 0.5, 1.0):
        y = py(p)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#555">{p:.1f}</text>')
    # x axis: start, middle and end labels
    for x in (x0, (x0 + x1) / 2.0, x1):
        label = f"{x:.1f} {unit}".strip() if use_time else f"frame {x:.0f}"
        parts.append(f'<text x="{px(x):.1f}" y="{top + ph + 16}" font-size="11" text-anchor="middle" fill="#555">{_e(label)}</text>')
    parts.append(
        f'<text x="{left + pw / 2:.1f}" y="{height - 2}" font-size="11" text-anchor="middle" fill="#777">'
        f"{'time (s)' if use_time else 'frame'}; y: probability of fake</text>"
    )
    # threshold
    if threshold is not None:
        ty = py(threshold)
        parts.append(f'<line class="threshold" x1="{left}" y1="{ty:.1f}" x2="{left + pw}" y2="{ty:.1f}" stroke="#111" stroke-dasharray="5 4"/>')
        parts.append(f'<text x="{left + 4}" y="{ty - 4:.1f}" font-size="10" fill="#111">threshold {threshold:.2f}</text>')
    # line segments, broken where a frame has no face
    segment: list[str] = []
    segments: list[list[str]] = []
    for x, f in zip(xs, frames):
        if f.probability is None:
            if segment:
                segments.append(segment)
            segment = []
            parts.append(f'<line class="noface" x1="{px(x):.1f}" y1="{top + ph}" x2="{px(x):.1f}" y2="{top + ph - 6}" stroke="#999"/>')
        else:
            segment.append(f"{px(x):.1f},{py(f.probability):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="#1565c0" stroke-width="1.8"/>')
    for x, f in zip(xs, frames):
        if f.probability is None:
            continue
        hot = threshold is not None and f.probability >= threshold
        tip = f"frame {f.index}" + (f" at {f.timestamp:.2f} s" if f.timestamp is not None else "") + f": {_pct(f.probability)}, {f.n_faces} face(s)"
        parts.append(
            f'<circle class="{"suspicious" if hot else "point"}" cx="{px(x):.1f}" cy="{py(f.probability):.1f}" r="{3.6 if hot else 2.2}" '
            f'fill="{"#c62828" if hot else "#1565c0"}"><title>{_e(tip)}</title></circle>'
        )
    parts.append("</svg>")
    return "".join(parts)


# ----------------------------------------------------------------------------------------------
# Cards


def _best_keyframe(result: FileResult) -> int | None:
    """The kept frame holding the most suspicious face (or any kept frame)."""
    if not result.keyframes:
        return None
    ranked = sorted((f for f in result.faces if f.frame_index in result.keyframes), key=lambda f: -f.probability)
    return ranked[0].frame_index if ranked else min(result.keyframes)


def _panel_faces(result: FileResult) -> list[FaceResult]:
    """Per track, its most suspicious face whose frame was kept (at most MAX_PANELS, worst first)."""
    best: dict[int, FaceResult] = {}
    for f in result.faces:
        if f.frame_index in result.keyframes and (f.track_id not in best or f.probability > best[f.track_id].probability):
            best[f.track_id] = f
    return sorted(best.values(), key=lambda f: -f.probability)[:MAX_PANELS]


def _scores_text(scores: dict[str, float]) -> str:
    return ", ".join(f"{name} {_pct(v)}" for name, v in scores.items()) or "n/a"


def _facts(result: FileResult) -> str:
    rows: list[tuple[str, str]] = []
    m = result.media
    if m is not None:
        rows.append(("kind", f"{m.kind}" + (f" ({m.format})" if m.format else "")))
        rows.append(("size", f"{m.width} x {m.height}"))
        if m.kind == "video":
            if m.duration is not None:
                rows.append(("duration", f"{m.duration:.2f} s"))
            if m.fps:
                rows.append(("frame rate", f"{m.fps:.2f} fps"))
            rows.append(("frames analysed", f"{m.sampled_frames}" + (f" of {m.frame_count}" if m.frame_count else "")))
    if result.ok:
        rows.append(("faces judged", str(len(result.faces))))
        rows.append(("people (tracks)", str(len(result.tracks))))
    if result.scores:
        rows.append(("per head (each combined on its own)", _scores_text(result.scores)))
    seconds = total_seconds(result)
    if seconds is not None:
        rows.append(("time", f"{seconds:.2f} s"))
    return '<table class="facts">' + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _evidence_table(result: FileResult) -> str:
    """Each piece of evidence (videos: cues across frames; photos: the pixel heads), its range in real
    media and how far it moved the score."""
    if not result.evidence:
        return ""
    rows = []
    ordered = sorted(result.evidence, key=lambda c: (c.effect is None, -abs(c.effect or 0.0)))  # strongest push first
    for cue in ordered:
        if cue.value is None:
            value, reach = "-", _e(cue.reason or "not measured")
        else:
            value = _number(cue.value) + (f" {_e(cue.unit)}" if cue.unit and cue.unit != "probability" else "")
            reach = "-" if cue.real_range is None else f"{_number(cue.real_range[0])} - {_number(cue.real_range[1])}"
        if cue.effect is None:
            push = '<span class="muted">not fused</span>'
        else:
            side = "fake" if cue.effect > 0 else "real"
            width = min(abs(cue.effect) / 2.0, 1.0) * 60.0
            push = f'<span class="push {side}" style="width:{width:.0f}px"></span> {cue.effect:+.2f} <span class="muted">toward {side}</span>'
        rows.append(f"<tr><td title=\"{_e(cue.description)}\">{_e(cue.name.replace('_', ' '))}</td><td>{value}</td><td>{reach}</td>"
                    f"<td>{push}</td><td>{_e(cue.words or '')}</td></tr>")  # fmt: skip
    video = result.media is not None and result.media.kind == "video"
    real = "real videos" if video else "real photos"
    head = f"<tr><th>evidence</th><th>value</th><th>{real} (5-95%)</th><th>effect (log-odds)</th><th>in words</th></tr>"
    if video:
        title = "Evidence across frames"
        note = (
            '<p class="note">Measured across consecutive frames of the main face (docs/evidence.md). The effects and '
            "the intercept add up to the video's log-odds of fake; a cue marked not fused is shown, not weighed.</p>"
        )
    else:
        title = "Pixel evidence"
        note = (
            '<p class="note">How the picture was made, read at its own resolution by the pixel heads (docs/evidence.md): '
            "each head's value, and how far it pushed the face's score.</p>"
        )
    return f'<h3>{title}</h3><table class="grid evidence">{head}{"".join(rows)}</table>{note}'


def _track_table(result: FileResult) -> str:
    if not result.tracks:
        return ""
    fps = result.media.fps if result.media is not None else None
    is_video = result.media is not None and result.media.kind == "video"
    fused = fused_face_score(result) is not None
    head = (
        f"<tr><th>track</th><th>{'face classifier alone' if fused else 'verdict'}</th><th>probability (combined)</th><th>faces</th><th>frames</th>"
        "<th>per head (each combined on its own)</th></tr>"
    )
    rows = []
    for t in result.tracks:
        span = f"{t.first_frame}-{t.last_frame}" if is_video else "-"
        if is_video and fps:
            span += f" ({t.first_frame / fps:.1f}-{t.last_frame / fps:.1f} s)"
        rows.append(
            f'<tr><td>{t.track_id}</td><td><span class="badge {_e(t.verdict.value)}">{_e(_VERDICT_TEXT[t.verdict])}</span></td>'
            f"<td>{_pct(t.probability)}</td><td>{t.n_faces}</td><td>{_e(span)}</td><td>{_e(_scores_text(t.scores))}</td></tr>"
        )
    return f'<h3>People (face tracks)</h3><table class="grid tracks">{head}{"".join(rows)}</table>'


def _panels(result: FileResult, threshold: float) -> str:
    faces = _panel_faces(result)
    if not faces:
        return ""
    kind = result.media.kind if result.media is not None else None
    tracks = {t.track_id: t for t in result.tracks}
    figs = []
    for f in faces:
        where = _when(f, kind)
        # a crop's own score is not the verdict: in a video it is one frame of a person whose frames are combined
        caption = f"track {f.track_id}" + (f", {where}" if where else "") + f": {'frame' if kind == 'video' else 'face'} score {_pct(f.probability)}"
        if f.scores:
            caption += f" ({_scores_text(f.scores)})"
        track = tracks.get(f.track_id)
        if kind == "video" and track is not None and fused_face_score(result) is not None:
            caption += f"; this person over {track.n_faces} frames, face classifier alone: {_pct(track.probability)}"
        elif kind == "video" and track is not None:
            caption += f"; this person over {track.n_faces} frames: {_pct(track.probability)}, {_VERDICT_TEXT[track.verdict]}"
        uri = _data_uri(face_panel(result.keyframes[f.frame_index], f, size=PANEL_SIZE))
        figs.append(f'<figure><img src="{uri}" alt="face crop and heatmap"><figcaption>{_e(caption)}</figcaption></figure>')
    title = "Faces: each person's most suspicious frame (crop the model saw | heatmap)" if kind == "video" else "Faces (crop the model saw | heatmap)"
    return f'<h3>{_e(title)}</h3><div class="panels">' + "".join(figs) + "</div>"


def _reasons(result: FileResult) -> str:
    if not result.reasons:
        return ""
    return '<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in result.reasons) + "</ul>"


def _provenance(result: FileResult) -> str:
    """The provenance section: the summary, every finding with its trust, and the warnings."""
    rec = result.provenance
    if rec is None:
        return ""
    if rec.generated == "verified":
        summary = "<b>Declared generated, verified</b>" + (f" ({_e(rec.generator)})" if rec.generator else "") + ": this decides the verdict."
    elif rec.generated == "claimed":
        summary = (
            "Metadata <b>claims</b> the file was generated"
            + (f" ({_e(rec.generator)})" if rec.generator else "")
            + "; claims are shown, they do not change the verdict."
        )
    else:
        summary = "Nothing in the file declares it generated."
    if rec.c2pa:
        summary += f" C2PA manifest: {_e(rec.c2pa)}" + (" (signer not checked against a trust list)." if rec.c2pa == "valid" else ".")
    out = [f'<h3>Provenance</h3><p class="note">{summary} Checked: {_e(", ".join(rec.checked) or "nothing")}.</p>']
    if rec.findings:
        head = "<tr><th>source</th><th>field</th><th>value</th><th>trust</th><th>meaning</th></tr>"
        rows = [
            f'<tr><td>{_e(f.source)}</td><td>{_e(f.key)}</td><td class="val">{_e(f.value)}</td>'
            f'<td><span class="trust {_e(f.trust)}">{_e(f.trust)}</span></td><td>{_e(f.meaning)}</td></tr>'
            for f in rec.findings
        ]
        out.append(f'<table class="grid prov">{head}{"".join(rows)}</table>')
    if rec.warnings:
        out.append('<ul class="provwarn">' + "".join(f"<li>{_e(w)}</li>" for w in rec.warnings) + "</ul>")
    return "".join(out)


def _card(result: FileResult, number: int) -> str:
    verdict = Verdict(result.verdict)
    threshold = result.threshold if result.threshold is not None else DEFAULT_THRESHOLD
    name = Path(result.path).name or result.path
    out = [f'<section class="card {verdict.value}" id="file-{number}">']
    out.append(f'<div class="head"><span class="badge {verdict.value}">{_e(_VERDICT_TEXT[verdict])}</span><h2>{_e(name)}</h2></div>')
    out.append(f'<div class="path">{_e(result.path)}</div>')
    if result.probability is not None:
        cls = "fake" if result.probability >= threshold else "real"
        width = min(max(result.probability, 0.0), 1.0) * 100.0
        out.append(
            f'<div class="prob"><div class="bar" title="threshold {threshold:.2f}"><div class="fill {cls}" style="width:{width:.1f}%"></div>'
            f'<div class="thr" style="left:{threshold * 100.0:.1f}%"></div></div>'
            f"<span><b>{_pct(result.probability)}</b> probability of fake (threshold {_pct(threshold)})</span></div>"
        )
    out.append(_reasons(result))
    if result.error:
        out.append(f'<div class="errmsg">{_e(result.error)}</div>')
    elif result.explanation:
        out.append(f'<p class="explain">{_e(result.explanation)}</p>')
    elif verdict is Verdict.NO_FACE:
        n = result.media.sampled_frames if result.media is not None else 0
        out.append(
            f'<p class="note">No face was found in {n} analysed frame{"s" if n != 1 else ""}: nothing to judge (this is not a "real" verdict).</p>'
        )

    body = []
    index = _best_keyframe(result)
    if index is not None:
        kind = result.media.kind if result.media is not None else None
        face = next((f for f in result.faces if f.frame_index == index), None)
        where = _when(face, kind) if face is not None else ""
        caption = "Heatmap overlay" + (f", {where} (most suspicious face)" if where else "")
        uri = _data_uri(keyframe_overlay(result, index), max_side=THUMB_MAX_SIDE)
        body.append(f'<figure class="thumb"><img src="{uri}" alt="frame with heatmap overlay"><figcaption>{_e(caption)}</figcaption></figure>')
    if result.ok or result.media is not None:
        body.append(_facts(result))
    if body:
        out.append('<div class="body">' + "".join(body) + "</div>")
    if result.media is not None and result.media.kind == "video" and result.frames:
        fused = fused_face_score(result) is not None
        face_thr = result.face_threshold if result.face_threshold is not None else threshold
        out.append("<h3>Frame scores over time (each frame's highest face probability)</h3>" + timeline_svg(result.frames, face_thr))
        if fused:
            out.append(
                f'<p class="note">Frame scores are the face classifier\'s, marked against its own threshold ({_pct(face_thr)}); '
                f"the file's fused probability has its own threshold ({_pct(threshold)}).</p>"
            )
    out.append(_evidence_table(result))
    out.append(_track_table(result))
    out.append(_panels(result, threshold))
    out.append(_provenance(result))
    out.append("</section>")
    return "\n".join(part for part in out if part)


def _skipped(skipped: Sequence[tuple[str, str]]) -> str:
    if not skipped:
        return ""
    items = "".join(f"<li>{_e(path)}: {_e(reason)}</li>" for path, reason in skipped)
    return f'<section class="card"><h3>Skipped in the folders ({len(skipped)}, not scanned)</h3><ul class="skipped">{items}</ul></section>'


def render_html(results: Iterable[FileResult], title: str = "DeepDetector report", skipped: Sequence[tuple[str, str]] = ()) -> str:
    """The whole report page as a string (see :func:`write_html_report`)."""
    results = list(results)
    counts = summary_counts(results)
    model = model_name(results) or "unknown model"
    # the thresholds that judged something: an unreadable file's ("other media") judged nothing
    thresholds = sorted({r.threshold for r in results if r.threshold is not None and r.probability is not None})
    thr_text = ", ".join(f"{t:.3g}" for t in thresholds) or "n/a"
    generated = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()
    chips = "".join(
        f'<span class="chip"><b>{counts[key]}</b>{_e(label)}</span>'
        for key, label in (("files", "files"), ("fake", "fake"), ("real", "real"), ("no_face", "no face"), ("error", "errors"))
    )
    cards = "\n".join(_card(r, i) for i, r in enumerate(results, 1)) or '<p class="note">No files were scanned.</p>'
    cards += _skipped(skipped)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="referrer" content="no-referrer">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>{_e(title)}</h1>
<p class="meta">Model <b>{_e(model)}</b> &middot; threshold {_e(thr_text)} &middot; generated {_e(generated)} &middot; {_e(summary_line(counts))}</p>
<div class="chips">{chips}</div>
{_HOW_TO_READ}
</header>
<main>
{cards}
</main>
<footer>Made by DeepDetector, offline. This page loads nothing from the network.</footer>
</body>
</html>
"""


def write_html_report(
    results: Iterable[FileResult], path: str | Path, title: str = "DeepDetector report", skipped: Sequence[tuple[str, str]] = ()
) -> Path:
    """Write one self-contained HTML page about ``results`` to ``path`` and return the path.

    The page has: the summary counts, the model and threshold, a "how to read this" note, and per
    file a card with the verdict badge, a probability bar, the kept frame with its heatmap
    overlay, per-face panels (crop | heatmap), a per-track table, for videos an SVG plot of the
    probability over time, the explanation of how the verdict was reached (``FileResult.explanation``),
    the error message for files that failed, and what the folders held that was skipped.
    """
    path = Path(path)
    text = render_html(results, title=title, skipped=skipped)
    ensure_parent(path)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the HTML report {path}: {exc.strerror or exc}") from exc
    return path
