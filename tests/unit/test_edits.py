"""Edits applied as the editor applies them: reversed, past the end, CRLF, surrogate halves."""

import pytest
from lsprotocol.types import Position, Range

from finch_lsp.documents.edits import apply_change, model_text

EMOJI = "\U0001F600"


def rng(a, b, c, d) -> Range:
    return Range(Position(a, b), Position(c, d))


@pytest.mark.parametrize(
    "text,edit,new,encoding,expected",
    [
        ("abc", rng(0, 1, 0, 2), "X", "utf-16", "aXc"),
        ("abc", rng(0, 2, 0, 1), "X", "utf-16", "aXc"),  # reversed: swapped
        ("ab\r\ncd", rng(0, 1, 0, 99), "X", "utf-16", "aX\r\ncd"),  # past the CRLF line end: \r\n kept whole
        ("ab\r\ncd", rng(0, 99, 0, 99), "X", "utf-16", "abX\r\ncd"),
        ("ab\r\ncd", rng(0, 2, 1, 0), "", "utf-16", "abcd"),  # the line break removed whole
        ("ab\ncd", rng(7, 0, 9, 0), "!", "utf-16", "ab\ncd!"),  # lines past the end: the end of the text
        ("ab", rng(0, 0, 5, 0), "", "utf-16", ""),
        (f"x{EMOJI}y", rng(0, 1, 0, 3), "", "utf-16", "xy"),
        (f"x{EMOJI}y", rng(0, 2, 0, 3), "", "utf-16", "x\ud83dy"),  # half a pair deleted: the other half stays
        (f"x{EMOJI}y", rng(0, 2, 0, 2), "-", "utf-16", "x\ud83d-\ude00y"),  # inserted inside a pair
        ("x\ud83dy", rng(0, 2, 0, 2), "\ude00", "utf-16", f"x{EMOJI}y"),  # the halves meet again
        (f"x{EMOJI}y", rng(0, 3, 0, 5), "", "utf-8", "xy"),  # inside a utf-8 sequence: its start
        (f"x{EMOJI}y", rng(0, 1, 0, 2), "", "utf-32", "xy"),  # one unit per character
        ("é", rng(0, 2, 0, 2), "!", "utf-8", "é!"),
    ],
)
def test_apply_change(text, edit, new, encoding, expected):
    assert apply_change(text, edit, new, encoding).text == expected


def test_whole_document_change():
    edit = apply_change("old", None, "new")
    assert (edit.text, edit.start, edit.end) == ("new", 0, 3)


def test_two_halves_inserted_by_separate_edits_become_the_emoji():
    text = apply_change("s = ''", rng(0, 5, 0, 5), "\ud83d").text
    text = apply_change(text, rng(0, 6, 0, 6), "\ude00").text
    assert text == f"s = '{EMOJI}'"


def test_model_text_replaces_lone_surrogates_only():
    assert model_text(f"a\ud83d{EMOJI}\ude00") == f"a\ufffd{EMOJI}\ufffd"
    assert model_text("plain") == "plain"
