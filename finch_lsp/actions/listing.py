"""Code actions: ``textDocument/codeAction`` lists them, ``codeAction/resolve`` runs the model.

``Finch: Fix``, ``Finch: Document``, ``Finch: Simplify`` and ``Finch: Write test`` act on the
selected lines, or on the function around the cursor when nothing is selected. Listing is
cheap (no model call): each action's ``data`` names the document version, the range and the
action. Resolving renders the chat prompt, generates on the inference worker, cleans the
reply to code and answers with a ``WorkspaceEdit`` (never a command). The result is a
suggestion, so the feedback commands rate it and training learns from (prompt, code) pairs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import msgspec
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from finch_lsp.actions.chat import build_prompt, render_prompt, reply_to_code
from finch_lsp.replies import reply_complete
from finch_lsp.actions.edit import Change, plan_change
from finch_lsp.actions.target import Target, find_target, is_python
from finch_lsp.completion.engine import ModelState
from finch_lsp.completion.generate import generate
from finch_lsp.documents.suggestions import Suggestion
from finch_lsp.documents.edits import model_text
from finch_lsp.documents.positions import offset_at, position_at
from finch_lsp.protocol import CODE_ACTION_TITLES

if TYPE_CHECKING:
    from finch_lsp.host import Host

log = logging.getLogger(__name__)

ActionName = Literal["fix", "document", "simplify", "test"]
KINDS: dict[str, str] = {
    "fix": types.CodeActionKind.QuickFix,
    "document": types.CodeActionKind.RefactorRewrite,
    "simplify": types.CodeActionKind.RefactorRewrite,
    "test": types.CodeActionKind.Refactor,
}
MAX_NEW_TOKENS = 256
MAX_CODE_CHARS = 12_000


class RequestFailed(JsonRpcException):
    """LSP ``RequestFailed``: the request was well formed but cannot be served now."""

    CODE = -32803


class Place(msgspec.Struct):
    """An LSP position, as carried in ``data``."""

    line: int
    character: int


class Span(msgspec.Struct):
    """An LSP range, as carried in ``data``."""

    start: Place
    end: Place


class ActionData(msgspec.Struct, rename="camel"):
    """The ``data`` of a Finch code action: what resolve needs, and later the suggestion id."""

    uri: str
    version: int | None
    range: Span
    action: ActionName
    suggestion_id: str | None = None


@dataclass
class ActionRequest:
    """A read-only snapshot of what one action needs, handed to the inference worker."""

    action: str
    uri: str
    version: int | None
    text: str
    target: Target
    path: str | None
    language: str | None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def code(self) -> str:
        return self.text[self.target.start : self.target.end]


@dataclass
class ActionOutput:
    """The rendered prompt (up to the opened fence) and the model's reply, forced start included."""

    prompt: str
    reply: str
    cancelled: bool


def wanted(kind: str, only: list[str] | None) -> bool:
    """Whether ``kind`` passes the client's ``context.only`` filter (kinds are hierarchical)."""
    return not only or any(kind == o or kind.startswith(f"{o}.") for o in only)


def model_problem(state: ModelState, name: str, error: str | None) -> str | None:
    """Why an action cannot run now, in words the user can act on; None when it can."""
    if state is ModelState.LOADING:
        return f"finch: the model {name} is still loading; wait until it is ready (finch.status) and run the action again"
    if state is ModelState.FAILED:
        return f"finch: the model {name} failed to load ({error}); choose another with the setting finch.model"
    return None


def run_action(loaded, request: ActionRequest) -> ActionOutput | None:
    """On the inference worker: prompt the model with the action and generate its reply."""
    if loaded is None or request.cancel.is_set():
        return None
    prompt = build_prompt(request.action, request.code, request.path, request.language)
    text = render_prompt(loaded.tokenizer, prompt, loaded.has_chat_template)
    out = generate(
        loaded, text + prompt.forced, "", MAX_NEW_TOKENS, cancel=request.cancel,
        stop_when=lambda reply: reply_complete(prompt.forced + reply),
    )
    return ActionOutput(text, prompt.forced + out.text, out.cancelled)


