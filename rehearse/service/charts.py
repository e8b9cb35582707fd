"""Inline SVG charts drawn on the server from the trend data: no script, no chart library, no CDN.

Every data point is a ``<circle class="point">`` with a ``<title>`` (the browser's tooltip) and
``data-series``/``data-rehearsal`` attributes, so tests count them and people hover them.
Budget lines (thresholds) are dashed ``<line class="budget">``; a budget above the chart's scale
is named in the legend rather than squashing the points against the axis.
"""

from __future__ import annotations

import math
from html import escape

W, H = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40
PALETTE = ("#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626")


def _nice(top: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``top``: ticks people read at a glance."""
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= top * 0.999)


def _ticks(top: float) -> int:
    """Intervals between ticks: quarters of 1 and 2 (0.25, 0.5), fifths of 5 (1, 2, ...)."""
    lead = round(top / 10 ** math.floor(math.log10(top)))
    return 5 if lead == 5 else 4


def _fmt(v: float, unit: str) -> str:
    if unit == "s":
        if v == 0:
            return "0 s"
        return f"{v:.3g} s" if v < 1 else (f"{v:.1f} s".replace(".0 s", " s") if v < 100 else f"{v:.0f} s")
    if v >= 1_000_000:
        return f"{v / 1_000_000:.1f}M"
    if v >= 1_000:
        return f"{v / 1_000:.1f}k"
    return f"{v:g}"


def _frame(css: str, label: str, ymax: float, unit: str, xlabel: str) -> list[str]:
    out = [f'<svg class="chart {css}" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}" '
           f'xmlns="http://www.w3.org/2000/svg">',
           f'<text class="axis-label" x="{LEFT}" y="{H - 6}">{escape(xlabel)}</text>']
    n = _ticks(ymax)
    for i in range(n + 1):
        v = ymax * i / n
        y = _y(v, ymax)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(v, unit)}</text>')
    return out


def _y(v: float, ymax: float) -> float:
    return TOP + (H - TOP - BOTTOM) * (1 - (v / ymax if ymax else 0))


def _x(i: int, n: int) -> float:
    span = W - LEFT - RIGHT - 20
    return LEFT + 10 + (span * i / (n - 1) if n > 1 else span / 2)


def _scale(values: list[float], budgets: dict[str, float]) -> float:
    top = max(values, default=0.0) * 1.1
    if budgets:
        top = max(top, min(budgets.values()) * 1.05)  # the lowest budget line is always in view
    return _nice(top)


def _merged(budgets: dict[str, float]) -> list[tuple[str, float]]:
    """Budgets at the same value become one line with one label (lock_held_s and medium_lock_s are both 1 s)."""
    by_value: dict[float, list[str]] = {}
    for name, limit in budgets.items():
        by_value.setdefault(limit, []).append(name)
    return sorted(((" = ".join(names), limit) for limit, names in by_value.items()), key=lambda kv: kv[1])


def _legend(items: list[tuple[str, str, str]]) -> str:
    spans = "".join(f'<span class="key {cls}"><i style="background:{color}"></i>{escape(text)}</span>'
                    for text, color, cls in items)
    return f'<div class="legend">{spans}</div>'


def trend_chart(css: str, label: str, series: dict[str, list[dict]], budgets: dict[str, float],
                unit: str = "s") -> str:
    """One line per revision across rehearsals (x: rehearsals in order), with the budget lines."""
    order = sorted({p["rehearsal"] for pts in series.values() for p in pts})
    if not order:
        return '<p class="empty">no finished rehearsal with measurements yet</p>'
    index = {rid: i for i, rid in enumerate(order)}
    ymax = _scale([p["value"] for pts in series.values() for p in pts], budgets)
    out = _frame(css, label, ymax, unit, "rehearsals, oldest first")
    legend = []
    for name, limit in _merged(budgets):
        if limit <= ymax:
            y = _y(limit, ymax)
            out.append(f'<line class="budget" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}">'
                       f'<title>{escape(name)}: {_fmt(limit, unit)}</title></line>')
            out.append(f'<text class="budget-label" x="{W - RIGHT - 4}" y="{y - 4:.1f}" text-anchor="end">'
                       f'{escape(name)} {_fmt(limit, unit)}</text>')
        else:
            legend.append((f"{name} {_fmt(limit, unit)} (above the scale)", "transparent", "off-scale"))
    for i, rid in enumerate(order):
        if len(order) <= 12 or i % max(1, len(order) // 12) == 0:
            out.append(f'<text class="tick" x="{_x(i, len(order)):.1f}" y="{H - BOTTOM + 16}" '
                       f'text-anchor="middle">#{rid}</text>')
    for n, (rev, pts) in enumerate(sorted(series.items())):
        color = PALETTE[n % len(PALETTE)]
        coords = [(_x(index[p["rehearsal"]], len(order)), _y(p["value"], ymax), p) for p in pts]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in coords)
            out.append(f'<polyline class="series" points="{path}" stroke="{color}"/>')
        for x, y, p in coords:
            out.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{color}" '
                       f'data-series="{escape(rev)}" data-rehearsal="{p["rehearsal"]}">'
                       f'<title>{escape(rev)}, rehearsal #{p["rehearsal"]}: {_fmt(p["value"], unit)}</title></circle>')
        legend.insert(n, (rev, color, "series"))
    out.append("</svg>")
    return "".join(out) + _legend(legend)


def scatter_chart(css: str, label: str, points: list[dict], x_key: str, y_key: str, xlabel: str) -> str:
    """Duration (y) against the size of the table the revision locked (x), one point per revision and rehearsal."""
    if not points:
        return '<p class="empty">no revision that locked a table yet</p>'
    xmax = _nice(max(p[x_key] for p in points) * 1.1)
    ymax = _nice(max(p[y_key] for p in points) * 1.1)
    out = _frame(css, label, ymax, "s", xlabel)
    span = W - LEFT - RIGHT - 20
    revs = sorted({p["revision"] for p in points})
    n = _ticks(xmax)
    for i in range(n + 1):
        v = xmax * i / n
        out.append(f'<text class="tick" x="{LEFT + 10 + span * i / n:.1f}" y="{H - BOTTOM + 16}" '
                   f'text-anchor="middle">{_fmt(v, "")}</text>')
    for p in points:
        color = PALETTE[revs.index(p["revision"]) % len(PALETTE)]
        x, y = LEFT + 10 + span * p[x_key] / xmax, _y(p[y_key], ymax)
        out.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{color}" '
                   f'data-series="{escape(p["revision"])}" data-rehearsal="{p["rehearsal"]}">'
                   f'<title>{escape(p["revision"])}, rehearsal #{p["rehearsal"]}: {_fmt(p[y_key], "s")} on '
                   f'{_fmt(p[x_key], "")} rows</title></circle>')
    out.append("</svg>")
    return "".join(out) + _legend([(r, PALETTE[i % len(PALETTE)], "series") for i, r in enumerate(revs)])


def size_chart(css: str, label: str, points: list[dict]) -> str:
    """Rows restored from each rehearsal's snapshot, over the rehearsals in order."""
    if not points:
        return '<p class="empty">no rehearsal recorded its snapshot size yet</p>'
    series = {"snapshot rows": [{"rehearsal": p["rehearsal"], "value": p["rows"]} for p in points]}
    return trend_chart(css, label, series, {}, unit="")
