"""The suggestion registry: every completion or code action shown, bounded, by id.

``finch.accept`` marks one accepted and remembers the range it was inserted at; later
``didChange`` events move or grow that range, so the user's edit of the accepted text
(the correction the learning loop trains on) can be read back.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field


@dataclass
class Suggestion:
    """One suggestion as it was shown, and what became of it."""

    id: str
    uri: str
    version: int | None
    prefix: str
    suffix: str
    text: str
    model: str
    adapter_version: int | None
    prompt: str = ""  # the model input as rendered (for training in the same format)
    kind: str = "completion"  # or "action:fix", "action:document", ...
    language: str | None = None
    created: float = field(default_factory=time.time)
    accepted: bool = False
    start: int | None = None  # offset of the inserted text once accepted
    end: int | None = None
    current_text: str | None = None  # the accepted text as it now stands in the document
    accepted_at: float | None = None
    observed: bool = False  # rated, or recorded as implicit feedback: not observed again
    typed_ahead: int = 0  # characters of ``text`` the user had typed when it was last shown


class SuggestionRegistry:
    """A bounded, thread-safe map of suggestion id -> Suggestion, newest last."""

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._items: collections.OrderedDict[str, Suggestion] = collections.OrderedDict()
        self._last_shown: str | None = None
        self._last_accepted: str | None = None
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new_id(self) -> str:
        return f"s{next(self._counter)}-{uuid.uuid4().hex[:8]}"

    def add(self, suggestion: Suggestion) -> Suggestion:
        with self._lock:
            self._items[suggestion.id] = suggestion
            self._last_shown = suggestion.id
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return suggestion

    def get(self, suggestion_id: str) -> Suggestion | None:
        with self._lock:
            return self._items.get(suggestion_id)

    def last(self) -> Suggestion | None:
        """The most recently accepted suggestion, else the most recently shown one."""
        with self._lock:
            for sid in (self._last_accepted, self._last_shown):
                if sid is not None and sid in self._items:
                    return self._items[sid]
        return None

    def accept(self, suggestion_id: str, document_text: str | None) -> Suggestion | None:
        """Mark accepted; locate the inserted text in the document (just after its prefix)."""
        with self._lock:
            s = self._items.get(suggestion_id)
            if s is None:
                return None
            s.accepted = True
            s.accepted_at = time.time()
            self._last_accepted = suggestion_id
            s.current_text = s.text
            if document_text is not None:
                s.start, s.end = _locate(document_text, s.prefix, s.text, s.typed_ahead)
            return s

    def on_change(self, uri: str, start: int, end: int, new_text: str, document_text: str) -> None:
        """Move or grow tracked ranges after the document's [start, end) became ``new_text``."""
        with self._lock:
            for s in self._items.values():
                if s.uri != uri or not s.accepted or s.start is None:
                    continue
                s.start, s.end = shift_range(s.start, s.end, start, end, len(new_text))
                s.current_text = document_text[s.start : s.end]

    def edited_text(self, suggestion_id: str) -> str | None:
        """The accepted text as the user left it, or None when not accepted or untracked."""
        s = self.get(suggestion_id)
        return None if s is None or not s.accepted else s.current_text

    def snapshot(self) -> list[Suggestion]:
        """The suggestions held now, oldest first (the objects themselves, not copies)."""
        with self._lock:
            return list(self._items.values())

    def __len__(self) -> int:
        return len(self._items)


def _locate(document: str, prefix: str, text: str, typed: int = 0) -> tuple[int | None, int | None]:
    """Where ``text`` was inserted: right after ``prefix`` when the document still starts so.

    A client may run the accept command before it sends the insertion: then the range holds
    what the user typed of it (``typed`` characters, when the rest was shown as they typed)
    and grows when the insertion arrives.
    """
    if document.startswith(prefix + text):
        return len(prefix), len(prefix) + len(text)
    if typed and document.startswith(prefix + text[:typed]):
        return len(prefix), len(prefix) + typed
    if document.startswith(prefix):
        return len(prefix), len(prefix)
    at = document.find(text, max(0, len(prefix) - 200))
    return (at, at + len(text)) if at >= 0 else (None, None)


def shift_range(r_start: int, r_end: int, c_start: int, c_end: int, inserted: int) -> tuple[int, int]:
    """A tracked range [r_start, r_end) after the change [c_start, c_end) -> ``inserted`` chars.

    Edits inside the range, or touching its end, grow or shrink it (they are the user's
    correction of the accepted text); edits before it shift it; edits after it leave it.
    """
    delta = inserted - (c_end - c_start)
    if c_end <= r_start and c_start < r_start:
        return r_start + delta, r_end + delta
    if c_start > r_end:
        return r_start, r_end
    new_start = min(r_start, c_start) if c_start < r_start else r_start
    new_end = max(r_end + delta, c_start + inserted)
    return new_start, max(new_start, new_end)

