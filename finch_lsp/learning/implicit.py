"""Implicit feedback: what the user did with a suggestion, read once it has settled (pure).

Three things a user does say something without a rating:

- *kept*: a suggestion accepted and left as it was;
- *edit*: a suggestion accepted and then edited (the edit is the correction);
- *typed*: a suggestion shown, not accepted, and typed over with something else (what the
  user typed instead is the correction).

A suggestion has *settled* when ``settle_seconds`` have passed since it was accepted (or
shown) and, for a typed-over one, the user has finished the line it was shown on. Only the
newest suggestion shown at a line is read as typed over: the ones before it were superseded
while the user typed. Rated suggestions are never read again (ratings dominate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from finch_lsp.completion.postprocess import first_line
from finch_lsp.documents.suggestions import Suggestion


@dataclass(frozen=True)
class Observation:
    """One settled suggestion and what it teaches."""

    suggestion: Suggestion
    kind: str  # "kept" | "edit" | "typed"
    target: str
    rejected: str | None


def observe(suggestions: list[Suggestion], documents: Mapping[str, str], now: float, settle_seconds: float) -> list[Observation]:
    """The settled, not yet observed suggestions among ``suggestions`` (oldest first)."""
    found: list[Observation] = []
    newest_at_line: dict[tuple[str, int], Suggestion] = {}
    for s in suggestions:
        if s.observed or not s.kind == "completion":
            continue
        if s.accepted:
            seen = accepted_observation(s, now, settle_seconds)
            if seen is not None:
                found.append(seen)
        else:
            newest_at_line[(s.uri, s.prefix.rfind("\n"))] = s
    for s in newest_at_line.values():
        text = documents.get(s.uri)
        seen = typed_observation(s, text, now, settle_seconds) if text is not None else None
        if seen is not None:
            found.append(seen)
    return found


def accepted_observation(s: Suggestion, now: float, settle_seconds: float) -> Observation | None:
    """Kept or edited, once ``settle_seconds`` have passed since acceptance."""
    if s.accepted_at is None or now - s.accepted_at < settle_seconds or s.current_text is None:
        return None
    if not s.current_text.strip():
        return None  # the user deleted it: a rejection without a correction teaches nothing here
    if s.current_text == s.text:
        return Observation(s, "kept", s.text, None)
    return Observation(s, "edit", s.current_text, s.text)


def typed_over(s: Suggestion, document: str) -> str | None:
    """What the user typed where ``s`` was shown, when the text around it is unchanged."""
    if len(document) < len(s.prefix) + len(s.suffix) or not document.startswith(s.prefix) or not document.endswith(s.suffix):
        return None
    return document[len(s.prefix) : len(document) - len(s.suffix)]


def typed_observation(s: Suggestion, document: str, now: float, settle_seconds: float) -> Observation | None:
    """Typed over with something else, once the user has finished the line it was shown on."""
    if now - s.created < settle_seconds:
        return None
    typed = typed_over(s, document)
    if typed is None or "\n" not in typed.lstrip(" \t"):
        return None  # still typing on that line (or the text around it changed)
    lines = max(1, s.text.count("\n") + 1)
    instead = "\n".join(typed.split("\n")[:lines]).rstrip()
    if not instead.strip() or first_line(instead) == first_line(s.text) or first_line(s.text).startswith(first_line(instead)):
        return None  # typed what was suggested, or only a part of it
    return Observation(s, "typed", instead, s.text)
