"""Fictional official seals (公印) for the demo municipalities, drawn from the office's name.

A real municipality gives the image of its own seal in its tenant file (``issuer.seal``, docs/catalog-format.md);
the demo municipalities' ``tenants/seals/*.png`` are made here, so that no real seal is copied anywhere:

    python -m madoguchi.demo.seals tenants/seals/shiomi-town.png 汐見町長之印

The seal is the traditional square 角印: the characters in columns read from the right, in vermilion, with a
double border, on a transparent background.
"""

from __future__ import annotations

import argparse
import math
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from madoguchi.documents.pdf import find_font

VERMILION = (200, 40, 30, 255)
SIZE = 240  # pixels: ~290 dpi at the printed 21 mm


def draw_seal(text: str, font_path: Path | None = None) -> bytes:
    """A square seal of ``text`` (e.g. 汐見町長之印) as PNG bytes."""
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((6, 6, SIZE - 7, SIZE - 7), outline=VERMILION, width=10)
    draw.rectangle((22, 22, SIZE - 23, SIZE - 23), outline=VERMILION, width=3)
    columns = math.ceil(len(text) / 2) if len(text) > 4 else 2
    rows = math.ceil(len(text) / columns)
    inner = SIZE - 2 * 32
    cell_w, cell_h = inner / columns, inner / rows
    font = ImageFont.truetype(str(font_path or find_font()), int(min(cell_w, cell_h) * 0.92))
    for index, char in enumerate(text):
        column, row = divmod(index, rows)
        x = SIZE - 32 - (column + 0.5) * cell_w  # columns from the right, top to bottom
        y = 32 + (row + 0.5) * cell_h
        draw.text((x, y), char, font=font, fill=VERMILION, anchor="mm")
    out = BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="the PNG file to write")
    parser.add_argument("text", help="the seal's text, e.g. 汐見町長之印")
    args = parser.parse_args()
    args.output.write_bytes(draw_seal(args.text))


if __name__ == "__main__":
    main()
