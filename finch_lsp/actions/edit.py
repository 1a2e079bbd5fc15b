"""Where a code action's result goes: pure functions from (document, target, code) to an edit.

Fix, Document and Simplify replace their target, re-indented to where it stood. Write test
inserts after a top-level target (two blank lines before it in Python, one elsewhere), or
at the end of the file when the target is nested, so the test never lands inside a class.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from finch_lsp.actions.target import Target


def insertion_point(text: str, target: Target) -> int:
    """Where a test for ``target`` goes: right after it when it is top level, else the end of file."""
    return target.end if target.top_level else len(text)


@dataclass(frozen=True)
class Change:
    """An action's result placed in the document: ``text[start:end]`` becomes ``new_text``."""

    start: int
    end: int
    code: str
    lead: str = ""  # line breaks before an inserted test
    trail: str = ""

    @property
    def new_text(self) -> str:
        return self.lead + self.code + self.trail


def plan_change(text: str, target: Target, action: str, code: str, python: bool) -> Change:
    """Where ``code`` goes: a test after its target (or at the end of file); the rest replace it."""
    if action == "test":
        at = insertion_point(text, target)
        code = textwrap.dedent(code)
        lead, trail = insertion_text(text[:at], text[at:], 2 if python else 1)
        return Change(at, at, code, lead, trail)
    return Change(target.start, target.end, fit_indentation(code, text[target.start : target.end]))


def fit_indentation(code: str, original: str) -> str:
    """``code`` re-indented to start at the indentation of ``original``'s first line."""
    base = _first_indent(original)
    if _first_indent(code) == base:
        return code
    return textwrap.indent(textwrap.dedent(code), base, lambda line: bool(line.strip()))


def _first_indent(text: str) -> str:
    for line in text.split("\n"):
        if line.strip():
            return line[: len(line) - len(line.lstrip(" \t"))]
    return ""


def insertion_text(before: str, after: str, blank_lines: int) -> tuple[str, str]:
    """The line breaks around code inserted between ``before`` and ``after``: (lead, trail).

    ``blank_lines`` blank lines separate it from the code above; a file that ended with a
    newline still does.
    """
    if not before.strip():
        lead = ""
    else:
        trailing = len(before) - len(before.rstrip("\n"))
        lead = "\n" * max(0, blank_lines + 1 - trailing)
    trail = "\n" if not after and before.endswith("\n") else ""
    return lead, trail
