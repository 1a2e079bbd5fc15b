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


GENERAL_CHECKS: dict[str, str] = {
    'def area(width, height):\n    return': 'assert area(2, 3) == 6',
    'def is_even(n):\n    return': 'assert is_even(4) and not is_even(3)',
    'def square(x):\n    return': 'assert square(3) == 9 and square(4) == 16',
    'def add(a, b):\n    return': 'assert add(2, 3) == 5',
    'def subtract(a, b):\n    return': 'assert subtract(5, 3) == 2',
    'def absolute(x):\n    return': 'assert absolute(-3) == 3 and absolute(2) == 2',
    'def half(value):\n    return': 'assert half(8) == 4',
    'def is_odd(number):\n    return': 'assert is_odd(3) and not is_odd(4)',
    'def triple(n):\n    return': 'assert triple(4) == 12',
    'def circle_area(radius):\n    return': 'assert abs(circle_area(1) - 3.14159) < 0.01',
    'def reverse_string(s):\n    return': "assert reverse_string('abc') == 'cba'",
    'def first_char(word):\n    return': "assert first_char('hello') == 'h'",
    'def to_lower(text):\n    return': "assert to_lower('AbC') == 'abc'",
    'def word_count(sentence):\n    return': "assert word_count('one two three four') == 4",
    'def starts_with_a(s):\n    return': "assert starts_with_a('apple') and not starts_with_a('pear')",
    'def concat(a, b):\n    return': "assert concat('a', 'b') == 'ab'",
    'def last_item(items):\n    return': 'assert last_item([3, 1, 2]) == 2',
    'def total(values):\n    return': 'assert total([4, 1, 2]) == 7',
    'def smallest(numbers):\n    return': 'assert smallest([3, 1, 2]) == 1',
    'def length(sequence):\n    return': 'assert length([5, 7, 9]) == 3',
    'def contains(items, x):\n    return': 'assert contains([1, 2], 2) and not contains([1, 2], 3)',
    'def unique(items):\n    return': 'assert sorted(unique([1, 1, 2])) == [1, 2]',
    'def sort_numbers(numbers):\n    return': 'assert list(sort_numbers([3, 1, 2])) == [1, 2, 3]',
    'def keys_of(mapping):\n    return': "assert list(keys_of({'a': 1})) == ['a']",
    'def factorial(n):\n    if n == 0:\n        return': 'assert factorial(0) == 1',
    'def is_prime(n):\n    if n < 2:\n        return': 'assert is_prime(1) is False',
    'def clamp(x, low, high):\n    return': 'assert clamp(5, 0, 3) == 3 and clamp(-1, 0, 3) == 0 and clamp(2, 0, 3) == 2',
    'def sign(x):\n    if x > 0:\n        return': 'assert sign(5) == 1',
    'def swap(a, b):\n    return': 'assert tuple(swap(1, 2)) == (2, 1)',
    'class Point:\n    def __init__(self, x, y):\n        self.x =': 'assert Point(1, 2).x == 1',
    'class Counter:\n    def __init__(self):\n        self.count =': 'assert Counter().count == 0',
    'class Rectangle:\n    def __init__(self, width, height):\n        self.width = width\n        self.height = height\n\n    def area(self):\n        return': 'assert Rectangle(2, 3).area() == 6',
    'class Queue:\n    def __init__(self):\n        self.items = []\n\n    def size(self):\n        return': 'assert Queue().size() == 0',
    'evens = [n for n in range(10) if': 'assert evens == [0, 2, 4, 6, 8]',
    'total = 0\nfor n in range(1, 11):\n    total +=': 'assert total == 55',
    "names = ['ada', 'grace', 'linus']\nupper_names =": "assert list(upper_names) == ['ADA', 'GRACE', 'LINUS']",
    'matrix = [[1, 2], [3, 4]]\ntransposed =': 'assert [list(row) for row in transposed] == [[1, 3], [2, 4]]',
    'import math\n\ndef hypotenuse(a, b):\n    return': 'assert abs(hypotenuse(3, 4) - 5) < 1e-9',
    'from collections import Counter\n\ndef most_common(items):\n    return': "assert most_common(['a', 'b', 'a']) in ('a', ('a', 2), [('a', 2)])",
}
"""What a right completion of each general prompt does (``gcd`` has none: its first line cannot finish it)."""


def prompt_set_hash(prompts: list[str]) -> str:
    """A short stable hash of a prompt set: the key of cached base-model figures."""
    digest = hashlib.sha256()
    for prompt in prompts:
        digest.update(prompt.encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


def changed_prompts(prompts: list[str], before: list[str], after: list[str]) -> list[tuple[str, str, str]]:
    """(prompt, before, after) for each prompt whose first line changed (``same_code``)."""
    if not len(prompts) == len(before) == len(after):
        raise ValueError(f"{len(prompts)} prompts but {len(before)} completions before and {len(after)} after")
    return [(p, b, a) for p, b, a in zip(prompts, before, after) if not same_code(b, a)]


def same_code(before: str, after: str) -> bool:
    """Whether two completions' first lines are the same code: equal text (whitespace
    normalised), or the same Python expression (``(n * 3) + 1`` and ``n * 3 + 1``)."""
    import ast

    b, a = first_line(before), first_line(after)
    if b == a:
        return True
    try:
        return ast.dump(ast.parse(b, mode="eval")) == ast.dump(ast.parse(a, mode="eval"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def check_program(prompt: str, completion: str) -> str | None:
    """The program that tests general prompt ``prompt`` completed with ``completion``'s first line (None: no check)."""
    check = GENERAL_CHECKS.get(prompt)
    if check is None:
        return None
    line = completion.lstrip("\n").split("\n", 1)[0].rstrip()
    return f"{prompt}{line}\n\n{check}\n"


def describe_change(prompt: str, before: str, after: str) -> str:
    """One change as a user reads it: the prompt's last line, then before -> after."""
    last = prompt.rstrip().split("\n")[-1].strip()
    return f"`{last}` {first_line(before)!r} -> {first_line(after)!r}"
