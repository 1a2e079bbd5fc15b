"""FinchProtocol: pygls' JSON-RPC protocol, made to answer every request exactly once.

Bodies arrive from ``finch_lsp.server.transport`` (framing in ``server/framing.py``) and are
checked here before pygls sees them; docs/protocol.md ("Robustness") is the contract.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest, JsonRpcParseError
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from finch_lsp.documents.edits import apply_change

log = logging.getLogger(__name__)

SERVER_NOT_INITIALIZED = -32002
NOTIFICATIONS = frozenset(m for m, t in types.METHOD_TO_TYPES.items() if t[0].__name__.endswith("Notification"))


@dataclass
class _BadMessage:
    """A request whose params could not be read: answered with InvalidParams, not dropped."""

    id: Any
    method: str
    error: JsonRpcException


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def check_message(message: Any, initialized: bool) -> tuple[Any, JsonRpcException] | None:
    """Why a decoded message must be refused, as (id to answer, error); None when it may go on.

    The id is None when it is unknown or unusable. Pure: table-tested.
    """
    if isinstance(message, list):
        return None, JsonRpcInvalidRequest("batches (a JSON array of messages) are not supported: LSP sends one message per frame")
    if not isinstance(message, dict):
        return None, JsonRpcInvalidRequest(f"a message must be a JSON object, not {type(message).__name__}")
    has_id = "id" in message
    msg_id = message.get("id")
    if has_id and msg_id is not None and not _valid_id(msg_id):
        return None, JsonRpcInvalidRequest(f"the id must be a string or an integer, not {type(msg_id).__name__}")
    answer_id = msg_id if has_id else None
    if message.get("jsonrpc") != "2.0":
        return answer_id, JsonRpcInvalidRequest(f'not a JSON-RPC 2.0 message: send "jsonrpc": "2.0" (got {message.get("jsonrpc")!r:.40})')
    method = message.get("method")
    if "method" not in message:
        if has_id and ("result" in message or "error" in message):
            return None  # a response to one of the server's requests
        return answer_id, JsonRpcInvalidRequest("a message needs a method (a request or notification) or a result or error (a response)")
    if not isinstance(method, str):
        return answer_id, JsonRpcInvalidRequest(f"the method must be a string, not {type(method).__name__}")
    if not has_id:
        return None  # notifications are never answered; before initialize pygls is not reached (see below)
    if msg_id is None:
        return None, JsonRpcInvalidRequest(f"{method}: a request id must not be null (omit the id for a notification)")
    if method in NOTIFICATIONS:
        return msg_id, JsonRpcInvalidRequest(f"{method} is a notification: send it without an id; it was not applied")
    if not initialized and method != types.INITIALIZE:
        return msg_id, JsonRpcException(code=SERVER_NOT_INITIALIZED, message=f"{method}: the server is not initialized; send initialize first")
    if initialized and method == types.INITIALIZE:
        return msg_id, JsonRpcInvalidRequest("initialize was already received: send it once per session")
    return None


class FinchProtocol(LanguageServerProtocol):
    """pygls' protocol, made to answer every request exactly once.

    Every body is checked first (``check_message``): batches, scalars, wrong versions,
    requests before initialize and notifications sent with an id are refused with one error.
    pygls drops a request whose params fail to deserialize and ignores requests after
    ``shutdown``; both get an error here. Internal errors never carry a traceback.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initialize_received = False

    # -- bodies from the transport ------------------------------------------------------------
    def handle_body(self, data: bytes) -> None:
        """Decode, check and dispatch one message body (SystemExit from ``exit`` passes through)."""
        try:
            message = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return self._refuse(None, JsonRpcParseError(f"the body is not valid UTF-8 (byte {exc.start}): send UTF-8 JSON"))
        except RecursionError:
            return self._refuse(None, JsonRpcParseError("the JSON is nested too deeply to read: send a flatter message"))
        except ValueError as exc:
            return self._refuse(None, JsonRpcParseError(f"malformed JSON: {exc}"))
        problem = check_message(message, self.initialize_received)
        if problem is not None:
            return self._refuse(*problem)
        if "method" in message and "id" not in message and not self.initialize_received and message["method"] != types.EXIT:
            log.info("notification %s before initialize ignored", message["method"])
            return None
        if message.get("method") == types.INITIALIZE:
            self.initialize_received = True
        try:
            structured = self.structure_message(message)
        except RecursionError:
            return self._refuse(message.get("id"), JsonRpcInvalidParams("the params are nested too deeply to read: send a flatter message"))
        except JsonRpcException as exc:
            log.warning("message could not be read: %s", exc)
            return self._refuse(message.get("id"), JsonRpcInvalidRequest(f"the message could not be read: {exc.message or type(exc).__name__}"))
        self.handle_message(structured)
        return None

    def frame_error(self, message: str, code: int) -> None:
        """A framing problem (server/framing.py): one error response with id null."""
        self._refuse(None, JsonRpcException(code=code, message=message))

    def _refuse(self, msg_id: Any, error: JsonRpcException) -> None:
        log.warning("refused a message (id %r): %s", msg_id, error.message)
        if msg_id is None or _valid_id(msg_id):
            self._send_response(msg_id, None, error.to_response_error())

    # -- pygls hooks ----------------------------------------------------------------------------
    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and "method" in data:
                detail = str(exc.__cause__ or exc).splitlines()[0][:400]
                usage = f"send params shaped as the LSP specification says for {data['method']}"
                error = JsonRpcInvalidParams(f"invalid params for {data['method']}: {detail}; {usage}")
                return _BadMessage(data["id"], data["method"], error)
            raise

    def handle_message(self, message):
        if isinstance(message, _BadMessage):
            log.warning("request %r (%s) has invalid params: %s", message.id, message.method, message.error.message)
            self._send_response(message.id, None, message.error.to_response_error())
            return
        is_request = hasattr(message, "method") and getattr(message, "id", None) is not None
        if self._shutdown and is_request and message.method != types.EXIT:
            error = JsonRpcInvalidRequest("the server is shutting down: no more requests")
            self._send_response(message.id, None, error.to_response_error())
            return
        super().handle_message(message)

    def _send_response(self, msg_id, result=None, error=None):
        if error is not None and isinstance(error.data, dict) and "traceback" in error.data:
            # pygls attaches the Python traceback to internal errors: it stays in the log
            error = types.ResponseError(code=error.code, message=f"{error.message} (internal error; the server log has the details)")
        super()._send_response(msg_id, result, error)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        """Apply the edits as the editor did (documents/edits.py), then the server's handler."""
        doc = self.workspace.text_documents.get(params.text_document.uri)
        if doc is None:
            log.info("didChange for %s ignored: the document is not open (send didOpen first)", params.text_document.uri)
            return
        encoding = str(getattr(self.workspace.position_encoding, "value", self.workspace.position_encoding) or "utf-16")
        text = doc.source
        for change in params.content_changes:
            text = apply_change(text, getattr(change, "range", None), change.text, encoding).text
        doc._source = text  # pygls' TextDocument keeps its text there
        doc.version = params.text_document.version
        if (user_handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield user_handler, (params,), None
