"""Bench results into the docs: one rule for where a measured section goes.

A section goes at the end of its part (a ``## `` heading and a short introduction), which is
created at the end of the document when missing; the other parts stay where they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable


def add_section(document: str, heading: str, intro: str, section: str, title: str = "# Benchmarks") -> str:
    """``document`` with ``section`` at the end of the part under ``heading``."""
    if not document.strip():
        document = f"{title}\n"
    lines = document.rstrip("\n").split("\n")
    if heading not in lines:
        part = f"\n\n{heading}\n\n{intro.strip()}\n" if intro.strip() else f"\n\n{heading}\n"
        return "\n".join(lines) + part + f"\n{section.rstrip()}\n"
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    before, after = "\n".join(lines[:end]).rstrip("\n"), "\n".join(lines[end:])
    return f"{before}\n\n{section.rstrip()}\n" + (f"\n{after}\n" if after.strip() else "")


def write_section(path: str | Path, heading: str, intro: str, section: str, title: str = "# Benchmarks") -> None:
    """``add_section`` applied to the file at ``path`` (created when missing)."""
    path = Path(path)
    path.write_text(add_section(path.read_text() if path.exists() else "", heading, intro, section, title))


def growing_section(path: str | Path, heading: str, intro: str, title: str = "# Benchmarks") -> Callable[[str], None]:
    """A writer for a section that grows while a long bench runs: each call puts its section
    where the previous call's was (``add_section`` on the file as it was before the first call),
    so a run stopped part way leaves the rows it has, once."""
    path = Path(path)
    original = path.read_text() if path.exists() else ""
    return lambda section: path.write_text(add_section(original, heading, intro, section, title))
