"""Completion requests: document snapshot -> engine -> post-processing -> suggestion."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Callable

from lsprotocol import types

from finch_lsp.completion.engine import CompletionRequest
from finch_lsp.completion.postprocess import allows_multiline, Cursor, postprocess
from finch_lsp.completion.prompt import OtherFile
from finch_lsp.documents.suggestions import Suggestion
from finch_lsp.documents.edits import model_text
from finch_lsp.documents.positions import offset_at
from finch_lsp.protocol import ACCEPT

if TYPE_CHECKING:
    from finch_lsp.host import Host

log = logging.getLogger(__name__)

MAX_DOCUMENT_CHARS = 1_000_000
MAX_OTHER_FILES = 4
MAX_OTHER_FILE_CHARS = 20_000


class CompletionService:
    """Turns inline-completion and completion requests into suggestions."""

    def __init__(self, host: "Host", on_shown: Callable[[Suggestion], None] = lambda s: None) -> None:
        self.host = host
        self.on_shown = on_shown

    def _snapshot(self, uri: str, position: types.Position) -> tuple[CompletionRequest, int | None] | None:
        """A read-only request for the engine and the document version it was taken from."""
        doc = self.host.workspace.text_documents.get(uri)
        if doc is None:
            log.info("completion for %s ignored: the document is not open (send didOpen first)", uri)
            return None
        text = model_text(doc.source)  # same offsets; no lone surrogate reaches the tokenizer
        if len(text) > MAX_DOCUMENT_CHARS:
            log.info("completion for %s ignored: %d characters is over the %d cap", uri, len(text), MAX_DOCUMENT_CHARS)
            return None
        offset = offset_at(text, position.line, position.character, self.host.position_encoding)
        if offset is None:
            log.info("completion for %s ignored: position %d:%d is outside the document", uri, position.line, position.character)
            return None
        config = self.host.config.completion
        cursor = Cursor(text[:offset], text[offset:])
        request = CompletionRequest(
            key=uri,
            prefix=cursor.prefix,
            suffix=cursor.suffix,
            path=doc.path,
            others=self._other_files(uri),
            single_line=not allows_multiline(cursor, config.multiline),
            max_new_tokens=config.max_new_tokens,
            min_new_tokens=min(config.min_new_tokens, config.max_new_tokens),
            prompt_tokens=config.prompt_tokens,
        )
        return request, doc.version

    def _other_files(self, uri: str) -> tuple[OtherFile, ...]:
        docs = [d for u, d in self.host.workspace.text_documents.items() if u != uri]
        return tuple(OtherFile(d.path, model_text(d.source[:MAX_OTHER_FILE_CHARS])) for d in docs[-MAX_OTHER_FILES:])

    async def suggest(self, uri: str, position: types.Position) -> Suggestion | None:
        """Run one completion; None when there is nothing to show (not ready, stale, empty)."""
        snap = self._snapshot(uri, position)
        if snap is None:
            return None
        request, version = snap
        future = self.host.engine.complete(request)
        try:
            output = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            request.cancel.set()
            raise
        if output is None or output.cancelled:
            return None
        doc = self.host.workspace.text_documents.get(uri)
        if doc is None or doc.version != version:
            log.info("completion for %s dropped: the document changed while it ran", uri)
            return None
        text = postprocess(output.text, request.prefix, request.suffix, self.host.config.completion.multiline)
        if not text:
            return None
        suggestion = self.host.suggestions.add(
            Suggestion(
                id=self.host.suggestions.new_id(), uri=uri, version=version,
                prefix=request.prefix, suffix=request.suffix, text=text,
                model=self.host.model_name, adapter_version=self.host.engine.adapter_version,
                prompt=output.prompt.full or output.prompt.text, language=doc.language_id,
            )
        )
        self.on_shown(suggestion)
        return suggestion

    async def inline(self, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        s = await self.suggest(params.text_document.uri, params.position)
        if s is None:
            return types.InlineCompletionList(items=[])
        item = types.InlineCompletionItem(
            insert_text=s.text,
            range=types.Range(params.position, params.position),
            command=accept_command(s.id),
        )
        return types.InlineCompletionList(items=[item])

    async def completion(self, params: types.CompletionParams) -> types.CompletionList:
        empty = types.CompletionList(is_incomplete=True, items=[])
        if self.host.client_has_inline_completion:
            return empty  # the client shows inline completions; do not duplicate them in its menu
        s = await self.suggest(params.text_document.uri, params.position)
        if s is None:
            return empty
        return types.CompletionList(is_incomplete=True, items=[completion_item(s, params.position)])


def accept_command(suggestion_id: str) -> types.Command:
    return types.Command(title="Accept finch suggestion", command=ACCEPT, arguments=[suggestion_id])


def completion_item(s: Suggestion, position: types.Position) -> types.CompletionItem:
    """A menu item replacing the word before the cursor, so clients' word filters keep it."""
    line_prefix = s.prefix.rsplit("\n", 1)[-1]
    word = line_prefix[len(line_prefix.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")):]
    # positions are in client units; the word is ASCII-only so its length is the same in every encoding
    start = types.Position(position.line, position.character - len(word))
    new_text = word + s.text
    label = new_text.strip().split("\n", 1)[0][:80] or new_text
    return types.CompletionItem(
        label=label,
        kind=types.CompletionItemKind.Snippet,
        detail="finch",
        filter_text=new_text,
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(types.Range(start, position), new_text),
        command=accept_command(s.id),
        data={"suggestionId": s.id},
    )
