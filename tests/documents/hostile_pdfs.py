"""Hostile PDFs for the tests of everything that reads an upload: small files that cost a naive parser seconds
and hundreds of MiB, built here byte by byte so that no such file needs to live in the repository.

And ``peak_memory_growth``: how far the resident set of this process peaks above where it stood, while a
call runs (Linux: writing 5 to /proc/self/clear_refs resets the peak, VmHWM).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from io import BytesIO
from typing import TypeVar

T = TypeVar("T")
MiB = 1024 * 1024


def _assemble(objects: list[bytes], root: int = 1) -> bytes:
    """A classic PDF (xref table) of the given object bodies, numbered from 1."""
    out = BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref))
    return out.getvalue()


def xref_stream_bomb(inflated: int = 21 * MiB) -> bytes:
    """A cross-reference stream of ``inflated / 7`` entries, compressed to a few KB."""
    entries = inflated // 7
    head = (
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    )
    packed = zlib.compress(b"\x01\x00\x00\x00\x0f\x00\x00" * entries, 9)
    xref = (
        b"3 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Filter /FlateDecode /Length %d >>\nstream\n"
        % (entries, len(packed))
        + packed
        + b"\nendstream\nendobj\n"
    )
    return head + xref + b"startxref\n%d\n%%%%EOF\n" % len(head)


def object_stream_bomb(inflated: int = 48 * MiB) -> bytes:
    """The catalog kept in an object stream padded with whitespace to ``inflated`` bytes."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [] >> >>"
    padding = b" " * (inflated - len(catalog))
    packed = zlib.compress(b"3 0 " + padding + catalog, 9)
    stream = b"<< /Type /ObjStm /N 1 /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (
        4 + len(padding),
        len(packed),
    )
    out = BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = [out.tell()]
    out.write(b"1 0 obj\n" + stream + packed + b"\nendstream\nendobj\n")
    offsets.append(out.tell())
    out.write(b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n")
    xref_at = out.tell()

    def row(kind: int, field: int, index: int) -> bytes:
        return bytes([kind]) + field.to_bytes(4, "big") + bytes([index])

    # /W [1 4 1]: free head; objects 1, 2 and the xref itself at their offsets; object 3 inside stream 1.
    rows = row(0, 0, 255) + row(1, offsets[0], 0) + row(1, offsets[1], 0) + row(2, 1, 0) + row(1, xref_at, 0)
    packed_rows = zlib.compress(rows)
    out.write(
        b"4 0 obj\n<< /Type /XRef /Size 5 /W [1 4 1] /Root 3 0 R /Filter /FlateDecode /Length %d >>\nstream\n"
        % len(packed_rows)
        + packed_rows
        + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at
    )
    return out.getvalue()


def deeply_nested(depth: int = 100_000) -> bytes:
    """A catalog holding an array nested ``depth`` levels deep."""
    nested = b"[" * depth + b"]" * depth
    return _assemble(
        [b"<< /Type /Catalog /Pages 2 0 R /Nested " + nested + b" >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    )


def _peak_kib() -> int:
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+)", status.read()).group(1))


def peak_memory_growth(call: Callable[[], T]) -> tuple[T, int]:
    """``call()`` and how many bytes this process's peak resident set rose above its resident set before."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = _peak_kib()
    result = call()
    return result, (_peak_kib() - before) * 1024
