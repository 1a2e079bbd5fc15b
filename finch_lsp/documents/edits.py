"""Document edits applied exactly as the editor applies them (pure).

Every ``didChange`` edit is applied, never dropped: a reversed range is swapped (editors
normalise ranges so), a character past the end of its line is the line length (the LSP
rule, so a ``\\r\\n`` is never split), a line past the end is the end of the text. In utf-16
a position inside a surrogate pair splits the pair, and halves that meet again are joined,
so the text keeps the editor's code units even through lone surrogates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from finch_lsp.documents.positions import line_starts, locate

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Edit:
    """The text after one change, and the replaced range [start, end) in the text before it."""

    text: str
    start: int
    end: int
    inserted: int


def apply_change(text: str, rng, new_text: str, encoding: str = "utf-16") -> Edit:
    """Apply one content change (``rng`` None: the whole document) in ``encoding``."""
    if rng is None:
        return Edit(new_text, 0, len(text), len(new_text))
    first, last = (rng.start.line, rng.start.character), (rng.end.line, rng.end.character)
    if last < first:
        first, last = last, first
    text, start = _edit_offset(text, *first, encoding)
    text, end = _edit_offset(text, *last, encoding)
    after = text[:start] + new_text + text[end:]
    return Edit(_join_pairs(after, start - 1, start + len(new_text) + 1), start, end, len(new_text))


def _edit_offset(text: str, line: int, character: int, encoding: str) -> tuple[str, int]:
    """(text, offset) of a position, clamped; a utf-16 position inside a pair splits it."""
    starts = line_starts(text)
    if line >= len(starts):
        return text, len(text)
    offset, inside = locate(text, starts, max(line, 0), max(character, 0), encoding)
    if inside and encoding == "utf-16":
        code = ord(text[offset]) - 0x10000
        pair = chr(0xD800 + (code >> 10)) + chr(0xDC00 + (code & 0x3FF))
        return text[:offset] + pair + text[offset + 1 :], offset + 1
    return text, offset  # inside a utf-8 sequence: the character's start


def _join_pairs(text: str, lo: int, hi: int) -> str:
    """Join surrogate halves that became neighbours in text[lo:hi]."""
    lo, hi = max(lo, 0), min(hi, len(text))
    window = text[lo:hi]
    if not _SURROGATE.search(window):
        return text
    joined = window.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return text[:lo] + joined + text[hi:]


def model_text(text: str) -> str:
    """The text as a model may read it: each lone surrogate becomes U+FFFD.

    Offsets are unchanged (one code point for one, the same width in every encoding).
    """
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text
