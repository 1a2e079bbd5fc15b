"""Prompt building table, with a word counter standing in for a tokenizer."""

import pytest

from finch_lsp.completion.prompt import WINDOW_STEP, OtherFile, fim_prompt, keep_head, keep_tail, prefix_prompt, split_budget, window_tail
from finch_lsp.models import FimTokens


def words(text: str) -> int:
    """One token per whitespace-separated word, at least one per line."""
    return sum(max(1, len(line.split())) for line in text.splitlines(keepends=True)) if text else 0


FIM = FimTokens()


def test_fim_prompt_shape():
    p = fim_prompt("def f(x):\n    return ", "\nprint(f(1))\n", FIM, 100, words)
    assert p.text == "<|fim_prefix|>def f(x):\n    return <|fim_suffix|>\nprint(f(1))\n<|fim_middle|>"
    assert p.fim and p.files == ()


@pytest.mark.parametrize(
    "text,budget,expected",
    [
        ("a b\nc d\ne f\n", 100, "a b\nc d\ne f\n"),
        ("a b\nc d\ne f", 4, "c d\ne f"),
        ("a b\nc d\ne f", 3, "e f"),
        ("one two three four", 2, " three four"),  # the cursor line is cut from its left
        ("x", 0, ""),
    ],
)
def test_keep_tail(text, budget, expected):
    assert keep_tail(text, budget, words) == expected


@pytest.mark.parametrize(
    "text,budget,expected",
    [("a b\nc d\ne f", 4, "a b\nc d\n"), ("a b\nc d", 1, ""), ("a b", 0, "")],
)
def test_keep_head(text, budget, expected):
    assert keep_head(text, budget, words) == expected


def test_budget_split_gives_prefix_most_and_unused_suffix_budget():
    prefix = "\n".join(f"p{i} x" for i in range(100))
    suffix = "\n".join(f"s{i} y" for i in range(100))
    p, s = split_budget(prefix, suffix, 40, words)
    assert words(s) <= 10 and words(p) + words(s) <= 40
    tail = keep_tail(prefix, 40 - words(s), words)
    assert tail.endswith(p) and len(p) >= len(tail) - int(30 * WINDOW_STEP) - len("p99 x\n")  # the window's grid costs at most a step and a line
    p2, s2 = split_budget(prefix, "short", 40, words)
    assert s2 == "short" and words(p2) > 30  # unused suffix budget goes to the prefix


def test_prefix_keeps_the_cursor_line_even_when_over_budget():
    p = prefix_prompt("import os\n" + "word " * 50, 5, words)
    assert p.text == " word" * 5 + " " and not p.fim


def test_repo_context_added_when_budget_allows():
    others = [OtherFile("src/util.py", "def helper():\n    return 1\n"), OtherFile("big.py", "x " * 500)]
    p = fim_prompt("import util\n", "", FIM, 200, words, path="src/main.py", repo="proj", others=others)
    assert p.text.startswith("<|repo_name|>proj\n<|file_sep|>src/util.py\ndef helper():\n    return 1\n\n")
    assert "<|file_sep|>src/main.py\n<|fim_prefix|>import util\n" in p.text
    assert p.files == ("src/util.py",)  # big.py does not fit


def test_no_repo_context_without_room():
    others = [OtherFile("src/util.py", "def helper():\n    return 1\n")]
    p = fim_prompt("a b c d e f\n" * 20, "", FIM, 60, words, path="m.py", others=others)
    assert "<|repo_name|>" not in p.text and p.files == ()


def _long_file(lines: int = 400) -> str:
    return "".join(f"value_{i} = compute({i}, other)\n" for i in range(lines))


def test_window_start_holds_while_typing_where_keep_tail_moves():
    """Typing at the end of a file over budget: the cut moves once per grid step, not per line."""
    text = _long_file()
    typed = "".join(f"result_{i} = finish({i})\n" for i in range(20))
    starts_tail, starts_window = [], []
    for n in range(len(typed) + 1):
        prefix = text + typed[:n]
        tail, window = keep_tail(prefix, 200, words), window_tail(prefix, 200, words)
        assert words(window) <= 200 and tail.endswith(window)
        assert window == prefix or prefix[len(prefix) - len(window) - 1] == "\n"  # a line start
        starts_tail.append(len(prefix) - len(tail))
        starts_window.append(len(prefix) - len(window))
    moves = lambda starts: sum(a != b for a, b in zip(starts, starts[1:]))  # noqa: E731
    assert moves(starts_tail) >= 15  # about one per line typed
    assert moves(starts_window) <= len(typed) // int(200 * WINDOW_STEP) + 1


@pytest.mark.parametrize("text,budget", [("a b\nc d\ne f", 100), ("one two three four", 2), ("x", 0)])
def test_window_is_keep_tail_when_all_fits_or_one_line_is_over(text, budget):
    assert window_tail(text, budget, words) == keep_tail(text, budget, words)


def test_window_keeps_keep_tail_when_the_grid_would_lose_half():
    text = "z\n" + "w " * 10 + "\n" + "v"  # the grid falls inside the long line: only "v" would stay
    assert keep_tail(text, 11, words) == text[2:]
    assert window_tail(text, 11, words, step=4) == text[2:]
    assert window_tail(text, 11, words, step=2) == text[2:]  # grid 2 is the cut itself
