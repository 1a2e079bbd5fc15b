"""ChangeTracker: replays every ``didChange`` on the text before it.

pygls keeps the current text of each document; the tracker also keeps the text before the
latest change, so each content change can be applied in order and handed to the suggestion
registry, which keeps accepted suggestions' ranges (and so the user's edits of them) up to date.
"""

from __future__ import annotations

from lsprotocol import types

from finch_lsp.documents.edits import apply_change
from finch_lsp.documents.suggestions import SuggestionRegistry


class ChangeTracker:
    """The last text seen of each open document, and the edits between versions."""

    def __init__(self, suggestions: SuggestionRegistry) -> None:
        self.suggestions = suggestions
        self.previous_text: dict[str, str] = {}

    def opened(self, uri: str, text: str) -> None:
        self.previous_text[uri] = text

    def closed(self, uri: str) -> None:
        self.previous_text.pop(uri, None)

    def changed(self, uri: str, changes, current_text: str, encoding: str) -> None:
        """Replay ``changes`` on the text before them; then remember ``current_text``."""
        text = self.previous_text.get(uri)
        if text is not None:
            for change in changes:
                if not isinstance(change, types.TextDocumentContentChangePartial):
                    text = change.text
                    continue
                edit = apply_change(text, change.range, change.text, encoding)
                text = edit.text
                self.suggestions.on_change(uri, edit.start, edit.end, change.text, text)
        self.previous_text[uri] = current_text
