"""How a registry CSV's bytes are read (decision 0035): UTF-8 first (with or without a BOM), then CP932; anything
else refused naming the line of the first byte that is neither, and a user-defined 外字 refused saying that only
UTF-8 carries characters beyond CP932."""

from __future__ import annotations

import pytest

from madoguchi.registry.csv_formats import UnreadableEncoding, decode_registry_csv

TEXT = "family_name,family_name_kana\r\n髙橋,タカハシ\r\n山﨑,ヤマサキ\r\n"


def test_utf8_with_or_without_a_bom_is_utf8() -> None:
    assert decode_registry_csv(TEXT.encode()) == (TEXT, "UTF-8")
    assert decode_registry_csv(b"\xef\xbb\xbf" + TEXT.encode()) == (TEXT, "UTF-8")
    gaiji = "family_name\r\n𠮷田\r\n葛\U000e0100西\r\n"  # beyond CP932: UTF-8 carries them
    assert decode_registry_csv(gaiji.encode()) == (gaiji, "UTF-8")


def test_shift_jis_with_the_nec_and_ibm_extensions_is_read_as_cp932() -> None:
    assert decode_registry_csv(TEXT.encode("cp932")) == (TEXT, "Shift_JIS (CP932)")
    plain = "family_name\n佐藤\n"  # JIS X 0208 only, as strict Shift_JIS writes it, with Unix line ends
    assert decode_registry_csv(plain.encode("shift_jis")) == (plain, "Shift_JIS (CP932)")


@pytest.mark.parametrize(
    ("data", "line", "byte"),
    [
        (TEXT.encode("cp932") + b"\x82\n", 4, "0x82"),  # a lead byte without its second byte
        (TEXT.encode("cp932").replace("山".encode("cp932"), b"\x00\x01"), 3, "0x00"),  # binary
        (b"a\n\x82\xa0\x81\n", 2, "0x81"),
    ],
)
def test_bytes_that_are_neither_are_refused_on_their_line(data: bytes, line: int, byte: str) -> None:
    with pytest.raises(UnreadableEncoding) as refused:
        decode_registry_csv(data)
    assert refused.value.line == line and not refused.value.gaiji
    assert str(refused.value) == (
        f"line {line}: byte {byte} is neither UTF-8 nor Shift_JIS (CP932) text; save the CSV as UTF-8 or Shift_JIS"
    )


@pytest.mark.parametrize("gaiji", [b"\xf0\x40", b"\xf9\xfc"])
def test_a_user_defined_gaiji_is_refused_on_its_line_saying_only_utf8_carries_it(gaiji: bytes) -> None:
    data = TEXT.encode("cp932").replace("﨑".encode("cp932"), gaiji)
    with pytest.raises(UnreadableEncoding) as refused:
        decode_registry_csv(data)
    assert refused.value.line == 3 and refused.value.gaiji
    assert f"0x{gaiji.hex().upper()}" in str(refused.value) and "only be imported from a UTF-8 file" in str(
        refused.value
    )


def test_single_bytes_shift_jis_never_assigned_are_refused() -> None:
    with pytest.raises(UnreadableEncoding) as refused:
        decode_registry_csv(TEXT.encode("cp932") + b"\xa0\r\n")
    assert refused.value.line == 4
