"""A tiny builder for self-contained HTML reports (inline CSS, plots as data URIs, no scripts)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from deepdetector.errors import DeepDetectorError

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}h3{font-size:1em}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
tr.met td.s{color:#1a7f37;font-weight:bold}tr.missed td.s{color:#cf222e;font-weight:bold}
.note{color:#555;font-size:.85em}.warn{background:#fff8c5;padding:.5em;border:1px solid #e5d37a}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}
code{background:#f4f4f4;padding:0 .2em}
"""


class ReportWriteError(DeepDetectorError):
    """The HTML report could not be written."""


@dataclass
class HtmlPage:
    """Collects headings, paragraphs, tables and images, then writes one HTML file."""

    title: str
    parts: list[str] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str, cls: str = "note") -> None:
        self.parts.append(f'<p class="{cls}">{html.escape(text)}</p>')

    def items(self, lines: Sequence[str]) -> None:
        if lines:
            self.parts.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1, row_classes: Sequence[str] | None = None) -> None:
        """``left``: how many leading columns are text (left-aligned)."""
        out = ["<table><thead><tr>"]
        out += [f'<th class="{"l" if i < left else ""}">{html.escape(str(h))}</th>' for i, h in enumerate(header)]
        out.append("</tr></thead><tbody>")
        for n, row in enumerate(rows):
            cls = f' class="{row_classes[n]}"' if row_classes and row_classes[n] else ""
            out.append(f"<tr{cls}>")
            for i, cell in enumerate(row):
                klass = "l" if i < left else ""
                if header[i] in ("status",):
                    klass += " s"
                out.append(f'<td class="{klass.strip()}">{html.escape("" if cell is None else str(cell))}</td>')
            out.append("</tr>")
        out.append("</tbody></table>")
        self.parts.append("".join(out))

    def image(self, data_uri: str | None, alt: str, missing: str | None = None) -> None:
        if data_uri:
            self.parts.append(f'<img src="{data_uri}" alt="{html.escape(alt)}">')
        elif missing:
            self.paragraph(missing)

    def render(self) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1><p class='note'>written {stamp} by deepdetector</p>" + "\n".join(self.parts) + "</body></html>"
        )

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.render(), encoding="utf-8")
        except OSError as exc:
            raise ReportWriteError(f"cannot write the report {path}: {exc}") from None
        return path


def fmt(x: float | None, nd: int = 3) -> str:
    """A metric for a table cell: ``—`` when undefined."""
    return "—" if x is None else f"{x:.{nd}f}"


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"
