"""Charts drawn on the server as accessible SVG: pure functions from figures to markup, no script, no external asset.

Every chart is a ``<figure>``: the SVG (``role="img"``, named by its ``<title>`` and described by its ``<desc>``
through ``aria-labelledby``) and, under it, the same figures as a table in a ``<details>`` (the text alternative a
screen reader or a copy-paste reaches). The SVG scales to its box (``viewBox``, ``width="100%"``); its coordinate
system is about as wide as a phone, so its text stays readable at 375 px.

Colour is never the only carrier: each series has its own fill pattern (solid, stripes, dots) or point marker
(circle, square, triangle), a legend that shows it, and values written beside the bars. The colours reach 3:1
against white (WCAG 1.4.11) and the text 4.5:1.

A value that is ``None`` was not published (fewer than 10: small-count suppression): it is drawn as a gap — a
break in the line, a hatched "not published" band, no bar — and the figure says why (``ChartText.gap_note``),
never as 0. Callers pass every word already translated (``ChartText``), so this module needs no request.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

#: Width of the drawing in SVG units; about a phone's width, so 13-unit text is about 13 px there.
WIDTH = 400
FONT = 15
SMALL_FONT = 14
INK = "#1a1a1a"
MUTED = "#4d4d4d"
GRID = "#c9ced6"
#: Series colours (each at least 3:1 on white) with a pattern and a marker each.
COLOURS = ("#1a56a0", "#8a4b00", "#1e6b34", "#6b2c91", "#b3261e")
PATTERNS = ("solid", "stripes", "dots", "crosses", "grid")
MARKERS = ("circle", "square", "triangle", "diamond", "cross")

Formatter = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    label: str
    #: one value per category; None: not published
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class ChartText:
    """The words of one chart, translated by the caller."""

    title: str
    desc: str
    #: why a value is missing ("10件未満のため非公開")
    gap_note: str
    #: the heading of the category column of the table (月 / 団体)
    category_heading: str
    #: the summary of the table's ``<details>`` ("表で見る")
    table_summary: str
    #: what the table shows for a missing value ("非公開")
    gap_cell: str = "—"


def _attrs(**values: object) -> Markup:
    parts = []
    for name, value in values.items():
        if value is None:
            continue
        parts.append(Markup('{}="{}"').format(escape(name.replace("_", "-")), value))
    return Markup(" ").join(parts)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text_width(text: str, size: float) -> float:
    """An estimate of the drawn width: full-width characters 1 em, others about 0.6 em, joiners and variation
    selectors (IVS) nothing."""
    width = 0.0
    for char in text:
        if unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += size if unicodedata.east_asian_width(char) in ("W", "F") else size * 0.6
    return width


def _label(
    x: float,
    y: float,
    text: str,
    *,
    size: float = FONT,
    anchor: str = "start",
    room: float | None = None,
    fill: str = INK,
    bold: bool = False,
) -> Markup:
    """A text element; squeezed to ``room`` (never cut: a name is never split inside a character) if longer."""
    squeeze = None
    if room is not None and _text_width(text, size) > room:
        squeeze = _num(room)
    return Markup("<text {}>{}</text>").format(
        _attrs(
            x=_num(x),
            y=_num(y),
            font_size=_num(size),
            fill=fill,
            text_anchor=None if anchor == "start" else anchor,
            font_weight="bold" if bold else None,
            textLength=squeeze,
            lengthAdjust="spacingAndGlyphs" if squeeze else None,
        ),
        text,
    )


#: The tile of each fill pattern (8 × 8, on white but the solid one); ``{c}`` is the series colour.
_WHITE = Markup('<rect width="8" height="8" fill="#fff"/>')
_TILES = {
    "solid": Markup('<rect width="8" height="8" fill="{c}"/>'),
    "stripes": _WHITE + Markup('<path d="M-2 2l4-4M0 8l8-8M6 10l4-4" stroke="{c}" stroke-width="2.5"/>'),
    "dots": _WHITE + Markup('<circle cx="4" cy="4" r="2.4" fill="{c}"/>'),
    "crosses": _WHITE + Markup('<path d="M0 0l8 8M8 0l-8 8" stroke="{c}" stroke-width="1.8"/>'),
    "grid": _WHITE + Markup('<path d="M0 4h8M4 0v8" stroke="{c}" stroke-width="2"/>'),
}


def _defs(chart_id: str, count: int) -> Markup:
    """Fill patterns of the series, and the hatch of a "not published" band."""
    out = []
    for index in range(count):
        colour, kind = COLOURS[index % len(COLOURS)], PATTERNS[index % len(PATTERNS)]
        out.append(
            Markup('<pattern id="{}-p{}" width="8" height="8" patternUnits="userSpaceOnUse">{}</pattern>').format(
                chart_id, index, _TILES[kind].format(c=colour)
            )
        )
    out.append(
        Markup(
            '<pattern id="{}-gap" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" '
            'fill="#fff"/><path d="M0 6l6-6" stroke="{}" stroke-width="1"/></pattern>'
        ).format(chart_id, MUTED)
    )
    return Markup("<defs>{}</defs>").format(Markup("").join(out))


def _marker(kind: str, x: float, y: float, colour: str) -> Markup:
    if kind == "circle":
        return Markup('<circle cx="{}" cy="{}" r="4" fill="{}"/>').format(_num(x), _num(y), colour)
    if kind == "square":
        return Markup('<rect x="{}" y="{}" width="8" height="8" fill="{}"/>').format(_num(x - 4), _num(y - 4), colour)
    if kind == "triangle":
        points = f"{_num(x)},{_num(y - 5)} {_num(x + 5)},{_num(y + 4)} {_num(x - 5)},{_num(y + 4)}"
        return Markup('<polygon points="{}" fill="{}"/>').format(points, colour)
    if kind == "diamond":
        points = f"{_num(x)},{_num(y - 5)} {_num(x + 5)},{_num(y)} {_num(x)},{_num(y + 5)} {_num(x - 5)},{_num(y)}"
        return Markup('<polygon points="{}" fill="{}"/>').format(points, colour)
    return Markup('<path d="M{} {}l8 8M{} {}l-8 8" stroke="{}" stroke-width="2.5"/>').format(
        _num(x - 4), _num(y - 4), _num(x + 4), _num(y - 4), colour
    )


def _svg(chart_id: str, text: ChartText, height: float, body: Sequence[Markup], series_count: int) -> Markup:
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{id}-title {id}-desc" '
        'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" focusable="false" '
        'font-family="system-ui, sans-serif" class="chart-svg">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>{defs}{body}</svg>'
    ).format(
        id=chart_id,
        w=WIDTH,
        h=_num(math.ceil(height)),
        title=text.title,
        desc=text.desc,
        defs=_defs(chart_id, series_count),
        body=Markup("").join(body),
    )


def _legend(chart_id: str, series: Sequence[Series], y: float, *, lines: bool) -> tuple[list[Markup], float]:
    """Swatches (the fill pattern, or the line with its marker) and names, wrapped to the width."""
    out: list[Markup] = []
    x = 0.0
    for index, item in enumerate(series):
        width = 22 + _text_width(item.label, SMALL_FONT) + 14
        if x > 0 and x + width > WIDTH:
            x, y = 0.0, y + 22
        colour = COLOURS[index % len(COLOURS)]
        if lines:
            out.append(
                Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2.5"/>').format(
                    _num(x), _num(y - 4), _num(x + 18), _num(y - 4), colour
                )
            )
            out.append(_marker(MARKERS[index % len(MARKERS)], x + 9, y - 4, colour))
        else:
            out.append(
                Markup('<rect x="{}" y="{}" width="16" height="12" fill="url(#{}-p{})" stroke="{}"/>').format(
                    _num(x), _num(y - 10), chart_id, index, colour
                )
            )
        out.append(_label(x + 22, y, item.label, size=SMALL_FONT, room=WIDTH - x - 22))
        x += width
    return out, y + 18


def _gap_legend(chart_id: str, text: ChartText, y: float) -> list[Markup]:
    return [
        Markup('<rect x="0" y="{}" width="16" height="12" fill="url(#{}-gap)" stroke="{}"/>').format(
            _num(y - 10), chart_id, MUTED
        ),
        _label(22, y, text.gap_note, size=SMALL_FONT, room=WIDTH - 22, fill=MUTED),
    ]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _has_gap(series: Sequence[Series]) -> bool:
    return any(value is None for item in series for value in item.values)


def _table(
    chart_id: str,
    text: ChartText,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Formatter,
    extra_columns: Sequence[Series] = (),
) -> Markup:
    columns = [*series, *extra_columns]
    head = Markup("").join(Markup('<th scope="col">{}</th>').format(item.label) for item in columns)
    rows = []
    for index, category in enumerate(categories):
        cells = []
        for item in columns:
            value = item.values[index] if index < len(item.values) else None
            cells.append(
                Markup('<td class="number">{}</td>').format(fmt(value))
                if value is not None
                else Markup('<td class="number gap">{}</td>').format(text.gap_cell)
            )
        rows.append(Markup('<tr><th scope="row">{}</th>{}</tr>').format(category, Markup("").join(cells)))
    note = Markup('<p class="chart-note">{}</p>').format(text.gap_note) if _has_gap(columns) else Markup("")
    return Markup(
        '<details class="chart-table"><summary>{summary}</summary><div class="table-wrap">'
        '<table class="data-table" id="{id}-table"><caption>{title}</caption><thead><tr>'
        '<th scope="col">{category}</th>{head}</tr></thead><tbody>{rows}</tbody></table></div>{note}</details>'
    ).format(
        summary=text.table_summary,
        id=chart_id,
        title=text.title,
        category=text.category_heading,
        head=head,
        rows=Markup("").join(rows),
        note=note,
    )


def _figure(chart_id: str, text: ChartText, svg: Markup, table: Markup, kind: str) -> Markup:
    """The chart's title shown above it (the SVG's own title is for assistive technology), the SVG, the table."""
    return Markup('<figure class="chart chart-{}" id="{}"><figcaption>{}</figcaption>{}{}</figure>').format(
        kind, chart_id, text.title, svg, table
    )


def _check(categories: Sequence[str], series: Sequence[Series]) -> None:
    for item in series:
        if len(item.values) != len(categories):
            raise ValueError(f"series {item.label!r} has {len(item.values)} values for {len(categories)} categories")


# --- Line chart: a trend by month ------------------------------------------------------------------------------------


def line_chart(
    chart_id: str,
    text: ChartText,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Formatter,
    *,
    y_max: float | None = None,
) -> Markup:
    """Values over the categories (months, oldest first), one line per series with its own marker; a month not
    published breaks the line and is shown as a hatched band. The last value of each line is written beside it."""
    _check(categories, series)
    legend, top = _legend(chart_id, series, 14, lines=True)
    plot_top, plot_left, plot_right = top + 8, 48.0, WIDTH - 46.0
    plot_height = 180.0
    plot_bottom = plot_top + plot_height
    known = [v for item in series for v in item.values if v is not None]
    top_value = y_max if y_max is not None else _nice_max(max(known, default=0))
    count = max(len(categories), 1)
    step = (plot_right - plot_left) / count

    def x_at(index: int) -> float:
        return plot_left + step * (index + 0.5)

    def y_at(value: float) -> float:
        return plot_bottom - (min(max(value, 0), top_value) / top_value) * plot_height

    body = list(legend)
    for tick in range(5):
        tick_value = top_value * tick / 4
        y = y_at(tick_value)
        body.append(
            Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>').format(
                _num(plot_left), _num(y), _num(plot_right), _num(y), GRID if tick else INK
            )
        )
        body.append(_label(plot_left - 4, y + 4, fmt(tick_value), size=SMALL_FONT, anchor="end"))
    gaps = [i for i in range(len(categories)) if any(item.values[i] is None for item in series)]
    for index in gaps:
        body.append(
            Markup('<rect x="{}" y="{}" width="{}" height="{}" fill="url(#{}-gap)" class="chart-gap"/>').format(
                _num(plot_left + step * index), _num(plot_top), _num(step), _num(plot_height), chart_id
            )
        )
    # Month labels: as many as fit (about 68 units each), always the first and the last.
    every = max(1, math.ceil(len(categories) * 68 / (plot_right - plot_left)))
    for index, category in enumerate(categories):
        if index % every == 0 or index == len(categories) - 1:
            if index != len(categories) - 1 and len(categories) - 1 - index < every:
                continue  # too close to the last label
            body.append(_label(x_at(index), plot_bottom + 18, category, size=SMALL_FONT, anchor="middle"))
    ends: list[tuple[float, float, str]] = []
    for s_index, item in enumerate(series):
        colour, marker = COLOURS[s_index % len(COLOURS)], MARKERS[s_index % len(MARKERS)]
        runs: list[list[tuple[float, float]]] = [[]]
        for index, value in enumerate(item.values):
            if value is None:
                runs.append([])
            else:
                runs[-1].append((x_at(index), y_at(value)))
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{_num(x)},{_num(y)}" for x, y in run)
                body.append(
                    Markup('<polyline points="{}" fill="none" stroke="{}" stroke-width="2.5"/>').format(points, colour)
                )
            for x, y in run:
                body.append(_marker(marker, x, y, colour))
        last = next(((i, v) for i, v in reversed(list(enumerate(item.values))) if v is not None), None)
        if last is not None:
            ends.append((y_at(last[1]) - 6, x_at(last[0]), fmt(last[1])))
    # The last value of each line written beside it, moved apart where two would overlap.
    ends.sort()
    for index in range(1, len(ends)):
        if ends[index][0] - ends[index - 1][0] < 16:
            ends[index] = (ends[index - 1][0] + 16, *ends[index][1:])
    for y, x, written in ends:
        body.append(
            _label(
                min(x + 7, WIDTH - 2),
                y,
                written,
                size=SMALL_FONT,
                bold=True,
                anchor="end" if x + 40 > WIDTH else "start",
            )
        )
    height = plot_bottom + 28
    if gaps or not known:
        body.extend(_gap_legend(chart_id, text, height + 10))
        height += 22
    svg = _svg(chart_id, text, height, body, len(series))
    return _figure(chart_id, text, svg, _table(chart_id, text, categories, series, fmt), "line")


# --- Horizontal bars: grouped (a value per series) or stacked (the parts of a whole) ------------------------------


def _bar_rows(
    chart_id: str,
    text: ChartText,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Formatter,
    top_value: float,
    start_y: float,
    *,
    stacked: bool,
) -> tuple[list[Markup], float]:
    """One row per category: its label on a line of its own (long names keep the whole width), then the bar(s) with
    the value written at the end; a missing value leaves a hatched band with the reason in it."""
    left, right = 0.0, WIDTH - 70.0
    bar = 18.0
    body: list[Markup] = []
    y = start_y
    for index, category in enumerate(categories):
        body.append(_label(0, y + 14, category, room=WIDTH, bold=True))
        y += 21
        rows = [series] if stacked else [[item] for item in series]
        for group in rows:
            values = [item.values[index] for item in group]
            if any(value is None for value in values):
                body.append(
                    Markup(
                        '<rect x="{}" y="{}" width="{}" height="{}" fill="url(#{}-gap)" stroke="{}" class="chart-gap"/>'
                    ).format(_num(left), _num(y), _num(right - left), _num(bar), chart_id, MUTED)
                )
                label = text.gap_note if stacked or len(series) == 1 else f"{group[0].label}: {text.gap_note}"
                # On a white ground of its own, so that the hatching does not cross the letters.
                room = min(_text_width(label, SMALL_FONT), right - left - 8)
                body.append(
                    Markup('<rect x="{}" y="{}" width="{}" height="{}" fill="#fff"/>').format(
                        _num(left + 2), _num(y + 1), _num(room + 4), _num(bar - 2)
                    )
                )
                body.append(_label(left + 4, y + 14, label, size=SMALL_FONT, room=right - left - 8, fill=MUTED))
            else:
                x = left
                for item, value in zip(group, values, strict=True):
                    assert value is not None
                    s_index = series.index(item)
                    width = (max(value, 0) / top_value) * (right - left) if top_value else 0
                    if width > 0:
                        body.append(
                            Markup(
                                '<rect x="{}" y="{}" width="{}" height="{}" fill="url(#{}-p{})" stroke="{}"/>'
                            ).format(
                                _num(x),
                                _num(y),
                                _num(width),
                                _num(bar),
                                chart_id,
                                s_index,
                                COLOURS[s_index % len(COLOURS)],
                            )
                        )
                    x += width
                total = sum(v for v in values if v is not None)
                written = fmt(total) if stacked or len(series) == 1 else f"{fmt(total)}"
                body.append(_label(x + 4, y + 14, written, size=SMALL_FONT, bold=True))
            y += bar + 4
        y += 8
    return body, y


def bar_chart(
    chart_id: str,
    text: ChartText,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Formatter,
    *,
    y_max: float | None = None,
) -> Markup:
    """Horizontal bars, one per series within each category (median and 90th percentile; a share; municipalities
    side by side), each with its value written at its end."""
    _check(categories, series)
    known = [v for item in series for v in item.values if v is not None]
    top_value = y_max if y_max is not None else _nice_max(max(known, default=0))
    body, y = ([], 14.0) if len(series) == 1 else _legend(chart_id, series, 14, lines=False)
    rows, y = _bar_rows(chart_id, text, categories, series, fmt, top_value, y + 4, stacked=False)
    body.extend(rows)
    if not categories:
        y += 8
    if _has_gap(series) or not known:
        body.extend(_gap_legend(chart_id, text, y + 12))
        y += 24
    svg = _svg(chart_id, text, y + 4, body, len(series))
    return _figure(chart_id, text, svg, _table(chart_id, text, categories, series, fmt), "bars")


def stacked_bar_chart(
    chart_id: str,
    text: ChartText,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Formatter,
    *,
    total_label: str,
) -> Markup:
    """One bar per category made of the series' parts (the channels: online, app, counter), on one scale; the total
    written at its end and, in the table, as its own column. A category with a part not published shows no bar."""
    _check(categories, series)
    totals = [
        None if any(item.values[i] is None for item in series) else sum(item.values[i] or 0 for item in series)
        for i in range(len(categories))
    ]
    top_value = _nice_max(max((t for t in totals if t is not None), default=0))
    body, y = _legend(chart_id, series, 14, lines=False)
    rows, y = _bar_rows(chart_id, text, categories, series, fmt, top_value, y + 4, stacked=True)
    body.extend(rows)
    if _has_gap(series) or not any(t is not None for t in totals):
        body.extend(_gap_legend(chart_id, text, y + 12))
        y += 24
    svg = _svg(chart_id, text, y + 4, body, len(series))
    table = _table(chart_id, text, categories, series, fmt, extra_columns=[Series(total_label, tuple(totals))])
    return _figure(chart_id, text, svg, table, "stacked")
