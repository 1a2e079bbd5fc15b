"""Where a code action applies: the selected lines, or the function around the cursor.

Pure functions over the document text, in string offsets. Python functions are found by
indentation: ``def``/``class`` headers with their decorators, where lines inside brackets,
triple-quoted strings or after a backslash continue the line before them. C-like languages
are matched by braces, with comments and string literals masked out first; a brace block
is a function when the text before it has a parameter list and no control keyword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PYTHON_HEADER = re.compile(r"[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+\w")
CONTROL_WORDS = frozenset(
    "if else for foreach while do switch catch try finally with return synchronized using lock "
    "fixed unsafe match loop when select".split()
)
SIGNATURE_PREFIXES = ("@", "#[", "[", "template")  # annotation and attribute lines above a header
PREPROCESSOR = re.compile(r"#[ \t]*(?:include|define|undef|if|ifdef|ifndef|elif|else|endif|pragma|error|line|import)\b")


@dataclass(frozen=True)
class Target:
    """The code an action reads and rewrites: ``text[start:end]``, whole lines."""

    start: int
    end: int
    top_level: bool
    """Whether the code starts at the outermost level (a test may then go right after it)."""


def is_python(language: str | None, path: str | None = None) -> bool:
    """Whether the document is Python, by language id or file extension."""
    return language == "python" or bool(path and path.endswith((".py", ".pyi")))


def find_target(text: str, start: int, end: int, language: str | None, path: str | None = None) -> Target | None:
    """The selection widened to whole lines, or the enclosing function when it is empty."""
    python = is_python(language, path)
    if start == end:
        return python_function(text, start) if python else brace_function(text, start)
    start, end = whole_lines(text, min(start, end), max(start, end))
    if not text[start:end].strip():
        return None
    top = not text[start:end][:1].isspace() and (python or brace_depth(mask_c_like(text), start) == 0)
    return Target(start, end, top)


def whole_lines(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) widened to whole lines; an end at the start of a line stays on the line before."""
    first = _line_start(text, start)
    if end > start and end > 0 and text[end - 1] in "\r\n":
        end -= 2 if text[end - 2 : end] == "\r\n" else 1
    return first, max(first, _line_end(text, end))


# -- Python ---------------------------------------------------------------------------------
def split_lines(text: str) -> list[str]:
    """The lines of ``text`` with their endings (``\\n``, ``\\r\\n`` or ``\\r``)."""
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)


def python_header(code: str) -> tuple[str, str] | None:
    """The decorators and ``def``/``class`` header opening ``code``, and its body's indentation.

    The header text keeps its line breaks and ends with one; None when ``code`` opens with
    something else or the header has no body of its own (``def f(): pass``).
    """
    lines = split_lines(code.lstrip("\r\n"))
    continued = python_continuations(lines)
    row = _start_row(lines, continued, 0) if lines else 0
    if row >= len(lines) or not PYTHON_HEADER.match(lines[row]):
        return None
    end = row
    while end + 1 < len(lines) and continued[end + 1]:
        end += 1
    if not _strip_comment(lines[end]).rstrip().endswith(":"):
        return None
    head = "".join(lines[: end + 1])
    body = next((line for line in lines[end + 1 :] if line.strip()), "")
    indent = _leading(body) if _indent(body) > _indent(lines[row]) else _leading(lines[row]) + "    "
    return (head if head.endswith(("\n", "\r")) else head + "\n"), indent


def python_function(text: str, offset: int) -> Target | None:
    """The innermost ``def`` or ``class`` whose lines hold ``offset`` (decorators included)."""
    lines = split_lines(text)
    if not lines:
        return None
    continued = python_continuations(lines)
    row = _start_row(lines, continued, _row_of(lines, offset))
    for header in range(row, -1, -1):
        if continued[header] or not PYTHON_HEADER.match(lines[header]):
            continue
        last = python_block_end(lines, continued, header)
        if last >= row:
            first = _decorators_above(lines, continued, header)
            start = sum(len(line) for line in lines[:first])
            end = sum(len(line) for line in lines[: last + 1]) - len(_ending(lines[last]))
            return Target(start, end, _indent(lines[first]) == 0)
    return None


