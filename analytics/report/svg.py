"""Tiny inline-SVG charts (no JavaScript, no external resources): pure functions -> str.

>>> line_chart({"m": [(0, 0.5), (1, 0.7)]}, title="auc").startswith("<svg")
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
W, H = 640, 300
L, R, T, B = 60, 130, 30, 45


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}" if abs(v) < 1e7 else f"{v:.3g}"
    if abs(v) < 0.01:
        return f"{v:.2g}"
    return f"{v:.3g}"


def time_label(ms: float) -> str:
    """ms since epoch -> short UTC label.

    >>> time_label(1767225600000)
    '01-01 00:00'
    """
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%m-%d %H:%M")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def _frame(title: str, body: list[str], *, width: int = W, height: int = H) -> str:
    return (f'<svg width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14" '
            f'font-weight="bold">{escape(title)}</text>' + "".join(body) + "</svg>")


def _legend(names: Sequence[str], x: float) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = T + 14 * i + 6
        out.append(f'<rect x="{x}" y="{y - 8}" width="10" height="10" '
                   f'fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{x + 14}" y="{y + 1}" font-size="11">{escape(str(name))}</text>')
    return out


def empty_chart(title: str, message: str = "no data") -> str:
    """A frame that says there is nothing to plot."""
    return _frame(title, [(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" '
                          f'font-size="13" fill="#777">{escape(message)}</text>')])


def line_chart(series: Mapping[str, Sequence[tuple[float, float | None]]], *, title: str,
               y_label: str = "", time_x: bool = False, x_range: tuple[float, float] | None = None,
               y_range: tuple[float, float] | None = None, diagonal: bool = False,
               markers: bool = True) -> str:
    """Lines (with point markers) per series; ``None`` y values break the line."""
    pts = [(x, y) for s in series.values() for x, y in s if y is not None and math.isfinite(y)]
    if not pts:
        return empty_chart(title)
    x0, x1 = x_range or (min(p[0] for p in pts), max(p[0] for p in pts))
    y0, y1 = y_range or (min(p[1] for p in pts), max(p[1] for p in pts))
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pw, ph = W - L - R, H - T - B

    def sx(x: float) -> float:
        return L + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return T + ph - (y - y0) / (y1 - y0) * ph

    body = [f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for t in _ticks(y0, y1):
        body.append(f'<line x1="{L}" x2="{L + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" '
                    f'stroke="#eee"/><text x="{L - 4}" y="{sy(t) + 4:.1f}" font-size="10" '
                    f'text-anchor="end">{_fmt(t)}</text>')
    for t in _ticks(x0, x1):
        label = time_label(t) if time_x else _fmt(t)
        body.append(f'<text x="{sx(t):.1f}" y="{T + ph + 14}" font-size="10" '
                    f'text-anchor="middle">{escape(label)}</text>')
    if y_label:
        body.append(f'<text x="14" y="{T + ph / 2}" font-size="11" text-anchor="middle" '
                    f'transform="rotate(-90 14 {T + ph / 2})">{escape(y_label)}</text>')
    if diagonal:
        body.append(f'<line x1="{sx(x0):.1f}" y1="{sy(y0):.1f}" x2="{sx(x1):.1f}" '
                    f'y2="{sy(y1):.1f}" stroke="#aaa" stroke-dasharray="4 3"/>')
    for i, (name, s) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        segs: list[list[str]] = [[]]
        for x, y in s:
            if y is None or not math.isfinite(y):
                segs.append([])
                continue
            segs[-1].append(f"{sx(x):.1f},{sy(y):.1f}")
            if markers:
                body.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}">'
                            f'<title>{escape(str(name))}: {_fmt(y)}</title></circle>')
        for seg in segs:
            if len(seg) > 1:
                body.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" '
                            f'points="{" ".join(seg)}"/>')
    body += _legend(list(series), W - R + 10)
    return _frame(title, body)


def bar_chart(groups: Mapping[str, Mapping[str, float | None]], *, title: str,
              reference: float | None = None, highlight: str | None = None,
              y_range: tuple[float, float] | None = None) -> str:
    """Grouped bars: ``groups[group][series] = value``; a dashed line at ``reference``."""
    names = sorted({s for g in groups.values() for s in g})
    vals = [v for g in groups.values() for v in g.values() if v is not None and math.isfinite(v)]
    if not vals:
        return empty_chart(title)
    y0, y1 = y_range or (min(0.0, min(vals)), max([0.0, *vals]))
    if y1 == y0:
        y1 = y0 + 1
    pw, ph = W - L - R, H - T - B
    gw = pw / max(1, len(groups))
    bw = gw * 0.8 / max(1, len(names))

    def sy(y: float) -> float:
        return T + ph - (y - y0) / (y1 - y0) * ph

    body = [f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for t in _ticks(y0, y1):
        body.append(f'<line x1="{L}" x2="{L + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" '
                    f'stroke="#eee"/><text x="{L - 4}" y="{sy(t) + 4:.1f}" font-size="10" '
                    f'text-anchor="end">{_fmt(t)}</text>')
    for gi, (group, values) in enumerate(groups.items()):
        gx = L + gi * gw + gw * 0.1
        weight = ' font-weight="bold" fill="#b00"' if group == highlight else ""
        body.append(f'<text x="{L + gi * gw + gw / 2:.1f}" y="{T + ph + 14}" font-size="10" '
                    f'text-anchor="middle"{weight}>{escape(str(group))}</text>')
        for si, name in enumerate(names):
            v = values.get(name)
            if v is None or not math.isfinite(v):
                continue
            top, base = sy(max(v, y0)), sy(max(min(0.0, y1), y0))
            body.append(f'<rect x="{gx + si * bw:.1f}" y="{min(top, base):.1f}" '
                        f'width="{bw * 0.95:.1f}" height="{abs(base - top):.1f}" '
                        f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(str(group))} '
                        f'{escape(name)}: {_fmt(v)}</title></rect>')
    if reference is not None:
        body.append(f'<line x1="{L}" x2="{L + pw}" y1="{sy(reference):.1f}" '
                    f'y2="{sy(reference):.1f}" stroke="#333" stroke-dasharray="5 3"/>')
    body += _legend(names, W - R + 10)
    return _frame(title, body)


def heatmap(rows: Sequence[str], cols: Sequence[float], values: Mapping[tuple[str, float], float],
            *, title: str, vmax: float = 0.5, time_cols: bool = True) -> str:
    """Cells coloured by value (white -> red, saturating at ``vmax``), value printed inside."""
    if not rows or not cols:
        return empty_chart(title)
    left, top = 150, T + 5
    cw = max(28.0, min(70.0, (W + 160 - left - 20) / len(cols)))
    ch = 22
    width = int(left + cw * len(cols) + 20)
    height = int(top + ch * len(rows) + 40)
    body = []
    for ri, r in enumerate(rows):
        body.append(f'<text x="{left - 6}" y="{top + ri * ch + 15}" font-size="11" '
                    f'text-anchor="end">{escape(str(r))}</text>')
        for ci, c in enumerate(cols):
            v = values.get((r, c))
            if v is None:
                fill, label = "#f4f4f4", ""
            else:
                a = max(0.0, min(1.0, v / vmax))
                fill = f"rgb(255,{int(255 - 200 * a)},{int(255 - 220 * a)})"
                label = _fmt(v)
            body.append(f'<rect x="{left + ci * cw:.1f}" y="{top + ri * ch}" width="{cw - 1:.1f}" '
                        f'height="{ch - 1}" fill="{fill}"><title>{escape(str(r))} @ '
                        f'{escape(time_label(c) if time_cols else str(c))}: {label}</title></rect>'
                        f'<text x="{left + ci * cw + cw / 2:.1f}" y="{top + ri * ch + 15}" '
                        f'font-size="9" text-anchor="middle">{label}</text>')
    for ci, c in enumerate(cols):
        label = time_label(c) if time_cols else str(c)
        x = left + ci * cw + cw / 2
        y = top + len(rows) * ch + 10
        body.append(f'<text x="{x:.1f}" y="{y}" font-size="9" text-anchor="end" '
                    f'transform="rotate(-35 {x:.1f} {y})">{escape(label)}</text>')
    return _frame(title, body, width=max(width, 320), height=height + 30)


def timeline(events: Sequence[tuple[float, str, str]], *, title: str,
             x_range: tuple[float, float] | None = None) -> str:
    """Events ``(ts_ms, lane, label)`` as markers on one lane per distinct lane name."""
    if not events:
        return empty_chart(title, "no alerts")
    lanes = sorted({e[1] for e in events})
    xs = [e[0] for e in events]
    x0, x1 = x_range or (min(xs), max(xs))
    if x1 <= x0:
        x0, x1 = x0 - 60_000, x1 + 60_000
    pw = W - L - R
    height = T + 30 * len(lanes) + 40
    body = []
    for li, lane in enumerate(lanes):
        y = T + 30 * li + 15
        body.append(f'<line x1="{L}" x2="{L + pw}" y1="{y}" y2="{y}" stroke="#ddd"/>'
                    f'<text x="{L + pw + 6}" y="{y + 4}" font-size="11">{escape(lane)}</text>')
    for ts, lane, label in events:
        x = L + (ts - x0) / (x1 - x0) * pw
        y = T + 30 * lanes.index(lane) + 15
        body.append(f'<path d="M{x:.1f},{y - 7} l6,7 l-6,7 l-6,-7 z" fill="#d62728">'
                    f'<title>{escape(time_label(ts))} {escape(lane)}: {escape(label)}</title></path>')
    for t in _ticks(x0, x1):
        x = L + (t - x0) / (x1 - x0) * pw
        body.append(f'<text x="{x:.1f}" y="{T + 30 * len(lanes) + 12}" font-size="10" '
                    f'text-anchor="middle">{escape(time_label(t))}</text>')
    return _frame(title, body, height=height)


def interval_chart(rows: Sequence[tuple[str, float, float, float]], *, title: str,
                   reference: float = 0.0) -> str:
    """A forest plot: one row ``(label, estimate, low, high)`` per line, a dot at the estimate,
    a bar from low to high, a dashed line at ``reference``; rows whose interval excludes the
    reference are drawn in red."""
    vals = [v for _, e, lo, hi in rows for v in (e, lo, hi) if v is not None and math.isfinite(v)]
    if not vals:
        return empty_chart(title)
    x0, x1 = min([reference, *vals]), max([reference, *vals])
    pad = (x1 - x0) * 0.05 or 0.05
    x0, x1 = x0 - pad, x1 + pad
    left, pw, step = 190, W - 190 - 30, 22
    height = T + step * len(rows) + 40

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    body = [(f'<line x1="{sx(reference):.1f}" x2="{sx(reference):.1f}" y1="{T}" '
            f'y2="{T + step * len(rows)}" stroke="#333" stroke-dasharray="5 3"/>')]
    for i, (label, est, lo, hi) in enumerate(rows):
        y = T + step * i + step / 2
        body.append(f'<text x="{left - 8}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
                    f'{escape(str(label))}</text>')
        if est is None or not math.isfinite(est):
            continue
        ok = lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
        color = "#b00" if ok and (lo > reference or hi < reference) else PALETTE[0]
        if ok:
            body.append(f'<line x1="{sx(lo):.1f}" x2="{sx(hi):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                        f'stroke="{color}" stroke-width="2"/>')
        tip = f"{label}: {_fmt(est)}" + (f" [{_fmt(lo)}, {_fmt(hi)}]" if ok else "")
        body.append(f'<circle cx="{sx(est):.1f}" cy="{y:.1f}" r="4" fill="{color}">'
                    f'<title>{escape(tip)}</title></circle>')
    for t in _ticks(x0, x1):
        body.append(f'<text x="{sx(t):.1f}" y="{T + step * len(rows) + 14}" font-size="10" '
                    f'text-anchor="middle">{_fmt(t)}</text>')
    return _frame(title, body, height=height)
