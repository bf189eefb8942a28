"""The demo municipalities' seals are drawn here, never copied: a square vermilion PNG of the office's name that
fits the tenant file's limit, and the committed ones are what the generator makes of their text."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from PIL import Image

from madoguchi.catalog.definitions.tenants import SEAL_MAX_BYTES
from madoguchi.demo.seals import SIZE, draw_seal

SEALS = Path(__file__).parents[2] / "tenants" / "seals"


def test_a_seal_is_a_small_square_vermilion_png_on_a_transparent_ground() -> None:
    data = draw_seal("汐見町長之印")
    assert len(data) <= SEAL_MAX_BYTES
    image = Image.open(BytesIO(data))
    assert image.format == "PNG" and image.size == (SIZE, SIZE) and image.mode == "RGBA"
    assert image.getpixel((0, 0))[3] == 0  # the paper shows through around it
    assert image.getpixel((10, SIZE // 2))[:3] == (200, 40, 30)  # the border


def test_the_demo_seals_are_the_generators(tmp_path: Path) -> None:
    for file, text in (
        ("shiomi-town.png", "汐見町長之印"),
        ("sakuragaoka-city.png", "桜ヶ丘市長之印"),
        ("midorikawa-village.png", "緑川村長之印"),
    ):
        drawn = Image.open(BytesIO(draw_seal(text)))
        committed = Image.open(SEALS / file)
        assert drawn.tobytes() == committed.convert(drawn.mode).tobytes(), file
