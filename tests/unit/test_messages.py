"""check_message: which decoded messages are refused before pygls, with which id and code."""

import pytest

from finch_lsp.server.jsonrpc import SERVER_NOT_INITIALIZED, check_message

REQ = {"jsonrpc": "2.0", "id": 1, "method": "workspace/executeCommand", "params": {"command": "finch.status"}}


@pytest.mark.parametrize(
    "message,initialized,answer_id,code,needle",
    [
        ([REQ, REQ], True, None, -32600, "batches"),
        ([], True, None, -32600, "batches"),
        (None, True, None, -32600, "JSON object"),
        (42, True, None, -32600, "JSON object"),
        ("x", True, None, -32600, "JSON object"),
        ({**REQ, "jsonrpc": "1.0"}, True, 1, -32600, '"jsonrpc": "2.0"'),
        ({k: v for k, v in REQ.items() if k != "jsonrpc"}, True, 1, -32600, '"jsonrpc": "2.0"'),
        ({"jsonrpc": "1.0", "method": "initialized"}, True, None, -32600, '"jsonrpc": "2.0"'),
        ({**REQ, "id": [1]}, True, None, -32600, "id must be"),
        ({**REQ, "id": True}, True, None, -32600, "id must be"),
        ({**REQ, "id": 1.5}, True, None, -32600, "id must be"),
        ({**REQ, "id": None}, True, None, -32600, "must not be null"),
        ({**REQ, "method": 5}, True, 1, -32600, "method must be a string"),
        ({"jsonrpc": "2.0", "id": 3}, True, 3, -32600, "needs a method"),
        ({"jsonrpc": "2.0", "id": 4, "method": "textDocument/didOpen", "params": {}}, True, 4, -32600, "is a notification"),
        ({"jsonrpc": "2.0", "id": 5, "method": "exit"}, True, 5, -32600, "is a notification"),
        (REQ, False, 1, SERVER_NOT_INITIALIZED, "send initialize first"),
        ({**REQ, "method": "initialize"}, True, 1, -32600, "already received"),
    ],
)
def test_refused(message, initialized, answer_id, code, needle):
    msg_id, error = check_message(message, initialized)
    assert (msg_id, error.code) == (answer_id, code) and needle in error.message


@pytest.mark.parametrize(
    "message,initialized",
    [
        (REQ, True),
        ({**REQ, "id": "abc"}, True),
        ({**REQ, "method": "initialize"}, False),
        ({"jsonrpc": "2.0", "method": "initialized", "params": {}}, True),
        ({"jsonrpc": "2.0", "method": "exit"}, False),
        ({"jsonrpc": "2.0", "id": 9, "result": None}, True),  # a response to the server's request
        ({"jsonrpc": "2.0", "id": 9, "error": {"code": 1, "message": "no"}}, True),
    ],
)
def test_passed_on(message, initialized):
    assert check_message(message, initialized) is None


def test_internal_errors_reach_the_client_without_a_traceback():
    import json
    import sys

    from pygls.exceptions import JsonRpcInternalError
    from pygls.protocol import default_converter

    from finch_lsp.server.jsonrpc import FinchProtocol

    class Writer:
        sent: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.sent.append(data)

    class Server:
        name, version = "finch-lsp", "test"

    protocol = FinchProtocol(Server(), default_converter())
    protocol.set_writer(Writer(), include_headers=False)
    try:
        None.record_feedback  # type: ignore[attr-defined]
    except AttributeError:
        error = JsonRpcInternalError.of(sys.exc_info()).to_response_error()
    protocol._send_response(1, None, error)
    (sent,) = Writer.sent
    reply = json.loads(sent)
    assert "traceback" not in sent.decode().lower() and "data" not in reply["error"]
    assert reply["error"]["code"] == -32603 and "server log" in reply["error"]["message"]
