"""The probes' framing and JSON-RPC failures, over raw stdio: one correct answer each, and the server lives on."""

import json

import pytest

from tests.e2e.raw import RawServer

STATUS = {"command": "finch.status"}


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    server = RawServer(tmp_path_factory.mktemp("proto"))
    assert "result" in server.initialize({"model": "tiny-qwen2"})
    yield server
    assert server.bad_output == []
    server.close()


def still_answers(raw: RawServer) -> None:
    assert "result" in raw.request("workspace/executeCommand", STATUS)


def request_bytes(raw: RawServer, id_) -> bytes:
    return raw.encode({"jsonrpc": "2.0", "id": id_, "method": "workspace/executeCommand", "params": STATUS})


def new_null_error(raw: RawServer, send) -> dict:
    before = len(raw.null_id_errors())
    send()
    return raw.wait_null_errors(before + 1)[before]["error"]


# -- framing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [1_000_000_000_000, 2_000_000_000, 100 * 1024 * 1024])
def test_huge_content_length_is_refused_and_the_next_message_answered(raw, length):
    error = new_null_error(raw, lambda: raw.write(b"Content-Length: %d\r\n\r\n{}" % length))
    assert error["code"] == -32600 and "limit" in error["message"]
    still_answers(raw)


def test_a_real_frame_over_the_limit_is_skipped_and_the_connection_kept(raw):
    body = b'{"jsonrpc": "2.0", "id": "big", "method": "x", "params": "' + b"a" * (65 * 1024 * 1024) + b'"}'
    error = new_null_error(raw, lambda: raw.write(raw.frame(body)))
    assert "limit" in error["message"]
    still_answers(raw)
    assert raw.responses_to("big") == []


@pytest.mark.parametrize("delta", [1, 37, 5000])
def test_content_length_too_long_recovers_at_the_next_header(raw, delta):
    first, second = raw.next_id(), raw.next_id()
    body = request_bytes(raw, first)
    raw.write(b"Content-Length: %d\r\n\r\n" % (len(body) + delta) + body + raw.frame(request_bytes(raw, second)))
    assert "result" in raw.response(second)
    assert "result" in raw.response(first)  # its body was whole: it is answered too


def test_content_length_too_short_gives_a_parse_error_and_recovers(raw):
    first, second = raw.next_id(), raw.next_id()
    body = request_bytes(raw, first)
    error = new_null_error(raw, lambda: raw.write(b"Content-Length: 10\r\n\r\n" + body + raw.frame(request_bytes(raw, second))))
    assert error["code"] == -32700
    assert "result" in raw.response(second)


@pytest.mark.parametrize("header", [b"Content-Length: -5\r\n\r\n", b"Content-Type: x\r\n\r\n", b"Content-Length: 1e3\r\n\r\n"])
def test_bad_or_missing_content_length_is_reported_and_recovers(raw, header):
    error = new_null_error(raw, lambda: raw.write(header + b"{}"))
    assert error["code"] == -32700 and "Content-Length" in error["message"]
    still_answers(raw)


@pytest.mark.parametrize("header", [b"content-length: %d\r\n\r\n", b"CONTENT-LENGTH:%d\r\n\r\n", b"Content-Length: %d\n\n"])
def test_header_case_and_lf_only_line_ends_are_read(raw, header):
    id_ = raw.next_id()
    body = request_bytes(raw, id_)
    raw.write(header % len(body) + body)
    assert "result" in raw.response(id_)


# -- messages ---------------------------------------------------------------------------------
def test_a_batch_is_refused_with_one_error_and_no_element_runs(raw):
    a, b = raw.next_id(), raw.next_id()
    batch = [json.loads(request_bytes(raw, a)), json.loads(request_bytes(raw, b))]
    error = new_null_error(raw, lambda: raw.send(batch))
    assert error["code"] == -32600 and "batch" in error["message"]
    still_answers(raw)
    assert raw.responses_to(a) == raw.responses_to(b) == []


@pytest.mark.parametrize("value", [None, 42, "text", True])
def test_top_level_scalars_are_refused(raw, value):
    assert new_null_error(raw, lambda: raw.send(value))["code"] == -32600


def test_wrong_jsonrpc_version_is_refused_with_its_id(raw):
    id_ = raw.next_id()
    raw.send({"jsonrpc": "1.0", "id": id_, "method": "workspace/executeCommand", "params": STATUS})
    error = raw.response(id_)["error"]
    assert error["code"] == -32600 and "2.0" in error["message"]


def test_invalid_utf8_body_gets_a_parse_error(raw):
    error = new_null_error(raw, lambda: raw.write(raw.frame(b'{"jsonrpc": "2.0", "id": 1, "method": "\xff\xfe"}')))
    assert error["code"] == -32700 and "UTF-8" in error["message"]
    still_answers(raw)


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_deep_nesting_gets_a_parse_error(raw, opening):
    error = new_null_error(raw, lambda: raw.write(raw.frame(opening * 200_000)))
    assert error["code"] == -32700
    still_answers(raw)


def test_a_notification_sent_with_an_id_is_answered_and_not_applied(raw):
    id_ = raw.next_id()
    doc = {"uri": "file:///w/with-id.py", "languageId": "python", "version": 1, "text": "x = 1\n"}
    raw.send({"jsonrpc": "2.0", "id": id_, "method": "textDocument/didOpen", "params": {"textDocument": doc}})
    error = raw.response(id_)["error"]
    assert error["code"] == -32600 and "notification" in error["message"] and "without an id" in error["message"]


def test_ids_of_the_wrong_type_are_refused(raw):
    error = new_null_error(raw, lambda: raw.send({"jsonrpc": "2.0", "id": {"x": 1}, "method": "workspace/executeCommand", "params": STATUS}))
    assert error["code"] == -32600 and "id" in error["message"]


def test_a_second_initialize_is_refused(raw):
    reply = raw.request("initialize", {"processId": None, "capabilities": {}})
    assert reply["error"]["code"] == -32600


def test_bad_params_say_what_to_do(raw):
    reply = raw.request("textDocument/inlineCompletion", {"textDocument": {"uri": "file:///w/x.py"}, "position": "here"})
    assert reply["error"]["code"] == -32602 and "send params shaped as" in reply["error"]["message"]


def test_no_error_carries_a_traceback(raw):
    assert all("traceback" not in json.dumps(m.get("error", {})).lower() for m in raw.messages)
