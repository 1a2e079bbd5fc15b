"""LSP positions <-> string offsets in the negotiated encoding (utf-16, utf-8 or utf-32).

Pure functions. As the LSP specification says, a character past the end of its line
"defaults back to the line length"; a line past the end of the text, a negative value or a
character in the middle of a surrogate pair or multi-byte sequence is out of range (``None``):
a completion there would be computed for text the editor does not have. Document edits are
never refused: they use ``edit_offset`` (documents/edits.py).
"""

from __future__ import annotations

def units(ch: str, encoding: str) -> int:
    """Code units one character takes in ``encoding`` (a lone surrogate is one utf-16 unit)."""
    if encoding == "utf-8":
        return len(ch.encode("utf-8", "surrogatepass"))
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


def locate(text: str, starts: list[int], line: int, character: int, encoding: str) -> tuple[int, int]:
    """(offset, units into the character there) of a position on an existing line.

    The character is clamped to the line length; the second value is 0 on a character
    boundary, else how far into the character at ``offset`` the position falls.
    """
    start, end = starts[line], _line_end(text, starts, line)
    count = 0
    for offset in range(start, end):
        if count >= character:
            return offset, 0
        width = units(text[offset], encoding)
        if count + width > character:
            return offset, character - count
        count += width
    return end, 0


def offset_at(text: str, line: int, character: int, encoding: str = "utf-16") -> int | None:
    """String offset of an LSP position (character clamped to the line), or None when out of range."""
    starts = line_starts(text)
    if line < 0 or character < 0 or line >= len(starts):
        return None
    offset, inside = locate(text, starts, line, character, encoding)
    return None if inside else offset


def position_at(text: str, offset: int, encoding: str = "utf-16") -> tuple[int, int]:
    """LSP (line, character) of a string offset (clamped to the text)."""
    offset = max(0, min(offset, len(text)))
    starts = line_starts(text)
    line = max(i for i, s in enumerate(starts) if s <= offset) if starts else 0
    character = sum(units(ch, encoding) for ch in text[starts[line]:offset])
    return line, character
