"""Positions in utf-16 / utf-8 / utf-32 with emoji and CJK text."""

import pytest

from finch_lsp.documents.positions import offset_at, position_at

TEXT = 'x = "😋"\n名前 = 1\r\nend'


@pytest.mark.parametrize(
    "line,char,encoding,expected",
    [
        (0, 0, "utf-16", 0),
        (0, 5, "utf-16", 5),  # just after the opening quote
        (0, 7, "utf-16", 6),  # the emoji is two utf-16 units
        (0, 6, "utf-16", None),  # inside the surrogate pair
        (0, 9, "utf-8", 6),  # four utf-8 bytes
        (0, 6, "utf-32", 6),
        (0, 8, "utf-16", 7),  # line end
        (0, 9, "utf-16", 7),  # past the line end: the line length, as the LSP spec says
        (0, 500, "utf-8", 7),
        (1, 99, "utf-16", 14),  # past the end of a CRLF line: before the \r\n
        (1, 2, "utf-16", 10),  # after two CJK characters
        (1, 6, "utf-8", 10),  # CJK is three utf-8 bytes each
        (2, 3, "utf-16", len(TEXT)),  # after \r\n
        (3, 0, "utf-16", None),
        (-1, 0, "utf-16", None),
    ],
)
def test_offset_at(line, char, encoding, expected):
    assert offset_at(TEXT, line, char, encoding) == expected


def test_position_round_trip():
    for enc in ("utf-8", "utf-16", "utf-32"):
        for off in range(len(TEXT) + 1):
            if TEXT[off - 1 : off] == "\r":
                continue
            line, char = position_at(TEXT, off, enc)
            assert offset_at(TEXT, line, char, enc) == off


def test_empty_last_line():
    assert offset_at("a\n", 1, 0) == 2
