"""FinchProtocol: pygls' JSON-RPC protocol, made to answer every request exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger(__name__)


@dataclass
class _BadMessage:
    """A request whose params could not be read: answered with InvalidParams, not dropped."""

    id: Any
    method: str
    error: JsonRpcException


class FinchProtocol(LanguageServerProtocol):
    """pygls' protocol, made to answer every request exactly once.

    pygls drops a request whose params fail to deserialize (the error is raised before
    the id is known) and silently ignores requests after ``shutdown``; both get an error
    response here. Malformed JSON gets a ParseError response (id null).
    """

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and "method" in data:
                detail = exc.__cause__ or exc
                error = JsonRpcInvalidParams(f"invalid params for {data['method']}: {detail}".splitlines()[0][:500])
                return _BadMessage(data["id"], data["method"], error)
            raise

    def handle_message(self, message):
        if isinstance(message, _BadMessage):
            log.warning("request %r (%s) has invalid params: %s", message.id, message.method, message.error.message)
            self._send_response(message.id, None, message.error.to_response_error())
            return
        if isinstance(message, dict):
            if "id" in message and "method" in message:
                error = JsonRpcInvalidRequest("not a JSON-RPC 2.0 request (missing \"jsonrpc\": \"2.0\")")
                self._send_response(message["id"], None, error.to_response_error())
            log.warning("ignored a message that is not JSON-RPC 2.0: %.200s", message)
            return
        is_request = hasattr(message, "method") and hasattr(message, "id") and getattr(message, "id", None) is not None
        if self._shutdown and is_request and message.method != types.EXIT:
            error = JsonRpcInvalidRequest("the server is shutting down: no more requests")
            self._send_response(message.id, None, error.to_response_error())
            return
        super().handle_message(message)
