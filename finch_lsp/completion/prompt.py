"""Prompt building: pure functions from document context to model input text.

- Models with FIM tokens (Qwen2.5-Coder): ``<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>``,
  preceded by repo-level context from other open documents (``<|repo_name|>``, ``<|file_sep|>``)
  when the token budget allows.
- Models without FIM tokens (SmolLM2): the prefix alone.

The budget is split between prefix (most of it: what was just typed matters most) and
suffix; whatever the suffix leaves unused goes to the prefix. Cuts fall on line boundaries,
and the prefix's cut on a fixed grid of the document (``window_tail``): a file longer than the
budget keeps the same prompt start while the user types, so the KV prefix reuse holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

TokenCounter = Callable[[str], int]

PREFIX_SHARE = 0.75
WINDOW_STEP = 0.5  # characters of the window's grid per token of budget (window_tail)


class FimMarkers(Protocol):
    """The FIM and repo tokens of a model (``finch_lsp.models.FimTokens``)."""

    prefix: str
    suffix: str
    middle: str
    repo_name: str
    file_sep: str


@dataclass(frozen=True)
class OtherFile:
    """Another open document offered as repo-level context."""

    path: str
    text: str


@dataclass(frozen=True)
class Prompt:
    """What the model is given: the text, and what of the document it covers."""

    text: str
    prefix: str
    suffix: str
    files: tuple[str, ...] = field(default_factory=tuple)
    fim: bool = False
    header: str = ""  # repo-level context before the FIM part
    full: str = ""  # the text before token healing: what training pairs with a target


def render_fim(markers: FimMarkers, prefix: str, suffix: str, header: str = "") -> str:
    """``{header}<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>``."""
    return f"{header}{markers.prefix}{prefix}{markers.suffix}{suffix}{markers.middle}"


def _line_chunks(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def keep_tail(text: str, budget: int, count: TokenCounter) -> str:
    """The longest run of whole trailing lines of ``text`` within ``budget`` tokens.

    The last line is always kept (cut from its left if it alone is over budget):
    it holds the cursor.
    """
    if budget <= 0:
        return ""
    if count(text) <= budget:
        return text
    lines, used, kept = _line_chunks(text), 0, []
    for line in reversed(lines):
        cost = count(line)
        if used + cost > budget:
            if not kept:
                kept.append(_chars_tail(line, budget, count))
            break
        kept.append(line)
        used += cost
    return "".join(reversed(kept))


def window_tail(text: str, budget: int, count: TokenCounter, step: int | None = None) -> str:
    """``keep_tail`` with its cut moved forward onto a fixed grid of ``text``'s offsets.

    ``text`` is the document up to the cursor. Once it is over budget, ``keep_tail``'s cut moves
    with nearly every line typed, and a prompt whose start moved shares no token prefix with
    the one before: the KV prefix reuse finds nothing and each keystroke prefills the whole
    window. Here the cut is the first line start at or after the next multiple of ``step``
    characters (``WINDOW_STEP`` per token of budget), so it stays put while the user types
    about ``step`` characters; the window is ``keep_tail``'s less at most about ``step``
    characters and a line, so still within budget. When that would lose more than half of
    ``keep_tail``'s window (very long lines), ``keep_tail``'s is kept.
    """
    kept = keep_tail(text, budget, count)
    start = len(text) - len(kept)
    step = int(budget * WINDOW_STEP) if step is None else step
    if start == 0 or step <= 0 or (start > 0 and text[start - 1] != "\n"):
        return kept  # all of it fits, or the cursor line alone is over budget
    grid = -(-start // step) * step
    cut = text.find("\n", grid - 1) + 1 if grid > 0 else 0
    if cut <= 0 or len(text) - cut < len(kept) / 2:
        return kept
    return text[cut:]


def keep_head(text: str, budget: int, count: TokenCounter) -> str:
    """The longest run of whole leading lines of ``text`` within ``budget`` tokens."""
    if budget <= 0:
        return ""
    if count(text) <= budget:
        return text
    lines, used, kept = _line_chunks(text), 0, []
    for line in lines:
        cost = count(line)
        if used + cost > budget:
            break
        kept.append(line)
        used += cost
    return "".join(kept)


def _chars_tail(line: str, budget: int, count: TokenCounter) -> str:
    lo, hi = 0, len(line)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(line[mid:]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return line[lo:]


def split_budget(prefix: str, suffix: str, budget: int, count: TokenCounter) -> tuple[str, str]:
    """Prefix and suffix cut to share ``budget``: the suffix gets at most 1/4, unused goes to the prefix."""
    suffix_kept = keep_head(suffix, int(budget * (1 - PREFIX_SHARE)), count)
    prefix_kept = window_tail(prefix, budget - count(suffix_kept), count)
    return prefix_kept, suffix_kept


def fim_prompt(
    prefix: str,
    suffix: str,
    markers: FimMarkers,
    budget: int,
    count: TokenCounter,
    *,
    path: str | None = None,
    repo: str | None = None,
    others: Sequence[OtherFile] = (),
) -> Prompt:
    """A Qwen FIM prompt, with other files as repo context when the budget leaves room."""
    prefix_kept, suffix_kept = split_budget(prefix, suffix, budget, count)
    room = budget - count(prefix_kept) - count(suffix_kept) - 3
    header, files = _repo_context(markers, room, count, path=path, repo=repo, others=others)
    text = render_fim(markers, prefix_kept, suffix_kept, header)
    return Prompt(text, prefix_kept, suffix_kept, files, fim=True, header=header)


def _repo_context(
    markers: FimMarkers,
    room: int,
    count: TokenCounter,
    *,
    path: str | None,
    repo: str | None,
    others: Sequence[OtherFile],
) -> tuple[str, tuple[str, ...]]:
    """``<|repo_name|>`` header and whole other files that fit in ``room`` tokens."""
    if not others or path is None or room <= 0:
        return "", ()
    parts = [f"{markers.repo_name}{repo or 'workspace'}\n"]
    used, files = count(parts[0]) + count(f"{markers.file_sep}{path}\n"), []
    for other in others:
        block = f"{markers.file_sep}{other.path}\n{other.text}\n"
        cost = count(block)
        if used + cost > room:
            continue
        parts.append(block)
        files.append(other.path)
        used += cost
    if not files:
        return "", ()
    parts.append(f"{markers.file_sep}{path}\n")
    return "".join(parts), tuple(files)


def prefix_prompt(prefix: str, budget: int, count: TokenCounter) -> Prompt:
    """A prompt for models without FIM tokens: the end of the prefix."""
    kept = window_tail(prefix, budget, count)
    return Prompt(kept, kept, "", (), fim=False)
