"""Post-processing: pure functions from raw model text to what the editor shows.

Order matters: cut to one line or to the block, drop degenerate output (repeated lines,
runaway keys), stop before brackets the completion does not own, drop what the suffix
already holds, fix indentation, and give ``""`` (no item) for whitespace or for output that
only echoes the lines before the cursor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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

# -- degenerate output -------------------------------------------------------------------------
RUNAWAY_DEPTH = 3  # the same key opening a structure this many levels deep is a runaway
CONTEXT_LINES = 30  # lines of the prefix scanned for the structure the cursor is in

_TOKEN = re.compile(
    r"(?P<comment>#[^\n]*)"
    r"|(?P<string>(?:[rRbBuUfF]{1,2})?(?:\"\"\"[\s\S]*?(?:\"\"\"|\Z)|'''[\s\S]*?(?:'''|\Z)"
    r"|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'))"
    r"|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<other>\S)"
)


def is_trivial(line: str) -> bool:
    """A line with no letter or digit: blank, closing brackets, punctuation, a ruler comment."""
    return not any(ch.isalnum() for ch in line)


def _lines_before(cursor: Cursor, count: int) -> list[str]:
    """The last ``count`` non-blank lines before the cursor's line (fewer at the start)."""
    if count <= 0:
        return []
    before = cursor.prefix[: len(cursor.prefix) - len(cursor.line_prefix)]
    tail = before.rsplit("\n", count + CONTEXT_LINES)
    return [line.rstrip() for line in tail if line.strip()][-count:]


def cut_repeated_lines(text: str, cursor: Cursor) -> str:
    """Cut at the first line that repeats the non-blank line before it.

    Lines compare with their indentation (the cursor's line as it reads once completed, and
    the last line before it, count too); blank lines in between are skipped. The first
    occurrence is kept, the repeat and everything after it dropped. Lines without a letter or
    digit (closing brackets, blank lines) never count as repeats.
    """
    lines = text.split("\n")
    before = _lines_before(cursor, 1)
    previous = before[0] if before else None
    for i, line in enumerate(lines):
        full = (cursor.line_prefix + line if i == 0 else line).rstrip()
        if not full.strip():
            continue
        if full == previous and not is_trivial(full):
            return "\n".join(lines[:i]).rstrip()
        previous = full
    return text


@dataclass
class _Level:
    """One open bracket while scanning for runaway keys."""

    opener: str | None
    chain_key: str | None = None  # the key whose value this ``{`` is
    chain: tuple[int, ...] = ()  # where that key stands at each level, outermost first
    keys: set[str] = field(default_factory=set)  # string keys seen at this level


def runaway_key_position(source: str, start: int = 0) -> int | None:
    """Where the first repeated or runaway key of ``source`` at or after ``start`` begins.

    Repeated: a string key seen before at the same level of the same ``{...}``. Runaway: the
    same key (string or name) whose value opens ``{`` again, ``RUNAWAY_DEPTH`` levels in a
    row; the position is then that of the outermost key of the chain at or after ``start``.
    """
    tokens = [(m.lastgroup, m.group(), m.start()) for m in _TOKEN.finditer(source) if m.lastgroup != "comment"]
    stack, pushed = [_Level(None)], set()
    for i, (kind, value, pos) in enumerate(tokens):
        top = stack[-1]
        if kind == "other" and value in OPENERS:
            if i not in pushed:
                stack.append(_Level(value))
            continue
        if kind == "other" and value in CLOSERS:
            if len(stack) > 1 and top.opener == CLOSERS[value]:
                stack.pop()
            continue
        is_key = (
            kind in ("string", "name") and top.opener == "{" and i > 0 and tokens[i - 1][1] in ("{", ",")
            and i + 1 < len(tokens) and tokens[i + 1][1] == ":"
        )
        if not is_key:
            continue
        if kind == "string":
            if value in top.keys and pos >= start:
                return pos
            top.keys.add(value)
        if i + 2 < len(tokens) and tokens[i + 2][1] == "{":
            chain = (top.chain if top.chain_key == value else ()) + (pos,)
            if len(chain) >= RUNAWAY_DEPTH and pos >= start:
                return next(p for p in chain if p >= start)
            stack.append(_Level("{", value, chain))
            pushed.add(i + 2)
    return None


def cut_runaway_keys(text: str, cursor: Cursor) -> str:
    """Cut a dict that repeats a key, or nests the same key level after level.

    The structure may have opened in the prefix (``return {`` then the completion), so the
    last lines of the prefix are scanned too, but only the completion is cut: at the start of
    the line holding the repeat (nothing is left when that is the completion's first line).
    """
    tail = cursor.prefix.rsplit("\n", CONTEXT_LINES)
    context = "\n".join(tail[1:]) if len(tail) > CONTEXT_LINES else cursor.prefix
    position = runaway_key_position(context + text, start=len(context))
    if position is None:
        return text
    newline = text.rfind("\n", 0, position - len(context))
    return text[:newline].rstrip() if newline > 0 else ""


def echoes_prefix(text: str, cursor: Cursor) -> bool:
    """Whether the completed lines only copy the last non-blank lines before the cursor's line."""
    mine = [line.rstrip() for line in (cursor.line_prefix + text).split("\n") if line.strip()]
    if not mine or all(is_trivial(line) for line in mine):
        return False
    return _lines_before(cursor, len(mine)) == mine


def postprocess(raw: str, prefix: str, suffix: str, multiline: str = "auto") -> str:
    """The text to show for ``raw`` model output at the cursor between ``prefix`` and ``suffix``."""
    cursor = Cursor(prefix, suffix)
    text = strip_doubled_indent(raw.replace("\r\n", "\n"), cursor)
    if allows_multiline(cursor, multiline):
        text = cut_repeated_lines(cut_block(text, cursor), cursor)
    else:
        text = text.split("\n", 1)[0]
    text = cut_runaway_keys(text, cursor)
    text = cut_unbalanced(text, cursor)
    text = drop_suffix_overlap(text, cursor)
    text = match_indentation(text, cursor).rstrip()
    return "" if not text.strip() or echoes_prefix(text, cursor) else text


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


def first_line_complete(text: str) -> bool:
    """Whether ``first_line_of_completion(text)`` is final: more text cannot change it."""
    return "\n" in text.lstrip("\n")
