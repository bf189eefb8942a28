"""The KPI charts of the performance pages and the tenant admin's key figures, from published (or internal) rows.

Rows are the dicts of ``KpiMonth.published`` / ``NationalKpiMonth.published``, keyed by the column names of
``opendata.columns``; a suppressed cell is None, and a chart draws it as a gap with the reason, never as 0. Every
word is translated here, so ``charts`` stays a pure drawing module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy.orm import Session

from madoguchi.catalog import operations as catalog
from madoguchi.errors import NotFound
from madoguchi.opendata.columns import PROCEDURE_KPI_COLUMNS, TOTAL_KEY
from madoguchi.web import charts
from madoguchi.web.i18n import current_locale, localized

Row = Mapping[str, Any]

#: Months in a trend; bars show the latest few.
TREND_MONTHS = 12
BAR_MONTHS = 6
_COLUMN = {column.name: column for column in PROCEDURE_KPI_COLUMNS}


def column_label(name: str) -> str:
    """The column's name as the data package describes it, in the page's language."""
    column = _COLUMN[name]
    return column.description_ja if current_locale() == "ja" else column.description_en


def gap_note() -> str:
    return _("Fewer than 10: not published")


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def count(value: float) -> str:
    written = f"{round(value):,}"
    return _("%(count)s cases", count=written)


def days(value: float) -> str:
    written = f"{value:.1f}".rstrip("0").rstrip(".")
    return _("%(days)s days", days=written)


def fmt_value(name: str, value: Any) -> str:
    """A published cell as the page writes it, or the reason it is empty."""
    if value is None:
        return gap_note()
    unit = _COLUMN[name].unit
    if unit == "ratio 0..1":
        return percent(value)
    if unit == "days":
        return days(value)
    if unit == "count":
        return count(value)
    if unit == "JPY":
        return f"{round(value):,}円" if current_locale() == "ja" else f"¥{round(value):,}"
    return f"{value:,}" if isinstance(value, int) else f"{value:.1f}"


def procedure_titles(session: Session, keys: Iterable[str]) -> dict[str, str]:
    """Each procedure's title from the catalog (its latest version), in the page's language; the key if unknown."""
    titles = {}
    for key in keys:
        if key == TOTAL_KEY:
            titles[key] = _("All procedures")
            continue
        try:
            titles[key] = localized(catalog.latest_version(session, key).definition.get("title")) or key
        except NotFound:
            titles[key] = key
    return titles


def _text(title: str, desc: str, category_heading: str) -> charts.ChartText:
    return charts.ChartText(
        title=title,
        desc=desc,
        gap_note=gap_note(),
        category_heading=category_heading,
        table_summary=_("Show the figures as a table"),
        gap_cell=_("Not published"),
    )


def _values(rows: Sequence[Row | None], name: str) -> tuple[float | None, ...]:
    return tuple(None if row is None else row.get(name) for row in rows)


def _describe(label: str, periods: Sequence[str], values: Sequence[float | None], fmt: Any) -> str:
    """A sentence for the chart's <desc>: the latest published value and the range (the table has the rest)."""
    known = [(p, v) for p, v in zip(periods, values, strict=True) if v is not None]
    if not known:
        return _("%(label)s: no month was published.", label=label)
    period, value = known[-1]
    low, high = min(v for _, v in known), max(v for _, v in known)
    return _(
        "%(label)s: %(value)s in %(period)s; between %(low)s and %(high)s over the months shown.",
        label=label,
        value=fmt(value),
        period=period,
        low=fmt(low),
        high=fmt(high),
    )


@dataclass
class ProcedureCharts:
    """The charts of one procedure over the months shown (oldest first)."""

    key: str
    title: str
    latest: Row | None
    figures: list[Markup] = field(default_factory=list)


