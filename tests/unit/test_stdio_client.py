"""The bench and demo client: waiting on ``finch.status`` until a condition holds."""

from __future__ import annotations

import os
import sys

import pytest

from finch_lsp.tools.stdio_client import StdioClient

# A stand-in server: answers finch.status with the model loading for its first two answers,
# then ready; answers shutdown and leaves on exit.
STAND_IN = r"""
import json, sys
asked = 0
def read():
    length = None
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            sys.exit(0)
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        elif line in (b"\r\n", b"\n"):
            return json.loads(sys.stdin.buffer.read(length))
def write(message):
    body = json.dumps(message).encode()
    sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    sys.stdout.buffer.flush()
while True:
    message = read()
    if message.get("method") == "exit":
        sys.exit(0)
    if "id" not in message:
        continue
    result = None
    if message["method"] == "workspace/executeCommand":
        asked += 1
        result = {"model": {"state": "ready" if asked > 2 else "loading"}, "asked": asked}
    write({"jsonrpc": "2.0", "id": message["id"], "result": result})
"""


@pytest.fixture
def client():
    c = StdioClient([sys.executable, "-c", STAND_IN], dict(os.environ))
    yield c
    c.close()


def test_wait_for_status_asks_until_the_condition_holds(client):
    status = client.wait_for_status(lambda s: s["model"]["state"] == "ready")
    assert status["asked"] == 3


def test_wait_for_status_names_what_it_waited_for_when_it_times_out(client):
    with pytest.raises(TimeoutError, match="waiting for the model"):
        client.wait_for_status(lambda s: False, timeout=0, what="the model")