class CodeActions:
    """Lists the Finch code actions and resolves them into edits and suggestions."""

    def __init__(self, host: "Host") -> None:
        self.host = host

    # -- listing ----------------------------------------------------------------------------
    def offered(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        """The actions for the selection or the function around the cursor; no model call."""
        doc = self.host.workspace.text_documents.get(params.text_document.uri)
        if doc is None:
            return []
        target = self._target(doc, params.range)
        if target is None:
            return []
        span = self._span(doc.source, target)
        only = params.context.only if params.context else None
        return [self._listed(name, doc.uri, doc.version, span) for name in KINDS if wanted(KINDS[name], only)]

    def _target(self, doc, selection: types.Range | Span) -> Target | None:
        """The target for a selection (or cursor) in the negotiated position encoding."""
        encoding = self.host.position_encoding
        start = offset_at(doc.source, selection.start.line, selection.start.character, encoding)
        end = offset_at(doc.source, selection.end.line, selection.end.character, encoding)
        if start is None or end is None:
            return None
        return find_target(doc.source, start, end, doc.language_id, doc.path)

    def _span(self, text: str, target: Target) -> Span:
        encoding = self.host.position_encoding
        return Span(Place(*position_at(text, target.start, encoding)), Place(*position_at(text, target.end, encoding)))

    @staticmethod
    def _listed(name: str, uri: str, version: int | None, span: Span) -> types.CodeAction:
        data = ActionData(uri=uri, version=version, range=span, action=name)
        return types.CodeAction(title=CODE_ACTION_TITLES[name], kind=KINDS[name], data=msgspec.to_builtins(data))

    # -- resolving --------------------------------------------------------------------------
    async def resolve(self, action: types.CodeAction) -> types.CodeAction:
        """Run the model for a listed action; the answer carries a WorkspaceEdit or a reason."""
        data = parse_data(action.data)
        self._require_model()
        request = self._request(data)
        if request is None:
            return disabled(action, "the document changed since the action was listed; ask for code actions again")
        output = await self._generate(request)
        if output is None or output.cancelled:
            return disabled(action, "the action was cancelled")
        return self._answer(action, data, request, output)

    def _require_model(self) -> None:
        engine = self.host.engine
        problem = model_problem(engine.state, self.host.model_name, engine.error)
        if problem is not None:
            raise RequestFailed(problem)

    def _request(self, data: ActionData) -> ActionRequest | None:
        """A snapshot of the document, or None when it is gone or no longer the listed version."""
        doc = self.host.workspace.text_documents.get(data.uri)
        if doc is None or doc.version != data.version:
            return None
        target = self._target(doc, data.range)
        if target is None:
            raise JsonRpcInvalidParams(f"codeAction/resolve: the range in data is not code in {data.uri}; ask for code actions again")
        if target.end - target.start > MAX_CODE_CHARS:
            raise RequestFailed(f"finch: {target.end - target.start} characters is more than an action takes ({MAX_CODE_CHARS}); select less code")
        language = "python" if is_python(doc.language_id, doc.path) else doc.language_id
        return ActionRequest(data.action, data.uri, doc.version, model_text(doc.source), target, doc.path, language)

    async def _generate(self, request: ActionRequest) -> ActionOutput | None:
        """Run the action on the inference worker; a cancelled request stops the generation."""
        future = self.host.engine.run(
            lambda loaded: run_action(loaded, request), cancel=request.cancel, changes_weights=False
        )
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            request.cancel.set()
            raise
        except Exception as exc:  # the worker's error goes back to the user as a message
            log.exception("code action %s failed", request.action)
            raise RequestFailed(f"finch: {CODE_ACTION_TITLES[request.action]} failed: {exc}") from None

    def _answer(self, action: types.CodeAction, data: ActionData, request: ActionRequest, output: ActionOutput) -> types.CodeAction:
        """The resolved action: the edit, and the suggestion it is recorded as."""
        doc = self.host.workspace.text_documents.get(request.uri)
        if doc is None or doc.version != request.version:
            return disabled(action, "the document changed while the model ran; run the action again")
        code = reply_to_code(request.action, output.reply, request.code, request.language)
        if not code.strip():
            return disabled(action, "the model's reply held no code; run the action again or select the code to change")
        change = plan_change(request.text, request.target, request.action, code, request.language == "python")
        suggestion = self.host.suggestions.add(self._suggestion(request, output, change))
        action.edit = self._edit(request, change.start, change.end, change.new_text)
        action.data = msgspec.to_builtins(msgspec.structs.replace(data, suggestion_id=suggestion.id))
        log.info("%s resolved as suggestion %s", action.title, suggestion.id)
        return action

    def _suggestion(self, request: ActionRequest, output: ActionOutput, change: Change) -> Suggestion:
        """The result as a suggestion: prefix + text + suffix is the document after the edit."""
        text = request.text
        return Suggestion(
            id=self.host.suggestions.new_id(), uri=request.uri, version=request.version,
            prefix=text[: change.start] + change.lead, suffix=change.trail + text[change.end :], text=change.code,
            model=self.host.model_name, adapter_version=self.host.engine.adapter_version,
            prompt=output.prompt, kind=f"action:{request.action}", language=request.language,
        )

    def _edit(self, request: ActionRequest, start: int, end: int, new_text: str) -> types.WorkspaceEdit:
        """A WorkspaceEdit replacing [start, end); versioned when the client takes document changes."""
        encoding = self.host.position_encoding
        span = types.Range(types.Position(*position_at(request.text, start, encoding)), types.Position(*position_at(request.text, end, encoding)))
        edit = types.TextEdit(range=span, new_text=new_text)
        if self._client_takes_document_changes():
            document = types.OptionalVersionedTextDocumentIdentifier(uri=request.uri, version=request.version)
            return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=document, edits=[edit])])
        return types.WorkspaceEdit(changes={request.uri: [edit]})

    def _client_takes_document_changes(self) -> bool:
        workspace = self.host.client_capabilities.workspace
        edit = workspace.workspace_edit if workspace else None
        return bool(edit and edit.document_changes)


def parse_data(data) -> ActionData:
    """The ``data`` of a listed Finch action, or InvalidParams saying what is wrong."""
    try:
        return msgspec.convert(data, ActionData)
    except msgspec.ValidationError as exc:
        raise JsonRpcInvalidParams(f"codeAction/resolve: not a Finch code action ({exc}); resolve actions listed by textDocument/codeAction") from None


def disabled(action: types.CodeAction, reason: str) -> types.CodeAction:
    """``action`` with no edit and the reason it cannot be applied."""
    action.edit = None
    action.disabled = types.CodeActionDisabled(reason=f"finch: {reason}")
    return action
