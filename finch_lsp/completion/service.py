"""Completion requests: document snapshot -> engine -> post-processing -> suggestion."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
import logging
import threading
import time
from typing import TYPE_CHECKING, Callable

from lsprotocol import types

from finch_lsp.completion.engine import CompletionRequest
from finch_lsp.completion.postprocess import allows_multiline, Cursor, postprocess
from finch_lsp.completion.prompt import OtherFile
from finch_lsp.completion.typeahead import Answer, Shown, TypeAhead
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
    """Turns inline-completion and completion requests into suggestions.

    Typing into the suggestion on screen is answered from ``typeahead`` without the model;
    otherwise the request waits ``debounceMs`` for a newer one (which drops it), then runs.
    At a block start the first line is answered and the rest of the block generated after it.
    """

    def __init__(self, host: "Host", on_shown: Callable[[Suggestion], None] = lambda s: None) -> None:
        self.host = host
        self.on_shown = on_shown
        self.typeahead = TypeAhead()
        self.timings: collections.deque[tuple[str, float]] = collections.deque(maxlen=64)  # (how, server seconds)
        self._latest: dict[str, int] = {}  # uri -> number of the newest request
        self._requests = itertools.count(1)

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
            # at a block start the first line comes first; the rest follows (_continue)
            single_line=True,
            max_new_tokens=config.max_new_tokens,
            min_new_tokens=min(config.min_new_tokens, config.max_new_tokens),
            prompt_tokens=config.prompt_tokens,
            block=allows_multiline(cursor, config.multiline),
        )
        return request, doc.version

    def _other_files(self, uri: str) -> tuple[OtherFile, ...]:
        docs = [d for u, d in self.host.workspace.text_documents.items() if u != uri]
        return tuple(OtherFile(d.path, model_text(d.source[:MAX_OTHER_FILE_CHARS])) for d in docs[-MAX_OTHER_FILES:])

    def _current(self, s: Suggestion) -> bool:
        return s.model == self.host.model_name and s.adapter_version == self.host.engine.adapter_version

    def _cached(self, uri: str, request: CompletionRequest) -> Answer | None:
        return self.typeahead.lookup(uri, request.prefix, request.suffix, self._current, self._register_more)

    async def suggest(self, uri: str, position: types.Position) -> Answer | None:
        """One completion; None when there is nothing to show (not ready, superseded, stale, empty)."""
        started = time.perf_counter()
        number = self._latest[uri] = next(self._requests)
        snap = self._snapshot(uri, position)
        if snap is None:
            return None
        answer = self._cached(uri, snap[0])
        if answer is not None:
            self.timings.append(("typed", time.perf_counter() - started))
            return answer
        delay = self.host.config.completion.debounce_ms / 1000
        if delay > 0:
            await asyncio.sleep(delay)
            if self._latest.get(uri) != number:
                return None  # a newer request for the document came while waiting
            snap = self._snapshot(uri, position)
            if snap is None:
                return None
        answer = await self._generate(uri, *snap)
        if answer is not None:
            self.timings.append(("model", time.perf_counter() - started))
        return answer

    async def _generate(self, uri: str, request: CompletionRequest, version: int | None) -> Answer | None:
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
        shown = self.typeahead.remember(suggestion)
        self.on_shown(suggestion)
        if request.block and self.host.config.completion.block_tokens > 0 and "\n" not in text.strip("\n"):
            self._continue(shown, request)
        return Answer(suggestion, text)

    def _continue(self, shown: Shown, first: CompletionRequest) -> None:
        """Generate the rest of a block after its first line, in the background, for ``typeahead``."""
        s = shown.suggestion
        config = self.host.config.completion
        request = dataclasses.replace(
            first, prefix=s.prefix + s.text, single_line=False, max_new_tokens=config.block_tokens,
            min_new_tokens=0, cancel=threading.Event(),
        )
        future = self.host.engine.complete(request, background=True)  # yields to whatever the user asks next

        def done(f) -> None:
            output = None if f.cancelled() or f.exception() else f.result()
            if output is None or output.cancelled:
                return
            more = postprocess(output.text, request.prefix, request.suffix, config.multiline)
            self.host.call_soon(self.typeahead.extend, shown, more, output.prompt.full or output.prompt.text)

        future.add_done_callback(done)

    def _register_more(self, shown: Shown) -> Suggestion:
        """The rest of a block as a suggestion of its own, once the user reached it."""
        s = shown.suggestion
        follow = self.host.suggestions.add(
            dataclasses.replace(
                s, id=self.host.suggestions.new_id(), prefix=s.prefix + s.text, text=shown.more or "",
                prompt=shown.more_prompt, created=time.time(), accepted=False, start=None, end=None,
                current_text=None, typed_ahead=0,
            )
        )
        self.on_shown(follow)
        return follow

    async def inline(self, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        a = await self.suggest(params.text_document.uri, params.position)
        if a is None:
            return types.InlineCompletionList(items=[])
        item = types.InlineCompletionItem(
            insert_text=a.text,
            range=types.Range(params.position, params.position),
            command=accept_command(a.suggestion.id),
        )
        return types.InlineCompletionList(items=[item])

    async def completion(self, params: types.CompletionParams) -> types.CompletionList:
        empty = types.CompletionList(is_incomplete=True, items=[])
        if self.host.client_has_inline_completion:
            return empty  # the client shows inline completions; do not duplicate them in its menu
        a = await self.suggest(params.text_document.uri, params.position)
        if a is None:
            return empty
        return types.CompletionList(is_incomplete=True, items=[completion_item(a, params.position)])


def accept_command(suggestion_id: str) -> types.Command:
    return types.Command(title="Accept finch suggestion", command=ACCEPT, arguments=[suggestion_id])


def completion_item(shown: Answer | Suggestion, position: types.Position) -> types.CompletionItem:
    """A menu item replacing the word before the cursor, so clients' word filters keep it.

    ``shown`` is a suggestion, or an answer whose text is the rest of one after what was typed.
    """
    a = shown if isinstance(shown, Answer) else Answer(shown, shown.text)
    s = a.suggestion
    line_prefix = (s.prefix + s.text[: len(s.text) - len(a.text)]).rsplit("\n", 1)[-1]
    word = line_prefix[len(line_prefix.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")):]
    # positions are in client units; the word is ASCII-only so its length is the same in every encoding
    start = types.Position(position.line, position.character - len(word))
    new_text = word + a.text
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
