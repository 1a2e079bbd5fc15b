"""LSP methods and workspace commands: glue from messages to the server's features."""

from __future__ import annotations

import logging

from lsprotocol import types

from finch_lsp import protocol
from finch_lsp.learning.suggestions import change_offsets
from finch_lsp.server import FinchLanguageServer, invalid_params

log = logging.getLogger(__name__)


def register(server: FinchLanguageServer) -> None:
    """Register every handler on ``server``."""
    _lifecycle(server)
    _documents(server)
    _completion(server)
    _commands(server)


def _lifecycle(server: FinchLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: FinchLanguageServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        if isinstance(options, dict) and options.get("workspaceTrusted") is False:
            ls.workspace_trusted = False
        ls.apply_settings(options)
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

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: FinchLanguageServer, params: None) -> None:
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
        log.info("suggestion %s accepted", suggestion_id)

    @server.command(protocol.STATUS)
    def status(ls: FinchLanguageServer, *args) -> dict:
        return ls.status()


def _convert(args, shape, command: str, usage: str):
    try:
        return protocol.convert_args(args, shape, command, usage)
    except protocol.InvalidArguments as exc:
        raise invalid_params(exc) from None