def procedure_charts(
    chart_prefix: str, key: str, title: str, periods: Sequence[str], rows: Sequence[Row | None]
) -> ProcedureCharts:
    """Trend (digital take-up, online completion), channel mix, time to decision and satisfaction of one
    procedure; ``rows[i]`` is the procedure's row of ``periods[i]`` or None if it had none that month."""
    month = _("Month")
    cid = f"{chart_prefix}-{key}"
    take_up, completion = _values(rows, "digital_take_up"), _values(rows, "completion_rate")
    trend = charts.line_chart(
        f"{cid}-trend",
        _text(
            _("%(procedure)s: digital take-up and online completion by month", procedure=title),
            " ".join(
                [
                    _describe(column_label("digital_take_up"), periods, take_up, percent),
                    _describe(column_label("completion_rate"), periods, completion, percent),
                ]
            ),
            month,
        ),
        periods,
        [
            charts.Series(column_label("digital_take_up"), take_up),
            charts.Series(column_label("completion_rate"), completion),
        ],
        percent,
        y_max=1.0,
    )
    recent_periods, recent = periods[-BAR_MONTHS:], rows[-BAR_MONTHS:]
    channels = [
        charts.Series(_("Online"), _values(recent, "submitted_online")),
        charts.Series(_("App (API)"), _values(recent, "submitted_api")),
        charts.Series(_("Counter"), _values(recent, "submitted_counter")),
    ]
    mix = charts.stacked_bar_chart(
        f"{cid}-channels",
        _text(
            _("%(procedure)s: applications by channel", procedure=title),
            _describe(column_label("submitted_total"), recent_periods, _values(recent, "submitted_total"), count),
            month,
        ),
        recent_periods,
        channels,
        count,
        total_label=column_label("submitted_total"),
    )
    median, p90 = _values(recent, "median_days_to_decision"), _values(recent, "p90_days_to_decision")
    decision = charts.bar_chart(
        f"{cid}-decision",
        _text(
            _("%(procedure)s: days to decision", procedure=title),
            " ".join(
                [
                    _describe(column_label("median_days_to_decision"), recent_periods, median, days),
                    _describe(column_label("p90_days_to_decision"), recent_periods, p90, days),
                ]
            ),
            month,
        ),
        recent_periods,
        [charts.Series(_("Median"), median), charts.Series(_("90th percentile"), p90)],
        days,
    )
    score = _values(recent, "satisfaction_score")
    satisfaction = charts.bar_chart(
        f"{cid}-satisfaction",
        _text(
            _("%(procedure)s: share of residents satisfied", procedure=title),
            _describe(column_label("satisfaction_score"), recent_periods, score, percent),
            month,
        ),
        recent_periods,
        [charts.Series(column_label("satisfaction_score"), score)],
        percent,
        y_max=1.0,
    )
    latest = rows[-1] if rows else None
    return ProcedureCharts(key, title, latest, [trend, mix, decision, satisfaction])


def procedure_order(key: str) -> tuple[bool, str]:
    """Procedures by key, the row of all procedures last."""
    return key == TOTAL_KEY, key


def by_procedure(months: Sequence[tuple[str, Sequence[Row]]]) -> tuple[list[str], dict[str, list[Row | None]]]:
    """(period, rows) pairs, oldest first -> the periods and, per procedure key, its row of each period (or None)."""
    periods = [period for period, _rows in months]
    keyed: dict[str, list[Row | None]] = {}
    for index, (_period, rows) in enumerate(months):
        for row in rows:
            key = row.get("procedure_key")
            if not key:
                continue
            keyed.setdefault(key, [None] * len(periods))[index] = row
    return periods, {key: keyed[key] for key in sorted(keyed, key=procedure_order)}


def comparison_charts(chart_prefix: str, key: str, title: str, rows: Sequence[Row], period: str) -> list[Markup]:
    """Municipalities side by side for one procedure and month: digital take-up, days to decision, satisfaction.
    Ordered by local government code, so a municipality is found in the same place in every chart."""
    ordered = sorted(rows, key=lambda row: (str(row.get("lg_code") or ""), str(row.get("municipality") or "")))
    names = [f"{row.get('municipality') or ''}（{row.get('prefecture') or ''}）" for row in ordered]
    municipality = _("Municipality")
    cid = f"{chart_prefix}-{key}"
    take_up = _values(ordered, "digital_take_up")
    median, p90 = _values(ordered, "median_days_to_decision"), _values(ordered, "p90_days_to_decision")
    score = _values(ordered, "satisfaction_score")

    def describe(label: str, values: Sequence[float | None], fmt: Any) -> str:
        known = [(n, v) for n, v in zip(names, values, strict=True) if v is not None]
        if not known:
            return _("%(label)s: not published for any municipality in %(period)s.", label=label, period=period)
        low, high = min(known, key=lambda x: x[1]), max(known, key=lambda x: x[1])
        return _(
            "%(label)s in %(period)s: from %(low)s (%(low_name)s) to %(high)s (%(high_name)s).",
            label=label,
            period=period,
            low=fmt(low[1]),
            low_name=low[0],
            high=fmt(high[1]),
            high_name=high[0],
        )

    return [
        charts.bar_chart(
            f"{cid}-take-up",
            _text(
                _("%(procedure)s: digital take-up by municipality, %(period)s", procedure=title, period=period),
                describe(column_label("digital_take_up"), take_up, percent),
                municipality,
            ),
            names,
            [charts.Series(column_label("digital_take_up"), take_up)],
            percent,
            y_max=1.0,
        ),
        charts.bar_chart(
            f"{cid}-decision",
            _text(
                _("%(procedure)s: days to decision by municipality, %(period)s", procedure=title, period=period),
                describe(column_label("median_days_to_decision"), median, days),
                municipality,
            ),
            names,
            [charts.Series(_("Median"), median), charts.Series(_("90th percentile"), p90)],
            days,
        ),
        charts.bar_chart(
            f"{cid}-satisfaction",
            _text(
                _(
                    "%(procedure)s: share of residents satisfied by municipality, %(period)s",
                    procedure=title,
                    period=period,
                ),
                describe(column_label("satisfaction_score"), score, percent),
                municipality,
            ),
            names,
            [charts.Series(column_label("satisfaction_score"), score)],
            percent,
            y_max=1.0,
        ),
    ]


