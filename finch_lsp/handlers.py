"""LSP methods and workspace commands: glue from messages to the server's features."""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types

from finch_lsp import actions, protocol
from finch_lsp.learning.suggestions import change_offsets
from finch_lsp.models import commands as model_commands
from finch_lsp.server import FinchLanguageServer, invalid_params

log = logging.getLogger(__name__)


def register(server: FinchLanguageServer) -> None:
    """Register every handler on ``server``."""
    _lifecycle(server)
    _documents(server)
    _completion(server)
    _commands(server)
    actions.register(server)
    model_commands.register(server)


def _lifecycle(server: FinchLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: FinchLanguageServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        options = params.initialization_options
        if isinstance(options, dict) and options.get("workspaceTrusted") is False:
            ls.workspace_trusted = False
        ls.apply_settings(options)
        ls.start_learning()
        ls.watch_parent(params.process_id)

    @server.feature(types.INITIALIZED)
    def initialized(ls: FinchLanguageServer, params: types.InitializedParams) -> None:
        ls.start_loading()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: FinchLanguageServer, params: types.DidChangeConfigurationParams) -> None:
        before = ls.requested_model()
        ls.apply_settings(params.settings, base=ls.config)
        if ls.requested_model() != before:
            ls.start_loading()
        else:
            ls.model_downloads.settings_changed()

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: FinchLanguageServer, params: None) -> None:
        if ls.teacher is not None:
            await ls.teacher.aclose()
        ls.close()


def _documents(server: FinchLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: FinchLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.previous_text[params.text_document.uri] = params.text_document.text

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: FinchLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        track_changes(ls, params)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: FinchLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.previous_text.pop(params.text_document.uri, None)


def track_changes(ls: FinchLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    """Replay each change on the text before it, so accepted suggestions keep their ranges."""
    uri = params.text_document.uri
    text = ls.previous_text.get(uri)
    doc = ls.workspace.text_documents.get(uri)
    if doc is None:
        return
    if text is not None:
        for change in params.content_changes:
            if not isinstance(change, types.TextDocumentContentChangePartial):
                text = change.text
                continue
            r = change.range
            start, end = change_offsets(text, r.start.line, r.start.character, r.end.line, r.end.character, ls.position_encoding)
            if start is None or end is None:
                log.info("change outside %s ignored by suggestion tracking", uri)
                continue
            text = text[:start] + change.text + text[end:]
            ls.suggestions.on_change(uri, start, end, change.text, text)
    ls.previous_text[uri] = doc.source
    if ls.learning is not None and ls.learning.feedback.has_pending():
        ls.learning.feedback.resolve_from_edits()


def _completion(server: FinchLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: FinchLanguageServer, params: types.InlineCompletionParams):
        return await ls.completions.inline(params)

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", "(", " ", "=", ","], resolve_provider=False),
    )
    async def completion(ls: FinchLanguageServer, params: types.CompletionParams):
        return await ls.completions.completion(params)


def _commands(server: FinchLanguageServer) -> None:
    @server.command(protocol.ACCEPT)
    def accept(ls: FinchLanguageServer, *args) -> None:
        (suggestion_id,) = _convert(args, tuple[str], protocol.ACCEPT, "[suggestionId]")
        s = ls.suggestions.get(suggestion_id)
        if s is None:
            raise invalid_params(ValueError(f"finch.accept: unknown suggestion id {suggestion_id!r}; pass the id from the item's command"))
        doc = ls.workspace.text_documents.get(s.uri)
        ls.suggestions.accept(suggestion_id, doc.source if doc is not None else None)
        if ls.teacher is not None:
            ls.teacher.maybe_review(s)
        log.info("suggestion %s accepted", suggestion_id)

    @server.command(protocol.STATUS)
    def status(ls: FinchLanguageServer, *args) -> dict:
        return ls.status()

    @server.command(protocol.FEEDBACK)
    def feedback(ls: FinchLanguageServer, *args) -> dict:
        usage = '[{"rating": "critical"|"medium"|"good", "note"?: str, "suggestionId"?: str, "correction"?: str}]'
        (fb,) = _convert(args, tuple[protocol.FeedbackArgs], protocol.FEEDBACK, usage)
        return _learning_call(ls, ls.learning.record_feedback, fb)

    for rating in protocol.RATINGS:
        _rating_command(server, rating)

    @server.command(protocol.TRAIN)
    def train(ls: FinchLanguageServer, *args) -> dict:
        _convert(args, tuple[()], protocol.TRAIN, "[] (no arguments)")
        return _learning_call(ls, ls.learning.start_training)

    @server.command(protocol.ADAPTERS_LIST)
    def adapters_list(ls: FinchLanguageServer, *args) -> list:
        _convert(args, tuple[()], protocol.ADAPTERS_LIST, "[] (no arguments)")
        return _learning_call(ls, ls.learning.list_adapters)

    @server.command(protocol.ADAPTERS_USE)
    async def adapters_use(ls: FinchLanguageServer, *args) -> dict:
        (version,) = _convert(args, tuple[int | None], protocol.ADAPTERS_USE, "[version] (an integer from finch.adapters.list, or null for the base model)")
        return await asyncio.wrap_future(_learning_call(ls, ls.learning.use, version))

    @server.command(protocol.ADAPTERS_ROLLBACK)
    async def adapters_rollback(ls: FinchLanguageServer, *args) -> dict:
        _convert(args, tuple[()], protocol.ADAPTERS_ROLLBACK, "[] (no arguments)")
        return await asyncio.wrap_future(_learning_call(ls, ls.learning.rollback))

    @server.command(protocol.ADAPTERS_DELETE)
    def adapters_delete(ls: FinchLanguageServer, *args) -> dict:
        (version,) = _convert(args, tuple[int], protocol.ADAPTERS_DELETE, "[version] (an integer from finch.adapters.list)")
        return _learning_call(ls, ls.learning.delete, version)


def _rating_command(server: FinchLanguageServer, rating: str) -> None:
    name = f"{protocol.FEEDBACK}.{rating}"

    @server.command(name)
    def rate(ls: FinchLanguageServer, *args) -> dict:
        note = _convert(args, tuple[str | None, ...], name, "[note?] (an optional string)")
        if len(note) > 1:
            raise invalid_params(ValueError(f"{name}: expected at most one argument (a note), got {len(note)}"))
        fb = protocol.FeedbackArgs(rating=rating, note=note[0] if note else None)
        return _learning_call(ls, ls.learning.record_feedback, fb)


def _learning_call(ls: FinchLanguageServer, fn, *args):
    """Call into the learning loop; its InvalidArguments become InvalidParams with the message."""
    if ls.learning is None:
        raise invalid_params(ValueError("the server is not initialized yet"))
    try:
        return fn(*args)
    except protocol.InvalidArguments as exc:
        raise invalid_params(exc) from None


def _convert(args, shape, command: str, usage: str):
    try:
        return protocol.convert_args(args, shape, command, usage)
    except protocol.InvalidArguments as exc:
        raise invalid_params(exc) from None
