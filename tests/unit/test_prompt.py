"""Prompt building table, with a word counter standing in for a tokenizer."""

import pytest

from finch_lsp.completion.prompt import OtherFile, fim_prompt, keep_head, keep_tail, prefix_prompt, split_budget
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
    assert words(s) <= 10 and words(p) + words(s) <= 40 and words(p) >= 28
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
