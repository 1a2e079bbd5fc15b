"""Typing into a suggestion: answers without the model.

Per document the last suggestion shown is kept with the text around the cursor it was shown
at. A later request whose suffix is unchanged and whose prefix is the shown prefix plus
characters that start the suggestion is answered with the rest of the suggestion, under the
same id (so ``finch.accept`` and ratings still apply to it; the suggestion records how much
of it was typed ahead, for locating it on acceptance). Backspacing to where it was shown and
an identical repeated request get the whole suggestion again.

At a block start the first line is shown first; the rest of the block is generated in the
background and kept here as ``more``: once the user has typed or accepted the first line it
is served as a suggestion of its own, at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from finch_lsp.documents.suggestions import Suggestion


@dataclass(frozen=True)
class Answer:
    """What to show at the cursor: ``text`` is the suggestion, or its rest after what was typed."""

    suggestion: Suggestion
    text: str
    typed_ahead: bool = False


@dataclass
class Shown:
    suggestion: Suggestion
    more: str | None = None  # the rest of the block after the suggestion, once generated
    more_prompt: str = ""


def typed_into(shown_prefix: str, shown_suffix: str, text: str, prefix: str, suffix: str) -> str | None:
    """The rest of ``text`` after what was typed since it was shown, or None when not typing into it.

    None when the suffix changed, the cursor moved before the shown point or elsewhere, the
    typed characters differ from the suggestion, or the whole suggestion was typed.
    """
    if suffix != shown_suffix or not prefix.startswith(shown_prefix):
        return None
    typed = len(prefix) - len(shown_prefix)
    if typed >= len(text) or not text.startswith(prefix[len(shown_prefix):]):
        return None
    return text[typed:]


class TypeAhead:
    """The last shown suggestion of each document (bounded), looked up before running the model."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._shown: dict[str, Shown] = {}
        self._lock = threading.Lock()

    def remember(self, suggestion: Suggestion) -> Shown:
        shown = Shown(suggestion)
        with self._lock:
            self._shown.pop(suggestion.uri, None)
            self._shown[suggestion.uri] = shown
            while len(self._shown) > self.capacity:
                self._shown.pop(next(iter(self._shown)))
        return shown

    def extend(self, shown: Shown, more: str, prompt: str) -> bool:
        """Attach the rest of the block to ``shown`` if it is still the document's entry."""
        with self._lock:
            if self._shown.get(shown.suggestion.uri) is not shown or not more:
                return False
            shown.more, shown.more_prompt = more, prompt
            return True

    def forget(self, uri: str) -> None:
        with self._lock:
            self._shown.pop(uri, None)

    def lookup(
        self,
        uri: str,
        prefix: str,
        suffix: str,
        current: Callable[[Suggestion], bool],
        continuation: Callable[[Shown], Suggestion],
    ) -> Answer | None:
        """The answer from the shown suggestion, or None when the model has to run.

        ``current(s)`` says whether ``s`` was made by the weights now live (an adapter swap or
        a model change makes the entry stale); ``continuation(shown)`` registers the rest of a
        block as a suggestion once its first line has been typed or accepted.
        """
        with self._lock:
            shown = self._shown.get(uri)
        if shown is None:
            return None
        s = shown.suggestion
        if not current(s):
            self.forget(uri)
            return None
        rest = typed_into(s.prefix, s.suffix, s.text, prefix, suffix)
        if rest is not None:
            s.typed_ahead = len(s.text) - len(rest)
            return Answer(s, rest, typed_ahead=s.typed_ahead > 0)
        if not shown.more:
            return None
        rest = typed_into(s.prefix + s.text, s.suffix, shown.more, prefix, suffix)
        if rest is None:
            return None
        follow = continuation(shown)
        with self._lock:
            if self._shown.get(uri) is shown:
                self._shown[uri] = Shown(follow)
        follow.typed_ahead = len(follow.text) - len(rest)
        return Answer(follow, rest, typed_ahead=True)
