"""Steps of the clerk's browser journeys that more than one test takes."""

from __future__ import annotations

from typing import Any


def open_from_the_queue(page: Any, reference: str) -> Any:
    """Newest first, only what waits for a first look: ours is at the top, whatever else the demo holds."""
    page.select_option("#state", "submitted")
    page.select_option("#sort", "newest")
    page.locator("main form[role=search] button[type=submit]").click()
    page.wait_for_load_state("domcontentloaded")
    row = page.locator("main table tbody tr", has_text=reference)
    assert row.count() == 1
    return row
