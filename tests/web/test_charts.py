"""The SVG charts: well-formed, named and described for assistive technology, a table beside each, a missing value
drawn as a gap with its reason (never as 0), and hard values: zero, one month, 24 months, names with 外字 and IVS."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # our own markup, parsed to prove it well-formed
from collections.abc import Callable

import pytest
from markupsafe import Markup

from madoguchi.web import charts
from madoguchi.web.charts import ChartText, Series

SVG = "{http://www.w3.org/2000/svg}"
TEXT = ChartText(
    title="デジタル利用率の推移",
    desc="最新は73%",
    gap_note="10件未満のため非公開",
    category_heading="月",
    table_summary="数値を表で見る",
    gap_cell="非公開",
)
NAMES = ["𠮷田町", "髙﨑市", "葛󠄀飾区", "山﨑村<script>"]


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def cases(value: float) -> str:
    return f"{value:.0f}件"


def _parse(markup: Markup) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314 - our own markup


def _svg(figure: ET.Element) -> ET.Element:
    svg = figure.find(f"{SVG}svg")
    assert svg is not None
    return svg


def _texts(svg: ET.Element) -> list[str]:
    return [element.text or "" for element in svg.iter(f"{SVG}text")]


def _table(figure: ET.Element) -> dict[str, list[str]]:
    table = figure.find("details/div/table")
    assert table is not None
    return {
        (tr.find("th").text or ""): [td.text or "" for td in tr.findall("td")]
        for tr in table.iter("tr")
        if tr.find("td") is not None
    }


Chart = Callable[..., Markup]


def _line(categories: list[str], *values: tuple[float | None, ...]) -> Markup:
    series = [Series(f"系列{i}", v) for i, v in enumerate(values)]
    return charts.line_chart("c", TEXT, categories, series, percent, y_max=1.0)


def _bars(categories: list[str], *values: tuple[float | None, ...]) -> Markup:
    return charts.bar_chart("c", TEXT, categories, [Series(f"系列{i}", v) for i, v in enumerate(values)], cases)


def _stacked(categories: list[str], *values: tuple[float | None, ...]) -> Markup:
    series = [Series(f"系列{i}", v) for i, v in enumerate(values)]
    return charts.stacked_bar_chart("c", TEXT, categories, series, cases, total_label="合計")


@pytest.mark.parametrize("chart", [_line, _bars, _stacked])
def test_every_chart_is_an_image_named_by_its_title_and_described(chart: Chart) -> None:
    figure = _parse(chart(["2026-10", "2026-11"], (0.5, 0.6), (0.1, 0.2)))
    svg = _svg(figure)
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "c-title c-desc"
    assert svg.find(f"{SVG}title").get("id") == "c-title" and svg.find(f"{SVG}title").text == TEXT.title
    assert svg.find(f"{SVG}desc").get("id") == "c-desc" and svg.find(f"{SVG}desc").text == TEXT.desc
    # Scales to its box: a viewBox about a phone wide, the width of its container.
    assert svg.get("width") == "100%" and svg.get("viewBox", "").startswith("0 0 400 ")
    assert figure.find("details/summary").text == TEXT.table_summary
    assert figure.find("details/div/table/caption").text == TEXT.title
    assert figure.find("figcaption").text == TEXT.title  # shown: the SVG's title is read, not seen


@pytest.mark.parametrize("chart", [_line, _bars, _stacked])
def test_a_missing_value_is_a_gap_with_its_reason_never_a_zero(chart: Chart) -> None:
    figure = _parse(chart(["2026-09", "2026-10", "2026-11"], (0.5, None, 0.7), (0.2, 0.2, 0.2)))
    svg = _svg(figure)
    assert any(TEXT.gap_note in text for text in _texts(svg))
    assert svg.findall(f".//{SVG}rect[@class='chart-gap']")
    table = _table(figure)
    assert table["2026-10"][0] == "非公開" and table["2026-09"][0] != "非公開"
    assert figure.find("details/p").text == TEXT.gap_note
    assert table["2026-10"][0] not in ("0%", "0件")


def test_a_line_breaks_where_a_month_is_missing() -> None:
    svg = _svg(_parse(_line(["1", "2", "3", "4", "5"], (0.1, 0.2, None, 0.4, 0.5))))
    assert len(svg.findall(f"{SVG}polyline")) == 2  # 1–2 and 4–5, nothing drawn through 3
    assert len(svg.findall(f"{SVG}circle")) >= 4  # every published point keeps its marker


def test_zero_is_drawn_and_written_as_zero_not_as_a_gap() -> None:
    for chart in (_line, _bars, _stacked):
        figure = _parse(chart(["2026-11"], (0.0,), (0.0,)))
        assert not _svg(figure).findall(f".//{SVG}rect[@class='chart-gap']")
        assert "非公開" not in _table(figure)["2026-11"]
        assert TEXT.gap_note not in _texts(_svg(figure))
    assert _table(_parse(_bars(["2026-11"], (0.0,))))["2026-11"] == ["0件"]


def test_one_month_draws_a_point_and_its_value() -> None:
    svg = _svg(_parse(_line(["2026-11"], (0.42,))))
    assert svg.findall(f"{SVG}polyline") == [] and len(svg.findall(f"{SVG}circle")) == 2  # the legend's and the point
    assert "42%" in _texts(svg) and "2026-11" in _texts(svg)


def test_twenty_four_months_keep_their_labels_apart_and_the_table_has_every_month() -> None:
    months = [f"{2025 + i // 12}-{i % 12 + 1:02d}" for i in range(24)]
    figure = _parse(_line(months, tuple(i / 24 for i in range(24))))
    labels = [t for t in _texts(_svg(figure)) if re.fullmatch(r"\d{4}-\d{2}", t)]
    assert months[0] in labels and months[-1] in labels
    assert 3 <= len(labels) <= 8  # readable at phone width: not 24 labels on top of each other
    assert list(_table(figure)) == months


def test_nothing_published_at_all_is_an_empty_chart_that_says_why() -> None:
    for chart in (_line, _bars, _stacked):
        figure = _parse(chart(["2026-10", "2026-11"], (None, None)))
        assert TEXT.gap_note in _texts(_svg(figure))


def test_names_with_gaiji_and_ivs_are_kept_whole_and_escaped() -> None:
    figure = _parse(_bars(NAMES, (1.0, 2.0, 3.0, 4.0)))
    texts = _texts(_svg(figure))
    for name in NAMES:
        assert name in texts and name in _table(figure)
    assert "葛\U000e0100飾区" in texts  # the variation selector is still attached to 葛
    assert "<script>" not in str(_bars(NAMES, (1.0, 2.0, 3.0, 4.0))).replace("&lt;script&gt;", "")


def test_a_name_too_long_for_the_width_is_squeezed_not_cut() -> None:
    long_name = "葛󠄀" + "𠮷" * 40
    svg = _svg(_parse(_bars([long_name], (5.0,))))
    label = next(t for t in svg.iter(f"{SVG}text") if t.text == long_name)
    assert float(label.get("textLength", "0")) <= 400 and label.get("lengthAdjust") == "spacingAndGlyphs"


def test_series_are_told_apart_by_pattern_and_marker_not_only_by_colour() -> None:
    stacked = _svg(_parse(_stacked(["2026-11"], (10.0,), (20.0,), (30.0,))))
    patterns = stacked.findall(f"{SVG}defs/{SVG}pattern")
    tiles = {ET.tostring(p[-1]) for p in patterns if not p.get("id", "").endswith("-gap")}
    assert len(tiles) == 3  # a different shape in each tile, not just a colour
    assert "60件" in _texts(stacked)  # the total, written at the end of the bar
    line = _svg(_parse(_line(["1", "2"], (0.1, 0.2), (0.3, 0.4), (0.5, 0.6))))
    assert line.findall(f"{SVG}circle") and line.findall(f"{SVG}rect") and line.findall(f"{SVG}polygon")


def test_the_stacked_table_has_the_total_and_a_total_with_a_missing_part_is_missing() -> None:
    table = _table(_parse(_stacked(["2026-10", "2026-11"], (5.0, 12.0), (None, 8.0))))
    assert table["2026-11"] == ["12件", "8件", "20件"]
    assert table["2026-10"] == ["5件", "非公開", "非公開"]


def test_chart_ids_keep_the_patterns_of_two_charts_on_one_page_apart() -> None:
    first = charts.bar_chart("a", TEXT, ["x"], [Series("s", (1.0,))], cases)
    second = charts.bar_chart("b", TEXT, ["x"], [Series("s", (1.0,))], cases)
    ids = re.findall(r' id="([^"]+)"', str(first) + str(second))
    assert len(ids) == len(set(ids))


def test_a_series_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="2 values for 3 categories"):
        charts.line_chart("c", TEXT, ["1", "2", "3"], [Series("s", (0.1, 0.2))], percent)
