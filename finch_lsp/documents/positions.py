"""LSP positions <-> string offsets in the negotiated encoding (utf-16, utf-8 or utf-32).

Pure functions. Out-of-range positions are reported (``None``), never clamped silently:
a completion at a position the server cannot see would be computed for the wrong text.
"""

from __future__ import annotations

def _units(ch: str, encoding: str) -> int:
    """Code units one character takes in ``encoding``."""
    if encoding == "utf-8":
        return len(ch.encode("utf-8"))
    if encoding == "utf-16":
        return 2 if ord(ch) > 0xFFFF else 1
    return 1


def line_starts(text: str) -> list[int]:
    """Offsets where each line begins (``\\n``, ``\\r\\n`` and ``\\r`` end a line)."""
    starts, i, n = [0], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\r" and i + 1 < n and text[i + 1] == "\n":
            i += 1
        if ch in "\r\n":
            starts.append(i + 1)
        i += 1
    return starts


def _line_end(text: str, starts: list[int], line: int) -> int:
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    while end > starts[line] and text[end - 1] in "\r\n":
        end -= 1
    return end


def offset_at(text: str, line: int, character: int, encoding: str = "utf-16") -> int | None:
    """String offset of an LSP position, or None when it lies outside the text.

    A character in the middle of a surrogate pair or a multi-byte sequence is out of range.
    """
    starts = line_starts(text)
    if line < 0 or character < 0 or line >= len(starts):
        return None
    start, end = starts[line], _line_end(text, starts, line)
    units = 0
    for offset in range(start, end):
        if units == character:
            return offset
        if units > character:
            return None
        units += _units(text[offset], encoding)
    return end if units == character else None


def position_at(text: str, offset: int, encoding: str = "utf-16") -> tuple[int, int]:
    """LSP (line, character) of a string offset (clamped to the text)."""
    offset = max(0, min(offset, len(text)))
    starts = line_starts(text)
    line = max(i for i, s in enumerate(starts) if s <= offset) if starts else 0
    character = sum(_units(ch, encoding) for ch in text[starts[line]:offset])
    return line, character
