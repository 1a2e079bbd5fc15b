"""Post-processing: pure functions from raw model text to what the editor shows.

Order matters: cut to one line or to the block, stop before brackets the completion
does not own, drop what the suffix already holds, fix indentation, and give ``""``
(no item) for whitespace.
"""

from __future__ import annotations

from dataclasses import dataclass

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in OPENERS.items()}
COMMENT_MARKERS = ("#", "//", "--", ";;")


@dataclass(frozen=True)
class Cursor:
    """The text around the cursor, as post-processing needs it."""

    prefix: str
    suffix: str

    @property
    def line_prefix(self) -> str:
        return self.prefix.rsplit("\n", 1)[-1]

    @property
    def line_suffix(self) -> str:
        return self.suffix.split("\n", 1)[0].rstrip("\r")

    @property
    def at_line_end(self) -> bool:
        return not self.line_suffix.strip()


def outside_strings(text: str, quotes: str = "\"'"):
    """(index, character) of every character of ``text`` outside string quotes."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote and text[i - 1] != "\\" else quote
        elif ch in quotes:
            quote = ch
        else:
            yield i, ch


def in_comment(line_prefix: str) -> bool:
    """Whether the cursor sits in a line comment (a marker outside string quotes)."""
    return any(
        any(line_prefix.startswith(marker, i) for marker in COMMENT_MARKERS)
        for i, _ in outside_strings(line_prefix, "\"'`")
    )


def allows_multiline(cursor: Cursor, mode: str) -> bool:
    """Multi-line only at a line end; in ``auto`` mode not inside a comment either."""
    if mode == "never" or not cursor.at_line_end:
        return False
    return mode == "always" or not in_comment(cursor.line_prefix)


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def cut_block(text: str, cursor: Cursor) -> str:
    """Keep the lines of a multi-line completion that belong to the cursor's block.

    Stops at the first non-blank line indented less than the line the completion starts on
    and at a run of two blank lines.
    """
    lines = text.split("\n")
    base = len(indent_of(cursor.line_prefix + lines[0]).expandtabs(4))
    if cursor.line_prefix.rstrip().endswith(":") or cursor.line_prefix.rstrip().endswith("{"):
        base += 1
    kept, blanks = [lines[0]], 0
    for line in lines[1:]:
        if not line.strip():
            blanks += 1
            if blanks >= 2:
                break
            kept.append(line)
            continue
        blanks = 0
        if len(indent_of(line).expandtabs(4)) < base:
            break
        kept.append(line)
    return "\n".join(kept).rstrip()


def open_brackets(text: str) -> list[str]:
    """Brackets opened and not closed in ``text`` (outside string quotes), innermost last."""
    stack = []
    for _, ch in outside_strings(text):
        if ch in OPENERS:
            stack.append(ch)
        elif ch in CLOSERS and stack and stack[-1] == CLOSERS[ch]:
            stack.pop()
    return stack


def cut_unbalanced(text: str, cursor: Cursor) -> str:
    """Stop before a closing bracket the completion did not open.

    At a line end a closer that matches a bracket still open in the line before the cursor
    is kept (it finishes the user's call); mid-line the suffix already holds the closers.
    """
    outer = open_brackets(cursor.line_prefix) if cursor.at_line_end else []
    stack = []
    for i, ch in outside_strings(text):
        if ch in OPENERS:
            stack.append(ch)
        elif ch in CLOSERS:
            if stack and stack[-1] == CLOSERS[ch]:
                stack.pop()
            elif not stack and outer and outer[-1] == CLOSERS[ch]:
                outer.pop()
            else:
                return text[:i].rstrip(" \t")
    return text


def drop_suffix_overlap(text: str, cursor: Cursor) -> str:
    """Drop the end of ``text`` that repeats the start of the line's suffix (``a + b)`` before ``)``)."""
    tail = cursor.line_suffix.strip()
    if not tail:
        return _drop_repeated_lines(text, cursor.suffix)
    for k in range(len(tail), 0, -1):
        if text.rstrip().endswith(tail[:k]):
            return text.rstrip()[: len(text.rstrip()) - k]
    return text


def _drop_repeated_lines(text: str, suffix: str) -> str:
    """Drop trailing completion lines that equal the next lines of the document."""
    following = [line.strip() for line in suffix.split("\n")[1:] if line.strip()]
    lines = text.split("\n")
    if not following or len(lines) < 2:
        return text
    for start in range(1, len(lines)):
        rest = [line.strip() for line in lines[start:] if line.strip()]
        if rest and rest == following[: len(rest)]:
            return "\n".join(lines[:start]).rstrip()
    return text


def strip_doubled_indent(text: str, cursor: Cursor) -> str:
    """On a line already indented by the user, the completion does not indent again."""
    if cursor.line_prefix and not cursor.line_prefix.strip():
        first, nl, rest = text.partition("\n")
        return first.lstrip(" \t") + nl + rest
    return text


def match_indentation(text: str, cursor: Cursor) -> str:
    """Continuation lines use the document's indentation style (tabs or spaces)."""
    uses_tabs = "\n\t" in cursor.prefix and "\n    " not in cursor.prefix
    if not uses_tabs:
        return text.replace("\n\t", "\n    ")
    lines = text.split("\n")
    return "\n".join([lines[0]] + [_spaces_to_tabs(line) for line in lines[1:]])


def _spaces_to_tabs(line: str) -> str:
    indent = indent_of(line)
    width = len(indent.expandtabs(4))
    return "\t" * (width // 4) + " " * (width % 4) + line[len(indent):]


def postprocess(raw: str, prefix: str, suffix: str, multiline: str = "auto") -> str:
    """The text to show for ``raw`` model output at the cursor between ``prefix`` and ``suffix``."""
    cursor = Cursor(prefix, suffix)
    text = strip_doubled_indent(raw.replace("\r\n", "\n"), cursor)
    if allows_multiline(cursor, multiline):
        text = cut_block(text, cursor)
    else:
        text = text.split("\n", 1)[0]
    text = cut_unbalanced(text, cursor)
    text = drop_suffix_overlap(text, cursor)
    text = match_indentation(text, cursor).rstrip()
    return text if text.strip() else ""


def first_line(text: str) -> str:
    """The first non-empty line of ``text``, stripped, runs of whitespace collapsed to one space.

    The one way completions are compared by their first line (evaluation, benchmarks).
    """
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def first_line_of_completion(text: str) -> str:
    """The completion up to the end of its first non-empty line (leading newlines kept)."""
    body = text.lstrip("\n")
    return text[: len(text) - len(body)] + body.split("\n", 1)[0]
