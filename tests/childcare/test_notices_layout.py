"""The 保留通知書 of a large household lays out cleanly: six waitlisted children with ten ranked facilities each and
an explanation line per choice run over pages without overprinting, each child once, the 教示 on the last page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from madoguchi.childcare import explanations
from tests.childcare.allocation_results import explanation_item
from tests.documents.pdf_reading import words_by_page
from tests.documents.test_pdf_layout import assert_laid_out_cleanly, render, texts

GIVEN = ("陽葵", "湊", "結菜", "蓮", "髙志", "﨑子")


def _child(number: int, given: str) -> dict[str, Any]:
    items = [
        explanation_item(
            "F-SAKURA" if rank % 2 else "F-MINATO",
            rank,
            "score_below" if rank > 1 else "tiebreak:INCOME_LEVY_ASC",
            your_value=-160_000,
            border_value=-80_000,
            lowest_placed_score=20 + rank,
        )
        for rank in range(1, 11)
    ]
    explained = explanations.explain({"outcome": "waitlisted", "points": {}, "explanation": items}, "ja")
    return {
        "name": f"葛󠄀西　{given}",
        "name_kana": "カサイ",
        "birth_date": f"202{number % 4}-0{number + 1}-15",
        "desired_month_label": "令和9年4月（2027年4月）",
        "desired_facilities": [{"rank": rank, "name": f"第{rank}さくら保育園"} for rank in range(1, 11)],
        "reason": "利用調整の結果、希望施設に空きがないため",
        "period": {"from": "2027-04-01", "to": "2027-04-30"},
        "explanation": {
            "result": explained.result,
            "choices": list(explained.choices),
            "points": [],
            "continuing": explained.continuing,
        },
    }


def test_a_household_of_six_waitlisted_children_is_laid_out_on_as_many_pages_as_it_needs(tmp_path: Path) -> None:
    content = {
        "guardian": {"name": "𠮷田　美咲", "postal_code": "100-0001", "address": "東京都汐見町中央一丁目1番1号"},
        "submitted_on": "2026-11-20",
        "reference": "CA-TEST-0001",
        "children": [_child(number, given) for number, given in enumerate(GIVEN)],
    }
    pages = words_by_page(render("childcare_waitlist", content), tmp_path)
    assert len(pages) >= 3
    assert_laid_out_cleanly(pages, "保育所等利用保留通知書")
    every = texts([w for page in pages for w in page])
    for given in GIVEN:
        assert every.count(given) == 1, given
    assert every.count("以下余白") == 1 and "教示" in texts(pages[-1])
