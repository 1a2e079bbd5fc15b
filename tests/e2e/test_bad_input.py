"""Bad input over raw stdio: every request gets exactly one response and the server lives on."""

import pytest

from tests.e2e.lsp import RawClient

DOC = "file:///w/bad.py"


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    client = RawClient(tmp_path_factory.mktemp("bad"))
    client.initialize({"model": "tiny-qwen2", "completion": {"maxNewTokens": 4}})
    client.wait_ready()
    client.open(DOC, "def f(x):\n    return x\n")
    yield client
    client.close()


def error_of(raw, id_, method, params) -> dict:
    response = raw.request(id_, method, params)
    assert "error" in response, response
    return response["error"]


def test_malformed_json_gets_a_parse_error(raw):
    raw.send_bytes(b'{"jsonrpc": "2.0", "id": 900, "method": ')
    reply = raw.response(None)
    assert reply["error"]["code"] == -32700
    assert "result" in raw.request(901, "workspace/executeCommand", {"command": "finch.status"})


def test_bad_params_get_invalid_params(raw):
    err = error_of(raw, 1, "textDocument/inlineCompletion", {"textDocument": {"uri": DOC}, "position": "here"})
    assert err["code"] == -32602 and "inlineCompletion" in err["message"]
    assert len(raw.responses_to(1)) == 1


def test_unknown_method_and_command(raw):
    assert error_of(raw, 2, "textDocument/teleport", {})["code"] == -32601
    err = error_of(raw, 3, "workspace/executeCommand", {"command": "finch.nope", "arguments": []})
    assert err["code"] == -32602 and "finch.nope" in err["message"]


@pytest.mark.parametrize(
    "args,needle",
    [([], "Usage"), ([42], "Usage"), (["a", "b"], "Usage"), ([{"rating": 5}], "rating")],
)
def test_bad_command_arguments(raw, args, needle):
    command = "finch.accept" if args in ([], [42], ["a", "b"]) else "finch.feedback"
    err = error_of(raw, f"args-{args!r}", "workspace/executeCommand", {"command": command, "arguments": args})
    assert err["code"] == -32602 and needle in err["message"]


@pytest.mark.parametrize("line,character", [(50, 0), (0, 500), (-1, 0)])
def test_positions_out_of_range_give_empty_results(raw, line, character):
    response = raw.request(f"pos-{line}-{character}", "textDocument/inlineCompletion", {
        "textDocument": {"uri": DOC}, "position": {"line": line, "character": character}, "context": {"triggerKind": 1}})
    assert response.get("result") == {"items": []} or response["error"]["code"] == -32602


def test_unopened_and_oversized_documents_give_empty_results(raw):
    assert raw.request(10, **_inline("file:///w/never-opened.py"))["result"] == {"items": []}
    raw.open("file:///w/huge.py", "x = 1\n" * 200_000)
    assert raw.request(11, **_inline("file:///w/huge.py"))["result"] == {"items": []}


def _inline(uri: str) -> dict:
    return {"method": "textDocument/inlineCompletion", "params": {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}, "context": {"triggerKind": 1}}}


def test_not_json_rpc_request_is_answered(raw):
    raw.send({"id": 20, "method": "finch.status"})
    assert raw.response(20)["error"]["code"] == -32600


def test_requests_after_shutdown_are_refused_then_exit(tmp_path):
    client = RawClient(tmp_path)
    try:
        client.initialize({"model": "tiny-qwen2"})
        assert raw_ok(client.request(1, "shutdown", None))
        assert client.request(2, "workspace/executeCommand", {"command": "finch.status"})["error"]["code"] == -32600
        client.send({"jsonrpc": "2.0", "method": "exit"})
        assert client.proc.wait(timeout=30) == 0
    finally:
        client.close()


def raw_ok(response: dict) -> bool:
    return "result" in response and "error" not in response
