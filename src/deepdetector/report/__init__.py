"""Report stage: terminal table, JSON (with its schema), CSV, heatmap PNGs and the HTML report.

>>> from deepdetector import report
>>> report.print_table(results)                     # rich table + summary line
>>> report.write_json(results, "scan.json")         # documented in docs/output-formats.md
>>> report.write_csv(results, "scan.csv")
>>> for r in results: report.write_heatmaps(r, "heatmaps/")
>>> report.write_html_report(results, "report.html")
"""

from deepdetector.report._common import ReportError, check_writable, safe_stem, summary_counts
from deepdetector.report.csv_report import CSV_COLUMNS, csv_row, write_csv
from deepdetector.report.heatmaps import keyframe_overlay, write_heatmaps
from deepdetector.report.html_report import render_html, timeline_svg, write_html_report
from deepdetector.report.json_report import JSON_VERSION, dumps, load_schema, to_json, validate_json, write_json
from deepdetector.report.table import build_table, print_table

__all__ = [
    "CSV_COLUMNS",
    "JSON_VERSION",
    "ReportError",
    "build_table",
    "check_writable",
    "csv_row",
    "dumps",
    "keyframe_overlay",
    "load_schema",
    "print_table",
    "render_html",
    "safe_stem",
    "summary_counts",
    "timeline_svg",
    "to_json",
    "validate_json",
    "write_csv",
    "write_heatmaps",
    "write_html_report",
    "write_json",
]
