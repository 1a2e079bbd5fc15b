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
    # degenerate output: repeated lines
    ("a line repeated in a row is cut with what follows", "\n    x = learn()\n    x = learn()\n    x = learn()\n    return x", "def f():", "", "auto", "\n    x = learn()"),
    ("a repeat after a blank line is cut too", "\n    log(x)\n\n    log(x)", "def f(x):", "", "auto", "\n    log(x)"),
    ("a completion repeating the line before the cursor is dropped", "x = learn()\n    y = 1", "def f():\n    x = learn()\n    ", "", "auto", ""),
    ("the cursor line completed counts as the first occurrence", "n x\n    return x", "def f(x):\n    retur", "", "auto", "n x"),
    ("closing brackets at decreasing indentation are kept", "\n        [\n            [1],\n        ],\n    ]", "def f():\n    x = [", "", "auto", "\n        [\n            [1],\n        ],\n    ]"),
    ("identical bracket-only lines are not repeats", "\n        [],\n        [],\n    ]", "def f():\n    grid = [", "", "auto", "\n        [],\n        [],\n    ]"),
    ("pass in two blocks is not a repeat", "\n    if a:\n        pass\n    else:\n        pass", "def f(a):", "", "auto", "\n    if a:\n        pass\n    else:\n        pass"),
    ("the same line at another indentation is not a repeat", "\n    x = 0\n    if a:\n        x = 0", "def f(a):", "", "auto", "\n    x = 0\n    if a:\n        x = 0"),
    ("similar lines that differ are kept", "\n    a = 1\n    a = 2", "def f():", "", "auto", "\n    a = 1\n    a = 2"),
    # degenerate output: runaway keys
    ("a key nested level after level is dropped", '\n        "a": {\n            "a": {\n                "a": {\n                    "a": {', "def f():\n    return {", "", "auto", ""),
    ("what precedes a runaway nesting is kept", '\n        "name": n,\n        "a": {\n            "a": {\n                "a": {', "def f(n):\n    return {", "", "auto", '\n        "name": n,'),
    ("a runaway nesting on one line gives no item", '{"a": {"a": {"a": {"a": {', "def f():\n    return ", "", "auto", ""),
    ("a dict key repeated with another value is cut", '\n        "a": 1,\n        "b": 2,\n        "a": 3,\n    }', "def f():\n    return {", "", "auto", '\n        "a": 1,\n        "b": 2,'),
    ("a key the user already typed is a repeat", '\n        "a": 2,', 'def f():\n    return {\n        "a": 1,', "", "auto", ""),
    ("the same key nested twice is kept", '{"data": {"data": 1}}', "x = ", "", "auto", '{"data": {"data": 1}}'),
    ("the same key in sibling dicts is kept", '[{"a": 1}, {"a": 2}]', "rows = ", "", "auto", '[{"a": 1}, {"a": 2}]'),
    ("lambda parameters are not keys", '{"f": lambda a, b: a, "g": lambda a, b: b}', "ops = ", "", "auto", '{"f": lambda a, b: a, "g": lambda a, b: b}'),
    ("keys inside strings and comments are ignored", '\n    "{\'a\': 1, \'a\': 2}"  # {"a": 1, "a": 2}', "def f():\n    return (", "", "auto", '\n    "{\'a\': 1, \'a\': 2}"  # {"a": 1, "a": 2}'),
    # degenerate output: echoes of the prefix
    ("a completion echoing the last lines is dropped", "    y = g(x)\n    return y", "def f(x):\n    y = g(x)\n    return y\n", "", "auto", ""),
    ("a single line echoing the line before is dropped", "total += x", "for x in xs:\n    total += x\n    ", "", "never", ""),
    ("an echo of older lines, not the last ones, is kept", "    y = g(x)", "def f(x):\n    y = g(x)\n    z = y\n", "", "auto", "    y = g(x)"),
    ("a ruler comment like the line before is kept", "# ----------", "# ----------\n", "", "auto", "# ----------"),
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


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", False),
        (" x + 1", False),
        (" x + 1\n", True),
        ("\n\n", False),  # newlines before the first line do not end it
        ("\n    return x", False),
        ("\n    return x\n    ", True),
    ],
)
def test_first_line_complete(text, expected):
    from finch_lsp.completion.postprocess import first_line_complete

    assert first_line_complete(text) is expected
