"""Lifecycle by the spec over raw stdio: before initialize, exit status, processId, stdin closing."""

import pytest

from tests.e2e.raw import RawServer, inline_params

STATUS = {"command": "finch.status"}
LONG = {"model": "tiny-qwen2", "completion": {"maxNewTokens": 512, "minNewTokens": 512, "multiline": "always"}}


@pytest.fixture
def server(tmp_path):
    raw = RawServer(tmp_path)
    yield raw
    raw.close()


def test_requests_before_initialize_get_server_not_initialized(server):
    server.open("file:///w/early.py", "x = 1\n")  # a notification before initialize: ignored
    for method, params in [("workspace/executeCommand", {"command": "finch.feedback", "arguments": [{"rating": "good"}]}),
                           ("workspace/executeCommand", STATUS),
                           ("textDocument/inlineCompletion", inline_params("file:///w/early.py", 0, 0))]:
        error = server.request(method, params)["error"]
        assert error["code"] == -32002 and "initialize first" in error["message"] and "Traceback" not in str(error)
    assert "result" in server.initialize({"model": "tiny-qwen2"})
    assert "result" in server.request("workspace/executeCommand", STATUS)
    assert server.bad_output == []


def test_exit_without_shutdown_exits_1(server):
    server.initialize({"model": "tiny-qwen2"})
    server.send({"jsonrpc": "2.0", "method": "exit"})
    assert server.wait_exit() == 1


def test_exit_after_shutdown_exits_0(server):
    server.initialize({"model": "tiny-qwen2"})
    assert "result" in server.request("shutdown")
    server.send({"jsonrpc": "2.0", "method": "exit"})
    assert server.wait_exit() == 0


@pytest.mark.parametrize("pid", [2147483647, 2**40, -1, 0, "own", "dead"])
def test_any_process_id_is_handled(server, pid):
    if pid == "own":
        pid = server.proc.pid
    elif pid == "dead":
        import subprocess
        import sys

        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        pid = gone.pid
    reply = server.initialize({"model": "tiny-qwen2"}, process_id=pid)
    assert "result" in reply or reply["error"]["code"] == -32602, reply
    assert "result" in server.request("workspace/executeCommand", STATUS)
    assert server.proc.poll() is None


def test_closing_stdin_during_a_generation_exits_cleanly(server):
    server.initialize(LONG)
    server.wait_ready()
    uri = "file:///w/long.py"
    server.open(uri, "def f(x):\n    ")
    server.send({"jsonrpc": "2.0", "id": "gen", "method": "textDocument/inlineCompletion", "params": inline_params(uri, 1, 4)})
    while server.status()["engine"]["running"] != uri:
        assert not server.responses_to("gen"), "the generation ended before stdin could be closed: make it longer"
    server.close_stdin()
    assert server.wait_exit() == 0
    assert "terminate called" not in server.stderr()


def test_closing_stdin_while_the_model_loads_exits_cleanly(server):
    server.initialize({"model": "tiny-qwen2"})
    server.close_stdin()
    assert server.wait_exit() == 0
    assert "terminate called" not in server.stderr() and "Traceback" not in server.stderr()
