"""Post-processing table: raw model text at a cursor -> what the editor shows."""

import pytest

from finch_lsp.completion.postprocess import in_comment, postprocess

CASES = [
    # (id, raw, prefix, suffix, multiline, expected)
    ("line end keeps one line when the rest is a new def", " a + b\n\ndef foo():\n    pass", "def add(a, b):\n    return", "", "auto", " a + b"),
    ("mid-line gives a single line", "x, y)\nprint(z)", "print(", ")", "auto", "x, y"),
    ("multi-line at a line end stops at dedent", "\n    return 1\n    y = 2\nz = 3", "def f():", "", "auto", "\n    return 1\n    y = 2"),
    ("never mode gives one line", "\n    return 1", "def f():", "", "never", ""),
    ("inside a comment stays on one line", "first\nsecond", "x = 1  # note: ", "", "auto", "first"),
    ("always mode allows lines in a comment", "first\nsecond", "x = 1  # see ", "", "always", "first\nsecond"),
    ("hash in a string is not a comment", 'b"\nmore', 'print("a#', "", "auto", 'b"\nmore'),
    ("unbalanced closer mid-line is cut", "a, b) + 1", "f(", ") + 1", "auto", "a, b"),
    ("closer matching an open bracket at line end is kept", '"hi")', "print(", "", "auto", '"hi")'),
    ("closer nobody opened is cut", "x]) and y", "if a", "", "auto", "x"),
    ("brackets in strings are ignored", '")" + s', "t = (", "", "auto", '")" + s'),
    ("suffix overlap is dropped", "a + b)", "print(", ")", "auto", "a + b"),
    ("repeated following lines are dropped", "\n    x = 1\n    return x", "def f():", "\n    return x\n", "auto", "\n    x = 1"),
    ("whitespace-only gives no item", "   \n  ", "x = ", "", "auto", ""),
    ("doubled indent on an indented blank line is removed", "    return 1", "def f():\n    ", "", "auto", "return 1"),
    ("tab-indented document keeps tabs", "\n    return 1", "def f():\n\tpass\ndef g():", "", "auto", "\n\treturn 1"),
    ("column-0 line keeps the model's indentation", "    return 1\n    y = 2\nz = 3", "def f():\n", "", "auto", "    return 1\n    y = 2"),
    ("crlf output is normalised", "a\r\nb", "x = ", "", "auto", "a\nb"),
]


@pytest.mark.parametrize("raw,prefix,suffix,mode,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_postprocess(raw, prefix, suffix, mode, expected):
    assert postprocess(raw, prefix, suffix, mode) == expected


@pytest.mark.parametrize(
    "line,expected",
    [("x = 1  # c", True), ("// note", True), ('s = "#"', False), ("x = 1", False), ("s = 'a' # b", True)],
)
def test_in_comment(line, expected):
    assert in_comment(line) is expected


def test_menu_item_replaces_the_word_before_the_cursor():
    from lsprotocol import types

    from finch_lsp.completion.service import completion_item
    from finch_lsp.documents.suggestions import Suggestion

    s = Suggestion("s1", "file:///a.py", 1, "def add(a, b):\n    retur", "", "n a + b", "m", None)
    item = completion_item(s, types.Position(1, 9))
    assert item.text_edit.new_text == "return a + b" and item.filter_text == "return a + b"
    assert item.text_edit.range == types.Range(types.Position(1, 4), types.Position(1, 9))
    assert item.data == {"suggestionId": "s1"} and item.command.arguments == ["s1"]