def python_block_end(lines: list[str], continued: list[bool], header: int) -> int:
    """The last line of the block opened at ``header``; blank and comment lines do not end it."""
    base, last = _indent(lines[header]), header
    while last + 1 < len(lines) and continued[last + 1]:
        last += 1
    if not _strip_comment(lines[last]).rstrip().endswith(":"):
        return last  # a one-line ``def f(): pass``
    for row in range(last + 1, len(lines)):
        code = lines[row].strip()
        if continued[row] or (code and not code.startswith("#") and _indent(lines[row]) > base):
            last = row
        elif code and not code.startswith("#"):
            break
    return last


def python_continuations(lines: list[str]) -> list[bool]:
    """For each line, whether it continues the one before (brackets, triple quotes, backslash)."""
    result, depth, quote, backslash = [], 0, None, False
    for line in lines:
        result.append(depth > 0 or quote is not None or backslash)
        depth, quote, backslash = _scan_python_line(line, depth, quote)
    return result


def _scan_python_line(line: str, depth: int, quote: str | None) -> tuple[int, str | None, bool]:
    """Bracket depth, open triple quote and trailing backslash after one line."""
    i, body = 0, line.rstrip("\r\n")
    while i < len(body):
        if quote:
            if body[i] == "\\":
                i += 2
                continue
            if body.startswith(quote, i):
                i, quote = i + len(quote), None
                continue
            i += 1
            continue
        ch = body[i]
        if ch == "#":
            break
        if body.startswith(('"""', "'''"), i):
            quote, i = body[i : i + 3], i + 3
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        i += 1
    backslash = body.endswith("\\")
    if quote is not None and len(quote) == 1 and not backslash:
        quote = None  # an unterminated one-line string ends with its line
    return depth, quote, backslash and quote is None


def _start_row(lines: list[str], continued: list[bool], row: int) -> int:
    """The row of the logical line holding ``row``, or of the header a decorator line decorates."""
    while row > 0 and continued[row]:
        row -= 1
    if not lines[row].lstrip().startswith("@"):
        return row
    while row + 1 < len(lines):
        row += 1
        if not continued[row] and not lines[row].lstrip().startswith("@"):
            break
    return row


def _decorators_above(lines: list[str], continued: list[bool], header: int) -> int:
    """The first line of the decorators directly above ``header``."""
    first = header
    while first > 0:
        above = first - 1
        while above > 0 and continued[above]:
            above -= 1
        if not lines[above].lstrip().startswith("@"):
            break
        first = above
    return first


# -- C-like languages -----------------------------------------------------------------------
def mask_c_like(text: str) -> str:
    """``text`` with comments and string literals blanked (same length; newlines kept)."""
    out, i, n = list(text), 0, len(text)
    while i < n:
        end = _literal_end(text, i)
        if end > i:
            for k in range(i, end):
                if text[k] not in "\r\n":
                    out[k] = " "
            i = end
        else:
            i += 1
    return "".join(out)


def _literal_end(text: str, i: int) -> int:
    """The end of the comment or literal starting at ``i``, or ``i`` when there is none."""
    if text.startswith("//", i):
        newline = text.find("\n", i)
        return len(text) if newline < 0 else newline
    if text.startswith("/*", i):
        close = text.find("*/", i + 2)
        return len(text) if close < 0 else close + 2
    if text.startswith("#", i) and PREPROCESSOR.match(text, i) and not text[_line_start(text, i) : i].strip():
        return _line_end(text, i)
    ch = text[i : i + 1]
    if ch in ("\"", "`"):
        return _quoted_end(text, i, ch, multiline=ch == "`")
    if ch == "'":
        end = _quoted_end(text, i, ch, multiline=False)
        return end if end - i <= 8 and text[end - 1] == "'" else i  # a char literal, not a Rust lifetime
    return i


