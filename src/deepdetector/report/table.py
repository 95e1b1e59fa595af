"""The terminal table printed after a scan."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from deepdetector.report._common import summary_counts, summary_line, total_seconds
from deepdetector.types import FileResult, Verdict

VERDICT_STYLE = {
    Verdict.FAKE: "bold red",
    Verdict.REAL: "bold green",
    Verdict.NO_FACE: "yellow",
    Verdict.ERROR: "bold magenta",
}
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


def build_table(results: Iterable[FileResult]) -> Table:
    """The rich table of results: file, verdict (coloured), probability, faces, frames/duration, time.

    File names and error messages are added as plain :class:`rich.text.Text`, so brackets in
    them are never read as console markup.
    """
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("File", overflow="fold", ratio=3)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("P(fake)", justify="right", no_wrap=True)
    table.add_column("Faces", justify="right", no_wrap=True)
    table.add_column("Frames / duration", no_wrap=True)
    table.add_column("Time", justify="right", no_wrap=True)
    for r in results:
        verdict = Verdict(r.verdict)
        file_cell = Text(r.path)
        prob = Text("-" if r.probability is None else f"{r.probability:.1%}")
        if r.probability is not None and r.threshold is not None:
            prob.stylize("red" if r.probability >= r.threshold else "green")
        faces = "" if not r.ok else f"{len(r.faces)}" + (f" ({len(r.tracks)} tracks)" if len(r.tracks) > 1 else "")
        seconds = total_seconds(r)
        table.add_row(
            file_cell,
            Text(_VERDICT_TEXT[verdict], style=VERDICT_STYLE[verdict]),
            prob,
            faces,
            _extent(r),
            "" if seconds is None else f"{seconds:.2f} s",
        )
    return table


def print_table(results: Iterable[FileResult], console: Console | None = None) -> None:
    """Print the results table, each error message, each verdict a verified provenance declaration
    decided and each metadata claim of generation, and a one-line summary (``4 files: 1 fake, 2 real, ...``)."""
    results = list(results)
    console = console or Console()
    console.print(build_table(results))
    for r in results:
        if r.error:
            line = Text("error ", style="bold magenta")
            line.append(r.path)
            line.append(": " + r.error, style="magenta")
            console.print(line)
        elif r.reasons and r.reasons[0].startswith("provenance:"):  # the verdict came from a verified declaration
            line = Text("provenance ", style="bold red")
            line.append(r.path)
            line.append(": " + r.reasons[0][len("provenance:"):].strip())
            console.print(line)
        elif r.provenance is not None and r.provenance.generated == "claimed":
            line = Text("note ", style="bold")
            line.append(r.path)
            line.append(f": metadata claims it was generated ({r.provenance.generator or 'unnamed tool'}); claims do not change the verdict")
            console.print(line)
    counts = summary_counts(results)
    style = "bold red" if counts["fake"] else "bold"
    console.print(Text(summary_line(counts), style=style))