_SUMMED = ("submitted_online", "submitted_api", "submitted_counter", "submitted_total")


def national_totals(rows: Sequence[Row]) -> dict[str, float | None]:
    """The country's month for one procedure from the municipalities' published rows: a row without a local
    government code is the country's own total (used as it is); otherwise the sums of the published counts of the
    municipalities whose channel counts were all published, and the digital take-up of those sums."""
    for row in rows:
        if not row.get("lg_code"):
            return {name: row.get(name) for name in (*_SUMMED, "digital_take_up")}
    complete = [row for row in rows if all(row.get(name) is not None for name in _SUMMED)]
    if not complete:
        return dict.fromkeys((*_SUMMED, "digital_take_up"))
    sums: dict[str, float | None] = {name: float(sum(row[name] for row in complete)) for name in _SUMMED}
    total = sums["submitted_total"] or 0
    online = (sums["submitted_online"] or 0) + (sums["submitted_api"] or 0)
    sums["digital_take_up"] = online / total if total >= 10 else None
    return sums


def national_trend(chart_id: str, key: str, title: str, months: Sequence[tuple[str, Sequence[Row]]]) -> Markup:
    """The country's digital take-up of one procedure by month."""
    periods = [period for period, _rows in months]
    values = tuple(
        national_totals([row for row in rows if row.get("procedure_key") == key])["digital_take_up"]
        for _period, rows in months
    )
    label = column_label("digital_take_up")
    return charts.line_chart(
        f"{chart_id}-{key}-national",
        _text(
            _("%(procedure)s: digital take-up in the whole country by month", procedure=title),
            _describe(label, periods, values, percent),
            _("Month"),
        ),
        periods,
        [charts.Series(label, values)],
        percent,
        y_max=1.0,
    )


def live_charts(
    names: Sequence[str], online_share: Sequence[float | None], median_days: Sequence[float | None]
) -> list[Markup]:
    """The tenant admin's current figures per procedure (not suppressed: the municipality's own): the share filed
    online and the median days to decision. A missing value here means nothing to count yet, and says so."""
    procedure = _("Procedure")

    def text(title: str, desc: str, gap: str) -> charts.ChartText:
        return charts.ChartText(title, desc, gap, procedure, _("Show the figures as a table"), gap)

    share_text = _("Share filed online (online and apps) per procedure, all applications so far")
    median_text = _("Median days from submission to decision per procedure, all applications so far")
    return [
        charts.bar_chart(
            "live-online",
            text(share_text, _describe_each(names, online_share, percent), _("Nothing filed yet")),
            names,
            [charts.Series(_("Filed online"), tuple(online_share))],
            percent,
            y_max=1.0,
        ),
        charts.bar_chart(
            "live-median",
            text(median_text, _describe_each(names, median_days, days), _("Nothing decided yet")),
            names,
            [charts.Series(_("Median time to decision"), tuple(median_days))],
            days,
        ),
    ]


def _describe_each(names: Sequence[str], values: Sequence[float | None], fmt: Any) -> str:
    return "; ".join(
        f"{name}: {fmt(value) if value is not None else '—'}" for name, value in zip(names, values, strict=True)
    )
