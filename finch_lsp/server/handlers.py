"""LSP methods and workspace commands: glue from messages to the server's features.

Handlers that touch the disk or wait on a lock (feedback, training, adapters) are ``async``
and run that work in a thread, so the event loop keeps answering other requests.
"""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from finch_lsp import protocol
from finch_lsp.actions.listing import KINDS
from finch_lsp.models.catalog import HUB_MODELS, hub_model
from finch_lsp.paths import data_dir
from finch_lsp.server.state import FinchLanguageServer

log = logging.getLogger(__name__)

PULL_USAGE = f"[name] with name one of {', '.join(model.name for model in HUB_MODELS)}"


def register(server: FinchLanguageServer) -> None:
    """Register every handler on ``server``."""
    _lifecycle(server)
    _documents(server)
    _completion(server)
    _commands(server)
    _code_actions(server)
    _models(server)


def _lifecycle(server: FinchLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: FinchLanguageServer, params: types.InitializeParams) -> None:
        ls.event_loop = asyncio.get_running_loop()
        options = params.initialization_options
        if isinstance(options, dict) and options.get("workspaceTrusted") is False:
            ls.workspace_trusted = False
        ls.apply_settings(options)
        ls.learning.open(data_dir(ls.options.data_dir or ls.config.data_dir))
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
        await ls.learning.aclose()
        ls.close()


def _documents(server: FinchLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: FinchLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.changes.opened(params.text_document.uri, params.text_document.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: FinchLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        doc = ls.workspace.text_documents.get(params.text_document.uri)
        if doc is None:
            return
        ls.changes.changed(doc.uri, params.content_changes, doc.source, ls.position_encoding)
        ls.learning_thread.submit(ls.learning.document_changed)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: FinchLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.changes.closed(params.text_document.uri)


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
        ls.learning.suggestion_accepted(s)
        log.info("suggestion %s accepted", suggestion_id)

    @server.command(protocol.STATUS)
    async def status(ls: FinchLanguageServer, *args) -> dict:
        # on the learning thread: the answer includes every edit and rating sent before it
        return await asyncio.get_running_loop().run_in_executor(ls.learning_thread, ls.status)

    @server.command(protocol.FEEDBACK)
    async def feedback(ls: FinchLanguageServer, *args) -> dict:
        usage = '[{"rating": "critical"|"medium"|"good", "note"?: str, "suggestionId"?: str, "correction"?: str}]'
        (fb,) = _convert(args, tuple[protocol.FeedbackArgs], protocol.FEEDBACK, usage)
        return await _in_thread(ls, ls.learning.record_feedback, fb)

    for rating in protocol.RATINGS:
        _rating_command(server, rating)

    @server.command(protocol.TRAIN)
    async def train(ls: FinchLanguageServer, *args) -> dict:
        _convert(args, tuple[()], protocol.TRAIN, "[] (no arguments)")
        return await _in_thread(ls, ls.learning.start_training)

    @server.command(protocol.ADAPTERS_LIST)
    async def adapters_list(ls: FinchLanguageServer, *args) -> list:
        _convert(args, tuple[()], protocol.ADAPTERS_LIST, "[] (no arguments)")
        return await _in_thread(ls, ls.learning.list_adapters)

    @server.command(protocol.ADAPTERS_USE)
    async def adapters_use(ls: FinchLanguageServer, *args) -> dict:
        (version,) = _convert(args, tuple[int | None], protocol.ADAPTERS_USE, "[version] (an integer from finch.adapters.list, or null for the base model)")
        return await _swap(ls, ls.learning.use, version)

    @server.command(protocol.ADAPTERS_ROLLBACK)
    async def adapters_rollback(ls: FinchLanguageServer, *args) -> dict:
        _convert(args, tuple[()], protocol.ADAPTERS_ROLLBACK, "[] (no arguments)")
        return await _swap(ls, ls.learning.rollback)

    @server.command(protocol.ADAPTERS_DELETE)
    async def adapters_delete(ls: FinchLanguageServer, *args) -> dict:
        (version,) = _convert(args, tuple[int], protocol.ADAPTERS_DELETE, "[version] (an integer from finch.adapters.list)")
        return await _in_thread(ls, ls.learning.delete, version)


def _rating_command(server: FinchLanguageServer, rating: str) -> None:
    name = f"{protocol.FEEDBACK}.{rating}"

    @server.command(name)
    async def rate(ls: FinchLanguageServer, *args) -> dict:
        note = _convert(args, tuple[str | None, ...], name, "[note?] (an optional string)")
        if len(note) > 1:
            raise invalid_params(ValueError(f"{name}: expected at most one argument (a note), got {len(note)}"))
        fb = protocol.FeedbackArgs(rating=rating, note=note[0] if note else None)
        return await _in_thread(ls, ls.learning.record_feedback, fb)


def _code_actions(server: FinchLanguageServer) -> None:
    options = types.CodeActionOptions(code_action_kinds=sorted(set(KINDS.values())), resolve_provider=True)

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, options)
    def code_action(ls: FinchLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return ls.actions.offered(params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve_code_action(ls: FinchLanguageServer, params: types.CodeAction) -> types.CodeAction:
        return await ls.actions.resolve(params)


def _models(server: FinchLanguageServer) -> None:
    @server.command(protocol.MODELS_LIST)
    async def models_list(ls: FinchLanguageServer, *args) -> list:
        _convert(args, tuple[()], protocol.MODELS_LIST, "[] (no arguments)")
        return await asyncio.get_running_loop().run_in_executor(None, ls.model_downloads.rows)

    @server.command(protocol.MODELS_PULL)
    def models_pull(ls: FinchLanguageServer, *args) -> dict:
        (name,) = _convert(args, tuple[str], protocol.MODELS_PULL, PULL_USAGE)
        model = hub_model(name)
        if model is None:
            raise invalid_params(ValueError(
                f"{protocol.MODELS_PULL}: {name!r} is not a model finch can download; "
                f"send {PULL_USAGE} (finch.models.list shows them with their sizes)"
            ))
        return ls.model_downloads.pull(model)


async def _in_thread(ls: FinchLanguageServer, fn, *args):
    """Call into learning on its own thread (it writes files and takes locks), one call at a time.

    Its InvalidArguments become InvalidParams with the message.
    """
    if not ls.learning.opened:
        raise invalid_params(ValueError("the server is not initialized yet"))
    try:
        return await asyncio.get_running_loop().run_in_executor(ls.learning_thread, lambda: fn(*args))
    except protocol.InvalidArguments as exc:
        raise invalid_params(exc) from None


async def _swap(ls: FinchLanguageServer, fn, *args):
    """An adapter switch: checked on the learning thread, done on the inference worker; a refusal is InvalidParams."""
    future = await _in_thread(ls, fn, *args)
    try:
        return await asyncio.wrap_future(future)
    except protocol.InvalidArguments as exc:
        raise invalid_params(exc) from None


def _convert(args, shape, command: str, usage: str):
    try:
        return protocol.convert_args(args, shape, command, usage)
    except protocol.InvalidArguments as exc:
        raise invalid_params(exc) from None


def invalid_params(exc: Exception) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(str(exc))
