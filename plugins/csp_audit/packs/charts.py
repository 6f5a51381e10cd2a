"""Inline SVG charts drawn from the published (protected) tables: no scripts, no external assets.

Every chart is a self-contained ``<svg>`` with a ``viewBox`` (it scales to the width of the page or
phone), a ``<title>`` and ``role="img"`` for screen readers, and text escaped. Withheld values
([c]) are gaps in lines and labelled bars, never drawn as zero, and hatched areas on the map, never
coloured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

# colour-blind safe (Okabe-Ito) for series; a sequential blue-purple ramp for the map
SERIES = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
RAMP = ("#edf8fb", "#b3cde3", "#8c96c6", "#8856a7", "#810f7c")
HIGHLIGHT = "#D55E00"
MUTED = "#8a9bb0"
# the map's withheld / no-rate areas: grey hatching (an SVG pattern; its CSS twin for the HTML legend)
HATCH_ID = "lsoa-map-withheld"
HATCH_FILL = f"url(#{HATCH_ID})"
# the legend's hatched swatch as a tiny inline SVG (a CSS gradient would be lost in the PDF: WeasyPrint
# does not draw repeating gradients)
HATCH_SWATCH = (
    '<svg class="swatch" width="14" height="11" viewBox="0 0 14 11" aria-hidden="true">'
    '<rect width="14" height="11" fill="#d5dbe2"/>'
    '<path d="M-2 5L5 -2M-2 12L12 -2M5 12L16 1" stroke="#6f7d8b" stroke-width="1.4"/></svg>'
)
# How each kind of mark looks, as SVG presentation attributes on the mark itself: a PDF renderer
# (WeasyPrint) draws an inline SVG without the page's CSS, and a browser lets the page's CSS (the
# phone layout's larger text) override presentation attributes, so both read the same source.
_MARKS = {
    "grid": 'stroke="#e3e8ee" stroke-width="1"',
    "tick": 'font-size="11" fill="#5b6b7c"',
    "legend": 'font-size="11" fill="#5b6b7c"',
    "axis-label": 'font-size="11" fill="#5b6b7c"',
    "bar-label": 'font-size="12" fill="#1b2733"',
    "bar-value": 'font-size="11" fill="#1b2733"',
    "muted": 'font-size="12" fill="#8a9bb0"',
    "reference": 'stroke="#1b2733" stroke-dasharray="4 3" stroke-width="1.4"',
    "map-bg": 'fill="#f4f6f8"',
}


def _cls(mark: str) -> str:
    """A mark's class (for the page's CSS) and its look (for renderers without it)."""
    return f'class="{mark}" {_MARKS[mark]}'


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def _ticks(y_max: float) -> list[float]:
    """Gridline values from 0 to y_max in round steps (25 -> 0, 5, 10 ...; 1.2 -> 0, 0.3 ...)."""
    for n in (4, 5, 3, 6, 2):
        step = y_max / n
        digits = -math.floor(math.log10(step))
        if abs(step - round(step, digits)) < 1e-9 * max(1.0, step):
            return [step * i for i in range(n + 1)]
    return [y_max * i / 4 for i in range(5)]


def _open(width: int, height: int, title: str, kind: str, desc: str = "") -> list[str]:
    described = f' aria-describedby="chart-{kind}-desc"' if desc else ""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'class="chart chart-{kind}" preserveAspectRatio="xMidYMid meet" aria-label="{escape(title)}"{described}>',
        f"<title>{escape(title)}</title>",
    ]
    if desc:
        parts.append(f'<desc id="chart-{kind}-desc">{escape(desc)}</desc>')
    return parts


def empty(title: str, message: str = "No published figures to chart.") -> str:
    parts = _open(480, 80, title, "empty")
    parts.append(
        f'<text x="240" y="45" text-anchor="middle" {_cls("muted")} style="font-size:16px">{escape(message)}</text></svg>'
    )
    return "".join(parts)


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[str, float | None]]  # (x label, value or None when withheld)


def line_chart(
    series: Sequence[Series], title: str, y_label: str = "", width: int = 720, height: int = 300
) -> str:
    """Lines over a shared categorical x axis (months); gaps where a value is withheld."""
    xs: list[str] = sorted({x for s in series for x, _ in s.points})
    values = [v for s in series for _, v in s.points if v is not None]
    if not xs or not values:
        return empty(title)
    left, right, top, bottom = 56, 16, 16, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = _nice_max(max(values))
    step = plot_w / max(1, len(xs) - 1)
    pos = {x: left + i * step for i, x in enumerate(xs)}

    def y(value: float) -> float:
        return top + plot_h * (1 - value / y_max)

    parts = _open(width, height, title, "line")
    for v in _ticks(y_max):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" {_cls("grid")}/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" {_cls("tick")}>{_fmt(v)}</text>'
        )
    every = max(1, math.ceil(len(xs) / max(2, plot_w // 95)))
    for i, x in enumerate(xs):
        if i % every == 0:
            anchor = "end" if pos[x] > width - right - 30 else "middle"
            parts.append(
                f'<text x="{pos[x]:.1f}" y="{height - bottom + 18}" text-anchor="{anchor}" {_cls("tick")}>'
                f"{escape(x)}</text>"
            )
    if y_label:
        parts.append(f'<text x="{left}" y="{height - 8}" {_cls("axis-label")}>{escape(y_label)}</text>')
    for n, s in enumerate(series):
        colour = SERIES[n % len(SERIES)]
        d, pen_down = [], False
        for x, v in sorted(s.points):
            if v is None:
                pen_down = False
                continue
            d.append(f"{'L' if pen_down else 'M'}{pos[x]:.1f},{y(v):.1f}")
            pen_down = True
        if d:
            parts.append(
                f'<path d="{" ".join(d)}" fill="none" stroke="{colour}" stroke-width="2.2" '
                f'class="series"><title>{escape(s.label)}</title></path>'
            )
    if len(series) > 1:
        for n, s in enumerate(series):
            lx = left + (n % 3) * (plot_w / 3)
            ly = height - 26 + (n // 3) * 14
            parts.append(
                f'<rect x="{lx:.1f}" y="{ly - 9}" width="12" height="4" fill="{SERIES[n % len(SERIES)]}"/>'
                f'<text x="{lx + 16:.1f}" y="{ly - 4}" {_cls("legend")}>{escape(s.label[:40])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: withheld, drawn as a labelled gap
    highlight: bool = False
    note: str = ""


def bar_chart(
    bars: Sequence[Bar],
    title: str,
    unit: str = "",
    reference: tuple[str, float] | None = None,
    width: int = 720,
) -> str:
    """Horizontal bars with the label above each bar (readable on a phone) and the value after it;
    an optional dashed reference line (e.g. the region)."""
    if not bars or all(b.value is None for b in bars):
        return empty(title)
    row_h, top, left, value_w = 46, 8, 8, 90
    height = top + row_h * len(bars) + (30 if reference else 8)
    plot_w = width - left - value_w
    candidates = [b.value for b in bars if b.value is not None] + ([reference[1]] if reference else [])
    x_max = _nice_max(max(candidates))
    parts = _open(width, height, title, "bar")
    for i, b in enumerate(bars):
        y0 = top + i * row_h
        label = b.label if len(b.label) <= 60 else b.label[:59] + "…"
        weight = ' font-weight="700"' if b.highlight else ""
        parts.append(f'<text x="{left}" y="{y0 + 15}" {_cls("bar-label")}{weight}>{escape(label)}</text>')
        if b.value is None:
            parts.append(f'<text x="{left}" y="{y0 + 36}" {_cls("muted")}>[c] withheld</text>')
            continue
        w = max(1.0, plot_w * b.value / x_max) if b.value > 0 else 0.0
        colour = HIGHLIGHT if b.highlight else "#0072B2"
        parts.append(
            f'<rect x="{left}" y="{y0 + 21}" width="{w:.1f}" height="18" fill="{colour}" rx="2">'
            f"<title>{escape(b.label)}: {_fmt(b.value)}{escape(unit)}</title></rect>"
            f'<text x="{left + w + 6:.1f}" y="{y0 + 35}" {_cls("bar-value")}>{_fmt(b.value)}{escape(b.note)}</text>'
        )
    if reference:
        x = left + plot_w * reference[1] / x_max
        bottom = top + row_h * len(bars)
        anchor = "end" if x > width - 120 else "middle"
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" {_cls("reference")}/>'
            f'<text x="{x:.1f}" y="{bottom + 20}" text-anchor="{anchor}" {_cls("legend")}>'
            f"{escape(reference[0])}: {_fmt(reference[1])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(
    columns: Sequence[tuple[str, float | None]], title: str, baseline: float | None = None, width: int = 720
) -> str:
    """Vertical columns (e.g. a seasonal index by calendar month) with an optional baseline (1.0)."""
    values = [v for _, v in columns if v is not None]
    if not values:
        return empty(title)
    height, left, bottom, top = 240, 40, 36, 14
    plot_w, plot_h = width - left - 10, height - top - bottom
    y_max = _nice_max(max(values + ([baseline] if baseline else [])))
    slot = plot_w / len(columns)
    parts = _open(width, height, title, "column")
    for v in _ticks(y_max):
        yv = top + plot_h * (1 - v / y_max)
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{yv:.1f}" y2="{yv:.1f}" {_cls("grid")}/>'
            f'<text x="{left - 6}" y="{yv + 4:.1f}" text-anchor="end" {_cls("tick")}>{_fmt(v)}</text>'
        )
    for i, (label, v) in enumerate(columns):
        x = left + i * slot
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" {_cls("tick")}>'
            f"{escape(label)}</text>"
        )
        if v is None:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{top + plot_h - 4}" text-anchor="middle" {_cls("muted")}>[c]</text>'
            )
            continue
        h = plot_h * v / y_max
        parts.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="#0072B2"><title>{escape(label)}: {_fmt(v)}</title></rect>'
        )
    if baseline is not None:
        yb = top + plot_h * (1 - baseline / y_max)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{yb:.1f}" y2="{yb:.1f}" {_cls("reference")}/>')
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Point:
    code: str
    name: str
    lon: float
    lat: float
    value: float | None  # rate (or count) used for the colour; None when withheld or unknown
    label: str = ""  # shown in the tooltip
    marked: bool = False  # drawn with a ring (e.g. a persistent hotspot)


def dot_map(points: Sequence[Point], title: str, width: int = 720) -> str:
    """A dot map of small areas at their centroids, coloured in quintiles of ``value``.

    No geometry is needed: centroids come from the data (the mean police.uk snap point of each LSOA),
    projected equirectangularly with the latitude's cosine so distances look right at UK latitudes.
    """
    located = [p for p in points if math.isfinite(p.lon) and math.isfinite(p.lat)]
    if not located:
        return empty(title, "No coordinates to map.")
    lat0 = sum(p.lat for p in located) / len(located)
    k = math.cos(math.radians(lat0))
    xs = [p.lon * k for p in located]
    ys = [p.lat for p in located]
    span_x = max(max(xs) - min(xs), 1e-6)
    span_y = max(max(ys) - min(ys), 1e-6)
    pad, legend_h = 20, 0
    plot_w = width - 2 * pad
    plot_h = max(200.0, min(560.0, plot_w * span_y / span_x))
    scale = min(plot_w / span_x, plot_h / span_y)
    height = int(plot_h + 2 * pad + legend_h)
    off_x = pad + (plot_w - span_x * scale) / 2
    off_y = pad + (plot_h - span_y * scale) / 2
    values = sorted(p.value for p in located if p.value is not None)
    breaks = quintile_breaks(values)

    def colour(v: float | None) -> str:
        if v is None:
            return "#ffffff"
        return RAMP[sum(v > b for b in breaks)]

    parts = _open(width, height, title, "map")
    parts.append(f'<rect x="0" y="0" width="{width}" height="{height - legend_h}" {_cls("map-bg")}/>')
    radius = max(5.0, min(12.0, 0.3 * math.sqrt(plot_w * plot_h / max(1, len(located)))))

    def project(p: Point) -> tuple[float, float]:
        return off_x + (p.lon * k - min(xs)) * scale, off_y + (max(ys) - p.lat) * scale

    hull = _hull([project(p) for p in located])
    if len(hull) >= 3:
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in hull) + " Z"
        parts.append(
            f'<path d="{d}" class="map-area" fill="#e3e9f0" stroke="#e3e9f0" stroke-width="{2.6 * radius:.1f}" '
            'stroke-linejoin="round"><title>Extent of the partnership\'s LSOAs</title></path>'
        )
    for p in sorted(located, key=lambda p: (p.value is not None, p.value or 0)):
        cx, cy = project(p)
        stroke = ' stroke="#000" stroke-width="2.5"' if p.marked else ' stroke="#555" stroke-width="0.8"'
        dash = ' stroke-dasharray="2 2"' if p.value is None else ""
        tip = f"{p.name} ({p.code}): {p.label}" if p.label else f"{p.name} ({p.code})"
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" fill="{colour(p.value)}"{stroke}{dash} '
            f'data-code="{escape(p.code)}"><title>{escape(tip)}</title></circle>'
        )
    parts.append("</svg>")
    return "".join(parts)


def quintile_breaks(values: Sequence[float]) -> list[float]:
    """The four inner edges of five classes with about as many areas each."""
    ordered = sorted(values)
    if not ordered:
        return []
    # the upper edge of class q holds the first q/5 of the areas (a value equal to an edge is in the lower class)
    return [ordered[max(0, math.ceil(len(ordered) * q / 5) - 1)] for q in range(1, 5)]


def map_legend(points: Sequence[Point | Area], label: str, *, areas: bool = False) -> str:
    """The map's key as HTML (text that stays legible at any width), colours as in :func:`dot_map` and
    :func:`choropleth`; ``areas``: the choropleth's key (hatched for withheld, outlines for hotspots)."""
    values = sorted(p.value for p in points if p.value is not None)
    if not values:
        return ""
    edges = [values[0], *quintile_breaks(values), values[-1]]
    items = "".join(
        f'<li><span class="swatch" style="background:{fill}"></span>{_fmt(edges[i])}–{_fmt(edges[i + 1])}</li>'
        for i, fill in enumerate(RAMP)
    )
    if not areas:
        note = "Dashed outline: withheld [c] or no rate. Thick ring: in the top 10% every year."
    else:
        items += f"<li>{HATCH_SWATCH}[c] withheld or no rate</li>"
        note = (
            "Hatched grey areas are withheld [c] or have no rate: they are never coloured by a value. "
            "Thick black outline: in the top 10% every year."
        )
    return f'<div class="map-legend"><strong>{escape(label)}</strong><ul>{items}</ul><span class="note">{note}</span></div>'


