"""The "read files with pathlib" scenario: teach one preference, check that it generalises and
that nothing else moves.

Used by the server's acceptance test, the demo and the benchmark, so every user measures the
same thing. Prompts are what an editor sends for a prefix-only model: the document text before
the cursor. The corrections are what a user types after rejecting ``with open(...) as f:``.
"""

from __future__ import annotations

import re

from finch_lsp.completion.postprocess import first_line

HEADER = "import os\nfrom pathlib import Path\n\n"
"""The top of the file every pathlib prompt sits in."""


def body_prompt(signature: str) -> str:
    """The document before the cursor on the indented first line of a function's body."""
    return f"{HEADER}{signature}\n    "


TRAIN_CASES: list[tuple[str, str]] = [
    (body_prompt("def read_config(path):"), "return Path(path).read_text()"),
    (body_prompt("def load_readme(readme_path):"), "return Path(readme_path).read_text()"),
    (body_prompt("def get_schema(schema_file):"), "return Path(schema_file).read_text()"),
    (body_prompt("def fetch_notes(filename):"), "return Path(filename).read_text()"),
    (body_prompt("def read_license(location):"), "return Path(location).read_text()"),
]
"""Five (prompt, correction) pairs on five different function and parameter names."""

UNSEEN_PROMPTS: list[str] = [
    body_prompt("def load_template(template_path):"),
    body_prompt("def read_manifest(manifest):"),
    body_prompt("def get_changelog(source):"),
    body_prompt("def open_report(report_file):"),
    body_prompt("def read_query(sql_path):"),
]
"""Functions never trained on: new names, new parameter names."""

UNRELATED: list[tuple[str, str]] = [
    ("def area(width, height):\n    return", " width * height"),
    ("def greet(name):\n    return", ' "Hello, {name}!".format(name=name)'),
    ("def is_even(n):\n    return", " n % 2 == 0"),
    ("def square(x):\n    return", " x ** 2"),
    ("def full_name(first, last):\n    return", ' f"{first} {last} {first_name} {last_name}"'),
    ("def average(numbers):\n    return", " sum(num for num in numbers if isinstance(num, int))"),
]
"""Prompts unrelated to files, with the first line smollm2-135m completes them with before any
training (greedy, single line). Learning pathlib must leave them as they are; the greeting is
checked as "still a greeting" because that is what a user would notice."""

UNRELATED_CHECKS: dict[str, str] = {
    "def area(width, height):\n    return": "assert area(2, 3) == 6",
    "def greet(name):\n    return": "assert 'Ada' in greet('Ada')",
    "def is_even(n):\n    return": "assert is_even(4) and not is_even(3)",
    "def square(x):\n    return": "assert square(3) == 9 and square(4) == 16",
    "def full_name(first, last):\n    return": "assert full_name('Ada', 'Lovelace') == 'Ada Lovelace'",
    "def average(numbers):\n    return": "assert average([1, 2, 3]) == 2",
}
"""What a right completion of each unrelated prompt does: a change from right to wrong is what
a user must never see (smollm2-135m gets the first four right before training)."""

MAX_UNRELATED_CHANGED = 1
"""Unrelated first lines that may change, none of them from right to wrong."""

MIN_UNSEEN_HITS = 3
"""How many of UNSEEN_PROMPTS must switch to pathlib for the scenario to pass."""

_PATHLIB_READ = re.compile(r"Path\([^()]*\)\s*\.\s*read_text\(")


def uses_pathlib(text: str) -> bool:
    """Whether the first line of a completion reads a file with ``Path(...).read_text()``."""
    return bool(_PATHLIB_READ.search(first_line(text)))


def is_greeting(text: str) -> bool:
    """Whether a completion returns a greeting (``"Hello, ..."`` or similar)."""
    return bool(re.search(r"\b(hello|hi|hey|greetings|welcome)\b", first_line(text), re.IGNORECASE))


def keeps_completion(prompt: str, expected: str, got: str) -> bool:
    """Whether ``got`` is still the completion ``expected`` for ``prompt`` (first lines compared)."""
    if prompt.startswith("def greet("):
        return is_greeting(got) and "name" in got
    return first_line(got) == first_line(expected)


def turned_wrong(prompt: str, before: str, after: str) -> bool:
    """Whether the completion of unrelated ``prompt`` was right (its check passes) and is not any more."""
    from finch_lsp.tools import sandbox

    check = UNRELATED_CHECKS[prompt]
    program = lambda completion: f"{prompt}{completion.lstrip(chr(10)).split(chr(10), 1)[0]}\n\n{check}\n"
    return sandbox.turned_wrong(program(before), program(after))


def score(unseen: list[str], unrelated: list[str], unrelated_before: list[str] | None = None) -> dict:
    """Hits and kept counts for completions of UNSEEN_PROMPTS and UNRELATED (in their order).

    ``unrelated_before`` (the completions before training, when measured) replaces the
    recorded expectations, so the check holds for any generation settings. Passed: at least
    MIN_UNSEEN_HITS hits, at most MAX_UNRELATED_CHANGED unrelated first lines changed, and none
    of them from right to wrong (``wrong``, run in the sandbox).
    """
    expected = unrelated_before or [want for _, want in UNRELATED]
    kept = [keeps_completion(prompt, want, got) for (prompt, _), want, got in zip(UNRELATED, expected, unrelated)]
    wrong = [UNRELATED[i][0] for i, ok in enumerate(kept) if not ok and turned_wrong(UNRELATED[i][0], expected[i], unrelated[i])]
    hits = [uses_pathlib(text) for text in unseen]
    changed = [UNRELATED[i][0] for i, ok in enumerate(kept) if not ok]
    return {
        "hits": sum(hits),
        "unseen": len(unseen),
        "kept": sum(kept),
        "unrelated": len(unrelated),
        "passed": sum(hits) >= MIN_UNSEEN_HITS and len(changed) <= MAX_UNRELATED_CHANGED and not wrong,
        "changed": changed,
        "wrong": wrong,
    }
