"""HTML pieces of the report: page shell, sections, tables (everything escaped)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from analytics.report.svg import time_label

TIME_COLUMNS = {"bucket_ms", "window_ms", "ts_ms", "first_drifted_window_ms"}
"""Integer columns shown as UTC times."""

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
h3{font-size:15px}.charts{display:flex;flex-wrap:wrap;gap:12px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#f3f3f3}td.s{text-align:left}.note{color:#666;font-size:12px}
details{margin:6px 0}summary{cursor:pointer;color:#1f4e9a}
.bad{color:#b00;font-weight:bold}
"""


def cell(value: Any, column: str = "") -> str:
    """One table cell: times for ``*_ms`` timestamp columns, 4 significant digits for floats."""
    if value is None:
        return '<td class="s"></td>'
    if isinstance(value, bool):
        return f"<td>{'yes' if value else ''}</td>"
    if isinstance(value, float):
        text = "nan" if math.isnan(value) else f"{value:.4g}"
        return f"<td>{text}</td>"
    if isinstance(value, int):
        if column in TIME_COLUMNS and value > 10**11:
            return f"<td>{escape(time_label(value))}</td>"
        return f"<td>{value}</td>"
    if isinstance(value, (list, dict)):
        return f'<td class="s">{escape(str(value))}</td>'
    return f'<td class="s">{escape(str(value))}</td>'


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, *,
          limit: int = 300) -> str:
    """An HTML table of ``rows`` (at most ``limit``; the rest is counted)."""
    if not rows:
        return '<p class="note">no rows</p>'
    cols = list(columns or rows[0].keys())
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(cell(r.get(c), c) for c in cols) + "</tr>"
                   for r in rows[:limit])
    more = (f'<p class="note">{len(rows) - limit} more rows not shown</p>'
            if len(rows) > limit else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def details(summary: str, inner: str) -> str:
    """A collapsible block (for the tables behind the charts)."""
    return f"<details><summary>{escape(summary)}</summary>{inner}</details>"


def page(title: str, sections: Sequence[str]) -> str:
    """The whole self-contained page."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{escape(title)}</h1>" + "\n".join(sections) + "</body></html>\n")
