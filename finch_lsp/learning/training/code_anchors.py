"""Anchors from real code: the openings of functions in Python's own standard library.

A habit taught with ten corrections spreads to completions nobody taught: every function
that starts like a corrected one. Holding the base model's next-token distributions on a
handful of generic prompts does not cover where it spreads (docs/learning.md). The openings
of real functions do: a function header and its first body lines, from modules of the
standard library of the Python the trainer runs on, are code that no user of finch-lsp wrote,
present on every machine, and as varied as the code users complete. Training holds the base
model's predictions at every position of a sample of them.

Pure text and ``ast``: no model here. The sample is fixed (sorted modules, a seeded shuffle),
so the same machine trains on the same anchors every time.
"""

from __future__ import annotations

import ast
import os
import random
import sysconfig
import textwrap
from functools import lru_cache

MODULES = (
    "argparse", "base64", "bisect", "calendar", "colorsys", "configparser", "copy", "csv",
    "dataclasses", "difflib", "enum", "fnmatch", "fractions", "functools", "genericpath",
    "gettext", "glob", "heapq", "html/__init__", "ipaddress", "json/decoder", "json/encoder",
    "mimetypes", "netrc", "operator", "posixpath", "pprint", "queue", "quopri", "random",
    "sched", "secrets", "shlex", "shutil", "statistics", "string", "tempfile", "textwrap",
    "tokenize", "urllib/parse", "uuid", "wave", "zipfile/__init__", "zipfile",
)
"""Standard-library modules the openings come from: plain Python, many small functions. None of
them is about what users are measured teaching (time, logging, files by path)."""

BODY_LINES = 3
"""Body lines kept after the header (docstrings removed)."""

MAX_CHARS = 240
"""Longest opening kept (a few dozen tokens)."""


def stdlib_dir() -> str:
    return sysconfig.get_paths()["stdlib"]


def openings_of(source: str) -> list[str]:
    """Every function's header and first ``BODY_LINES`` body lines in ``source``, dedented."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines()
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.body:
            continue
        body = list(node.body)
        if isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            body = body[1:]
        if not body:
            continue
        header = [h for h in lines[node.lineno - 1 : node.body[0].lineno - 1] if h.strip()]
        if not header or not header[-1].rstrip().endswith(":") or len(header) > 3:
            continue
        start, end = body[0].lineno - 1, min(body[0].lineno - 1 + BODY_LINES, node.end_lineno or 0)
        kept = [line for line in lines[start:end] if line.strip()]
        if not kept:
            continue
        text = textwrap.dedent("\n".join(header + kept))
        if len(text) <= MAX_CHARS and "\t" not in text:
            found.append(text)
    return found


@lru_cache(maxsize=4)
def all_openings(root: str | None = None) -> tuple[str, ...]:
    """The openings of every function in ``MODULES`` found under ``root`` (the stdlib), in a fixed order."""
    root = root or stdlib_dir()
    found: list[str] = []
    for name in MODULES:
        path = os.path.join(root, name + ".py")
        try:
            with open(path, encoding="utf-8") as f:
                found.extend(openings_of(f.read()))
        except OSError:
            continue
    return tuple(dict.fromkeys(found))


def code_anchor_texts(count: int, root: str | None = None) -> list[str]:
    """``count`` openings, a fixed sample (fewer when the standard library's source is not installed)."""
    if count <= 0:
        return []
    openings = list(all_openings(root))
    random.Random(0).shuffle(openings)
    return openings[:count]