@dataclass(frozen=True)
class Area:
    """One LSOA of the choropleth; its shape comes separately (SVG path data by code)."""

    code: str
    name: str
    value: float | None  # rate used for the colour; None when withheld or unknown: hatched, never coloured
    label: str = ""  # shown in the tooltip
    marked: bool = False  # drawn with a thick outline (e.g. a persistent hotspot)


def choropleth(
    areas: Sequence[Area], paths: Mapping[str, str], title: str, desc: str, width: int, height: int
) -> str:
    """LSOA polygons coloured in quintiles of ``value`` (as :func:`dot_map`), withheld areas hatched.

    ``paths`` is SVG path data per code in a ``width`` x ``height`` box
    (:func:`csp_audit.packs.boundaries.fit_paths`). Only the areas given are drawn, one path each, so
    a caller that passes one partnership's LSOAs puts no other partnership's geometry in its report.
    Hotspot outlines are drawn last so a neighbour never covers them.
    """
    drawn = [a for a in areas if a.code in paths]
    if not drawn:
        return empty(title, "No LSOA boundaries to map.")
    breaks = quintile_breaks(sorted(a.value for a in drawn if a.value is not None))
    parts = _open(width, height, title, "map", desc)
    parts.append(
        f'<defs><pattern id="{HATCH_ID}" patternUnits="userSpaceOnUse" width="5" height="5" '
        'patternTransform="rotate(45)"><rect width="5" height="5" fill="#d5dbe2"/>'
        '<line x1="0" y1="0" x2="0" y2="5" stroke="#6f7d8b" stroke-width="1.4"/></pattern></defs>'
        f'<rect x="0" y="0" width="{width}" height="{height}" {_cls("map-bg")}/>'
        '<g fill-rule="evenodd" stroke="#4d5b69" stroke-width="0.5" stroke-linejoin="round">'
    )
    for a in sorted(drawn, key=lambda a: (a.marked, a.code)):
        if a.value is None:
            fill, klass = HATCH_FILL, "withheld"
        else:
            quintile = sum(a.value > b for b in breaks)
            fill, klass = RAMP[quintile], f"q{quintile + 1}"
        outline = ' stroke="#000" stroke-width="2.2"' if a.marked else ""
        tip = f"{a.name} ({a.code}): {a.label}" if a.label else f"{a.name} ({a.code})"
        parts.append(
            f'<path d="{paths[a.code]}" fill="{fill}"{outline} data-code="{escape(a.code)}" data-class="{klass}">'
            f"<title>{escape(tip)}</title></path>"
        )
    parts.append("</g></svg>")
    return "".join(parts)


def _hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull (Andrew's monotone chain), drawn under the dots as the partnership's extent."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]