def _quoted_end(text: str, i: int, quote: str, multiline: bool) -> int:
    """The end of a string literal opened at ``i`` (at the line end when it is not closed)."""
    k = i + 1
    while k < len(text):
        if text[k] == "\\":
            k += 2
            continue
        if text[k] == quote:
            return k + 1
        if text[k] == "\n" and not multiline:
            return k
        k += 1
    return len(text)


def brace_pairs(masked: str) -> list[tuple[int, int]]:
    """Offsets of every matched ``{`` and its ``}`` in masked text."""
    stack, pairs = [], []
    for i, ch in enumerate(masked):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            pairs.append((stack.pop(), i))
    return pairs


def brace_depth(masked: str, offset: int) -> int:
    """How many brace blocks enclose ``offset``."""
    return sum(1 for open_, close in brace_pairs(masked) if open_ < offset <= close)


def brace_function(text: str, offset: int) -> Target | None:
    """The innermost function-like brace block whose lines (header to closing brace) hold ``offset``."""
    masked = mask_c_like(text)
    pairs = brace_pairs(masked)
    best: Target | None = None
    for open_, close in pairs:
        header = function_header_start(masked, open_)
        if header is None:
            continue
        start, end = _line_start(text, header), _line_end(text, close)
        if start <= offset <= end and (best is None or start > best.start):
            depth = sum(1 for o, c in pairs if o < header <= c)
            best = Target(start, end, depth == 0)
    return best


def function_header_start(masked: str, open_: int) -> int | None:
    """Where the function header before the ``{`` at ``open_`` begins, or None when it is no function."""
    region = max(masked.rfind(ch, 0, open_) for ch in ";{}") + 1
    head = masked[region:open_]
    arrow = head.rfind("=>")
    close = head.rfind(")", 0, arrow if arrow >= 0 else len(head))
    if close < 0 and arrow < 0:
        return None
    anchor = _matching_open(head, close) if close >= 0 else arrow
    if anchor is None:
        return None
    line = _line_start(masked, region + anchor)
    start = _annotations_above(masked, region, line if line >= region else region)
    words = re.findall(r"[A-Za-z_]\w*", masked[start:open_])
    if not words or words[0] in CONTROL_WORDS or not masked[start:open_].strip():
        return None
    return start


def _matching_open(head: str, close: int) -> int | None:
    """The offset of the ``(`` matching the ``)`` at ``close``."""
    depth = 0
    for i in range(close, -1, -1):
        if head[i] in ")]}":
            depth += 1
        elif head[i] in "([{":
            depth -= 1
            if depth == 0:
                return i if head[i] == "(" else None
    return None


def _annotations_above(masked: str, region: int, start: int) -> int:
    """Move ``start`` up over annotation, attribute and template lines directly above it."""
    while start > region:
        above = _line_start(masked, start - 1)
        line = masked[max(above, region) : start].strip()
        if not line.startswith(SIGNATURE_PREFIXES):
            break
        start = max(above, region)
    return start


# -- small helpers --------------------------------------------------------------------------
def _line_start(text: str, offset: int) -> int:
    return max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1


def _line_end(text: str, offset: int) -> int:
    ends = [k for k in (text.find("\n", offset), text.find("\r", offset)) if k >= 0]
    return min(ends) if ends else len(text)


def _row_of(lines: list[str], offset: int) -> int:
    total = 0
    for row, line in enumerate(lines):
        total += len(line)
        if offset < total:
            return row
    return len(lines) - 1


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :]


def _leading(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _indent(line: str) -> int:
    expanded = line.expandtabs(8)
    return len(expanded) - len(expanded.lstrip(" "))


def _strip_comment(line: str) -> str:
    """The line without a trailing ``#`` comment (quotes respected)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote and line[i - 1] != "\\" else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line
