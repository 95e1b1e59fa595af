"""The terminal table printed after a scan."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from deepdetector.report._common import summary_counts, summary_line, total_seconds
from deepdetector.types import FileResult, Verdict
from deepdetector.verdict.explain import fused_face_score

VERDICT_STYLE = {
    Verdict.FAKE: "bold red",
    Verdict.REAL: "bold green",
    Verdict.NO_FACE: "yellow",
    Verdict.ERROR: "bold magenta",
}
SKIPPED_SHOWN = 5  # skipped entries listed under the table (the JSON lists all)
_VERDICT_TEXT = {Verdict.FAKE: "FAKE", Verdict.REAL: "real", Verdict.NO_FACE: "no face", Verdict.ERROR: "error"}


def _extent(result: FileResult) -> str:
    m = result.media
    if m is None:
        return ""
    if m.kind == "image":
        return f"image {m.width}x{m.height}"
    text = f"{m.sampled_frames} frames"
    if m.duration is not None:
        text += f" / {m.duration:.1f} s"
    return text


def shorten_middle(text: str, width: int) -> str:
    """``text`` cut in the middle to at most ``width`` characters (``"arch…/clip_0001.mp4"``): the
    end of a path (file name, extension) is what tells files apart, so it is kept whole where it fits."""
    if width < 1:
        return ""
    if len(text) <= width:
        return text
    if width <= 3:
        return text[-width:]
    tail = (width - 1) * 2 // 3
    head = width - 1 - tail
    return text[:head] + "\u2026" + text[len(text) - tail :]


_HEADERS = ("File", "Verdict", "P(fake)", "Faces", "Frames / duration", "Time")
# each column's left and right padding plus the borders between and around the columns
_CHROME = 2 * len(_HEADERS) + len(_HEADERS) + 1


def build_table(results: Iterable[FileResult], width: int | None = None) -> Table:
    """The rich table of results: file, verdict (coloured), probability, faces, frames/duration, time.

    File names and error messages are added as plain :class:`rich.text.Text`, so brackets in
    them are never read as console markup. A file name never wraps: when the table would be wider
    than ``width`` (the console's), the name is shortened in the middle.
    """
    results = list(results)
    rows = []
    for r in results:
        verdict = Verdict(r.verdict)
        prob = Text("-" if r.probability is None else f"{r.probability:.1%}")
        if r.probability is not None and r.threshold is not None:
            prob.stylize("red" if r.probability >= r.threshold else "green")
        faces = "" if not r.ok else f"{len(r.faces)}" + (f" ({len(r.tracks)} tracks)" if len(r.tracks) > 1 else "")
        seconds = total_seconds(r)
        rows.append(
            (
                r.path,
                Text(_VERDICT_TEXT[verdict], style=VERDICT_STYLE[verdict]),
                prob,
                faces,
                _extent(r),
                "" if seconds is None else f"{seconds:.2f} s",
            )
        )
    file_width = None
    if width is not None:
        others = sum(max([len(h)] + [len(str(row[i])) for row in rows]) for i, h in enumerate(_HEADERS) if i > 0)
        file_width = max(len(_HEADERS[0]), width - others - _CHROME)
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column(_HEADERS[0], no_wrap=True, overflow="ellipsis", max_width=file_width)
    table.add_column(_HEADERS[1], no_wrap=True)
    table.add_column(_HEADERS[2], justify="right", no_wrap=True)
    table.add_column(_HEADERS[3], justify="right", no_wrap=True)
    table.add_column(_HEADERS[4], no_wrap=True)
    table.add_column(_HEADERS[5], justify="right", no_wrap=True)
    for path, *cells in rows:
        table.add_row(Text(path if file_width is None else shorten_middle(path, file_width)), *cells)
    return table


def frames_disagree(result: FileResult) -> bool:
    """A video judged real with frames at or above the threshold on their own, or judged fake with
    frames below it: the cases where the table alone would seem to contradict the timeline; and a
    video whose probability fuses the face classifier's score with cues."""
    if result.media is None or result.media.kind != "video" or result.threshold is None:
        return False
    if fused_face_score(result) is not None:  # frame scores are not on the fused threshold's scale
        return True
    scores = [f.probability for f in result.frames if f.probability is not None]
    if result.verdict is Verdict.REAL:
        return any(p >= result.threshold for p in scores)
    if result.verdict is Verdict.FAKE:
        return any(p < result.threshold for p in scores)
    return False


def print_table(results: Iterable[FileResult], console: Console | None = None, skipped: Sequence[tuple[str, str]] = ()) -> None:
    """Print the results table, each error message, each verdict a verified provenance declaration
    decided and each metadata claim of generation, how the verdict was reached for each video whose
    frames and verdict disagree (:func:`frames_disagree`; its ``explanation``), what the folders held
    that was skipped, and a one-line summary (``4 files: 1 fake, 2 real, ...``)."""
    results = list(results)
    console = console or Console()
    console.print(build_table(results, width=console.width))
    for r in results:
        if r.error:
            line = Text("error ", style="bold magenta")
            line.append(r.path)
            line.append(": " + r.error, style="magenta")
            console.print(line)
        elif r.reasons and r.reasons[0].startswith("provenance:"):  # the verdict came from a verified declaration
            line = Text("provenance ", style="bold red")
            line.append(r.path)
            line.append(": " + r.reasons[0][len("provenance:") :].strip())
            console.print(line)
        elif r.provenance is not None and r.provenance.generated == "claimed":
            line = Text("note ", style="bold")
            line.append(r.path)
            line.append(f": metadata claims it was generated ({r.provenance.generator or 'unnamed tool'}); claims do not change the verdict")
            console.print(line)
    for r in results:  # where a video's frames and its verdict disagree, say how the verdict was made
        if r.explanation and frames_disagree(r):
            line = Text(r.path, style="bold")
            line.append(": " + r.explanation)
            console.print(line)
    if skipped:
        console.print(Text(f"skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} in the folders (not scanned):", style="yellow"))
        for path, reason in skipped[:SKIPPED_SHOWN]:
            console.print(Text(f"  {path}: {reason}"))
        if len(skipped) > SKIPPED_SHOWN:
            console.print(Text(f"  and {len(skipped) - SKIPPED_SHOWN} more (all are listed in the JSON report)"))
    counts = summary_counts(results)
    style = "bold red" if counts["fake"] else "bold"
    console.print(Text(summary_line(counts), style=style))
