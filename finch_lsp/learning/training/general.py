"""General prompts: what the gate checks an adapter leaves alone.

Forty short Python prompts on arithmetic, strings, collections, classes and control flow,
none of them about the habits users teach (files, logging, errors, printing, naming of
I/O helpers), and none of them an anchor prompt (``data.ANCHOR_PROMPTS``: training holds
those, so they would not show forgetting). The gate completes each with the base model and
with the adapter (greedy, one line) and counts the first lines that stayed the same.

Pure data and pure comparisons: no torch.
"""

from __future__ import annotations

import hashlib

from finch_lsp.completion.postprocess import first_line

GENERAL_PROMPTS: list[str] = [
    "def area(width, height):\n    return",
    "def is_even(n):\n    return",
    "def square(x):\n    return",
    "def add(a, b):\n    return",
    "def subtract(a, b):\n    return",
    "def absolute(x):\n    return",
    "def half(value):\n    return",
    "def is_odd(number):\n    return",
    "def triple(n):\n    return",
    "def circle_area(radius):\n    return",
    "def reverse_string(s):\n    return",
    "def first_char(word):\n    return",
    "def to_lower(text):\n    return",
    "def word_count(sentence):\n    return",
    "def starts_with_a(s):\n    return",
    "def concat(a, b):\n    return",
    "def last_item(items):\n    return",
    "def total(values):\n    return",
    "def smallest(numbers):\n    return",
    "def length(sequence):\n    return",
    "def contains(items, x):\n    return",
    "def unique(items):\n    return",
    "def sort_numbers(numbers):\n    return",
    "def keys_of(mapping):\n    return",
    "def factorial(n):\n    if n == 0:\n        return",
    "def gcd(a, b):\n    while b:\n        a, b =",
    "def is_prime(n):\n    if n < 2:\n        return",
    "def clamp(x, low, high):\n    return",
    "def sign(x):\n    if x > 0:\n        return",
    "def swap(a, b):\n    return",
    "class Point:\n    def __init__(self, x, y):\n        self.x =",
    "class Counter:\n    def __init__(self):\n        self.count =",
    "class Rectangle:\n    def __init__(self, width, height):\n        self.width = width\n        self.height = height\n\n    def area(self):\n        return",
    "class Queue:\n    def __init__(self):\n        self.items = []\n\n    def size(self):\n        return",
    "evens = [n for n in range(10) if",
    "total = 0\nfor n in range(1, 11):\n    total +=",
    "names = ['ada', 'grace', 'linus']\nupper_names =",
    "matrix = [[1, 2], [3, 4]]\ntransposed =",
    "import math\n\ndef hypotenuse(a, b):\n    return",
    "from collections import Counter\n\ndef most_common(items):\n    return",
]
"""Prompts as the document before the cursor (prefix-only models; FIM models get them wrapped)."""


def prompt_set_hash(prompts: list[str]) -> str:
    """A short stable hash of a prompt set: the key of cached base-model figures."""
    digest = hashlib.sha256()
    for prompt in prompts:
        digest.update(prompt.encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


def changed_prompts(prompts: list[str], before: list[str], after: list[str]) -> list[tuple[str, str, str]]:
    """(prompt, before, after) for each prompt whose first line differs (whitespace normalised)."""
    if not len(prompts) == len(before) == len(after):
        raise ValueError(f"{len(prompts)} prompts but {len(before)} completions before and {len(after)} after")
    return [(p, b, a) for p, b, a in zip(prompts, before, after) if first_line(b) != first_line(a)]


def describe_change(prompt: str, before: str, after: str) -> str:
    """One change as a user reads it: the prompt's last line, then before -> after."""
    last = prompt.rstrip().split("\n")[-1].strip()
    return f"`{last}` {first_line(before)!r} -> {first_line(after)!r}"
