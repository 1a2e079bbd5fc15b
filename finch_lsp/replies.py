"""What a chat model's reply holds: its code, without fences or chatter (pure).

The one cleaner of model replies: code actions read a reply written after an opened fence
(``fence_open=True``); the teacher's answers are read from their start.
"""

from __future__ import annotations

import re

FENCE = re.compile(r"^[ \t]*```")
CHATTER = re.compile(
    r"^(?:sure|certainly|of course|okay|here(?:'s|\u2019s| is| are)|below|i (?:have|added|fixed|simplified)|"
    r"this (?:code|function|test|version|docstring)|the (?:code|function|test|above|fixed|corrected|simplified|updated|documented)|"
    r"(?:corrected|fixed|correct) (?:code|version|line|completion))\b",
    re.IGNORECASE,
)


def clean_reply(reply: str, *, fence_open: bool = True) -> str:
    """The code in a model's reply: the first fenced block, or the reply without its chatter.

    With ``fence_open`` the reply is read as written after an opened fence: text before a
    bare closing fence is code, and a fence with a language tag, or one after chatter, opens
    a block of its own. Without it (an answer read from its start) the first fence opens the
    block, and chatter before the code is dropped too.
    """
    lines = reply.replace("\r\n", "\n").split("\n")
    if not fence_open:
        lines = _from_start(lines)
    fences = [i for i, line in enumerate(lines) if FENCE.match(line)]
    if not fences:
        return _trim_blank_lines("\n".join(_drop_trailing_chatter(lines)))
    first = fences[0]
    if _opens_block(lines, first):
        end = fences[1] if len(fences) > 1 else len(lines)
        return _trim_blank_lines("\n".join(lines[first + 1 : end]))
    return _trim_blank_lines("\n".join(lines[:first]))


def reply_complete(reply: str) -> bool:
    """Whether a reply, as far as it is written, already holds its whole code block.

    Generation can stop there: what follows a closing fence is chatter that ``clean_reply``
    drops anyway.
    """
    lines = reply.split("\n")[:-1]  # whole lines only
    fences = [i for i, line in enumerate(lines) if FENCE.match(line)]
    return bool(fences) and (not _opens_block(lines, fences[0]) or len(fences) > 1)


def _opens_block(lines: list[str], fence: int) -> bool:
    """Whether the fence at ``fence`` opens a block: it has a language tag, or prose precedes it."""
    if lines[fence].strip()[3:].strip():
        return True
    before = [line for line in lines[:fence] if line.strip()]
    return bool(before) and bool(CHATTER.match(before[0].strip()))


def _drop_trailing_chatter(lines: list[str]) -> list[str]:
    """Cut the reply at the first unindented line that reads as prose about the code."""
    for i, line in enumerate(lines):
        if i > 0 and CHATTER.match(line) and not lines[i - 1].strip():
            return lines[:i]
    return lines


def _trim_blank_lines(text: str) -> str:
    """``text`` without blank lines at either end or trailing spaces on its last line."""
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines).rstrip()


def _from_start(lines: list[str]) -> list[str]:
    """An answer read from its start, as if written after an opened fence."""
    fence = next((i for i, line in enumerate(lines) if FENCE.match(line)), None)
    if fence is not None:
        return lines[fence + 1 :]
    while len(lines) > 1 and (not lines[0].strip() or CHATTER.match(lines[0].strip())):
        lines = lines[1:]
    return lines
